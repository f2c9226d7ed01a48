"""Re-extraction of batches that fell back while the model failed (issue 15): never duplicates, never undoes
consolidation or a deletion, finishes after a crash, and is safe beside another worker (review of 703285c)."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from langchain_lightmem import LightMem
from langchain_lightmem.long_term.consolidation import Decision, apply_decisions
from langchain_lightmem.pipeline import Pipeline
from langchain_lightmem.testing import ScriptedChatModel
from tests.short_term.test_coverage import conversation

NS = ("alice",)


def fell_back(make_memory: Callable[..., LightMem], script: list[Any] | None = None) -> LightMem:
    model = ScriptedChatModel(script=script or [ConnectionError("model server down")])
    memory = make_memory(model, extraction={"max_attempts": 1, "backoff_seconds": 0})
    memory.add(conversation()[:4], namespace="alice", thread_id="t1")
    memory.flush("alice")
    assert {e.method for e in memory.entries("alice")} == {"extractive_fallback"}
    return memory


def per_source(memory: LightMem) -> Counter[str]:
    return Counter(s for e in memory.entries("alice") for s in e.source_ids)


def store_view(memory: LightMem) -> set[tuple[str, bool, str]]:
    return {(e.id, e.active, e.text) for e in memory.store.list(NS, include_history=True)}


def test_reextract_replaces_fallback_entries_with_new_ids_and_rebuild_agrees(make_memory) -> None:
    memory = fell_back(make_memory)
    old = {e.id for e in memory.entries("alice")}
    assert memory.reextract("alice") == {"reextracted": 1, "failed": 0, "busy": 0}
    after = memory.entries("alice")
    assert {e.method for e in after} == {"llm"} and not old & {e.id for e in after}
    assert max(per_source(memory).values()) == 1
    live = store_view(memory)
    memory.rebuild("alice")
    assert store_view(memory) == live


def test_a_batch_consolidation_touched_is_left_alone(make_memory) -> None:
    memory = fell_back(make_memory)
    a, b = sorted(memory.entries("alice"), key=lambda e: e.event_time)[:2]
    merged = Decision(a.id, "update", (b.id,), "Caroline and Melanie told their cousins about zebra and quartz trips")
    memory.journal.consolidation.save_decisions(NS, [(merged.target_id, merged.action, merged.newer_ids, merged.text)])
    apply_decisions(memory.store, NS, [merged], model="m")
    memory.journal.consolidation.mark_applied(NS, [a.id])
    live = store_view(memory)
    assert memory.reextract("alice") == {"reextracted": 0, "failed": 0, "busy": 0}
    assert store_view(memory) == live
    assert max(per_source(memory).values()) == 1
    memory.rebuild("alice")
    assert store_view(memory) == live


def test_a_deleted_memory_never_comes_back(make_memory) -> None:
    memory = fell_back(make_memory)
    victim = next(e for e in memory.entries("alice") if "zebra" in e.text)
    memory.delete("alice", [victim.id])
    memory.reextract("alice")
    assert not [e for e in memory.entries("alice") if "zebra" in e.text]


def test_a_crash_in_the_middle_is_finished_by_the_next_run(make_memory, monkeypatch: pytest.MonkeyPatch) -> None:
    memory = fell_back(make_memory)
    real_delete = memory.store.delete

    def killed(*args: Any, **kwargs: Any) -> int:
        raise KeyboardInterrupt("killed between the journal and the store")

    monkeypatch.setattr(memory.store, "delete", killed)
    with pytest.raises(KeyboardInterrupt):
        memory.reextract("alice")
    monkeypatch.setattr(memory.store, "delete", real_delete)
    memory.flush("alice")  # the next run of the write path
    assert {e.method for e in memory.entries("alice")} == {"llm"}
    assert max(per_source(memory).values()) == 1
    assert [b.status for b in memory.journal.batches.info(NS)] == ["written"]


def test_another_worker_cannot_take_the_batch_while_it_is_replaced(make_memory, monkeypatch) -> None:
    memory = fell_back(make_memory)
    fields = {f: getattr(memory.pipeline, f) for f in memory.pipeline.__dataclass_fields__}
    other = Pipeline(**{**fields, "worker_id": f"other-{uuid.uuid4().hex}"})
    real_delete = memory.store.delete
    took: list[int] = []

    def delete(namespace: Any, ids: Any) -> int:
        if not took:
            took.append(other.write(namespace, other.extract(namespace)))
        return real_delete(namespace, ids)

    monkeypatch.setattr(memory.store, "delete", delete)
    assert memory.reextract("alice")["reextracted"] == 1
    assert took == [0]
    journal_ids = set(memory.journal.batches.info(NS)[0].entry_ids)
    assert journal_ids == {e.id for e in memory.entries("alice")}


def test_a_batch_that_keeps_failing_is_given_up(make_memory) -> None:
    memory = fell_back(make_memory, script=[ConnectionError("down")] * 10)
    results = [memory.reextract("alice") for _ in range(5)]
    assert [r["failed"] for r in results] == [1, 1, 1, 0, 0]  # tried at most REEXTRACT_ATTEMPTS times in all
    assert {e.method for e in memory.entries("alice")} == {"extractive_fallback"}
