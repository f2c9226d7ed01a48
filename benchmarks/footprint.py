"""Memory per namespace: the RSS a process gains for each namespace it writes to.

Each namespace gets its own Chroma collections (see docs/architecture.md); a collection's vector index is
allocated on its first write and stays in memory. This writes one short message to each of ``--namespaces``
namespaces (LLM-free, flushed, then consolidated so history collections exist too) and reports RSS growth.

    python -m benchmarks.footprint --namespaces 200
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import psutil

from benchmarks.exits import command, positive_int
from langchain_lightmem import LightMem, LightMemConfig


@command
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.footprint", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--namespaces", type=positive_int, default=200)
    parser.add_argument("--embeddings", default="static", help="static (default) or minilm")
    args = parser.parse_args(argv)
    process = psutil.Process()
    with tempfile.TemporaryDirectory(prefix="lightmem-footprint-") as tmp:
        config = LightMemConfig(data_dir=Path(tmp), embeddings={"backend": args.embeddings})
        with LightMem(config) as memory:
            memory.add([{"role": "user", "content": "warm-up"}], namespace="warm-up")
            memory.flush("warm-up")
            base = process.memory_info().rss
            for n in range(args.namespaces):
                ns = f"user-{n}"
                memory.add([{"role": "user", "content": f"hello from {ns}"}], namespace=ns)
                memory.add([{"role": "user", "content": f"hello from {ns}"}], namespace=ns)  # a duplicate
                memory.flush(ns)
            current = process.memory_info().rss
            memory.consolidate()  # supersedes the duplicates: history collections appear
            after = process.memory_info().rss
    result = {
        "namespaces": args.namespaces,
        "mb_per_namespace_current_only": round((current - base) / 2**20 / args.namespaces, 2),
        "mb_per_namespace_with_history": round((after - base) / 2**20 / args.namespaces, 2),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
