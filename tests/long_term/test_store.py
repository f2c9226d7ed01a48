from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from langchain_lightmem.config import ChromaConfig, LightMemConfig
from langchain_lightmem.errors import ConfigurationError, StoreError
from langchain_lightmem.long_term.store import ChromaMemoryStore, entry_where
from langchain_lightmem.models import CachedEmbeddings
from langchain_lightmem.types import MemoryEntry, namespace_key


@pytest.fixture(params=["collections", "buckets"])
def chroma_config(request) -> ChromaConfig:
    """Every store test runs on both layouts; ``buckets: 1`` puts every namespace in one shared bucket."""
    return ChromaConfig(layout=request.param, buckets=1)


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


def test_namespaces_are_kept_apart(tmp_path, static_embeddings, chroma_config):
    store = ChromaMemoryStore(chroma_config, tmp_path, static_embeddings)
    store.upsert([entry(1, ns=("a",)), entry(2, ns=("org", "a"))])
    assert store.namespaces() == [("a",), ("org", "a")]
    if chroma_config.layout == "collections":
        assert store.collection_name(("a",)) != store.collection_name(("org", "a"))
    else:  # one bucket holds both
        assert store.collection_name(("a",)) == store.collection_name(("org", "a")) == "lightmem_memories_b000"
    assert [h.entry.id for h in store.search(("a",), "fact", k=10)] == ["e1-a"]
    assert store.search(("nobody",), "fact", k=10) == [] and store.namespaces() == [("a",), ("org", "a")]
    assert store.delete_namespace(("a",)) == 1 and store.namespaces() == [("org", "a")]


def test_upsert_clears_fields_that_became_unset(tmp_path, static_embeddings, chroma_config):
    store = ChromaMemoryStore(chroma_config, tmp_path, static_embeddings)
    store.upsert([entry(1, speaker="Al", thread_id="t")])
    store.upsert([entry(1)])
    (back,) = store.get(("a",), ["e1-a"])
    assert back.speaker is None and back.thread_id is None


def test_add_never_overwrites_current_or_history(tmp_path, static_embeddings, chroma_config):
    store = ChromaMemoryStore(chroma_config, tmp_path, static_embeddings)
    first = entry(1)
    store.add([first])
    store.supersede([first.model_copy(update={"superseded_by": "e2-a", "valid_to": datetime(2024, 3, 1, tzinfo=UTC)})])
    store.add([first, entry(2)])  # a resumed write repeats the batch
    assert [e.id for e in store.list(("a",))] == ["e2-a"]
    (old,) = [e for e in store.list(("a",), include_history=True) if e.id == "e1-a"]
    assert old.superseded_by == "e2-a"


def test_an_interrupted_move_to_history_is_completed_on_read(tmp_path, static_embeddings, chroma_config):
    store = ChromaMemoryStore(chroma_config, tmp_path, static_embeddings)
    original = entry(1)
    store.add([original])
    moved = original.model_copy(update={"superseded_by": "x", "valid_to": datetime(2024, 3, 1, tzinfo=UTC)})
    history = store._collection(("a",), history=True, create=True)
    store._write(history, [moved], replace=True)  # the crash happened before the current copy was deleted
    (back,) = store.get(("a",), ["e1-a"])
    assert back.superseded_by == "x" and store.count(("a",)) == 0 and store.count(("a",), include_history=True) == 1


def test_relative_data_folders_do_not_alias_after_chdir(tmp_path, static_embeddings, monkeypatch, chroma_config):
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    monkeypatch.chdir(tmp_path / "one")
    ChromaMemoryStore(chroma_config, Path("memory"), static_embeddings).upsert([entry(1)])
    monkeypatch.chdir(tmp_path / "two")
    store = ChromaMemoryStore(chroma_config, Path("memory"), static_embeddings)
    assert store.count(("a",)) == 0 and (tmp_path / "two" / "memory").exists()


def test_metadata_round_trip(tmp_path, static_embeddings, chroma_config):
    store = ChromaMemoryStore(chroma_config, tmp_path, static_embeddings)
    original = entry(1, ns=("org", "a"), thread_id="t", speaker="Al", role="user", model="m")
    store.upsert([original])
    (back,) = store.get(("org", "a"), [original.id])
    assert back == original.model_copy(update={"ingested_at": back.ingested_at})
    assert store.get(("org",), [original.id]) == []  # exact namespace only


def test_history_hidden_by_default(tmp_path, static_embeddings, chroma_config):
    store = ChromaMemoryStore(chroma_config, tmp_path, static_embeddings)
    store.upsert([entry(1), entry(2)])
    store.supersede([entry(2, superseded_by="e1-a", valid_to=datetime(2024, 2, 1, tzinfo=UTC))])
    assert [h.entry.id for h in store.search(("a",), "fact", k=5)] == ["e1-a"]
    assert len(store.search(("a",), "fact", k=5, include_history=True)) == 2
    assert store.count(("a",)) == 1 and store.count(("a",), include_history=True) == 2


