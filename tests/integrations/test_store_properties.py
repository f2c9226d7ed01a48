"""Differential test: random operation sequences on LightMemStore and LangGraph's InMemoryStore, sync and async,
must give the same answers, except for the differences listed under "Differences from InMemoryStore" in
docs/surfaces/store.md. The comparison ignores exactly those:

* timestamps (``created_at`` survives updates here);
* the order of a search without a query over several namespaces (creation order of the items here;
  InMemoryStore groups by namespace): the items are compared as a set, the order within one namespace exactly;
* namespaces without items in ``list_namespaces`` (InMemoryStore keeps listing emptied and merely read ones);
* filters that make InMemoryStore raise while comparing an item (a missing field, text for ``$gt``): here that
  item does not match, so the expectation is InMemoryStore's own comparison with "raised" read as "no match";
  malformed filters (an operand that is not a number, ...) raise ``StoreError`` here up front;
* scores within ``EPS`` (Chroma computes cosine in float32), and the order of near-ties.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from langgraph.store.base import GetOp, PutOp, SearchOp
from langgraph.store.memory import InMemoryStore, _compare_values

from langchain_lightmem import StoreError
from langchain_lightmem.integrations import LightMemStore
from langchain_lightmem.models import CachedEmbeddings

NAMESPACES = [("a",), ("a", "b"), ("a", "c"), ("a", "b", "d"), ("e",), ("ab",), ("ü", "名前"), ("a b", " ")]
PREFIXES = [(), ("a",), ("a", "b"), ("e",), ("a", "b", "d"), ("zz",), ("ü",), ("a b", " ")]
KEYS = ["k1", "k2", "k3", "", "ключ 1", "\x00k"]
TEXTS = [
    "pizza night with friends",
    "the weather in Berlin is cold",
    "my cat sleeps all day",
    "coffee or tea in the morning",
    "moving to Lisbon next spring",
    "learning to play the piano",
]
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    # Keys never start with "$": in a filter such a dict would be a (malformed) operator condition.
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4).map("f".__add__), inner, max_size=3)
    ),
    max_leaves=6,
)
# "n" is what the ordering operators compare: numbers, numeric strings (float() reads them), and values that make
# InMemoryStore raise (text, None, lists, an int beyond float range).
N = st.one_of(
    st.integers(-3, 8),
    st.floats(-3, 8, allow_nan=False),
    st.integers(-3, 8).map(str),
    st.sampled_from([" 4 ", "2.5", "1e1", True, False, "abc", None, [1], {"v": 1}, 10**400]),
)
VALUES = st.fixed_dictionaries(
    {"text": st.sampled_from(TEXTS), "n": N},
    optional={
        "tag": st.sampled_from(["x", "y", "é"]),
        "meta": st.fixed_dictionaries({"level": st.integers(0, 3)}, optional={"note": st.text(max_size=5)}),
        "list": st.lists(st.integers(0, 2), max_size=2),
        "extra": JSON,
    },
)
OPERAND = st.one_of(st.integers(-3, 8), st.floats(-3, 8, allow_nan=False), st.integers(-3, 8).map(str), st.just(True))
BAD_OPERAND = st.sampled_from(["abc", None, [1], {"v": 1}, "nan", ""])
FILTERS = st.one_of(
    st.none(),
    st.sampled_from(["x", "y", "é"]).map(lambda t: {"tag": t}),
    st.tuples(st.sampled_from(["$eq", "$ne"]), st.sampled_from(["x", "y", None, 1])).map(
        lambda p: {"tag": {p[0]: p[1]}}
    ),
    st.tuples(st.sampled_from(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte"]), OPERAND).map(
        lambda p: {"n": {p[0]: p[1]}}
    ),
    st.tuples(OPERAND, OPERAND).map(lambda p: {"n": {"$gte": p[0], "$lt": p[1]}}),
    st.tuples(st.integers(-3, 8), st.sampled_from(["x", "y"])).map(lambda p: {"n": p[0], "tag": p[1]}),
    st.integers(0, 3).map(lambda k: {"meta": {"level": k}}),
    st.integers(0, 3).map(lambda k: {"meta": {"level": {"$gte": k}}}),
    st.lists(st.integers(0, 2), max_size=2).map(lambda xs: {"list": xs}),
    JSON.map(lambda j: {"extra": j}),
)
BAD_FILTERS = st.one_of(
    st.tuples(st.sampled_from(["$gt", "$gte", "$lt", "$lte"]), BAD_OPERAND).map(lambda p: {"n": {p[0]: p[1]}}),
    st.just({"n": {"$gt": 1, "tag": "x"}}),
    st.just({"n": {"$in": [1]}}),
)
EPS = 1e-4  # Chroma computes cosine in float32; InMemoryStore in float64


def _view(items: list[Any]) -> list[tuple[tuple[str, ...], str, Any]]:
    return [(tuple(i.namespace), i.key, i.value) for i in items]


def _passes(value: Mapping[str, Any], filter: Mapping[str, Any] | None) -> bool:
    """InMemoryStore's own comparison, with "raised" read as "does not match" (the documented difference)."""

    def condition(key: str, expected: Any) -> bool:
        try:
            return bool(_compare_values(value.get(key), expected))
        except (TypeError, ValueError, OverflowError):
            return False

    return all(condition(k, v) for k, v in (filter or {}).items())


