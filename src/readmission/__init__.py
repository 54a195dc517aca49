"""Diabetes readmission MLOps platform: the domain package every service imports."""

__version__ = "0.1.0"
