"""LightMemStore beyond the shared suite: what it keeps that InMemoryStore does not (created_at, TTL, disk), what it
refuses (with a StoreError naming the problem), isolation, and the two views that connect it to LightMem."""

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
from langchain_lightmem.integrations.store import MEMORIES, MESSAGES


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


def test_bad_paging_and_ttl_are_refused(make_store: Callable[..., LightMemStore]) -> None:
    store = make_store(index=False)
    with pytest.raises(StoreError, match="limit"):
        store.batch([SearchOp(("a",), limit=-1)])
    with pytest.raises(StoreError, match="ttl"):
        store.put(("a",), "k", {"v": 1}, ttl=-5)


def test_ordering_operators_compare_with_float_like_in_memory_store() -> None:
    # InMemoryStore compares float(value) with float(operand): numeric strings are numbers.
    assert matches({"n": "3"}, {"n": {"$gt": 1}})
    assert matches({"n": 3}, {"n": {"$lt": "10"}})
    assert not matches({"n": "10"}, {"n": {"$lt": "9"}})  # numbers, not text order
    assert matches({"n": True}, {"n": {"$gte": 1}})
    assert matches({"n": 2.5}, {"n": {"$gt": 2}})
    # Where InMemoryStore raises (missing field, text, lists, numbers beyond float), the item does not match.
    assert not matches({"n": None}, {"n": {"$gt": 1}})
    assert not matches({}, {"n": {"$lte": 1}})
    assert not matches({"n": "b"}, {"n": {"$gt": 1}})
    assert not matches({"n": [1]}, {"n": {"$gt": 0}})
    assert not matches({"n": 10**400}, {"n": {"$gt": 0}})


def test_ordering_filters_agree_with_in_memory_store_on_numeric_strings(
    make_store: Callable[..., LightMemStore],
) -> None:
    from langgraph.store.memory import InMemoryStore

    ours, theirs = make_store(index=False), InMemoryStore()
    for i, n in enumerate([1, "2", 3.5, "10", "-4", " 7 ", True]):
        for store in (ours, theirs):
            store.put(("f",), f"k{i}", {"n": n})
    filters: list[dict[str, Any]] = [{"n": {"$gt": 2}}, {"n": {"$lte": "3.5"}}, {"n": {"$gte": 1, "$lt": 10}}]
    for filter in [*filters, {"n": {"$lt": "9"}}]:
        expected = [i.key for i in theirs.search(("f",), filter=filter)]
        assert [i.key for i in ours.search(("f",), filter=filter)] == expected, filter


@pytest.mark.parametrize(
    ("filter", "message"),
    [
        ({"n": {"$gt": "abc"}}, r"\$gt"),
        ({"n": {"$lt": None}}, r"\$lt"),
        ({"n": {"$gt": float("nan")}}, "NaN"),
        ({"n": float("nan")}, "NaN"),
        ({"n": {"$gte": "nan"}}, "finite"),
        ({"n": {"$gt": 1, "m": 2}}, "mixes"),
        ({"n": {"$in": [1, 2]}}, r"\$in"),
        ({"n": {1, 2}}, "set"),
        ({"n": "\ud800"}, "surrogate"),
    ],
    ids=["text-operand", "none-operand", "nan-operand", "nan-value", "nan-string", "mixed", "in", "set", "surrogate"],
)
def test_bad_filters_raise_a_store_error_naming_the_problem(
    make_store: Callable[..., LightMemStore], filter: dict[str, Any], message: str
) -> None:
    store = make_store(index=False)
    store.put(("a",), "k", {"n": 1})
    with pytest.raises(StoreError, match=message):
        store.search(("a",), filter=filter)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.put(("a",), "k", {"text": "caf\udce9"}), r"value\['text'\].*surrogate"),
        (lambda s: s.put(("a",), "k", {"n\udce9": 1}), "surrogate"),
        (lambda s: s.put(("a",), "k", {"deep": [{"x": "\ud83d"}]}), r"value\['deep'\]\[0\]\['x'\]"),
        (lambda s: s.put(("a",), "k\ud800", {"v": 1}), "key.*surrogate"),
        (lambda s: s.put(("a\ud800",), "k", {"v": 1}), "namespace label.*surrogate"),
        (lambda s: s.get(("a",), "k\ud800"), "key.*surrogate"),
        (lambda s: s.search(("a\ud800",)), "namespace label.*surrogate"),
        (lambda s: s.search(("a",), query="q\ud800"), "query.*surrogate"),
        (lambda s: s.list_namespaces(prefix=("a\ud800",)), "namespace label.*surrogate"),
    ],
    ids=["value", "value-key", "nested", "key", "label", "get-key", "search-label", "query", "list-prefix"],
)
def test_lone_surrogates_raise_a_store_error(
    make_store: Callable[..., LightMemStore], keyword_embeddings: Any, call: Callable[[Any], Any], message: str
) -> None:
    store = make_store(index={"embed": keyword_embeddings, "fields": ["text"]})
    with pytest.raises(StoreError, match=message):
        call(store)
    assert store.search((), limit=10) == []


