"""One behavioural suite, two backends: every test runs against LightMemStore and LangGraph's InMemoryStore.

The expectations are written out, so a pass on both means the two stores agree on them. Deliberate differences
(created_at kept on update, TTL, JSON-only values, comparisons against missing fields) are tested in
test_store.py; test_store_properties.py compares random operation sequences.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from langgraph.store.base import BaseStore, GetOp, InvalidNamespaceError, PutOp, SearchOp
from langgraph.store.memory import InMemoryStore

from langchain_lightmem.integrations import LightMemStore

BACKENDS = ["lightmem", "inmemory"]


@pytest.fixture(params=BACKENDS)
def make(request: pytest.FixtureRequest, make_store: Callable[..., LightMemStore]) -> Callable[..., BaseStore]:
    """Build the backend under test, with or without an index."""

    def factory(index: dict[str, Any] | None = None) -> BaseStore:
        if request.param == "inmemory":
            return InMemoryStore(index=index)  # type: ignore[arg-type]
        return make_store(index=index or False, scores="cosine")  # parity; relevance scores: test_store.py

    return factory


@pytest.fixture
def store(make: Callable[..., BaseStore]) -> BaseStore:
    return make()


@pytest.fixture
def indexed(make: Callable[..., BaseStore], keyword_embeddings: Any) -> BaseStore:
    return make({"embed": keyword_embeddings, "dims": 11, "fields": ["text"]})


def keys(items: list[Any]) -> list[str]:
    return [i.key for i in items]


def test_put_get_roundtrip(store: BaseStore) -> None:
    value = {
        "text": "héllo ✓",
        "n": 3,
        "x": 2.5,
        "ok": True,
        "none": None,
        "nested": {"list": [1, "two", {"three": 3.0}], "empty": {}},
    }
    store.put(("users", "alice"), "profile", value)
    item = store.get(("users", "alice"), "profile")
    assert item is not None
    assert (item.namespace, item.key, item.value) == (("users", "alice"), "profile", value)
    assert item.created_at.tzinfo is not None and item.updated_at >= item.created_at
    assert store.get(("users", "alice"), "nope") is None
    assert store.get(("users", "bob"), "profile") is None


def test_update_replaces_and_delete_removes(store: BaseStore) -> None:
    store.put(("a",), "k", {"v": 1, "old": True})
    store.put(("a",), "k", {"v": 2})
    item = store.get(("a",), "k")
    assert item is not None and item.value == {"v": 2}
    store.delete(("a",), "k")
    assert store.get(("a",), "k") is None
    store.delete(("a",), "never-there")  # deleting nothing is fine
    assert store.search(("a",)) == []


def test_search_is_scoped_by_namespace_prefix(store: BaseStore) -> None:
    for ns in [("a",), ("a", "b"), ("a", "c"), ("ab",), ("a", "b", "c")]:
        store.put(ns, "k", {"ns": list(ns)})
    found = {tuple(i.namespace) for i in store.search(("a",), limit=100)}
    assert found == {("a",), ("a", "b"), ("a", "c"), ("a", "b", "c")}
    assert {tuple(i.namespace) for i in store.search(("a", "b"), limit=100)} == {("a", "b"), ("a", "b", "c")}
    assert {tuple(i.namespace) for i in store.search(("ab",))} == {("ab",)}
    assert len(store.search((), limit=100)) == 5
    assert store.search(("zz",)) == []


def test_filter_operators(store: BaseStore) -> None:
    for n in range(1, 6):
        value: dict[str, Any] = {"n": n, "tag": "odd" if n % 2 else "even", "meta": {"level": n // 2}}
        if n == 5:
            del value["tag"]
        store.put(("f",), f"k{n}", value)

    def found(filter: dict[str, Any]) -> set[str]:
        return set(keys(store.search(("f",), filter=filter, limit=100)))

    assert found({"n": 3}) == {"k3"}
    assert found({"n": {"$eq": 3}}) == {"k3"}
    assert found({"n": {"$ne": 3}}) == {"k1", "k2", "k4", "k5"}
    assert found({"n": {"$gt": 3}}) == {"k4", "k5"}
    assert found({"n": {"$gte": 3}}) == {"k3", "k4", "k5"}
    assert found({"n": {"$lt": 3}}) == {"k1", "k2"}
    assert found({"n": {"$lte": 3}}) == {"k1", "k2", "k3"}
    assert found({"n": {"$gt": 1, "$lt": 4}}) == {"k2", "k3"}
    assert found({"tag": "odd"}) == {"k1", "k3"}
    assert found({"tag": {"$ne": "odd"}}) == {"k2", "k4", "k5"}  # a missing field is "not equal"
    assert found({"tag": "odd", "n": {"$gte": 2}}) == {"k3"}
    assert found({"meta": {"level": 1}}) == {"k2", "k3"}
    assert found({"missing": "x"}) == set()


def test_pagination_follows_insertion_order_within_a_namespace(store: BaseStore) -> None:
    for i in range(7):
        store.put(("p",), f"k{i}", {"i": i})
    store.put(("p",), "k2", {"i": 2, "updated": True})  # an update keeps its place
    everything = keys(store.search(("p",), limit=100))
    assert everything == [f"k{i}" for i in range(7)]
    pages = [keys(store.search(("p",), limit=3, offset=o)) for o in (0, 3, 6, 9)]
    assert pages == [["k0", "k1", "k2"], ["k3", "k4", "k5"], ["k6"], []]
    store.delete(("p",), "k0")
    store.put(("p",), "k0", {"i": 0})  # deleted and put again: now the newest
    assert keys(store.search(("p",), limit=100))[-1] == "k0"


def test_semantic_search_ranks_by_similarity(indexed: BaseStore) -> None:
    indexed.put(("docs",), "pizza", {"text": "pizza pizza night"})
    indexed.put(("docs",), "mixed", {"text": "pizza or pasta"})
    indexed.put(("docs",), "weather", {"text": "cold weather in berlin"})
    indexed.put(("docs", "sub"), "tea", {"text": "tea and coffee", "n": 1})
    hits = indexed.search(("docs",), query="pizza")
    assert keys(hits) == ["pizza", "mixed", "tea", "weather"]
    scores = [h.score for h in hits]
    assert all(s is not None for s in scores)
    assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]
    assert hits[0].score is not None and hits[0].score > 0.99
    assert keys(indexed.search(("docs",), query="pizza", limit=1, offset=1)) == ["mixed"]
    assert keys(indexed.search(("docs",), query="cold berlin", limit=1)) == ["weather"]
    assert keys(indexed.search(("docs",), query="pizza", filter={"n": 1})) == ["tea"]
    assert keys(indexed.search(("docs", "sub"), query="pizza")) == ["tea"]


def test_index_fields_override_and_unindexed_items(make: Callable[..., BaseStore], keyword_embeddings: Any) -> None:
    store = make({"embed": keyword_embeddings, "dims": 11, "fields": ["text", "tags[*]"]})
    store.put(("i",), "tags", {"text": "nothing relevant", "tags": ["cat", "dog"]})
    store.put(("i",), "other-field", {"text": "nothing", "about": "cat cat cat"}, index=["about"])
    store.put(("i",), "plain", {"text": "cat"}, index=False)  # stored, never embedded
    store.put(("i",), "coffee", {"text": "coffee"})
    hits = store.search(("i",), query="cat", limit=10)
    assert keys(hits) == ["tags", "other-field", "coffee", "plain"]  # best of an item's vectors counts
    assert [h.score is None for h in hits] == [False, False, False, True]  # unscored items come last
    assert keys(store.search(("i",), query="cat", limit=2)) == ["tags", "other-field"]


def test_list_namespaces(store: BaseStore) -> None:
    for ns in [("a", "b", "c"), ("a", "b", "d", "e"), ("a", "b", "d", "i"), ("a", "b", "f"), ("a", "c", "f"), ("x",)]:
        store.put(ns, "k", {"v": 1})
    assert store.list_namespaces() == sorted(
        [("a", "b", "c"), ("a", "b", "d", "e"), ("a", "b", "d", "i"), ("a", "b", "f"), ("a", "c", "f"), ("x",)]
    )
    assert store.list_namespaces(prefix=("a", "b"), max_depth=3) == [("a", "b", "c"), ("a", "b", "d"), ("a", "b", "f")]
    assert store.list_namespaces(suffix=("f",)) == [("a", "b", "f"), ("a", "c", "f")]
    assert store.list_namespaces(prefix=("a", "*", "f")) == [("a", "b", "f"), ("a", "c", "f")]
    assert store.list_namespaces(suffix=("d", "*")) == [("a", "b", "d", "e"), ("a", "b", "d", "i")]
    assert store.list_namespaces(max_depth=1) == [("a",), ("x",)]
    assert store.list_namespaces(limit=2, offset=1) == [("a", "b", "d", "e"), ("a", "b", "d", "i")]
    assert store.list_namespaces(prefix=("nope",)) == []


def test_batch_reads_see_the_state_before_its_writes(store: BaseStore) -> None:
    store.put(("b",), "k", {"v": 0})
    results = store.batch(
        [
            PutOp(("b",), "k", {"v": 1}),
            GetOp(("b",), "k"),
            PutOp(("b",), "k", {"v": 2}),
            SearchOp(("b",)),
            PutOp(("b",), "new", {"v": 3}),
        ]
    )
    got = results[1]
    assert got is not None and got.value == {"v": 0}  # type: ignore[union-attr]
    assert [i.value for i in results[3]] == [{"v": 0}]  # type: ignore[union-attr]
    item = store.get(("b",), "k")
    assert item is not None and item.value == {"v": 2}  # last write wins
    assert store.get(("b",), "new") is not None


@pytest.mark.parametrize(
    "namespace", [(), ("",), ("a.b",), ("langgraph", "x"), ("a", 1)], ids=["empty", "blank", "dot", "root", "int"]
)
def test_invalid_namespaces_are_refused(store: BaseStore, namespace: tuple[Any, ...]) -> None:
    with pytest.raises(InvalidNamespaceError):
        store.put(namespace, "k", {"v": 1})


async def test_async_variants(indexed: BaseStore) -> None:
    await indexed.aput(("as",), "k1", {"text": "pizza"})
    await indexed.aput(("as", "x"), "k2", {"text": "tea"})
    item = await indexed.aget(("as",), "k1")
    assert item is not None and item.value == {"text": "pizza"}
    assert keys(await indexed.asearch(("as",), query="pizza"))[0] == "k1"
    assert await indexed.alist_namespaces(prefix=("as",)) == [("as",), ("as", "x")]
    await indexed.adelete(("as",), "k1")
    assert await indexed.aget(("as",), "k1") is None
