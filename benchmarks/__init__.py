"""Benchmarks for langchain-lightmem (not shipped in the wheel): ``python -m benchmarks --help``."""
