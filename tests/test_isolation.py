"""Property-based isolation: random multi-tenant workloads never let one namespace see another's memories."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from langchain_lightmem import LightMem, LightMemConfig
from langchain_lightmem.types import namespace_key

NAMESPACES = [("alice",), ("bob",), ("org", "alice"), ("org", "bob"), ("org",)]
WORDS = ["garden", "piano", "Berlin", "salary", "doctor", "password", "holiday", "cat", "project", "bank"]


def hostile_filters(other: tuple[str, ...]) -> st.SearchStrategy[dict[str, Any] | None]:
    """Filters a caller might pass hoping to see another namespace."""
    key = namespace_key(other)
    return st.sampled_from(
        [
            None,
            {"namespace": key},
            {"namespace": {"$ne": "nobody"}},
            {"$or": [{"namespace": key}, {"active": True}]},
            {"$or": [{"namespace": key}, {"namespace": {"$ne": key}}]},
            {"ns_0": other[0]},
            {"active": {"$in": [True, False]}},
            {"speaker": {"$nin": ["x"]}},
        ]
    )


operation = st.one_of(
    st.tuples(
        st.just("add"),
        st.sampled_from(NAMESPACES),
        st.lists(st.sampled_from(WORDS), min_size=1, max_size=4),
    ),
    st.tuples(st.just("flush"), st.sampled_from(NAMESPACES), st.just(None)),
    st.tuples(st.just("consolidate"), st.sampled_from(NAMESPACES), st.just(None)),
    st.tuples(st.just("forget"), st.sampled_from(NAMESPACES), st.just(None)),
    st.tuples(st.just("delete_foreign"), st.sampled_from(NAMESPACES), st.sampled_from(NAMESPACES)),
)


# Both layouts; ``buckets: 1`` puts every namespace into one shared bucket (the hardest case for isolation).
LAYOUTS = [{"layout": "collections"}, {"layout": "buckets", "buckets": 1}]


@pytest.mark.parametrize("chroma", LAYOUTS, ids=["collections", "buckets"])
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(operation, min_size=1, max_size=14), data=st.data())
def test_no_result_ever_comes_from_another_namespace(static_embeddings, chroma, ops, data):
    owner: dict[str, tuple[str, ...]] = {}  # message id -> namespace that sent it
    with tempfile.TemporaryDirectory() as tmp:
        memory = LightMem(LightMemConfig(data_dir=Path(tmp), chroma=chroma), embeddings=static_embeddings)
        try:
            for step, (kind, ns, arg) in enumerate(ops):
                if kind == "add":
                    mid = f"{namespace_key(ns)}-{step}"
                    memory.add([{"id": mid, "role": "user", "content": " ".join(arg)}], namespace=ns)
                    owner[mid] = ns
                elif kind == "flush":
                    memory.flush(ns)
                elif kind == "consolidate":
                    memory.consolidate(ns)
                elif kind == "forget":
                    memory.forget(ns)
                    owner = {m: o for m, o in owner.items() if o != ns}
                elif kind == "delete_foreign":
                    foreign = [e.id for e in memory.entries(arg, include_history=True, include_pending=True)]
                    if arg != ns:
                        assert memory.delete(ns, foreign) == 0  # ids of another namespace are not ours to delete
            for ns in NAMESPACES:
                other = data.draw(st.sampled_from([n for n in NAMESPACES if n != ns]))
                filters = data.draw(hostile_filters(other))
                query = data.draw(st.sampled_from(WORDS))
                hits = memory.search(ns, query, k=50, filters=filters, include_history=True)
                for hit in hits:
                    assert hit.entry.namespace == ns
                    assert all(owner.get(s) == ns for s in hit.entry.source_ids)
                entries = memory.entries(ns, include_history=True, include_pending=True)
                for entry in entries:
                    assert entry.namespace == ns and all(owner.get(s) == ns for s in entry.source_ids)
                # the search does work: without a filter it finds this namespace's own memories (one per text)
                found = memory.search(ns, query, k=50, include_history=True)
                assert len(found) == len({(" ".join(e.text.lower().split()), e.active) for e in entries})
                for msg in memory.journal.messages.read(ns):
                    assert msg.namespace == ns and owner.get(msg.id) == ns
                stats = memory.stats(ns)
                assert stats.entries == len(memory.entries(ns))
                assert stats.pending == len([e for e in entries if e.pending])
        finally:
            memory.close()


def test_two_namespaces_in_one_bucket_never_see_each_other(make_memory):
    memory = make_memory(chroma={"layout": "buckets", "buckets": 1})
    for ns, secret in (("alice", "Alice's locker code is 4471"), ("bob", "Bob's locker code is 9902")):
        memory.add([{"id": "1", "role": "user", "content": secret}], namespace=ns, thread_id="t")  # same message id
        memory.flush(ns)
        memory.remember(ns, f"{ns} keeps a spare key under the mat", key="key")  # same saved key
    assert memory.store.collection_name(("alice",)) == memory.store.collection_name(("bob",))
    for mode in ("hybrid", "dense", "lexical"):
        for ns, own, foreign in (("alice", "4471", "9902"), ("bob", "9902", "4471")):
            hits = memory.search(ns, "locker code spare key", k=50, mode=mode, include_history=True)
            assert hits and all(h.entry.namespace == (ns,) for h in hits), mode
            assert any(own in h.entry.text for h in hits) and not any(foreign in h.entry.text for h in hits)
    alice, bob = memory.entries("alice", include_pending=True), memory.entries("bob", include_pending=True)
    assert alice and bob and {e.namespace for e in alice} == {("alice",)} and {e.namespace for e in bob} == {("bob",)}
    ids = [e.id for e in alice]
    assert memory.get("bob", ids) == [] and len(memory.get("alice", ids)) == len(alice)

    memory.forget("alice")
    assert memory.entries("alice", include_history=True, include_pending=True) == []
    assert memory.search("alice", "locker code", k=50, include_history=True) == []
    assert [e.id for e in memory.entries("bob", include_pending=True)] == [e.id for e in bob]
    assert any("9902" in h.entry.text for h in memory.search("bob", "locker code", k=50))
    store = memory.store
    for history in (False, True):
        name = store.collection_name(("bob",), history=history)
        if name in {c.name for c in store.client.list_collections()}:
            raw = store.client.get_collection(name).get(include=["metadatas", "documents"])
            assert {m["namespace"] for m in raw["metadatas"]} <= {"bob"}
            assert not any("4471" in d or "alice" in d for d in raw["documents"])
