"""`make bench`: what durability costs, measured against the limits in one run (see docs/benchmarks.md)."""
