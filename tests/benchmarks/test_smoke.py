"""The CI smoke slice: every offline system that can run here, on one LoCoMo conversation (2 sessions, 5
questions), through the real harness (real MiniLM, Chroma, mem0, langmem), then the report. Keeps the harness
from rotting; skips when ../shared/data is absent."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from benchmarks.report import markdown, write_report
from benchmarks.runner import OFFLINE_SYSTEMS, RunSpec, check_system, run

pytestmark = pytest.mark.integration


def test_smoke_slice_runs_every_available_system(shared_data: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("MEM0_TELEMETRY", "False")
    monkeypatch.setenv("MEM0_DIR", str(tmp_path / "mem0"))
    systems = [s for s in OFFLINE_SYSTEMS if check_system(s) is None]
    assert {"full_text", "dense", "lightmem_llm_free", "lightmem_scripted"} <= set(systems)
    spec = RunSpec(
        systems=systems,
        data_path=str(shared_data),
        conversations=["conv-26"],
        max_sessions=2,
        questions=5,
        cache_dir=str(tmp_path / "cache"),
        isolate=False,
        progress=False,
    )
    doc = run(spec, command="pytest smoke")
    results = {s["system"]: s for s in doc["systems"]}
    assert not [s for s in doc["systems"] if "error" in s], [s.get("error") for s in doc["systems"]]
    assert doc["selection"]["turns"] == 35 and doc["selection"]["scorable_questions"] == 5

    for s in results.values():
        assert s["scored_questions"] == 5
        for key in ("recall@5", "recall@budget500", "recall@budget1000", "recall@budget2000", "mrr"):
            assert 0.0 <= s["retrieval"][key] <= 1.0
        assert s["retrieval"]["recall@budget500"] <= s["retrieval"]["recall@budget2000"]
        assert s["footprint"]["memory_tokens"] > 0 and s["speed"]["search_ms"]["n"] == 5
    for name in ("full_text", "bm25", "dense", "lightmem_llm_free"):
        if name in results:
            assert results[name]["cost"]["ingest"]["calls"] == 0
    scripted = results["lightmem_scripted"]["cost"]["ingest"]
    assert scripted["calls"] >= 1 and scripted["input_tokens"] > 0
    assert results["lightmem_scripted"]["speed"]["stages"]["extract"]["seconds"] >= 0
    assert results["lightmem_llm_free"]["footprint"]["disk_bytes"] > 0
    if "mem0" in results:  # 2 sessions of 18 + 17 turns, both speakers' sides, 2 turns per add
        assert results["mem0"]["cost"]["ingest"]["calls"] == 2 * (9 + 9)
        assert results["mem0"]["cost"]["ingest"]["input_tokens"] > 20 * scripted["input_tokens"]

    paths = {p.name for p in write_report(doc, tmp_path / "report")}
    assert {"results.json", "results.md"} <= paths
    if importlib.util.find_spec("matplotlib"):
        assert {"cost_vs_recall.png", "recall_by_category.png"} <= paths
    text = markdown(doc)
    assert "scripted" in text and "| lightmem_scripted |" in text
