"""Each system on a tiny synthetic conversation: provenance is the turn ids, rendering carries the dates."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.data import Conversation, load_locomo
from benchmarks.systems import SYSTEMS, RunContext, SystemOptions
from langchain_lightmem.testing import ScriptedChatModel
from langchain_lightmem.tokens import TokenCounter


@pytest.fixture
def conversation(data_dir: Path) -> Conversation:
    return load_locomo(data_dir).conversations[0]


def build(name: str, conversation: Conversation, tmp_path: Path, embeddings, chat_model=None, **options):
    ctx = RunContext(embeddings, chat_model, TokenCounter(), SystemOptions(**options), tmp_path / "cache")
    system = SYSTEMS[name](ctx, conversation, tmp_path / "work" / name)
    seen: list[int] = []
    system.ingest(seen.append)
    assert sum(seen) == len(conversation.turns)
    return system


@pytest.mark.parametrize("name", ["bm25", "dense", "langgraph_store", "lightmem_llm_free"])
def test_raw_and_lightmem_llm_free_retrieve_the_turn_with_its_provenance(
    name, conversation, tmp_path, static_embeddings
):
    if name == "bm25":
        pytest.importorskip("rank_bm25")
    system = build(name, conversation, tmp_path, static_embeddings)
    try:
        hits = system.search("Melanie painted a sunrise over the lake", 7)
        assert len(hits) == 7
        assert {s for h in hits for s in h.source_ids} == {t.id for t in conversation.turns}
        by_id = {h.source_ids[0]: h for h in hits}
        assert by_id["D1:4"].text == "2023-05-08 (Mon) Melanie: I painted a sunrise over the lake last week."
        if name == "bm25":
            assert hits[0].source_ids == ("D1:4",)
        assert len(system.memories()) == 7
    finally:
        system.close()


def test_full_text_is_the_conversation_most_recent_first(conversation, tmp_path):
    system = build("full_text", conversation, tmp_path, None)
    hits = system.search("anything", 3)
    assert [h.source_ids[0] for h in hits] == ["D2:3", "D2:2", "D2:1"]


def test_lightmem_scripted_cites_turn_ids_and_counts_calls(conversation, tmp_path, static_embeddings):
    model = ScriptedChatModel(keep_prompts=False)
    system = build("lightmem_scripted", conversation, tmp_path, static_embeddings, model)
    try:
        assert model.calls >= 1 and model.usage_by_phase["ingest"].calls == model.calls
        sources = {s for h in system.search("camping", 10) for s in h.source_ids}
        assert sources == {t.id for t in conversation.turns}
        assert system.disk_bytes() > 0
        assert set(system.stage_seconds()) >= {"normalise", "segment", "extract", "write"}
    finally:
        system.close()


@pytest.mark.integration
def test_peers_record_provenance(conversation, tmp_path, static_embeddings, monkeypatch):
    monkeypatch.setenv("MEM0_TELEMETRY", "False")  # before mem0 is imported: it reads this once
    monkeypatch.setenv("MEM0_DIR", str(tmp_path / "mem0"))
    pytest.importorskip("mem0")
    pytest.importorskip("langmem")
    turn_ids = {t.id for t in conversation.turns}
    # mem0: each speaker's side of 4 + 2 pairs, one memory per message per side; langmem: one call per pair
    for name, calls, stored in (("mem0", 8, 14), ("langmem", 4, 7)):
        model = ScriptedChatModel(keep_prompts=False)
        system = build(name, conversation, tmp_path, static_embeddings, model)
        try:
            assert model.calls == calls and model.usage_by_phase["ingest"].input_tokens > 0
            assert len(system.memories()) == stored
            hits = system.search("Melanie: I painted a sunrise over the lake last week.", 20)
            assert "D1:4" in hits[0].source_ids
            assert all(0 < len(h.source_ids) <= 2 and set(h.source_ids) <= turn_ids for h in hits)
        finally:
            system.close()
