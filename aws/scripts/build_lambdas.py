#!/usr/bin/env python3
"""Build the start/stop Lambda zips reproducibly under aws/build/ (`make lambdas`)."""

from __future__ import annotations

import sys
from pathlib import Path

from readmission.aws.build import BUILD_DIR, code_sha256, write_zips


def main() -> int:
    """Write both zips and print their CodeSha256."""
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else BUILD_DIR
    for path in write_zips(out).values():
        print(f"{path}  CodeSha256={code_sha256(path.read_bytes())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