class StoresAgree(RuleBasedStateMachine):
    embeddings: CachedEmbeddings
    client: Any

    def __init__(self) -> None:
        super().__init__()
        index = {"embed": self.embeddings, "dims": 64, "fields": ["$"]}
        self.collection = f"p{uuid.uuid4().hex[:12]}"
        self.ours = LightMemStore(client=self.client, index=index, collection=self.collection, scores="cosine")  # type: ignore[arg-type]
        self.reference = InMemoryStore(index=index)  # type: ignore[arg-type]
        self.present: set[tuple[tuple[str, ...], str]] = set()

    def teardown(self) -> None:
        for suffix in ("_items", "_vectors"):
            self.client.delete_collection(self.collection + suffix)

    @staticmethod
    def call(store: Any, method: str, asynchronous: bool, *args: Any, **kwargs: Any) -> Any:
        if asynchronous:
            return asyncio.run(getattr(store, "a" + method)(*args, **kwargs))
        return getattr(store, method)(*args, **kwargs)

    def both(self, method: str, asynchronous: bool, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        return (
            self.call(self.ours, method, asynchronous, *args, **kwargs),
            self.call(self.reference, method, asynchronous, *args, **kwargs),
        )

    @rule(ns=st.sampled_from(NAMESPACES), key=st.sampled_from(KEYS), value=VALUES, asynchronous=st.booleans())
    def put(self, ns: tuple[str, ...], key: str, value: dict[str, Any], asynchronous: bool) -> None:
        value = {**value, "id": f"{'/'.join(ns)}:{key}"}  # distinct values: no exact ties in similarity
        self.both("put", asynchronous, ns, key, value)
        self.present.add((ns, key))

    @precondition(lambda self: self.present)
    @rule(data=st.data(), asynchronous=st.booleans())
    def delete(self, data: st.DataObject, asynchronous: bool) -> None:
        ns, key = data.draw(st.sampled_from(sorted(self.present)))
        self.both("delete", asynchronous, ns, key)
        self.present.discard((ns, key))

    @rule(ns=st.sampled_from(NAMESPACES), key=st.sampled_from(KEYS), asynchronous=st.booleans())
    def get(self, ns: tuple[str, ...], key: str, asynchronous: bool) -> None:
        mine, theirs = self.both("get", asynchronous, ns, key)
        assert (mine is None) == (theirs is None)
        if mine is not None and theirs is not None:
            assert (mine.namespace, mine.key, mine.value) == (theirs.namespace, theirs.key, theirs.value)

    @rule(
        ns=st.sampled_from(NAMESPACES),
        keys=st.lists(st.sampled_from(KEYS), min_size=1, max_size=3),
        values=st.lists(VALUES, min_size=3, max_size=3),
        asynchronous=st.booleans(),
    )
    def batch(self, ns: tuple[str, ...], keys: list[str], values: list[dict[str, Any]], asynchronous: bool) -> None:
        """Reads in a batch see the store as it was before the batch; the last put of a key wins."""
        ops: list[Any] = []
        for i, key in enumerate(keys):
            value = {**values[i], "id": f"{'/'.join(ns)}:{key}:{i}"}
            ops += [GetOp(ns, key), PutOp(ns, key, value), SearchOp(ns, limit=1000)]
        mine, theirs = self.both("batch", asynchronous, ops)
        for op, m, t in zip(ops, mine, theirs, strict=True):
            if isinstance(op, GetOp):
                assert (m is None) == (t is None) and (m is None or (m.value == t.value))
            elif isinstance(op, SearchOp):
                assert sorted(_view(m)) == sorted(_view(t))
        self.present.update((ns, key) for key in keys)

    @rule(
        prefix=st.sampled_from(PREFIXES),
        filter=FILTERS,
        limit=st.integers(0, 8),
        offset=st.integers(0, 4),
        asynchronous=st.booleans(),
    )
    def search_without_query(
        self, prefix: tuple[str, ...], filter: Any, limit: int, offset: int, asynchronous: bool
    ) -> None:
        everything_mine = self.call(self.ours, "search", asynchronous, prefix, filter=filter, limit=1000)
        everything = self.reference.search(prefix, limit=1000)
        expected = [item for item in everything if _passes(item.value, filter)]
        assert sorted(_view(everything_mine)) == sorted(_view(expected))
        page = self.call(self.ours, "search", asynchronous, prefix, filter=filter, limit=limit, offset=offset)
        assert _view(page) == _view(everything_mine)[offset : offset + limit]  # pages cut one consistent order
        if len({tuple(i.namespace) for i in everything}) <= 1:  # one namespace: InMemoryStore's order exactly
            assert _view(everything_mine) == _view(expected)

    @rule(prefix=st.sampled_from(PREFIXES), filter=BAD_FILTERS, query=st.sampled_from([None, "pizza"]))
    def malformed_filter(self, prefix: tuple[str, ...], filter: Any, query: str | None) -> None:
        with pytest.raises(StoreError):
            self.ours.search(prefix, filter=filter, query=query)

    @rule(
        prefix=st.sampled_from(PREFIXES),
        query=st.sampled_from([*TEXTS, "a warm drink", "pets"]),
        filter=FILTERS,
        limit=st.integers(1, 6),
        offset=st.integers(0, 3),
        asynchronous=st.booleans(),
    )
    def search_with_query(
        self, prefix: tuple[str, ...], query: str, filter: Any, limit: int, offset: int, asynchronous: bool
    ) -> None:
        mine = self.call(
            self.ours, "search", asynchronous, prefix, query=query, filter=filter, limit=limit, offset=offset
        )
        assert all(_passes(m.value, filter) for m in mine)
        try:
            theirs = self.call(
                self.reference, "search", asynchronous, prefix, query=query, filter=filter, limit=limit, offset=offset
            )
        except (TypeError, ValueError, OverflowError):
            return  # InMemoryStore raised on some item; ours answered, with matching items only (checked above)
        assert len(mine) == len(theirs)
        assert [m.score for m in mine] == pytest.approx([t.score for t in theirs], abs=EPS)
        # The same items in the same order, except where two scores are too close to order reliably.
        mine_ids = [(m.namespace, m.key) for m in mine]
        for t in theirs:
            assert t.score is not None
            if (t.namespace, t.key) in mine_ids:
                assert mine[mine_ids.index((t.namespace, t.key))].score == pytest.approx(t.score, abs=EPS)
            else:  # cut off at the page boundary by a near-tie
                assert abs(t.score - mine[-1].score) < EPS

    @rule(
        prefix=st.sampled_from([None, ("a",), ("a", "*"), ("e",), ("ü",)]),
        suffix=st.sampled_from([None, ("b",), ("*", "d"), ("c",), (" ",)]),
        max_depth=st.sampled_from([None, 1, 2]),
        limit=st.integers(1, 10),
        offset=st.integers(0, 3),
        asynchronous=st.booleans(),
    )
    def list_namespaces(
        self, prefix: Any, suffix: Any, max_depth: Any, limit: int, offset: int, asynchronous: bool
    ) -> None:
        mine = self.call(
            self.ours,
            "list_namespaces",
            asynchronous,
            prefix=prefix,
            suffix=suffix,
            max_depth=max_depth,
            limit=limit,
            offset=offset,
        )
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


EXAMPLES = 100
STEPS = 30


def test_lightmem_store_agrees_with_in_memory_store(static_embeddings: CachedEmbeddings, chroma_client: Any) -> None:
    class Machine(StoresAgree):
        embeddings = static_embeddings
        client = chroma_client

    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
