"""BM25 on SQLite FTS5 against BM25 on PostgreSQL: the same rows, the same questions, the same k.

Every turn of each LoCoMo conversation is one row (``"<speaker>: <text>"``, as LightMem's LLM-free entries read)
in one namespace per conversation, indexed by :class:`~langchain_lightmem.long_term.lexical.LexicalIndex` (FTS5,
Porter stemmer) and by :class:`~langchain_lightmem.long_term.lexical_postgres.PostgresLexicalIndex` (tsvector,
Snowball ``english``). Each scorable question (categories 1-4) is searched in both; reported per backend: recall@k
of the evidence turns (share of a question's evidence found in the top k, averaged), hit@k (some evidence in the
top k), search latency, and how far the two rankings agree (top-k overlap, same first hit).

Lexical index only: no embeddings, no fusion, no neighbour lift (the full system runs are ``python -m benchmarks
run``). Without ``--postgres-url`` a throwaway server is started from the Debian binaries (tests/postgres.py).

Example:
    .. code-block:: bash

        python -m benchmarks.lexical_backends --k 10
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time
import uuid
from collections.abc import Iterator
from typing import Any

from benchmarks.data import DEFAULT_LOCOMO_CATEGORIES, load_dataset
from langchain_lightmem.database import PostgresDatabase
from langchain_lightmem.long_term.lexical import LexicalBackend, LexicalIndex, LexicalRow
from langchain_lightmem.long_term.lexical_postgres import PostgresLexicalIndex


@contextlib.contextmanager
def _server(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    from tests.postgres import postgres_server

    with postgres_server() as started:
        yield started


def measure(url: str, k: int, data: str | None = None) -> dict[str, Any]:
    dataset = load_dataset("locomo", data, categories=DEFAULT_LOCOMO_CATEGORIES)
    database = PostgresDatabase.from_conn_string(url, schema=f"bench_{uuid.uuid4().hex[:8]}")
    backends: dict[str, LexicalBackend] = {
        "sqlite_fts5": LexicalIndex(":memory:"),
        "postgres": PostgresLexicalIndex(database),
    }
    stats: dict[str, dict[str, list[float]]] = {name: {"recall": [], "hit": [], "ms": []} for name in backends}
    overlap: list[float] = []
    same_first: list[float] = []
    rows_total = 0
    try:
        for conv in dataset.conversations:
            name = f"conv_{conv.id}"
            rows = [LexicalRow(t.id, f"{t.speaker}: {t.text}", t.timestamp.timestamp()) for t in conv.turns]
            rows_total += len(rows)
            for index in backends.values():
                index.upsert(name, rows)
            for question in conv.questions:
                if not question.scorable:
                    continue
                evidence = set(question.evidence)
                ranked: dict[str, list[str]] = {}
                for backend, index in backends.items():
                    started = time.perf_counter()
                    hits = index.search(name, question.text, limit=k)
                    stats[backend]["ms"].append((time.perf_counter() - started) * 1000)
                    ids = [h.id for h in hits]
                    ranked[backend] = ids
                    stats[backend]["recall"].append(len(evidence & set(ids)) / len(evidence))
                    stats[backend]["hit"].append(float(bool(evidence & set(ids))))
                a, b = ranked["sqlite_fts5"], ranked["postgres"]
                overlap.append(len(set(a) & set(b)) / max(len(a), len(b), 1))
                same_first.append(float(a[:1] == b[:1]))
    finally:
        for index in backends.values():
            index.close()

    def summary(values: dict[str, list[float]]) -> dict[str, float]:
        ms = sorted(values["ms"])
        return {
            f"recall@{k}": round(statistics.mean(values["recall"]), 4),
            f"hit@{k}": round(statistics.mean(values["hit"]), 4),
            "search_ms_p50": round(ms[len(ms) // 2], 2),
            "search_ms_p95": round(ms[int(len(ms) * 0.95)], 2),
        }

    return {
        "dataset": str(dataset.path.name),
        "conversations": len(dataset.conversations),
        "rows": rows_total,
        "questions": len(overlap),
        "k": k,
        **{name: summary(values) for name, values in stats.items()},
        f"top{k}_overlap": round(statistics.mean(overlap), 4),
        "same_first_hit": round(statistics.mean(same_first), 4),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--data", help="folder of the data sets (default ../shared/data)")
    parser.add_argument("--postgres-url", help="an existing server (default: start a throwaway one)")
    args = parser.parse_args(argv)
    with _server(args.postgres_url) as url:
        print(json.dumps(measure(url, args.k, args.data), indent=2))


if __name__ == "__main__":
    main()
