"""Kept for old habits: `python -m tests.bench [ARGS]` runs the benchmark in bench/ (`make bench`)."""

from __future__ import annotations

import sys

from bench.cli import main

if __name__ == "__main__":
    main(sys.argv[1:])
