"""Benchmarks and load tools: measured with scripts/bench, outside the installed product package."""