def test_deep_and_huge_values_raise_a_store_error(make_store: Callable[..., LightMemStore]) -> None:
    from langchain_lightmem.integrations.filters import MAX_DEPTH, MAX_VALUE_CHARS

    store = make_store(index=False)
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(MAX_DEPTH - 1):
        node["d"] = {}
        node = node["d"]
    store.put(("a",), "deep-enough", deep)  # the limit itself is fine
    assert store.get(("a",), "deep-enough").value == deep  # type: ignore[union-attr]
    node["d"] = {}
    with pytest.raises(StoreError, match="deeper than"):
        store.put(("a",), "too-deep", deep)
    very_deep: Any = []
    for _ in range(5000):  # deeper than Python's recursion limit: still a StoreError, not RecursionError
        very_deep = [very_deep]
    with pytest.raises(StoreError, match="deeper than"):
        store.put(("a",), "very-deep", {"v": very_deep})
    with pytest.raises(StoreError, match="characters"):
        store.put(("a",), "huge", {"text": "x" * MAX_VALUE_CHARS})
    assert [i.key for i in store.search(("a",))] == ["deep-enough"]


def test_two_stores_without_a_client_do_not_share_items() -> None:
    first, second = LightMemStore(), LightMemStore()
    first.put(("users", "1"), "prefs", {"theme": "dark"})
    assert second.get(("users", "1"), "prefs") is None
    assert second.search(()) == [] and second.list_namespaces() == []
    second.put(("users", "1"), "prefs", {"theme": "light"})
    assert first.get(("users", "1"), "prefs").value == {"theme": "dark"}  # type: ignore[union-attr]


def test_a_private_stores_collections_go_away_with_it() -> None:
    import gc

    store = LightMemStore()
    store.put(("a",), "k", {"v": 1})
    client, names = store.client, {store.items.name}
    assert names <= {c.name for c in client.list_collections()}
    del store
    gc.collect()
    assert not names & {c.name for c in client.list_collections()}


