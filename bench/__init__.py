"""Benchmarks (see bench/bench.py)."""
