"""Why one collection per namespace: the cost of a Chroma query filtered by namespace as a collection grows.

One shared collection holds ``--sizes`` records of which 10% belong to a "small" namespace and 90% to a "big"
one (random 384-d vectors). Each query is timed alone, unfiltered and filtered to each namespace.

    python -m benchmarks.chroma_filter --sizes 5000 20000 50000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from typing import TYPE_CHECKING

import numpy as np

from benchmarks.exits import command, positive_int

if TYPE_CHECKING:
    from chromadb.api.types import Where


@command
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.chroma_filter",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--sizes", type=positive_int, nargs="+", default=[5_000, 20_000, 50_000])
    parser.add_argument("--queries", type=positive_int, default=64)
    args = parser.parse_args(argv)
    import chromadb
    from chromadb.config import Settings

    rng = np.random.default_rng(0)
    print("| records | unfiltered ms/query | small namespace (10%) ms/query | big namespace (90%) ms/query |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        client = chromadb.PersistentClient(path=tmp, settings=Settings(anonymized_telemetry=False))
        for size in args.sizes:
            collection = client.create_collection(
                f"shared_{size}", embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
            )
            vectors = rng.standard_normal((size, 384)).astype(np.float32)
            for start in range(0, size, 5000):
                end = min(size, start + 5000)
                collection.add(
                    ids=[str(i) for i in range(start, end)],
                    embeddings=vectors[start:end],
                    metadatas=[{"namespace": "small" if i % 10 == 0 else "big"} for i in range(start, end)],
                )
            queries = rng.standard_normal((args.queries, 384)).astype(np.float32)
            row = []
            wheres: list[Where | None] = [None, {"namespace": "small"}, {"namespace": "big"}]
            for where in wheres:
                collection.query(query_embeddings=[queries[0]], n_results=10, where=where)  # warm-up
                started = time.perf_counter()
                for q in queries:
                    collection.query(query_embeddings=[q], n_results=10, where=where, include=["distances"])
                row.append((time.perf_counter() - started) / len(queries) * 1000)
            print(f"| {size:,} | " + " | ".join(f"{ms:.2f}" for ms in row) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
