"""Search latency at scale: one namespace with N entries (default 100,000), query embedding included.

Entries are the sentences of the LoCoMo and LongMemEval turns (at least four words, distinct), written straight into
long-term memory (``store.add``: Chroma and the incremental BM25 index, as the write path does) in segments of 8
consecutive sentences with their turns' dates. Queries are the data sets' questions, embedded afresh each time (no
embedding cache on the query side). Each retrieval mode runs over the same questions in one process, one after
the other, so the numbers compare as ratios.

Example:
    .. code-block:: bash

        python -m benchmarks scale --entries 100000 --queries 200
"""

from __future__ import annotations

import re
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.data import load_dataset
from benchmarks.embeddings import DiskCachedEmbeddings

_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
MODES: dict[str, dict[str, Any]] = {
    "dense (0.1: vectors only)": {"mode": "dense", "neighbour_weight": 0.0, "time_mode": "off"},
    "hybrid (default)": {},
    "lexical": {"mode": "lexical"},
}


def corpus(data: str | None, entries: int) -> tuple[list[tuple[str, Any]], list[str]]:
    """``(sentence, timestamp)`` pairs and the questions of both data sets."""
    texts: dict[str, Any] = {}
    questions: list[str] = []
    for name in ("locomo", "longmemeval"):
        dataset = load_dataset(name, data)
        questions += [q.text for q in dataset.questions]
        for conv in dataset.conversations:
            for turn in conv.turns:
                for sentence in _SENTENCE.split(turn.text):
                    if len(sentence.split()) >= 4:
                        texts.setdefault(f"{turn.speaker}: {sentence.strip()}", turn.timestamp)
    if len(texts) < entries:
        raise ValueError(f"only {len(texts):,} distinct sentences in the data sets; ask for at most that many")
    return list(texts.items())[:entries], questions


def _latencies(search: Callable[[str], Any], queries: list[str]) -> dict[str, float]:
    seconds = []
    for query in queries:
        started = time.perf_counter()
        search(query)
        seconds.append(time.perf_counter() - started)
    ms = np.asarray(seconds) * 1000
    return {"p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95)), "mean": float(ms.mean())}


def run_scale(
    *,
    entries: int = 100_000,
    queries: int = 200,
    data: str | None = None,
    cache_dir: Path,
    work_dir: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Build the namespace (vectors from the disk cache when present), then time every mode."""
    from tqdm import tqdm

    from langchain_lightmem import LightMem, LightMemConfig
    from langchain_lightmem.models import load_embeddings
    from langchain_lightmem.types import MemoryEntry, utcnow

    rows, questions = corpus(data, entries)
    folder = Path(work_dir or tempfile.mkdtemp(prefix="lightmem-scale-"))
    namespace = ("scale",)
    cached = DiskCachedEmbeddings(load_embeddings(), cache_dir / "embeddings")
    started = time.perf_counter()
    with LightMem(LightMemConfig(data_dir=folder), embeddings=cached) as memory:
        if memory.store.count(namespace) != len(rows):
            memory.forget(namespace)
            now = utcnow()
            chunk = 1000
            for start in tqdm(range(0, len(rows), chunk), desc="write", disable=not progress):
                memory.store.add(
                    [
                        MemoryEntry(
                            id=f"s{i}",
                            namespace=namespace,
                            text=text,
                            source_ids=[f"s{i}"],
                            event_time=when + timedelta(seconds=i % 1000),
                            ingested_at=now,
                            segment_id=f"seg{i // 8}",
                            method="extractive",
                        )
                        for i, (text, when) in enumerate(rows[start : start + chunk], start)
                    ]
                )
    build_seconds = time.perf_counter() - started
    asked = questions[:queries]
    # Queries are embedded afresh: no LRU on this side.
    config = LightMemConfig(data_dir=folder, embeddings={"cache_size": 0})
    results: dict[str, Any] = {}
    with LightMem(config, embeddings=load_embeddings(config.embeddings)) as memory:
        memory.search(namespace, "warm-up: what did they talk about?")  # lazy loads, the index check
        for label, overrides in MODES.items():

            def search(query: str, overrides: dict[str, Any] = overrides) -> Any:
                return memory.search(namespace, query, k=10, **overrides)

            results[label] = _latencies(search, asked)
        results["context within 1,000 tokens (hybrid)"] = _latencies(
            lambda q: memory.context(namespace, q, max_tokens=1000), asked
        )
        results["query embedding alone"] = _latencies(memory.embeddings.embed_query, asked)
        stored = memory.store.count(namespace)
    return {
        "entries": stored,
        "queries": len(asked),
        "build_seconds": build_seconds,
        "median_words": statistics.median(len(t.split()) for t, _ in rows),
        "folder": str(folder),
        "latency_ms": results,
    }


def markdown(doc: dict[str, Any]) -> str:
    lines = [
        f"{doc['entries']:,} entries in one namespace, {doc['queries']} questions, query embedding included "
        f"(median entry {doc['median_words']} words):",
        "",
        "| search | p50 ms | p95 ms | mean ms |",
        "|---|---|---|---|",
    ]
    for label, row in doc["latency_ms"].items():
        lines.append(f"| {label} | {row['p50']:.1f} | {row['p95']:.1f} | {row['mean']:.1f} |")
    return "\n".join(lines)
