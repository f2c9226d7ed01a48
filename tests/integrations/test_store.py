"""LightMemStore beyond the shared suite: what it keeps that InMemoryStore does not (created_at, TTL, disk), what it
refuses, isolation, and the two reserved namespaces that connect it to LightMem."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langgraph.store.base import PutOp, SearchOp

from langchain_lightmem import ConfigurationError, InvalidMessageError, LightMem, StoreError
from langchain_lightmem.integrations import LightMemStore
from langchain_lightmem.integrations.filters import matches, pushdown_clauses


def test_created_at_survives_updates(make_store: Callable[..., LightMemStore]) -> None:
    store = make_store(index=False)
    store.put(("a",), "k", {"v": 1})
    first = store.get(("a",), "k")
    time.sleep(0.01)
    store.put(("a",), "k", {"v": 2})
    second = store.get(("a",), "k")
    assert first is not None and second is not None
    assert second.created_at == first.created_at
    assert second.updated_at > first.updated_at
    store.delete(("a",), "k")
    store.put(("a",), "k", {"v": 3})
    third = store.get(("a",), "k")
    assert third is not None and third.created_at > first.created_at  # deleted: a new item


@pytest.mark.parametrize(
    "value",
    [{"s": {1, 2}}, {"t": (1, 2)}, {"nan": float("nan")}, {1: "int key"}, {"d": time}, ["not", "a", "dict"]],
    ids=["set", "tuple", "nan", "int-key", "object", "list"],
)
def test_non_json_values_are_refused(make_store: Callable[..., LightMemStore], value: Any) -> None:
    store = make_store(index=False)
    with pytest.raises(StoreError):
        store.put(("a",), "k", value)
    assert store.get(("a",), "k") is None


def test_bad_filters_and_paging_are_refused(make_store: Callable[..., LightMemStore]) -> None:
    store = make_store(index=False)
    with pytest.raises(StoreError, match=r"\$in"):
        store.search(("a",), filter={"n": {"$in": [1, 2]}})
    with pytest.raises(StoreError, match="limit"):
        store.batch([SearchOp(("a",), limit=-1)])
    with pytest.raises(StoreError, match="ttl"):
        store.put(("a",), "k", {"v": 1}, ttl=-5)


def test_comparisons_against_missing_or_mixed_fields_do_not_match() -> None:
    # InMemoryStore raises TypeError here; a store must answer.
    assert not matches({"n": None}, {"n": {"$gt": 1}})
    assert not matches({}, {"n": {"$lte": 1}})
    assert not matches({"n": "3"}, {"n": {"$gt": 1}})
    assert matches({"n": "b"}, {"n": {"$gt": "a"}})
    assert matches({"n": 2.5}, {"n": {"$gt": 2}})


def test_a_filter_never_widens_the_namespace(make_store: Callable[..., LightMemStore]) -> None:
    store = make_store(index=False)
    store.put(("alice",), "k", {"owner": "alice", "ns": "bob", "ns_0": "bob", "v:owner": "bob"})
    store.put(("bob",), "k", {"owner": "bob", "ns": "bob", "ns_0": "bob"})
    for filter in [
        {"owner": "bob"},
        {"ns": "bob"},
        {"ns_0": "bob"},
        {"$or": [{"ns_0": "bob"}]},
        {"ns_0": {"$ne": "alice"}},
        {"v:owner": "bob"},
    ]:
        for item in store.search(("alice",), filter=filter, limit=100):
            assert item.namespace == ("alice",), filter
    assert [i.value["owner"] for i in store.search(("alice",), filter={"v:owner": "bob"})] == ["alice"]
    # Chroma-side clauses are namespaced under "v:", so a filter cannot name the store's own metadata.
    assert pushdown_clauses({"ns_0": "bob"}) == [{"v:ns_0": "bob"}]


def test_equality_pushdown_ignores_fields_an_update_dropped(make_store: Callable[..., LightMemStore]) -> None:
    store = make_store(index=False)
    store.put(("a",), "k", {"type": "note"})
    store.put(("a",), "k", {"kind": "other"})  # "type" is gone from the value and from Chroma's metadata
    assert store.search(("a",), filter={"type": "note"}) == []
    record = store.items.get(include=["metadatas"])["metadatas"][0]
    assert "v:type" not in record and record["v:kind"] == "other"


def test_ttl_expires_refreshes_and_sweeps(make_store: Callable[..., LightMemStore]) -> None:
    store = make_store(index=False, ttl={"default_ttl": None, "refresh_on_read": True})
    assert store.supports_ttl
    store.put(("t",), "short", {"v": 1}, ttl=0.5 / 60)  # half a second
    store.put(("t",), "long", {"v": 2}, ttl=10)
    store.put(("t",), "forever", {"v": 3})
    assert {i.key for i in store.search(("t",))} == {"short", "long", "forever"}
    time.sleep(0.3)
    assert store.get(("t",), "short") is not None  # a read refreshes the TTL ...
    time.sleep(0.3)
    assert store.get(("t",), "short", refresh_ttl=False) is not None  # ... so it is still alive
    time.sleep(0.4)
    assert store.get(("t",), "short") is None  # expired items are invisible before any sweep
    assert {i.key for i in store.search(("t",))} == {"long", "forever"}
    assert store.sweep_ttl() == 1
    assert len(store.items.get(include=[])["ids"]) == 2


def test_default_ttl_and_expired_namespaces(make_store: Callable[..., LightMemStore]) -> None:
    store = make_store(index=False, ttl={"default_ttl": 0.2 / 60})
    store.put(("gone",), "k", {"v": 1})
    store.put(("kept",), "k", {"v": 1}, ttl=None)
    time.sleep(0.3)
    assert store.list_namespaces() == [("kept",)]
    store.put(("gone",), "k", {"v": 2})  # a put over an expired item starts a new item
    item = store.get(("gone",), "k")
    assert item is not None and item.value == {"v": 2}


def test_ttl_sweeper_thread_starts_and_stops(make_store: Callable[..., LightMemStore]) -> None:
    store = make_store(index=False, ttl={"sweep_interval_minutes": 0.002})
    store.put(("s",), "k", {"v": 1}, ttl=0.05 / 60)
    future = store.start_ttl_sweeper()
    deadline = time.monotonic() + 5
    while store.items.get(include=[])["ids"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert store.items.get(include=[])["ids"] == []
    assert store.stop_ttl_sweeper(timeout=5)
    assert future.done()


def test_items_persist_on_disk(tmp_path: Path, keyword_embeddings: Any) -> None:
    import chromadb
    from chromadb.config import Settings

    def open_store() -> LightMemStore:
        client = chromadb.PersistentClient(path=str(tmp_path), settings=Settings(anonymized_telemetry=False))
        return LightMemStore(client=client, index={"embed": keyword_embeddings, "fields": ["text"]})

    store = open_store()
    store.put(("p",), "k", {"text": "pizza in lisbon"})
    created = store.get(("p",), "k").created_at  # type: ignore[union-attr]
    del store
    reopened = open_store()
    item = reopened.get(("p",), "k")
    assert item is not None and item.created_at == created
    assert [i.key for i in reopened.search(("p",), query="lisbon")] == ["k"]


def test_reopening_with_other_embeddings_is_refused(
    make_store: Callable[..., LightMemStore], static_embeddings: Any, keyword_embeddings: Any
) -> None:
    store = make_store(index={"embed": keyword_embeddings})
    with pytest.raises(ConfigurationError, match="embeddings"):
        make_store(index={"embed": static_embeddings}, collection=store.items.name.removesuffix("_items"))
    with pytest.raises(ConfigurationError):
        make_store(collection="bad name!")


# -- the reserved namespaces: LightMem's memories and write path -------------------------------------------------


@pytest.fixture
def memory(make_memory: Callable[..., LightMem]) -> LightMem:
    return make_memory()  # LLM-free: each message of a segment becomes a memory


def test_messages_put_routes_into_the_pipeline(memory: LightMem, make_store: Callable[..., LightMemStore]) -> None:
    store = make_store(memory=memory)
    store.put(("alice", "messages"), "m1", {"role": "user", "content": "I moved to Lisbon.", "thread_id": "t1"})
    store.batch([PutOp(("alice", "messages"), f"m{i}", {"role": "assistant", "content": f"noted {i}"}) for i in (2, 3)])
    assert [m.id for m in memory.recent_messages("alice")] == ["m1", "m2", "m3"]
    item = store.get(("alice", "messages"), "m1")
    assert item is not None
    assert item.value["content"] == "I moved to Lisbon." and item.value["thread_id"] == "t1"
    assert [i.key for i in store.search(("alice", "messages"))] == ["m1", "m2", "m3"]
    assert [i.key for i in store.search(("alice", "messages"), filter={"role": "user"})] == ["m1"]
    # messages are a write path, not part of wider searches; until extracted they are pending memories
    assert {(tuple(i.namespace), i.value["method"]) for i in store.search(("alice",))} == {
        (("alice", "memories"), "pending")
    }
    with pytest.raises(StoreError, match="forget"):
        store.delete(("alice", "messages"), "m1")
    with pytest.raises(InvalidMessageError):
        store.put(("alice", "messages"), "bad", {"role": "robot", "content": "?"})
    memory.flush("alice")
    texts = [i.value["text"] for i in store.search(("alice", "memories"), query="Where does Alice live?")]
    assert any("Lisbon" in t for t in texts)


def test_pipeline_memories_are_searchable_and_isolated(
    memory: LightMem, make_store: Callable[..., LightMemStore]
) -> None:
    store = make_store(memory=memory)
    memory.add([{"role": "user", "content": "My cat is called Miso."}], namespace="alice")
    memory.add([{"role": "user", "content": "My dog is called Rex."}], namespace="bob")
    memory.add([{"role": "user", "content": "Team lunch is on Fridays."}], namespace=("org", "alice"))
    for ns in ("alice", "bob", ("org", "alice")):
        memory.flush(ns)
    hits = store.search(("alice", "memories"), query="pet name")
    assert [h.value["text"] for h in hits] == ["user: My cat is called Miso."]
    assert hits[0].score is not None and hits[0].namespace == ("alice", "memories")
    assert hits[0].value["source_ids"] and hits[0].value["method"] == "extractive"
    assert [h.namespace for h in store.search(("alice",), query="pet")] == [("alice", "memories")]
    assert {h.namespace for h in store.search((), limit=50)} == {
        ("alice", "memories"),
        ("bob", "memories"),
        ("org", "alice", "memories"),
    }
    assert [h.namespace for h in store.search(("org",))] == [("org", "alice", "memories")]
    assert (
        store.search(("alice", "memories"), query="pet", filter={"text": {"$ne": "user: My cat is called Miso."}}) == []
    )
    assert store.list_namespaces(suffix=("memories",)) == [
        ("alice", "memories"),
        ("bob", "memories"),
        ("org", "alice", "memories"),
    ]
    entry_id = hits[0].key
    assert store.get(("alice", "memories"), entry_id) is not None
    assert store.get(("bob", "memories"), entry_id) is None  # another user's id is not found, not leaked
    store.delete(("bob", "memories"), entry_id)  # and cannot be deleted from there
    assert store.get(("alice", "memories"), entry_id) is not None
    store.delete(("alice", "memories"), entry_id)
    assert memory.search("alice", "pet") == []


def test_saving_a_memory_through_the_store(memory: LightMem, make_store: Callable[..., LightMemStore]) -> None:
    store = make_store(memory=memory)
    store.put(("alice", "memories"), "diet", {"text": "Alice is vegetarian.", "event_time": "2024-05-01T10:00:00Z"})
    store.put(("bob", "memories"), "diet", {"content": "Bob eats everything."})
    item = store.get(("alice", "memories"), "diet")
    assert item is not None and item.value["text"] == "Alice is vegetarian."
    assert item.value["event_time"].startswith("2024-05-01")
    assert [h.text for h in (r.entry for r in memory.search("alice", "diet"))] == ["Alice is vegetarian."]
    assert [h.key for h in store.search(("alice", "memories"), query="food")] == ["diet"]
    store.put(("alice", "memories"), "diet", {"text": "Alice is vegan now."})  # same key: replaced
    assert [e.text for e in memory.entries("alice")] == ["Alice is vegan now."]
    assert [e.text for e in memory.entries("bob")] == ["Bob eats everything."]
    with pytest.raises(StoreError, match="text"):
        store.put(("alice", "memories"), "x", {"note": "not a memory"})
    store.delete(("alice", "memories"), "diet")
    assert memory.entries("alice") == []


def test_reserved_labels_can_be_renamed_or_disabled(memory: LightMem, make_store: Callable[..., LightMemStore]) -> None:
    store = make_store(memory=memory, memories_label=None, messages_label="inbox")
    store.put(("alice", "memories"), "k", {"anything": [1, 2]})  # an ordinary namespace now
    assert store.get(("alice", "memories"), "k").value == {"anything": [1, 2]}  # type: ignore[union-attr]
    store.put(("alice", "inbox"), "m1", {"role": "user", "content": "hello"})
    assert [m.id for m in memory.recent_messages("alice")] == ["m1"]
    with pytest.raises(ConfigurationError):
        make_store(memory=memory, memories_label="same", messages_label="same")


def test_saving_again_replaces_a_superseded_memory_completely(
    memory: LightMem, make_store: Callable[..., LightMemStore]
) -> None:
    store = make_store(memory=memory)
    store.put(("alice", "memories"), "city", {"text": "Alice lives in Porto."})
    (entry,) = memory.entries("alice")
    memory.store.supersede([entry.model_copy(update={"superseded_by": "newer"})])  # as consolidation would
    assert memory.entries("alice") == []
    store.put(("alice", "memories"), "city", {"text": "Alice lives in Lisbon."})
    (fresh,) = memory.entries("alice")
    assert fresh.text == "Alice lives in Lisbon." and fresh.superseded_by is None


def test_index_keys_default_to_the_memory(memory: LightMem, make_store: Callable[..., LightMemStore]) -> None:
    store = make_store(memory=memory, index={"fields": ["title"]})
    assert store.embeddings is memory.embeddings
    store.put(("kb",), "a", {"title": "cat", "body": "dog dog dog"})
    store.put(("kb",), "b", {"title": "dog", "body": "cat"})
    assert store.search(("kb",), query="dog")[0].key == "b"
    assert make_store(memory=memory, index=False).embeddings is None