def test_reopening_with_other_embeddings_is_refused(tmp_path, static_embeddings, chroma_config):
    ChromaMemoryStore(chroma_config, tmp_path, static_embeddings).upsert([entry(1)])
    other = CachedEmbeddings(lambda texts: [[1.0] * 64 for _ in texts], model_id="other-model")
    reopened = ChromaMemoryStore(chroma_config, tmp_path, other)
    with pytest.raises(ConfigurationError, match="tokenlearn-static-64d"):
        reopened.search(("a",), "fact")


def test_unreachable_server_says_how_to_start_one(tmp_path, static_embeddings):
    with pytest.raises(StoreError, match="chroma run"):
        ChromaMemoryStore(ChromaConfig(mode="http", port=1), tmp_path, static_embeddings)


# -- the buckets layout ------------------------------------------------------------------------------------------


def bucket_store(tmp_path, embeddings, buckets: int = 1) -> ChromaMemoryStore:
    return ChromaMemoryStore(ChromaConfig(layout="buckets", buckets=buckets), tmp_path, embeddings)


def test_a_namespace_is_hashed_to_a_numbered_bucket(tmp_path, static_embeddings):
    store = bucket_store(tmp_path, static_embeddings, buckets=256)
    digest = hashlib.blake2b(namespace_key(("org", "a")).encode(), digest_size=12).digest()
    number = int.from_bytes(digest, "big") % 256
    assert store.collection_name(("org", "a")) == f"lightmem_memories_b{number:03d}"
    assert store.collection_name(("org", "a"), history=True) == f"lightmem_memories_b{number:03d}_h"
    assert {store.collection_name((f"user-{i}",)) for i in range(2000)} <= {
        f"lightmem_memories_b{n:03d}" for n in range(256)
    }


def test_a_bucket_holds_no_entry_id_and_no_namespace_key_only_digests(tmp_path, static_embeddings):
    """What Chroma keeps beside the vectors (its write log keeps ids after a delete) names no user or entry."""
    store = bucket_store(tmp_path, static_embeddings)
    store.upsert([entry(1, ns=("alice",)), entry(2, ns=("bob",))])
    raw = store.client.get_collection(store.collection_name(("alice",))).get(include=["metadatas"])
    assert len(raw["ids"]) == 2
    assert not any("alice" in i or "bob" in i or i in ("e1-alice", "e2-bob") for i in raw["ids"])
    digests = {m["lightmem_ns"] for m in raw["metadatas"]}
    assert len(digests) == 2 and not digests & {"alice", "bob"}


def test_two_namespaces_in_one_bucket_may_use_the_same_id(tmp_path, static_embeddings):
    store = bucket_store(tmp_path, static_embeddings)
    mine = entry(1, ns=("a",)).model_copy(update={"id": "same"})
    theirs = entry(2, ns=("b",)).model_copy(update={"id": "same"})
    store.upsert([mine])
    store.add([theirs])
    assert [e.text for e in store.get(("a",), ["same"])] == ["fact 1"]
    assert [e.text for e in store.get(("b",), ["same"])] == ["fact 2"]
    assert store.delete(("b",), ["same"]) == 1 and store.count(("a",)) == 1 and store.count(("b",)) == 0
    assert [e.id for e in store.list(("a",))] == ["same"]


def test_every_read_stays_inside_the_namespace_of_a_shared_bucket(tmp_path, static_embeddings):
    store = bucket_store(tmp_path, static_embeddings)
    a, b = ("a",), ("b",)
    store.upsert([entry(1, ns=a), entry(2, ns=a), entry(3, ns=b)])
    store.supersede([entry(2, ns=a, superseded_by="e1-a", valid_to=datetime(2024, 2, 1, tzinfo=UTC))])
    assert {h.entry.id for h in store.search(b, "fact", k=10, include_history=True)} == {"e3-b"}
    assert {h.entry.id for h in store.search(a, "fact", k=10, include_history=True)} == {"e1-a", "e2-a"}
    vector = static_embeddings.embed_query("fact 1")
    assert [i for i, _ in store.dense_search(b, vector, k=10, include_history=True)] == ["e3-b"]
    assert [h.entry.id for h in store.neighbours(b, [vector], k=10)[0]] == ["e3-b"]
    assert store.get(b, ["e1-a", "e2-a"]) == [] and store.get_with_vectors(b, ["e1-a"]) == []
    assert store.fetch(b, ["e1-a", "e3-b"], include_history=True).keys() == {"e3-b"}
    assert store.event_times(b, ["e1-a"]) == {} and store.pending_ids(b) == set()
    assert [e.id for e in store.list(b, include_history=True)] == ["e3-b"]
    assert store.count(a) == 1 and store.count(a, include_history=True) == 2 and store.count(b) == 1
    assert store.delete(b, ["e1-a", "e2-a"]) == 0 and store.count(a, include_history=True) == 2
    assert store.namespaces() == [a, b]


