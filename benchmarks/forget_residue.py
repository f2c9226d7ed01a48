"""What a forgotten namespace leaves in an embedded Chroma folder after ``forget(vacuum=True)``, per layout.

Two namespaces (alice, bob) get ``--entries`` memories each with seeded random vectors; with ``--layout buckets``
they share one bucket (``buckets: 1``). Then alice is forgotten with ``vacuum=True`` and every file of the Chroma
folder is scanned for her texts, her entry ids, and the first 32 bytes (float32) of ``--sample`` of her vectors.
Chroma's write log (``embeddings_queue`` in ``chroma.sqlite3``) is counted by operation for rows with her ids.

    python -m benchmarks.forget_residue --layout buckets --entries 1500
    python -m benchmarks.forget_residue --layout collections --entries 20
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from benchmarks.exits import command, positive_int
from langchain_lightmem import LightMem, LightMemConfig
from langchain_lightmem.types import MemoryEntry


@command
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.forget_residue",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--layout", choices=["collections", "buckets"], default="buckets")
    parser.add_argument("--entries", type=positive_int, default=1500, help="memories per namespace")
    parser.add_argument("--sample", type=positive_int, default=200, help="vectors of alice looked for")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="lightmem-residue-") as tmp:
        config = LightMemConfig(
            data_dir=Path(tmp), embeddings={"backend": "static"}, chroma={"layout": args.layout, "buckets": 1}
        )
        vectors: dict[str, np.ndarray] = {}
        with LightMem(config) as memory:
            for ns in ("alice", "bob"):
                entries = [
                    MemoryEntry(
                        id=f"{ns}-entry-{i}",
                        namespace=(ns,),
                        text=f"{ns} secret fact number {i}",
                        source_ids=[],
                        event_time=datetime(2024, 1, 1, tzinfo=UTC),
                    )
                    for i in range(args.entries)
                ]
                given = {}
                for e in entries:
                    v = rng.normal(size=64)
                    given[e.id] = v / np.linalg.norm(v)
                memory.store.upsert(entries, vectors=given)
                vectors.update(given)
            memory.forget("alice", vacuum=True)
            alice = [vectors[f"alice-entry-{i}"] for i in range(min(args.sample, args.entries))]
            needles = [np.asarray(v, dtype=np.float32).tobytes()[:32] for v in alice]
            files = {}
            for path in sorted(p for p in config.chroma_path.rglob("*") if p.is_file()):
                data = path.read_bytes()
                files[str(path.relative_to(config.chroma_path))] = {
                    "bytes": len(data),
                    "alice_vectors": sum(n in data for n in needles),
                    "alice_ids": b"alice-entry-" in data,
                    "alice_texts": b"alice secret fact" in data,
                }
            db = sqlite3.connect(config.chroma_path / "chroma.sqlite3")
            log = db.execute(
                "SELECT operation, count(*) FROM embeddings_queue"
                " WHERE instr(id, 'alice-entry-') > 0 GROUP BY operation"
            ).fetchall()
            db.close()
    report = {
        "layout": args.layout,
        "entries_per_namespace": args.entries,
        "alice_vectors_sampled": len(needles),
        "files": files,
        "log_rows_with_alice_ids_by_operation": dict(log),
    }
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
