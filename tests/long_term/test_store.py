from __future__ import annotations

from datetime import UTC, datetime

import pytest

from langchain_lightmem.config import ChromaConfig
from langchain_lightmem.errors import ConfigurationError, StoreError
from langchain_lightmem.long_term.store import ChromaMemoryStore, scoped_where
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


def test_scoped_where_always_ands_the_namespace_first():
    assert scoped_where(("a",)) == {"$and": [{"namespace": "a"}, {"active": True}]}
    where = scoped_where(("a", "b"), {"namespace": "x"}, include_history=True)
    assert where == {"$and": [{"namespace": "a/b"}, {"namespace": "x"}]}
    assert scoped_where(("org",), prefix=True, include_history=True) == {"ns_0": "org"}
    with pytest.raises(TypeError):
        scoped_where(("a",), "namespace = b")  # type: ignore[arg-type]


def test_metadata_round_trip(tmp_path, static_embeddings):
    store = ChromaMemoryStore(ChromaConfig(), tmp_path, static_embeddings)
    original = entry(1, ns=("org", "a"), thread_id="t", speaker="Al", role="user", model="m")
    store.upsert([original])
    (back,) = store.get(("org", "a"), [original.id])
    assert back == original.model_copy(update={"ingested_at": back.ingested_at})
    assert store.get(("org",), [original.id]) == []  # exact namespace only


def test_history_hidden_by_default(tmp_path, static_embeddings):
    store = ChromaMemoryStore(ChromaConfig(), tmp_path, static_embeddings)
    store.upsert([entry(1), entry(2, superseded_by="e1-a", valid_to=datetime(2024, 2, 1, tzinfo=UTC))])
    assert [h.entry.id for h in store.search(("a",), "fact", k=5)] == ["e1-a"]
    assert len(store.search(("a",), "fact", k=5, include_history=True)) == 2
    assert store.count(("a",)) == 1 and store.count(("a",), include_history=True) == 2


def test_reopening_with_other_embeddings_is_refused(tmp_path, static_embeddings):
    ChromaMemoryStore(ChromaConfig(), tmp_path, static_embeddings).upsert([entry(1)])
    other = CachedEmbeddings(lambda texts: [[1.0] * 64 for _ in texts], model_id="other-model")
    with pytest.raises(ConfigurationError, match="tokenlearn-static-64d"):
        ChromaMemoryStore(ChromaConfig(), tmp_path, other)


def test_unreachable_server_says_how_to_start_one(tmp_path, static_embeddings):
    with pytest.raises(StoreError, match="chroma run"):
        ChromaMemoryStore(ChromaConfig(mode="http", port=1), tmp_path, static_embeddings)
