"""Benchmarks: numbers for people to read, never assertions. `python -m bench.queue` runs them."""
