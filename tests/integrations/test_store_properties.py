"""Random sequences of store operations: LightMemStore and LangGraph's InMemoryStore must give the same answers."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from langgraph.store.memory import InMemoryStore

from langchain_lightmem.integrations import LightMemStore
from langchain_lightmem.models import CachedEmbeddings

NAMESPACES = [("a",), ("a", "b"), ("a", "c"), ("a", "b", "d"), ("e",), ("ab",)]
PREFIXES = [(), ("a",), ("a", "b"), ("e",), ("a", "b", "d"), ("zz",)]
KEYS = ["k1", "k2", "k3", "k4"]
TEXTS = [
    "pizza night with friends",
    "the weather in Berlin is cold",
    "my cat sleeps all day",
    "coffee or tea in the morning",
    "moving to Lisbon next spring",
    "learning to play the piano",
]
FILTERS = st.one_of(
    st.none(),
    st.sampled_from(["x", "y"]).map(lambda t: {"tag": t}),
    st.sampled_from(["x", "y"]).map(lambda t: {"tag": {"$ne": t}}),
    st.tuples(st.sampled_from(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte"]), st.integers(0, 5)).map(
        lambda p: {"n": {p[0]: p[1]}}
    ),
    st.integers(0, 5).map(lambda n: {"n": n, "tag": "x"}),
)
VALUES = st.fixed_dictionaries(
    {"text": st.sampled_from(TEXTS), "n": st.integers(0, 5)}, optional={"tag": st.sampled_from(["x", "y"])}
)
EPS = 1e-4  # Chroma computes cosine in float32; InMemoryStore in float64


def _view(items: list[Any]) -> list[tuple[tuple[str, ...], str, Any]]:
    return [(tuple(i.namespace), i.key, i.value) for i in items]


class StoresAgree(RuleBasedStateMachine):
    embeddings: CachedEmbeddings
    client: Any

    def __init__(self) -> None:
        super().__init__()
        index = {"embed": self.embeddings, "dims": 64, "fields": ["$"]}
        self.collection = f"p{uuid.uuid4().hex[:12]}"
        self.ours = LightMemStore(client=self.client, index=index, collection=self.collection)  # type: ignore[arg-type]
        self.reference = InMemoryStore(index=index)  # type: ignore[arg-type]
        self.present: set[tuple[tuple[str, ...], str]] = set()

    def teardown(self) -> None:
        for suffix in ("_items", "_vectors"):
            self.client.delete_collection(self.collection + suffix)

    @rule(ns=st.sampled_from(NAMESPACES), key=st.sampled_from(KEYS), value=VALUES)
    def put(self, ns: tuple[str, ...], key: str, value: dict[str, Any]) -> None:
        value = {**value, "id": f"{'/'.join(ns)}:{key}"}  # distinct values: no exact ties in similarity
        self.ours.put(ns, key, value)
        self.reference.put(ns, key, value)
        self.present.add((ns, key))

    @precondition(lambda self: self.present)
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        ns, key = data.draw(st.sampled_from(sorted(self.present)))
        self.ours.delete(ns, key)
        self.reference.delete(ns, key)
        self.present.discard((ns, key))

    @rule(ns=st.sampled_from(NAMESPACES), key=st.sampled_from(KEYS))
    def get(self, ns: tuple[str, ...], key: str) -> None:
        mine, theirs = self.ours.get(ns, key), self.reference.get(ns, key)
        assert (mine is None) == (theirs is None)
        if mine is not None and theirs is not None:
            assert (mine.namespace, mine.key, mine.value) == (theirs.namespace, theirs.key, theirs.value)

    @rule(prefix=st.sampled_from(PREFIXES), filter=FILTERS, limit=st.integers(1, 8), offset=st.integers(0, 4))
    def search_without_query(self, prefix: tuple[str, ...], filter: Any, limit: int, offset: int) -> None:
        everything_mine = self.ours.search(prefix, filter=filter, limit=100)
        everything_theirs = self.reference.search(prefix, filter=filter, limit=100)
        assert sorted(_view(everything_mine)) == sorted(_view(everything_theirs))
        page = self.ours.search(prefix, filter=filter, limit=limit, offset=offset)
        assert _view(page) == _view(everything_mine)[offset : offset + limit]  # pages cut one consistent order
        if len(prefix) == 3 or prefix == ("e",):  # a leaf namespace: insertion order, like InMemoryStore
            assert _view(everything_mine) == _view(everything_theirs)

    @rule(
        prefix=st.sampled_from(PREFIXES),
        query=st.sampled_from([*TEXTS, "a warm drink", "pets"]),
        filter=FILTERS,
        limit=st.integers(1, 6),
        offset=st.integers(0, 3),
    )
    def search_with_query(self, prefix: tuple[str, ...], query: str, filter: Any, limit: int, offset: int) -> None:
        mine = self.ours.search(prefix, query=query, filter=filter, limit=limit, offset=offset)
        theirs = self.reference.search(prefix, query=query, filter=filter, limit=limit, offset=offset)
        assert len(mine) == len(theirs)
        assert [m.score for m in mine] == pytest.approx([t.score for t in theirs], abs=EPS)
        # The same items in the same order, except where two scores are too close to order reliably.
        mine_ids = [(m.namespace, m.key) for m in mine]
        for t in theirs:
            assert t.score is not None
            if (t.namespace, t.key) in mine_ids:
                assert mine[mine_ids.index((t.namespace, t.key))].score == pytest.approx(t.score, abs=EPS)
            else:  # cut off at the page boundary by a near-tie
                assert abs(t.score - mine[-1].score) < EPS  # type: ignore[operator]

    @rule(
        prefix=st.sampled_from([None, ("a",), ("a", "*"), ("e",)]),
        suffix=st.sampled_from([None, ("b",), ("*", "d"), ("c",)]),
        max_depth=st.sampled_from([None, 1, 2]),
        limit=st.integers(1, 10),
        offset=st.integers(0, 3),
    )
    def list_namespaces(self, prefix: Any, suffix: Any, max_depth: Any, limit: int, offset: int) -> None:
        mine = self.ours.list_namespaces(prefix=prefix, suffix=suffix, max_depth=max_depth, limit=limit, offset=offset)
        # InMemoryStore keeps listing namespaces whose items were all deleted (and ones only read from):
        # compare against the namespaces that hold items.
        holding = {ns for ns, _ in self.present}
        listed = [
            ns for ns in self.reference.list_namespaces(prefix=prefix, suffix=suffix, limit=1000) if ns in holding
        ]
        expected = sorted({ns[:max_depth] for ns in listed}) if max_depth else sorted(listed)
        assert mine == expected[offset : offset + limit]

    @invariant()
    def same_items(self) -> None:
        assert sorted(_view(self.ours.search((), limit=1000))) == sorted(_view(self.reference.search((), limit=1000)))


def test_lightmem_store_agrees_with_in_memory_store(static_embeddings: CachedEmbeddings, chroma_client: Any) -> None:
    class Machine(StoresAgree):
        embeddings = static_embeddings
        client = chroma_client

    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=25,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
