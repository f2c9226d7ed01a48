"""Sensory-memory benchmarks: segmentation, compression and throughput (``python -m benchmarks.sensory.<name>``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any


def publish(result: dict[str, Any], report: Callable[[dict[str, Any]], str], json_path: Path | None) -> None:
    """Print a benchmark's markdown report and, when asked, write its full result as JSON."""
    print(report(result))
    if json_path:
        json_path.write_text(json.dumps(result, indent=2))
