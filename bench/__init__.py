"""Benchmarks of the running stack; see bench/README.md."""
