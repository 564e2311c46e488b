"""Benchmarks: `python -m bench` (figures, not assertions). See docs/performance.md."""
