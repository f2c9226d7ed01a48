"""Read-your-writes: an accepted message is searchable when ``add`` returns (as a pending entry), replaced by its
memories once extracted, never counted twice, and flushed when its thread goes quiet."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from langchain_lightmem import LightMem
from langchain_lightmem.testing import ScriptedChatModel
from langchain_lightmem.types import pending_entry_id


def turns(n: int, *, prefix: str = "m", thread: str | None = None) -> list[dict[str, str]]:
    topics = ["jazz records", "hiking boots", "sourdough bread", "a trip to Lisbon", "the violin"]
    out = []
    for i in range(n):
        msg = {"id": f"{prefix}{i}", "role": "user" if i % 2 == 0 else "assistant"}
        msg["content"] = f"Turn {prefix}{i} is about {topics[i % len(topics)]}."
        if thread is not None:
            msg["thread_id"] = thread
        out.append(msg)
    return out


@pytest.mark.parametrize("extraction", ["llm_free", "fake_model"])
def test_a_message_is_searchable_as_soon_as_add_returns(make_memory: Callable[..., LightMem], extraction: str) -> None:
    model = ScriptedChatModel() if extraction == "fake_model" else None
    memory = make_memory(model)
    memory.add([{"id": "a1", "role": "user", "content": "I adopted a cat called Miso."}], namespace="ana")
    hits = memory.search("ana", "What is the name of my cat?", k=3)
    assert hits[0].entry.source_ids == ["a1"] and hits[0].pending and hits[0].entry.method == "pending"
    assert memory.context("ana", "cat", max_tokens=200).source_ids == ["a1"]
    assert memory.stats("ana").pending == 1 and memory.stats("ana").entries == 0
    assert memory.entries("ana") == [] and len(memory.entries("ana", include_pending=True)) == 1
    assert model is None or model.calls == 0  # read-your-writes costs no LLM call: extraction stays batched

    memory.flush("ana")
    hits = memory.search("ana", "What is the name of my cat?", k=3)
    assert hits[0].entry.source_ids == ["a1"] and not hits[0].pending
    assert memory.stats("ana").pending == 0 and memory.stats("ana").entries == 1
    assert model is None or model.calls == 1


def test_a_message_is_never_counted_twice_while_its_batch_is_written(make_memory: Callable[..., LightMem]) -> None:
    memory = make_memory()
    memory.add(turns(4), namespace="bo")
    memory.flush("bo")
    # the moment between writing a batch's memories and retiring its pending entries, frozen
    stale = memory.pipeline.pending_entry(memory.journal.messages.read(("bo",))[0])
    memory.store.upsert([stale])
    hits = memory.search("bo", "jazz records", k=10)
    assert [h.entry.source_ids for h in hits].count(["m0"]) == 1 and not any(h.pending for h in hits)
    assert memory.context("bo", "jazz records", max_tokens=500).source_ids.count("m0") == 1
    memory.add(turns(1, prefix="n"), namespace="bo")  # the next run reconciles pending entries with the journal
    assert memory.store.pending_ids(("bo",)) == {pending_entry_id(("bo",), "n0")}


def test_pending_entries_heal_from_the_journal(make_memory: Callable[..., LightMem], monkeypatch) -> None:
    memory = make_memory()
    upsert = memory.store.upsert

    def chroma_down(entries, **kwargs):
        raise ConnectionError("chroma is down")

    monkeypatch.setattr(memory.store, "upsert", chroma_down)
    result = memory.add(turns(2), namespace="cy")
    assert result.accepted == ["m0", "m1"] and result.deferred_error and "chroma is down" in result.deferred_error
    assert memory.search("cy", "jazz", k=5) == []  # the index step failed: not searchable yet, but stored
    monkeypatch.setattr(memory.store, "upsert", upsert)
    memory.add(turns(1, prefix="x"), namespace="cy")
    assert {h.entry.source_ids[0] for h in memory.search("cy", "turn", k=5)} == {"m0", "m1", "x0"}


def test_messages_of_an_old_folder_get_vectors_and_pending_entries(make_memory: Callable[..., LightMem]) -> None:
    memory = make_memory()
    memory.add(turns(3), namespace="di")
    memory.store.delete(("di",), sorted(memory.store.pending_ids(("di",))))
    with memory.journal.transaction() as cur:  # as a folder written before vectors were kept
        cur.execute("UPDATE messages SET vector = NULL")
    assert memory.pipeline.sync_pending(("di",)) == 3
    assert all(m.vector is not None for m in memory.journal.messages.read(("di",)))
    assert len(memory.search("di", "hiking boots", k=5)) == 3


def test_forget_leaves_no_pending_entry(make_memory: Callable[..., LightMem]) -> None:
    memory = make_memory()
    memory.add(turns(3), namespace="ed")
    memory.forget("ed")
    assert memory.search("ed", "jazz", k=5) == [] and memory.store.pending_ids(("ed",)) == set()


def test_idle_threads_are_flushed_without_a_call_from_the_app(make_memory: Callable[..., LightMem]) -> None:
    model = ScriptedChatModel()
    memory = make_memory(model)
    memory.add(turns(2, prefix="a", thread="t1"), namespace="fi")
    memory.add(turns(2, prefix="b", thread="t2"), namespace="fi")
    assert memory.flush_idle(60) == {}  # nothing has been quiet for a minute
    later = time.time() + 120
    with memory.journal.transaction() as cur:  # t2 is still talking
        cur.execute("UPDATE messages SET ingested_ts = ? WHERE thread_id = 't2'", (later,))
    memory.flush_idle(60, now=later)
    # t1's tail moved on to short-term memory, where it waits for a full batch with t2: no call yet
    assert model.calls == 0 and memory.stats("fi").messages["short_term"] == 2
    assert memory.stats("fi").pending == 4  # everything stays searchable meanwhile
    memory.flush_idle(60, now=later + 120)  # now every thread is quiet: the namespace is flushed
    assert model.calls == 1 and memory.stats("fi").pending == 0 and memory.stats("fi").entries == 4


def test_flush_of_one_thread(make_memory: Callable[..., LightMem]) -> None:
    memory = make_memory()
    memory.add(turns(2, prefix="a", thread="t1"), namespace="gu")
    memory.add(turns(2, prefix="b", thread="t2"), namespace="gu")
    memory.flush("gu", thread_id="t1")
    done = {m.id for m in memory.journal.messages.read(("gu",), stage="done")}
    assert {"a0", "a1"} <= done  # t1 is extracted (the short-term buffer closes with it)
    assert memory.journal.messages.read(("gu",), stage="sensory")  # t2's open tail stays
    assert {h.entry.source_ids[0] for h in memory.search("gu", "turn", k=10) if h.pending} == {"b0", "b1"}


def test_the_worker_flushes_idle_threads_on_its_own(make_memory: Callable[..., LightMem]) -> None:
    memory = make_memory(background={"idle_flush_seconds": 0.2, "poll_seconds": 0.1})
    memory.add(turns(3), namespace="ha", thread_id="t", background=True)
    deadline = time.monotonic() + 20
    while memory.stats("ha").pending and time.monotonic() < deadline:
        time.sleep(0.1)
    assert memory.stats("ha").pending == 0 and memory.stats("ha").entries == 3


def test_the_consolidation_run_flushes_quiet_threads_first(make_memory: Callable[..., LightMem]) -> None:
    memory = make_memory()
    memory.add(turns(3), namespace="io", thread_id="t")
    with memory.journal.transaction() as cur:  # the thread went quiet an hour ago
        cur.execute("UPDATE messages SET ingested_ts = ingested_ts - 3600")
    reports = memory.consolidate()
    assert memory.stats("io").pending == 0 and memory.stats("io").entries == 3
    assert [r.namespace for r in reports] == [("io",)] and reports[0].new_entries == 3


def test_a_snapshot_shows_messages_batches_entries_and_the_next_idle_flush(
    make_memory: Callable[..., LightMem],
) -> None:
    memory = make_memory()
    memory.add(turns(4, thread="t1"), namespace="ka")
    memory.flush("ka")
    memory.add(turns(2, prefix="n", thread="t2"), namespace="ka")
    snap = memory.snapshot("ka")
    assert [m.stage for m in snap.messages] == ["done"] * 4 + ["sensory"] * 2
    assert {m.batch_id for m in snap.messages[:4]} == {b.id for b in snap.batches} and snap.batches[
        0
    ].status == "written"
    assert sum(e.pending for e in snap.entries) == 2 and len(snap.entries) == 6
    assert snap.stats.pending == 2 and snap.next_idle_flush is not None
    assert snap.next_idle_flush > time.time() + 500  # quiet for 600 s from the last message
