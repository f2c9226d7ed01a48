from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from langchain_lightmem.config import ChromaConfig
from langchain_lightmem.errors import ConfigurationError, StoreError
from langchain_lightmem.long_term.store import ChromaMemoryStore, entry_where
from langchain_lightmem.models import CachedEmbeddings
from langchain_lightmem.types import MemoryEntry


def entry(i: int, ns=("a",), **kw) -> MemoryEntry:
    return MemoryEntry(
        id=f"e{i}-{'-'.join(ns)}",
        namespace=ns,
        text=f"fact {i}",
        source_ids=[f"m{i}"],
        event_time=datetime(2024, 1, 1 + i, tzinfo=UTC),
        **kw,
    )


def test_entry_where_combines_time_range_and_filters():
    start = datetime(2024, 1, 1, tzinfo=UTC)
    assert entry_where() is None
    assert entry_where({"speaker": "Al"}) == {"speaker": "Al"}
    assert entry_where({"speaker": "Al"}, time_range=(start, None)) == {
        "$and": [{"event_ts": {"$gte": start.timestamp()}}, {"speaker": "Al"}]
    }
    with pytest.raises(TypeError):
        entry_where("namespace = b")  # type: ignore[arg-type]


def test_each_namespace_has_its_own_collections(tmp_path, static_embeddings):
    store = ChromaMemoryStore(ChromaConfig(), tmp_path, static_embeddings)
    store.upsert([entry(1, ns=("a",)), entry(2, ns=("org", "a"))])
    assert store.namespaces() == [("a",), ("org", "a")]
    assert store.collection_name(("a",)) != store.collection_name(("org", "a"))
    assert [h.entry.id for h in store.search(("a",), "fact", k=10)] == ["e1-a"]
    assert store.search(("nobody",), "fact", k=10) == [] and store.namespaces() == [("a",), ("org", "a")]
    assert store.delete_namespace(("a",)) == 1 and store.namespaces() == [("org", "a")]


def test_upsert_clears_fields_that_became_unset(tmp_path, static_embeddings):
    store = ChromaMemoryStore(ChromaConfig(), tmp_path, static_embeddings)
    store.upsert([entry(1, speaker="Al", thread_id="t")])
    store.upsert([entry(1)])
    (back,) = store.get(("a",), ["e1-a"])
    assert back.speaker is None and back.thread_id is None


def test_add_never_overwrites_current_or_history(tmp_path, static_embeddings):
    store = ChromaMemoryStore(ChromaConfig(), tmp_path, static_embeddings)
    first = entry(1)
    store.add([first])
    store.supersede([first.model_copy(update={"superseded_by": "e2-a", "valid_to": datetime(2024, 3, 1, tzinfo=UTC)})])
    store.add([first, entry(2)])  # a resumed write repeats the batch
    assert [e.id for e in store.list(("a",))] == ["e2-a"]
    (old,) = [e for e in store.list(("a",), include_history=True) if e.id == "e1-a"]
    assert old.superseded_by == "e2-a"


def test_an_interrupted_move_to_history_is_completed_on_read(tmp_path, static_embeddings):
    store = ChromaMemoryStore(ChromaConfig(), tmp_path, static_embeddings)
    original = entry(1)
    store.add([original])
    moved = original.model_copy(update={"superseded_by": "x", "valid_to": datetime(2024, 3, 1, tzinfo=UTC)})
    history = store._collection(("a",), history=True, create=True)
    store._write(history, [moved], replace=True)  # the crash happened before the current copy was deleted
    (back,) = store.get(("a",), ["e1-a"])
    assert back.superseded_by == "x" and store.count(("a",)) == 0 and store.count(("a",), include_history=True) == 1


def test_relative_data_folders_do_not_alias_after_chdir(tmp_path, static_embeddings, monkeypatch):
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    monkeypatch.chdir(tmp_path / "one")
    ChromaMemoryStore(ChromaConfig(), Path("memory"), static_embeddings).upsert([entry(1)])
    monkeypatch.chdir(tmp_path / "two")
    store = ChromaMemoryStore(ChromaConfig(), Path("memory"), static_embeddings)
    assert store.count(("a",)) == 0 and (tmp_path / "two" / "memory").exists()


def test_metadata_round_trip(tmp_path, static_embeddings):
    store = ChromaMemoryStore(ChromaConfig(), tmp_path, static_embeddings)
    original = entry(1, ns=("org", "a"), thread_id="t", speaker="Al", role="user", model="m")
    store.upsert([original])
    (back,) = store.get(("org", "a"), [original.id])
    assert back == original.model_copy(update={"ingested_at": back.ingested_at})
    assert store.get(("org",), [original.id]) == []  # exact namespace only


def test_history_hidden_by_default(tmp_path, static_embeddings):
    store = ChromaMemoryStore(ChromaConfig(), tmp_path, static_embeddings)
    store.upsert([entry(1), entry(2)])
    store.supersede([entry(2, superseded_by="e1-a", valid_to=datetime(2024, 2, 1, tzinfo=UTC))])
    assert [h.entry.id for h in store.search(("a",), "fact", k=5)] == ["e1-a"]
    assert len(store.search(("a",), "fact", k=5, include_history=True)) == 2
    assert store.count(("a",)) == 1 and store.count(("a",), include_history=True) == 2


def test_reopening_with_other_embeddings_is_refused(tmp_path, static_embeddings):
    ChromaMemoryStore(ChromaConfig(), tmp_path, static_embeddings).upsert([entry(1)])
    other = CachedEmbeddings(lambda texts: [[1.0] * 64 for _ in texts], model_id="other-model")
    reopened = ChromaMemoryStore(ChromaConfig(), tmp_path, other)
    with pytest.raises(ConfigurationError, match="tokenlearn-static-64d"):
        reopened.search(("a",), "fact")


def test_unreachable_server_says_how_to_start_one(tmp_path, static_embeddings):
    with pytest.raises(StoreError, match="chroma run"):
        ChromaMemoryStore(ChromaConfig(mode="http", port=1), tmp_path, static_embeddings)
