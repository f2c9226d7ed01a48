"""Hybrid retrieval: the lexical index follows every write path, survives restarts and crashes, stays per namespace;
fusion, time awareness, neighbours and context packing behave as documented (static embeddings, real Chroma)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from langchain_lightmem.config import ChromaConfig, RetrievalConfig
from langchain_lightmem.errors import ConfigurationError, InvalidMessageError
from langchain_lightmem.long_term.lexical import LexicalIndex, LexicalRow, query_terms
from langchain_lightmem.long_term.retrieval import MemorySearcher
from langchain_lightmem.long_term.store import ChromaMemoryStore
from langchain_lightmem.tokens import TokenCounter
from langchain_lightmem.types import MemoryEntry

T0 = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)  # a Monday


def entry(i: int, text: str, ns=("a",), *, days: float = 0, segment: str | None = "s1", **kw) -> MemoryEntry:
    return MemoryEntry(
        id=f"e{i}",
        namespace=ns,
        text=text,
        source_ids=[f"m{i}"],
        event_time=T0 + timedelta(days=days, minutes=i),
        segment_id=segment,
        **kw,
    )


def make_store(tmp_path, embeddings, name: str = "lexical.sqlite3") -> ChromaMemoryStore:
    return ChromaMemoryStore(ChromaConfig(), tmp_path / "chroma", embeddings, lexical=LexicalIndex(tmp_path / name))


def lexical_ids(store: ChromaMemoryStore, query: str, ns=("a",), **kw) -> list[str]:
    return [h.id for h in store.lexical_search(ns, query, limit=10, **kw)]


def test_query_terms_drop_stop_words_but_never_everything():
    assert query_terms("What did Caroline research in 2023?") == ["caroline", "research", "2023"]
    assert query_terms("what is it") == ["what", "is", "it"]
    assert query_terms("?!") == []


def test_every_write_path_keeps_the_lexical_index_in_step(tmp_path, static_embeddings):
    store = make_store(tmp_path, static_embeddings)
    store.add([entry(1, "Maya adopted a greyhound called Biscuit"), entry(2, "Maya plays the cello")])
    assert lexical_ids(store, "greyhound") == ["e1"]
    store.upsert([entry(1, "Maya adopted a whippet called Biscuit")])  # a consolidation merge rewrites the text
    assert lexical_ids(store, "greyhound") == [] and lexical_ids(store, "whippet") == ["e1"]
    store.add([entry(1, "an old text must not come back")])  # add never overwrites
    assert lexical_ids(store, "old text") == []
    moved = entry(2, "Maya plays the cello", superseded_by="e1", valid_to=T0 + timedelta(days=9))
    store.supersede([moved])
    assert lexical_ids(store, "cello") == [] and lexical_ids(store, "cello", include_history=True) == ["e2"]
    assert store.delete(("a",), ["e2"]) == 1
    assert lexical_ids(store, "cello", include_history=True) == []
    assert store.delete_namespace(("a",)) == 1
    assert lexical_ids(store, "whippet") == [] and store.lexical.count(store.index_name(("a",))) == 0


def test_lexical_index_is_per_namespace(tmp_path, static_embeddings):
    store = make_store(tmp_path, static_embeddings)
    store.add([entry(1, "secret plan zebra", ns=("a",)), entry(2, "zebra crossing", ns=("org", "b"))])
    assert lexical_ids(store, "zebra", ns=("a",)) == ["e1"]
    assert lexical_ids(store, "zebra", ns=("org", "b")) == ["e2"]
    assert lexical_ids(store, "zebra", ns=("nobody",)) == []
    stems = {store.lexical._stem(store.index_name(ns)) for ns in (("a",), ("org", "b"))}
    assert len(stems) == 2  # separate tables, not one filtered table
    store.delete_namespace(("a",))
    assert lexical_ids(store, "zebra", ns=("org", "b")) == ["e2"]


def test_index_survives_restart_and_is_rebuilt_after_a_crash_or_loss(tmp_path, static_embeddings):
    store = make_store(tmp_path, static_embeddings)
    store.add([entry(i, f"fact {i} about kayaking") for i in range(5)])
    name = store.index_name(("a",))
    reopened = make_store(tmp_path, static_embeddings)
    assert not reopened.lexical.needs_rebuild(name, reopened.count(("a",), include_history=True))
    assert len(lexical_ids(reopened, "kayaking")) == 5
    # A crash between the Chroma write and the index update leaves the pending mark: the next process rebuilds.
    reopened.lexical.begin_write(name)
    reopened._collection(("a",)).add(
        ids=["x"],
        documents=["written to Chroma only"],
        embeddings=[[0.1] * 64],
        metadatas=[entry(9, "written to Chroma only").to_metadata()],
    )
    third = make_store(tmp_path, static_embeddings)
    assert lexical_ids(third, "written chroma") == ["x"]
    # A lost index file (or a data folder from before hybrid search) is rebuilt from Chroma on first use.
    fresh = make_store(tmp_path, static_embeddings, name="elsewhere.sqlite3")
    assert len(lexical_ids(fresh, "kayaking")) == 5


def test_a_failed_chroma_write_leaves_the_namespace_to_be_rebuilt(tmp_path, static_embeddings, monkeypatch):
    store = make_store(tmp_path, static_embeddings)
    store.add([entry(1, "first fact about tennis")])
    assert lexical_ids(store, "tennis") == ["e1"]

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(store, "_write", broken)
    with pytest.raises(RuntimeError):
        store.upsert([entry(1, "replaced fact about squash")])
    monkeypatch.undo()
    assert not store.lexical.checked(store.index_name(("a",)))
    assert lexical_ids(store, "tennis") == ["e1"]  # rebuilt from Chroma, which never got the change


def test_neighbours_follow_message_order_within_a_segment(tmp_path, static_embeddings):
    store = make_store(tmp_path, static_embeddings)
    store.add([entry(i, f"turn {i}", segment="s1" if i < 4 else "s2") for i in range(6)])
    around = store.segment_neighbours(("a",), ["e0", "e2", "e4"], window=1)
    assert around == {"e0": ["e1"], "e2": ["e1", "e3"], "e4": ["e5"]}
    assert store.segment_neighbours(("a",), ["e2"], window=2) == {"e2": ["e0", "e1", "e3"]}
    saved = entry(7, "no segment", segment=None)
    store.upsert([saved])
    assert store.segment_neighbours(("a",), ["e7"], window=1) == {}


def searcher(store: ChromaMemoryStore, **config) -> MemorySearcher:
    return MemorySearcher(store, RetrievalConfig(**config), TokenCounter())


def test_hybrid_finds_rare_words_the_vectors_miss_and_modes_are_selectable(tmp_path, static_embeddings):
    store = make_store(tmp_path, static_embeddings)
    store.add([entry(i, f"We talked about the weather and the garden, day {i}.") for i in range(30)])
    store.add([entry(40, "My passport number ends in QX7731.")])
    search = searcher(store, neighbour_weight=0.0)
    hybrid = [h.entry.id for h in search.search(("a",), "QX7731", k=3)]
    lexical = [h.entry.id for h in search.search(("a",), "QX7731", k=3, mode="lexical")]
    assert hybrid[0] == "e40" and lexical == ["e40"]
    dense = search.search(("a",), "QX7731", k=3, mode="dense")
    assert len(dense) == 3 and all(-1.0 <= h.score <= 1.0 for h in dense)
    assert all(0.0 <= h.score <= 1.0 for h in search.search(("a",), "weather garden", k=10))


def test_lexical_candidates_respect_filters_and_history(tmp_path, static_embeddings):
    store = make_store(tmp_path, static_embeddings)
    store.add(
        [entry(1, "Alex bought a red bicycle", speaker="Alex"), entry(2, "Sam bought a red bicycle too", speaker="Sam")]
    )
    search = searcher(store)
    hits = search.search(("a",), "red bicycle", k=5, filters={"speaker": "Sam"})
    assert [h.entry.id for h in hits] == ["e2"]
    store.supersede([entry(2, "Sam bought a red bicycle too", speaker="Sam", superseded_by="e1", valid_to=T0)])
    assert [h.entry.id for h in search.search(("a",), "red bicycle", k=5)] == ["e1"]
    assert {h.entry.id for h in search.search(("a",), "red bicycle", k=5, include_history=True)} == {"e1", "e2"}


def test_time_expressions_boost_or_filter_by_event_date(tmp_path, static_embeddings):
    store = make_store(tmp_path, static_embeddings)
    store.add([entry(i, f"I went swimming at the lake, session {i}.", days=i * 7) for i in range(6)])
    asked = T0 + timedelta(days=36)  # five weeks after the first entry
    search = searcher(store, neighbour_weight=0.0, time_boost=1.0)
    top = search.search(("a",), "Where did I go swimming two weeks ago?", k=1, reference_time=asked)[0]
    assert top.entry.id == "e3"  # day 21: 15 days before the question
    filtered = search.search(
        ("a",), "Where did I go swimming two weeks ago?", k=10, reference_time=asked, time_mode="filter"
    )
    assert [h.entry.id for h in filtered] == ["e3"]
    off = search.search(("a",), "Where did I go swimming two weeks ago?", k=10, reference_time=asked, time_mode="off")
    assert len(off) == 6


def test_boost_window_finds_entries_beyond_the_candidates_without_a_chroma_time_filter(
    tmp_path, static_embeddings, monkeypatch
):
    # Fifteen near-identical entries, one of them inside the window; no query word matches it lexically ("eat"
    # vs "ate"), and only 2 vector candidates are kept: the wider scan of the same query must bring it in.
    store = make_store(tmp_path, static_embeddings)
    store.add([entry(i, f"I ate pasta at home, night {i}.", days=21 if i == 7 else 0) for i in range(15)])
    wheres = []
    dense_search = store.dense_search
    monkeypatch.setattr(
        store, "dense_search", lambda *a, **kw: wheres.append(kw.get("where")) or dense_search(*a, **kw)
    )
    search = searcher(store, candidates=2, neighbour_weight=0.0, time_boost=1.0)
    top = search.search(("a",), "What did I eat two weeks ago?", k=1, reference_time=T0 + timedelta(days=35))
    assert [h.entry.id for h in top] == ["e7"]
    assert wheres == [None]  # one unfiltered query: a Chroma filter on event time is slow at scale


def test_neighbours_of_low_anchors_are_not_read_and_the_top_is_unchanged(tmp_path, static_embeddings):
    from langchain_lightmem.long_term.retrieval import Candidate

    store = make_store(tmp_path, static_embeddings)
    store.add([entry(i, f"turn {i} of a long talk", segment=f"s{i // 4}") for i in range(40)])
    entries = store.fetch(("a",), [f"e{i}" for i in range(0, 40, 2)])  # every other turn matched
    scores = {entry_id: 1.0 / (1 + int(entry_id[1:])) for entry_id in entries}
    fetched: list[str] = []
    fetch = store.fetch
    store.fetch = lambda ns, ids, **kw: fetched.extend(ids) or fetch(ns, ids, **kw)  # type: ignore[method-assign]

    def spread(candidates: int) -> list[str]:
        found = {i: Candidate(e, score=scores[i]) for i, e in entries.items()}
        config = RetrievalConfig(candidates=candidates, neighbour_weight=0.8)
        searcher(store)._spread(("a",), found, config, None, False)
        return [c.entry.id for c in sorted(found.values(), key=lambda c: (-c.score, c.entry.event_time))]

    everything = spread(10_000)
    fetched.clear()
    cut = spread(5)
    assert cut[:5] == everything[:5]
    assert len(fetched) < 20 and set(fetched) <= {f"e{i}" for i in range(1, 40, 2)}


def test_neighbour_spread_lifts_the_answer_next_to_the_matching_turn(tmp_path, static_embeddings):
    store = make_store(tmp_path, static_embeddings)
    turns = ["What instrument are you learning these days?", "The bassoon, since March.", "Nice weather today."]
    store.add([entry(i, t) for i, t in enumerate(turns)])
    store.add([entry(10 + i, f"Unrelated chat about football, part {i}.", segment="s2") for i in range(20)])
    plain = searcher(store, neighbour_weight=0.0).search(("a",), "instrument learning", k=3)
    spread = searcher(store, neighbour_weight=0.5).search(("a",), "instrument learning", k=3)
    assert plain[0].entry.id == spread[0].entry.id == "e0"
    assert "e1" in [h.entry.id for h in spread[:2]]


def test_neighbour_spread_never_lowers_a_hit(tmp_path, static_embeddings):
    # One strong isolated hit, and a segment of weak hits that are each other's neighbours: averaging with the
    # neighbours used to put the middle weak hit first (a stray word dragging its neighbourhood up).
    store = make_store(tmp_path, static_embeddings)
    store.add([entry(0, "Maya lives in Campo de Ourique now.", segment="s0")])
    store.add([entry(i, f"I cannot look up live listings, part {i}.", segment="s1") for i in range(1, 4)])
    store.add([entry(10 + i, f"Unrelated chat about football, part {i}.", segment="s2") for i in range(20)])
    query = "Where does Maya live in Campo de Ourique?"
    plain = {h.entry.id: h.score for h in searcher(store, neighbour_weight=0.0).search(("a",), query, k=30)}
    spread = searcher(store, neighbour_weight=1.0).search(("a",), query, k=30)
    assert spread[0].entry.id == "e0"
    assert all(h.score >= plain[h.entry.id] - 1e-9 for h in spread if h.entry.id in plain)
    assert all(0.0 <= h.score <= 1.0 for h in spread)


def test_context_packs_within_budget_groups_by_day_and_expands_neighbours(tmp_path, static_embeddings):
    store = make_store(tmp_path, static_embeddings)
    store.add([entry(i, f"Day one talk, turn {i}: camping gear and tents.") for i in range(4)])
    store.add(
        [entry(10 + i, f"Day three talk, turn {i}: camping by the river.", days=2, segment="s3") for i in range(4)]
    )
    store.add([entry(20, "Day one talk, turn 0: camping gear and tents.", days=5, segment="s9")])  # a duplicate text
    counter = TokenCounter()
    search = searcher(store, expand=2)
    ctx = search.context(("a",), "camping", max_tokens=120)
    text = ctx.render()
    assert 0 < ctx.tokens <= 120 and counter.count(text) == ctx.tokens
    assert text.startswith("2024-05-06 (Mon)\n- ") and "2024-05-08 (Wed)" in text
    assert text.count("2024-05-06 (Mon)") == 1  # one header per day
    assert len({i.hit.entry.text for i in ctx.items}) == len(ctx.items)  # deduplicated
    days = [i.hit.entry.event_time.date() for i in ctx.items]
    assert days == sorted(days)  # groups in time order
    assert ctx.source_ids and all(s.startswith("m") for s in ctx.source_ids)
    assert "[m" in ctx.render(sources=True)
    big = search.context(("a",), "camping", max_tokens=2000)
    assert any(i.neighbour_of for i in big.items) or len(big.items) == 9 - 1
    assert searcher(store, group_by="none").context(("a",), "camping", max_tokens=60).render().startswith("- 2024-")


def test_store_without_lexical_index_explains_hybrid(tmp_path, static_embeddings):
    store = ChromaMemoryStore(ChromaConfig(), tmp_path, static_embeddings)
    store.add([entry(1, "a fact")])
    with pytest.raises(ConfigurationError, match="lexical index"):
        searcher(store).search(("a",), "fact")
    assert [h.entry.id for h in searcher(store, mode="dense").search(("a",), "fact")] == ["e1"]


def test_lightmem_search_context_and_forget(make_memory):
    memory = make_memory()
    memory.add(
        [
            {"role": "user", "content": "I started pottery classes on Tuesday.", "timestamp": T0.isoformat()},
            {"role": "assistant", "content": "How fun! What did you make?", "timestamp": T0.isoformat()},
            {"role": "user", "content": "A wobbly blue mug.", "timestamp": T0.isoformat()},
        ],
        namespace="zoe",
        thread_id="t1",
    )
    memory.flush("zoe")
    hits = memory.search("zoe", "pottery", k=2, reference_time="2024-05-20T10:00:00Z")
    assert "pottery" in hits[0].entry.text
    assert memory.search("zoe", "pottery", mode="lexical")[0].entry.text == hits[0].entry.text
    ctx = memory.context("zoe", "What did I make in pottery class?", max_tokens=200)
    assert "mug" in ctx.render() and "2024-05-06 (Mon)" in ctx.render()
    with pytest.raises(InvalidMessageError, match="reference_time"):
        memory.search("zoe", "pottery", reference_time="last tuesday")
    memory.forget("zoe")
    assert memory.search("zoe", "pottery") == [] and memory.context("zoe", "pottery").items == []


def test_lexical_index_rows_round_trip_and_in_memory_mode(tmp_path):
    index = LexicalIndex(":memory:")
    index.upsert("c1", [LexicalRow("x", "hello world", 1.0, "s", '{"namespace": "a"}')])
    assert [h.id for h in index.search("c1", "hello")] == ["x"]
    assert index.records("c1", ["x"]) == {"x": ("hello world", '{"namespace": "a"}')}
    assert index.search("c1", "hello", time_range=(2.0, None)) == []
    index.drop("c1")
    assert index.search("c1", "hello") == []
