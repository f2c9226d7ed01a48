from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.mark.integration  # real PostgreSQL
def test_live_ingest_measures_both_journal_backends_and_drops_its_schema(postgres_url: str, tmp_path: Path) -> None:
    pytest.importorskip("chitchat_dataset")
    import psycopg

    from benchmarks.live_ingest import main as live_ingest

    out = tmp_path / "live.json"
    argv = ["--turns", "30", "--adds", "6", "--embeddings", "static", "--postgres-url", postgres_url, "--out", str(out)]
    assert live_ingest(argv) == 0
    results = json.loads(out.read_text())
    for backend in ("sqlite", "postgres"):
        assert results[backend]["file_ingest"]["messages"] == 30
        assert results[backend]["add_latency"]["adds"] == 6
    with psycopg.connect(postgres_url) as conn:
        left = conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'lightmem_bench_%'").fetchall()
    assert left == []
