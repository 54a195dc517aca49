"""Scripts that print figures (never timed assertions in tests). Run each from the repository root as
``.venv/bin/python -m benchmarks.<name>`` (``make bench`` runs them all).
"""
