"""Benchmarks run by ``spatialwm bench WHAT``; each prints a table."""
