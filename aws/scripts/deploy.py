#!/usr/bin/env python3
"""Thin wrapper of `readmission aws ...`: setup [--dry-run], update-schedule, teardown, status.

Usage: .venv/bin/python aws/scripts/deploy.py setup --dry-run
"""

import sys

from readmission.cli import app

if __name__ == "__main__":
    app(["aws", *sys.argv[1:]])
