"""What the live path costs: ``lightmem ingest`` of a chat file, its final flush, and the latency of one ``add``.

Turns come from the ``chitchat-dataset`` package (real two-person chats; one thread per conversation, one
namespace), the same stream as ``benchmarks.soak``.

1. **File ingest**: ``--turns`` turns written to a JSONL file, then ``lightmem ingest FILE --no-flush`` and
   ``lightmem flush`` timed separately, in this process (the same code path as the command line). Reports messages/s
   and seconds per stage (from ``lightmem stats``).
2. **Add latency**: ``--adds`` single-message adds spread over threads, as an agent makes them, on a fresh folder:
   ``background=True`` (what the middleware, chat history and store do: accept, embed, make searchable) and a plain
   ``add`` (which also runs segmentation and, when a batch fills, extraction). The embedding of the message and the
   pending-entry write are timed on their own: together they are what read-your-writes adds to an ``add``.

    python -m benchmarks.live_ingest --turns 2000 --adds 300

With ``--postgres-url URL`` every measurement runs on both journal backends in one run, SQLite first, then
PostgreSQL (the journal and the lexical index in a fresh schema, dropped afterwards; Chroma stays embedded), and
the results are keyed ``sqlite`` / ``postgres``: compare the two as a ratio.

Speeds on a shared machine are noisy: compare the numbers of one run with each other.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from benchmarks.soak import conversations
from langchain_lightmem import LightMem, LightMemConfig
from langchain_lightmem.cli import main as lightmem


def _write_file(path: Path, turns: int) -> tuple[int, int]:
    convs = conversations(turns)
    n = 0
    with path.open("w") as f:
        for conv in convs:
            for turn in conv:
                if n == turns:
                    break
                record = {**turn, "timestamp": turn["timestamp"].isoformat(), "thread_id": turn["id"].split(":")[0]}
                f.write(json.dumps(record) + "\n")
                n += 1
    threads = len({json.loads(line)["thread_id"] for line in path.read_text().splitlines()})
    return n, threads


def _cli(*argv: str) -> tuple[float, dict[str, Any] | list[Any]]:
    from contextlib import redirect_stdout
    from io import StringIO

    out = StringIO()
    started = time.perf_counter()
    with redirect_stdout(out):
        code = lightmem([*argv, "--json"])
    elapsed = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"lightmem {' '.join(argv)} exited {code}")
    return elapsed, json.loads(out.getvalue())


def embedding_ceiling(path: Path, embeddings: str, batch: int = 64) -> float:
    """Messages/s of embedding the file's ``"<speaker>: <text>"`` alone, in batches: what ingest cannot beat."""
    from langchain_lightmem.config import EmbeddingConfig
    from langchain_lightmem.models import load_embeddings

    rows = [json.loads(line) for line in path.read_text().splitlines()]
    texts = [f"{r.get('speaker') or r['role']}: {r['content']}" for r in rows]
    embedder = load_embeddings(EmbeddingConfig(backend=embeddings, cache_size=0))
    embedder.embed_documents(["warm up"])
    started = time.perf_counter()
    for start in range(0, len(texts), batch):
        embedder.embed_documents(texts[start : start + batch])
    return len(texts) / (time.perf_counter() - started)


def file_ingest(turns: int, embeddings: str, work: Path, fresh_journal: Callable[[], None]) -> dict[str, Any]:
    fresh_journal()
    path = work / "chitchat.jsonl"
    n, threads = _write_file(path, turns)
    ceiling = embedding_ceiling(path, embeddings)
    data = str(work / "data")
    common = ("--data-dir", data, "--embeddings", embeddings, "--llm-free")
    ingest_s, _ = _cli("ingest", str(path), "--namespace", "user", "--no-flush", *common)
    flush_s, _ = _cli("flush", "--namespace", "user", *common)
    _, stats = _cli("stats", "--namespace", "user", *common)
    row = stats[0] if isinstance(stats, list) and stats else stats
    usage = row.get("usage", {}) if isinstance(row, dict) else {}
    return {
        "messages": n,
        "threads": threads,
        "ingest_seconds": round(ingest_s, 2),
        "flush_seconds": round(flush_s, 2),
        "messages_per_second": round(n / (ingest_s + flush_s), 1),
        "messages_per_second_without_flush": round(n / ingest_s, 1),
        "embedding_alone_messages_per_second": round(ceiling, 1),
        "stage_seconds": {k: round(v.get("seconds", 0.0), 2) for k, v in usage.items()} if usage else stats,
    }