def test_item_scores_come_from_one_function(
    make_store: Callable[..., LightMemStore], keyword_embeddings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from langchain_lightmem.config import RelevanceConfig
    from langchain_lightmem.integrations import store as store_module
    from langchain_lightmem.long_term.relevance import dense_relevance

    store = make_store(index={"embed": keyword_embeddings, "fields": ["text"]}, scores="cosine")
    store.put(("d",), "pizza", {"text": "pizza"})
    store.put(("d",), "both", {"text": "pizza pasta"})
    cosine = [h.score for h in store.search(("d",), query="pizza")]
    assert cosine[0] == pytest.approx(1.0, abs=1e-4) and cosine[1] == pytest.approx(2**-0.5, abs=1e-3)
    calibrated = make_store(index={"embed": keyword_embeddings, "fields": ["text"]})  # the default: relevance
    calibrated.put(("d",), "pizza", {"text": "pizza"})
    calibrated.put(("d",), "both", {"text": "pizza pasta"})
    relevance = [h.score for h in calibrated.search(("d",), query="pizza")]
    expected = [dense_relevance(c, cosine[0], RelevanceConfig()) for c in cosine]  # type: ignore[arg-type]
    assert relevance == pytest.approx(expected, abs=1e-4) and relevance[0] > relevance[1]
    monkeypatch.setattr(store_module, "_item_score", lambda c, best, config: round(c / 2, 6))
    assert [h.score for h in store.search(("d",), query="pizza")] == [round(c / 2, 6) for c in cosine]  # type: ignore[operator]


def test_a_filter_never_widens_the_namespace(make_store: Callable[..., LightMemStore]) -> None:
    store = make_store(index=False)
    store.put(("alice",), "k", {"owner": "alice", "ns": "bob", "ns_0": "bob", "v:owner": "bob"})
    store.put(("bob",), "k", {"owner": "bob", "ns": "bob", "ns_0": "bob"})
    hostile: list[dict[str, Any]] = [
        {"owner": "bob"},
        {"ns": "bob"},
        {"ns_0": "bob"},
        {"$or": [{"ns_0": "bob"}]},
        {"ns_0": {"$ne": "alice"}},
        {"v:owner": "bob"},
    ]
    for filter in hostile:
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


# -- the views: LightMem's memories and write path -------------------------------------------------


@pytest.fixture
def memory(make_memory: Callable[..., LightMem]) -> LightMem:
    return make_memory()  # LLM-free: each message of a segment becomes a memory


def test_messages_put_routes_into_the_pipeline(memory: LightMem, make_store: Callable[..., LightMemStore]) -> None:
    store = make_store(memory=memory)
    store.put(("alice", MESSAGES), "m1", {"role": "user", "content": "I moved to Lisbon.", "thread_id": "t1"})
    store.batch([PutOp(("alice", MESSAGES), f"m{i}", {"role": "assistant", "content": f"noted {i}"}) for i in (2, 3)])
    assert [m.id for m in memory.recent_messages("alice")] == ["m1", "m2", "m3"]
    item = store.get(("alice", MESSAGES), "m1")
    assert item is not None
    assert item.value["content"] == "I moved to Lisbon." and item.value["thread_id"] == "t1"
    assert [i.key for i in store.search(("alice", MESSAGES))] == ["m1", "m2", "m3"]
    assert [i.key for i in store.search(("alice", MESSAGES), filter={"role": "user"})] == ["m1"]
    # messages are a write path, not part of wider searches; until extracted they are pending memories
    assert {(tuple(i.namespace), i.value["method"]) for i in store.search(("alice",))} == {
        (("alice", MEMORIES), "pending")
    }
    with pytest.raises(StoreError, match="forget"):
        store.delete(("alice", MESSAGES), "m1")
    with pytest.raises(InvalidMessageError):
        store.put(("alice", MESSAGES), "bad", {"role": "robot", "content": "?"})
    memory.flush("alice")
    texts = [i.value["text"] for i in store.search(("alice", MEMORIES), query="Where does Alice live?")]
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
    hits = store.search(("alice", MEMORIES), query="pet name")
    assert [h.value["text"] for h in hits] == ["user: My cat is called Miso."]
    assert hits[0].score is not None and hits[0].namespace == ("alice", MEMORIES)
    assert hits[0].value["source_ids"] and hits[0].value["method"] == "extractive"
    assert [h.namespace for h in store.search(("alice",), query="pet")] == [("alice", MEMORIES)]
    assert {h.namespace for h in store.search((), limit=50)} == {
        ("alice", MEMORIES),
        ("bob", MEMORIES),
        ("org", "alice", MEMORIES),
    }
    assert [h.namespace for h in store.search(("org",))] == [("org", "alice", MEMORIES)]
    assert (
        store.search(("alice", MEMORIES), query="pet", filter={"text": {"$ne": "user: My cat is called Miso."}}) == []
    )
    assert store.list_namespaces(suffix=(MEMORIES,)) == [
        ("alice", MEMORIES),
        ("bob", MEMORIES),
        ("org", "alice", MEMORIES),
    ]
    entry_id = hits[0].key
    assert store.get(("alice", MEMORIES), entry_id) is not None
    assert store.get(("bob", MEMORIES), entry_id) is None  # another user's id is not found, not leaked
    store.delete(("bob", MEMORIES), entry_id)  # and cannot be deleted from there
    assert store.get(("alice", MEMORIES), entry_id) is not None
    store.delete(("alice", MEMORIES), entry_id)
    assert memory.search("alice", "pet") == []


def test_saving_a_memory_through_the_store(memory: LightMem, make_store: Callable[..., LightMemStore]) -> None:
    store = make_store(memory=memory)
    store.put(("alice", MEMORIES), "diet", {"text": "Alice is vegetarian.", "event_time": "2024-05-01T10:00:00Z"})
    store.put(("bob", MEMORIES), "diet", {"content": "Bob eats everything."})
    item = store.get(("alice", MEMORIES), "diet")
    assert item is not None and item.value["text"] == "Alice is vegetarian."
    assert item.value["event_time"].startswith("2024-05-01")
    assert [h.text for h in (r.entry for r in memory.search("alice", "diet"))] == ["Alice is vegetarian."]
    assert [h.key for h in store.search(("alice", MEMORIES), query="food")] == ["diet"]
    store.put(("alice", MEMORIES), "diet", {"text": "Alice is vegan now."})  # same key: replaced
    assert [e.text for e in memory.entries("alice")] == ["Alice is vegan now."]
    assert [e.text for e in memory.entries("bob")] == ["Bob eats everything."]
    with pytest.raises(StoreError, match="text"):
        store.put(("alice", MEMORIES), "x", {"note": "not a memory"})
    store.delete(("alice", MEMORIES), "diet")
    assert memory.entries("alice") == []


def test_reserved_labels_can_be_renamed_or_disabled(memory: LightMem, make_store: Callable[..., LightMemStore]) -> None:
    store = make_store(memory=memory, memories_label=None, messages_label="inbox")
    store.put(("alice", MEMORIES), "k", {"anything": [1, 2]})  # an ordinary namespace now
    assert store.get(("alice", MEMORIES), "k").value == {"anything": [1, 2]}  # type: ignore[union-attr]
    store.put(("alice", "inbox"), "m1", {"role": "user", "content": "hello"})
    assert [m.id for m in memory.recent_messages("alice")] == ["m1"]
    with pytest.raises(ConfigurationError):
        make_store(memory=memory, memories_label="same", messages_label="same")


def test_saving_again_replaces_a_superseded_memory_completely(
    memory: LightMem, make_store: Callable[..., LightMemStore]
) -> None:
    store = make_store(memory=memory)
    store.put(("alice", MEMORIES), "city", {"text": "Alice lives in Porto."})
    (entry,) = memory.entries("alice")
    memory.store.supersede([entry.model_copy(update={"superseded_by": "newer"})])  # as consolidation would
    assert memory.entries("alice") == []
    store.put(("alice", MEMORIES), "city", {"text": "Alice lives in Lisbon."})
    (fresh,) = memory.entries("alice")
    assert fresh.text == "Alice lives in Lisbon." and fresh.superseded_by is None


def test_index_keys_default_to_the_memory(memory: LightMem, make_store: Callable[..., LightMemStore]) -> None:
    store = make_store(memory=memory, index={"fields": ["title"]})
    assert store.embeddings is memory.embeddings
    store.put(("kb",), "a", {"title": "cat", "body": "dog dog dog"})
    store.put(("kb",), "b", {"title": "dog", "body": "cat"})
    assert store.search(("kb",), query="dog")[0].key == "b"
    assert make_store(memory=memory, index=False).embeddings is None


def test_tutorial_namespaces_hold_plain_json_on_a_store_with_a_memory(
    memory: LightMem, make_store: Callable[..., LightMemStore]
) -> None:
    # LangGraph's docs write any JSON to (user_id, "memories") and (user_id, "messages"): only the lightmem_ labels
    # are the pipeline's views.
    store = make_store(memory=memory)
    store.put(("1", "memories"), "m1", {"food_preference": "I like pizza"})
    store.put(("1", "messages"), "t1", {"text": "hello"})
    assert store.get(("1", "memories"), "m1").value == {"food_preference": "I like pizza"}  # type: ignore[union-attr]
    assert [i.value for i in store.search(("1", "messages"))] == [{"text": "hello"}]
    store.delete(("1", "messages"), "t1")
    assert store.search(("1", "messages")) == []
    assert memory.entries("1") == [] and memory.recent_messages("1") == []
    assert store.list_namespaces() == [("1", "memories")]
    assert (MEMORIES, MESSAGES) == ("lightmem_memories", "lightmem_messages")


def test_a_dotted_users_memories_are_left_out_of_the_views(
    memory: LightMem, make_store: Callable[..., LightMemStore]
) -> None:
    from langgraph.store.base import InvalidNamespaceError as LangGraphNamespaceError

    memory.remember("ana.silva", "Ana prefers trains.", key="k")
    memory.remember("bo", "Bo prefers buses.", key="k")
    store = make_store(memory=memory)
    # LangGraph refuses "." in labels, so ("ana.silva", "lightmem_memories") cannot be named: LightMem's facade
    # (memory.search("ana.silva", ...)) reaches those memories; the store's views skip them instead of failing.
    assert {i.namespace for i in store.search((), limit=50)} == {("bo", MEMORIES)}
    assert store.list_namespaces() == [("bo", MEMORIES)]
    with pytest.raises(LangGraphNamespaceError):
        store.get(("ana.silva", MEMORIES), "k")
    assert [h.entry.text for h in memory.search("ana.silva", "trains")] == ["Ana prefers trains."]


def test_a_prefix_search_ranks_memories_and_items_by_their_scores(
    memory: LightMem, make_store: Callable[..., LightMemStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    from langchain_lightmem.integrations import store as store_module

    store = make_store(memory=memory)
    store.put(("alice", MEMORIES), "m", {"text": "Alice keeps bees on the roof."})
    store.put(("alice", "notes"), "n", {"text": "Alice keeps bees on the roof."})
    hits = store.search(("alice",), query="bees on the roof")
    assert {h.namespace for h in hits} == {("alice", MEMORIES), ("alice", "notes")}
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)  # type: ignore[type-var]
    monkeypatch.setattr(store_module, "_item_score", lambda cosine, best, config: -1.0)  # items rank below all
    assert [h.namespace for h in store.search(("alice",), query="bees on the roof")] == [
        ("alice", MEMORIES),
        ("alice", "notes"),
    ]
    monkeypatch.setattr(store_module, "_item_score", lambda cosine, best, config: 2.0)  # and now above
    assert store.search(("alice",), query="bees on the roof")[0].namespace == ("alice", "notes")
