"""Sensory-memory benchmarks: segmentation, compression and throughput (``python -m benchmarks.sensory.<name>``)."""