def _timed(owner: Any, name: str, into: list[float]) -> None:
    """Time ``owner.name`` when the caller's thread runs it with work to do (not the background worker's runs)."""
    original: Callable[..., Any] = getattr(owner, name)
    caller = threading.current_thread()

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            if threading.current_thread() is caller and not (args and isinstance(args[0], list) and not args[0]):
                into.append(time.perf_counter() - started)

    setattr(owner, name, wrapper)


def _pct(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {}
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50_ms": round(statistics.median(ordered) * 1000, 1), "p95_ms": round(p95 * 1000, 1)}


@contextlib.contextmanager
def journal_backend(postgres_url: str | None) -> Iterator[Callable[[], None]]:
    """The journal on SQLite (``None``), or on PostgreSQL (through the environment, as the CLI and
    ``LightMemConfig.from_env`` read it). Yields ``fresh()``: a new, empty schema for the next data folder (its
    embedded Chroma must match its journal); every schema is dropped afterwards."""
    if postgres_url is None:
        yield lambda: None
        return
    import psycopg

    schemas: list[str] = []

    def fresh() -> None:
        schemas.append(f"lightmem_bench_{secrets.token_hex(4)}")
        os.environ["LIGHTMEM_POSTGRES_SCHEMA"] = schemas[-1]

    saved = {k: os.environ.get(k) for k in ("LIGHTMEM_POSTGRES_URL", "LIGHTMEM_POSTGRES_SCHEMA")}
    os.environ["LIGHTMEM_POSTGRES_URL"] = postgres_url
    try:
        yield fresh
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            for schema in schemas:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def add_latency(adds: int, embeddings: str, work: Path, fresh_journal: Callable[[], None]) -> dict[str, Any]:
    turns = [t for conv in conversations(adds + 50) for t in conv][:adds]
    out: dict[str, Any] = {"adds": len(turns)}
    for mode in ("background", "foreground"):
        fresh_journal()
        config = LightMemConfig.from_env(data_dir=work / f"latency-{mode}", embeddings={"backend": embeddings})
        with LightMem(config) as memory:
            memory.add([{"role": "user", "content": "warm up"}], namespace="warm")  # loads the model
            embed: list[float] = []
            index: list[float] = []
            _timed(memory.pipeline, "_embed", embed)
            _timed(memory.pipeline, "sync_pending", index)
            total: list[float] = []
            for turn in turns:
                message = {k: turn[k] for k in ("id", "role", "speaker", "content")}
                started = time.perf_counter()
                memory.add(
                    [message], namespace="user", thread_id=turn["id"].split(":")[0], background=mode == "background"
                )
                total.append(time.perf_counter() - started)
            memory.worker.join()
            out[mode] = {
                "add": _pct(total),
                "embed": _pct(embed),
                "pending_index": _pct(index),
                "read_your_writes_share_of_add_p50": round(
                    (statistics.median(embed) + statistics.median(index)) / statistics.median(total), 2
                ),
            }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.live_ingest",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--turns", type=int, default=2000, help="turns in the ingested file")
    parser.add_argument("--adds", type=int, default=300, help="single-message adds timed")
    parser.add_argument("--embeddings", default="minilm", help="minilm (default) or static")
    parser.add_argument("--skip", choices=["file", "latency"], action="append", default=[])
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument(
        "--postgres-url", help="also run every measurement with the journal on this PostgreSQL server (a new schema)"
    )
    args = parser.parse_args(argv)
    try:
        import chitchat_dataset  # noqa: F401
    except ImportError:
        print("chitchat-dataset is not installed (pip install 'langchain-lightmem[bench]'): nothing measured")
        return 2
    results: dict[str, Any] = {"embeddings": args.embeddings}
    backends = ["sqlite", "postgres"] if args.postgres_url else ["sqlite"]
    for backend in backends:
        measured: dict[str, Any] = {}
        with (
            tempfile.TemporaryDirectory(prefix="lightmem-live-") as tmp,
            journal_backend(args.postgres_url if backend == "postgres" else None) as fresh_journal,
        ):
            if "file" not in args.skip:
                measured["file_ingest"] = file_ingest(args.turns, args.embeddings, Path(tmp), fresh_journal)
                print(json.dumps({backend: {"file_ingest": measured["file_ingest"]}}, indent=2), flush=True)
            if "latency" not in args.skip:
                measured["add_latency"] = add_latency(args.adds, args.embeddings, Path(tmp), fresh_journal)
                print(json.dumps({backend: {"add_latency": measured["add_latency"]}}, indent=2), flush=True)
        if args.postgres_url:
            results[backend] = measured
        else:
            results.update(measured)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return 0 if len(results) > 1 else 2


if __name__ == "__main__":
    sys.exit(main())