def test_delete_namespace_in_a_bucket_deletes_its_documents_only(tmp_path, static_embeddings):
    store = bucket_store(tmp_path, static_embeddings)
    a, b = ("a",), ("b",)
    store.upsert([entry(1, ns=a), entry(2, ns=a), entry(3, ns=b)])
    store.supersede([entry(2, ns=a, superseded_by="e1-a", valid_to=datetime(2024, 2, 1, tzinfo=UTC))])
    assert store.delete_namespace(a) == 2 and store.delete_namespace(a) == 0
    for history in (False, True):
        raw = store.client.get_collection(store.collection_name(a, history=history)).get(include=["metadatas"])
        assert all(m["namespace"] == "b" for m in raw["metadatas"])
    assert store.namespaces() == [b] and [e.id for e in store.list(b)] == ["e3-b"]


def test_a_bucket_deleted_elsewhere_is_recreated_on_write(tmp_path, static_embeddings):
    store = bucket_store(tmp_path, static_embeddings)
    store.upsert([entry(1, ns=("a",))])
    assert store.count(("a",)) == 1  # the handle is cached now
    store.client.delete_collection(store.collection_name(("a",)))  # as another process sharing the server would
    assert store.search(("a",), "fact") == [] and store.count(("a",)) == 0
    store.upsert([entry(2, ns=("b",))])
    assert [e.id for e in store.list(("b",))] == ["e2-b"]


def test_changing_the_bucket_count_is_refused(tmp_path, static_embeddings):
    bucket_store(tmp_path, static_embeddings, buckets=1).upsert([entry(1)])
    store = bucket_store(tmp_path, static_embeddings, buckets=2)
    in_bucket_0 = next(ns for ns in ((f"u{i}",) for i in range(100)) if store.collection_name(ns).endswith("_b000"))
    with pytest.raises(ConfigurationError, match="buckets"):
        store.count(in_bucket_0)


def test_the_layout_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("LIGHTMEM_CHROMA_URL", "http://127.0.0.1:8123")
    monkeypatch.setenv("LIGHTMEM_CHROMA_LAYOUT", "buckets")
    chroma = LightMemConfig.from_env(data_dir=tmp_path).chroma
    assert (chroma.mode, chroma.port, chroma.layout, chroma.buckets) == ("http", 8123, "buckets", 256)
    monkeypatch.delenv("LIGHTMEM_CHROMA_URL")
    chroma = LightMemConfig.from_env(data_dir=tmp_path).chroma
    assert (chroma.mode, chroma.layout) == ("persistent", "buckets")
    monkeypatch.delenv("LIGHTMEM_CHROMA_LAYOUT")
    assert LightMemConfig.from_env(data_dir=tmp_path).chroma.layout == "collections"  # the default is unchanged
    monkeypatch.setenv("LIGHTMEM_CHROMA_LAYOUT", "shards")
    with pytest.raises(ValueError, match="collections"):
        LightMemConfig.from_env(data_dir=tmp_path)
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        ChromaConfig(layout="buckets", buckets=0)


def test_warm_up_searches_each_current_collection_once(tmp_path, static_embeddings, chroma_config):
    store = ChromaMemoryStore(chroma_config, tmp_path, static_embeddings)
    store.upsert([entry(1, ns=("a",)), entry(2, ns=("b",)), entry(3, ns=("c",))])
    old = entry(4, ns=("a",))
    store.add([old])
    store.supersede([old.model_copy(update={"superseded_by": "e1-a"})])  # a history collection now exists too
    store.client.create_collection("someone_else", embedding_function=None)  # not ours: never searched
    queried: list[str] = []
    listed = store.client.list_collections

    def spying() -> list:
        collections = listed()
        for collection in collections:
            real = collection.query

            def query(*args, _real=real, _name=collection.name, **kwargs):
                queried.append(_name)
                return _real(*args, **kwargs)

            collection.query = query
        return collections

    store.client.list_collections = spying
    progress: list[tuple[int, int]] = []
    warmed = store.warm_up(on_progress=lambda done, total: progress.append((done, total)))
    expected = {store.collection_name(ns) for ns in (("a",), ("b",), ("c",))}
    assert warmed == len(expected) and sorted(queried) == sorted(expected)
    assert progress == [(i, len(expected)) for i in range(1, len(expected) + 1)]


def test_warm_up_is_read_from_the_environment(monkeypatch, tmp_path):
    assert LightMemConfig(data_dir=tmp_path).chroma.warm_up is False
    monkeypatch.setenv("LIGHTMEM_CHROMA_WARM_UP", "1")
    assert LightMemConfig.from_env(data_dir=tmp_path).chroma.warm_up is True
