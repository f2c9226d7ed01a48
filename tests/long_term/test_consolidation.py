"""Sleep-time consolidation with planted histories (scripted decisions, real on-disk Chroma and journal)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from langchain_core.messages import BaseMessage

from langchain_lightmem.long_term.consolidation import (
    DECISION_EXAMPLE_ANSWER,
    DECISION_PROMPT,
    DECISION_RULES,
    Decision,
    Target,
    apply_decisions,
    decision_example_answer,
    decision_prompt,
    merge_problem,
    parse_decision_lines,
)
from langchain_lightmem.models import CachedEmbeddings
from langchain_lightmem.testing import ScriptedChatModel, extraction_responder
from langchain_lightmem.types import MemoryEntry

TOPICS = {"home": ("live", "moved", "flat"), "pet": ("dog", "rex"), "food": ("ramen", "food"), "job": ("nurse", "work")}


def topic_embeddings() -> CachedEmbeddings:
    """Same topic -> nearly the same vector: makes planted histories land on each other deterministically."""

    def encode(texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(TOPICS) + 1), dtype=np.float32)
        for row, text in enumerate(texts):
            words = set(re.findall(r"[a-z]+", text.lower()))
            for col, keys in enumerate(TOPICS.values()):
                out[row, col] = sum(k in words for k in keys)
            out[row, -1] = 0.05 * (len(words) % 7)  # a little spread so nothing is exactly equal
        return out

    return CachedEmbeddings(encode, model_id="topic-test")


def decision_rules(messages: list[BaseMessage], tools: list[dict[str, Any]]) -> dict[str, Any]:
    """Scripted consolidation: 'moved' supersedes, 'now' updates (merging), identical text supersedes."""
    if messages[0].content != DECISION_PROMPT:
        return extraction_responder(messages, tools)
    decisions, current = [], None
    for line in str(messages[-1].content).splitlines():
        if m := re.match(r"^\[(\d+)\] \S+ (.*)$", line):
            current = {"target": int(m[1]), "old": m[2], "action": "keep"}
            decisions.append(current)
        elif (m := re.match(r"^\s+newer: \S+ (.*)$", line)) and current is not None:
            newer = m[1]
            if "moved" in newer or newer == current["old"]:
                current["action"] = "supersede"
            elif "now" in newer:
                current.update(action="update", text=f"{current['old']} {newer}")
    return {"decisions": [{k: v for k, v in d.items() if k != "old"} for d in decisions]}


T0 = datetime(2024, 5, 1, 9, tzinfo=UTC)


def say(i: int, text: str, days: int) -> dict[str, Any]:
    return {"id": f"m{i}", "role": "user", "speaker": "Maya", "content": text, "timestamp": T0 + timedelta(days=days)}


HISTORY_MAY = [
    say(1, "I live in a flat in Paris.", 0),
    say(2, "I have a dog named Rex.", 1),
    say(3, "My favourite food is ramen.", 2),
    say(4, "I work as a nurse.", 3),
]
HISTORY_JULY = [
    say(5, "I moved to a flat in Berlin.", 60),
    say(6, "My dog Rex is now three and loves swimming.", 61),
    say(7, "My favourite food is ramen.", 62),
]


@pytest.fixture
def planted(make_memory):
    def build(model=None, **config):
        memory = make_memory(model, embeddings=topic_embeddings(), **config)
        memory.add(HISTORY_MAY, namespace="maya", thread_id="may")
        memory.flush("maya")
        memory.add(HISTORY_JULY, namespace="maya", thread_id="july")
        memory.flush("maya")
        return memory

    return build


def active_texts(memory) -> list[str]:
    return sorted(e.text for e in memory.entries("maya"))


def test_planted_history_updates_supersedes_and_deduplicates(planted):
    model = ScriptedChatModel(responder=decision_rules)
    memory = planted(model)
    extraction_calls = model.calls
    (report,) = memory.consolidate("maya")
    assert report.new_entries == 7 and report.calls == model.calls - extraction_calls >= 1
    assert (report.superseded, report.updated) == (2, 1)

    home = memory.search("maya", "where does Maya live, which flat", k=5)
    assert "Berlin" in home[0].entry.text and not any("Paris" in h.entry.text for h in home)
    history = memory.search("maya", "where does Maya live, which flat", k=10, include_history=True)
    paris = next(h.entry for h in history if "Paris" in h.entry.text)
    berlin = next(h.entry for h in history if "Berlin" in h.entry.text)
    assert paris.superseded_by == berlin.id and paris.valid_to == berlin.event_time and not paris.active

    (dog,) = [h.entry for h in memory.search("maya", "dog Rex", k=10) if "Rex" in h.entry.text]
    assert dog.method == "consolidated" and dog.version == 2
    assert "dog named Rex" in dog.text and "three and loves swimming" in dog.text
    assert dog.source_ids == ["m2", "m6"]  # provenance of both
    assert len([h for h in memory.search("maya", "ramen food", k=10) if "ramen" in h.entry.text]) == 1
    assert len([h for h in memory.search("maya", "ramen", k=10, include_history=True) if "ramen" in h.entry.text]) == 2
    assert any("nurse" in t for t in active_texts(memory))  # unrelated facts untouched
    assert memory.stats("maya").usage["consolidate"].calls == report.calls


def test_second_run_with_nothing_new_makes_no_call_and_changes_nothing(planted):
    model = ScriptedChatModel(responder=decision_rules)
    memory = planted(model)
    memory.consolidate("maya")
    before = [e.model_dump() for e in memory.entries("maya", include_history=True)]
    calls = model.calls
    (again,) = memory.consolidate("maya")
    assert model.calls == calls and again.calls == 0 and again.new_entries == 0
    assert [e.model_dump() for e in memory.entries("maya", include_history=True)] == before
    assert memory.consolidate() == []  # no namespace has new entries


def test_only_new_entries_start_work(planted):
    model = ScriptedChatModel(responder=decision_rules)
    memory = planted(model)
    memory.consolidate("maya")
    memory.add([say(8, "I work as a nurse in a Berlin hospital now.", 90)], namespace="maya")
    memory.flush("maya")
    calls = model.calls
    (report,) = memory.consolidate("maya")
    assert report.new_entries == 1 and report.targets == 1 and model.calls - calls == 1 == report.calls
    assert report.updated == 1


def test_batches_of_targets_fan_out_one_call_each(planted):
    model = ScriptedChatModel(responder=decision_rules)
    memory = planted(model, consolidation={"batch_size": 1, "max_concurrency": 3})
    calls = model.calls
    (report,) = memory.consolidate("maya")
    assert report.targets == 3 and model.calls - calls == 3 == report.calls


def test_llm_free_merges_only_near_duplicates(make_memory, static_embeddings):
    memory = make_memory()
    memory.add(HISTORY_MAY, namespace="maya", thread_id="may")
    memory.flush("maya")
    memory.add(HISTORY_JULY, namespace="maya", thread_id="july")
    memory.flush("maya")
    (report,) = memory.consolidate("maya")
    assert report.calls == 0 and report.superseded == 1 and report.updated == 0
    texts = active_texts(memory)
    assert texts.count("Maya: My favourite food is ramen.") == 1
    assert any("Paris" in t for t in texts) and any("Berlin" in t for t in texts)


def test_facts_from_one_message_never_remove_each_other(make_memory):
    one_message = {
        "facts": [{"text": "Maya lives in a flat", "sources": [1]}, {"text": "Maya moved flat", "sources": [1]}]
    }
    model = ScriptedChatModel(script=[one_message], responder=decision_rules)
    memory = make_memory(model, embeddings=topic_embeddings())
    memory.add([say(1, "I live in a flat, well, I just moved.", 0)], namespace="maya")
    memory.flush("maya")
    (report,) = memory.consolidate("maya")
    assert report.targets == 0 and report.calls == 0 and len(memory.entries("maya")) == 2


def test_a_killed_run_is_completed_by_the_next_without_paying_twice(planted, monkeypatch):
    class Killed(BaseException):
        pass

    model = ScriptedChatModel(responder=decision_rules)
    memory = planted(model)
    calls = model.calls
    original = memory.store.supersede

    def dying_move(entries):
        original(entries[:1])  # the process dies after moving the first entry to history
        raise Killed()

    monkeypatch.setattr(memory.store, "supersede", dying_move)
    with pytest.raises(Killed):
        memory.consolidate("maya")
    decided = model.calls - calls
    monkeypatch.undo()
    memory.journal.leases.release("consolidate:maya", memory.pipeline.worker_id)  # the killed process's lease
    memory.consolidate("maya")
    assert model.calls - calls == decided  # saved decisions were re-applied, not re-asked
    texts = active_texts(memory)
    assert not any("Paris" in t for t in texts) and texts.count("Maya: My favourite food is ramen.") == 1
    assert len([t for t in texts if "Rex" in t]) == 1


def test_a_failed_batch_stays_queued_for_the_next_run(planted):
    def model_down(messages: list[BaseMessage], tools: list[dict[str, Any]]) -> dict[str, Any]:
        if str(messages[0].content).startswith(DECISION_RULES):
            raise ValueError("the model is down")
        return extraction_responder(messages, tools)

    model = ScriptedChatModel(responder=model_down)
    memory = planted(model, consolidation={"batch_size": 1})
    entries = active_texts(memory)
    (report,) = memory.consolidate("maya")
    assert report.failed == report.targets == 3 and report.calls >= 3 and active_texts(memory) == entries
    assert memory.stats("maya").usage["consolidate"].calls == report.calls  # failed calls are paid for too
    assert memory.journal.consolidation.queue(("maya",))  # the entries that fed the failed decisions wait
    model.responder = decision_rules
    (retry,) = memory.consolidate("maya")
    assert (retry.failed, retry.superseded, retry.updated) == (0, 2, 1)
    assert memory.journal.consolidation.queue(("maya",)) == []


def test_a_busy_namespace_is_skipped(planted):
    memory = planted(ScriptedChatModel(responder=decision_rules))
    assert memory.journal.leases.acquire("consolidate:maya", "otherhost:1:abc", 60)
    (report,) = memory.consolidate("maya")
    assert report.busy and report.calls == 0 and len(memory.entries("maya")) == 7
    memory.journal.leases.release("consolidate:maya", "otherhost:1:abc")
    (report,) = memory.consolidate("maya")
    assert not report.busy and report.superseded == 2


def test_forget_clears_the_queue(planted):
    memory = planted()
    memory.forget("maya")
    assert memory.journal.consolidation.queue(("maya",)) == [] and memory.consolidate() == []


def test_rewriting_a_batch_after_a_crash_never_undoes_consolidation(planted):
    memory = planted(ScriptedChatModel(responder=decision_rules))
    memory.consolidate("maya")
    paris = next(e for e in memory.entries("maya", include_history=True) if "Paris" in e.text)
    assert not paris.active
    # A resumed ingestion re-writes the batch that held Paris with its original (active) metadata.
    (batch,) = memory.journal.batches.get(("maya",), [paris.batch_id])
    memory.store.add(batch.entries or [])
    again = next(e for e in memory.entries("maya", include_history=True) if e.id == paris.id)
    assert again.superseded_by == paris.superseded_by and not again.active


def test_memories_saved_directly_are_consolidated_too(planted):
    memory = planted(ScriptedChatModel(responder=decision_rules))
    memory.consolidate("maya")
    memory.remember("maya", "Maya moved to a flat in Madrid.", key="city", event_time="2024-09-01T00:00:00Z")
    (report,) = memory.consolidate("maya")
    assert report.new_entries == 1 and report.superseded == 1
    assert [e.text for e in memory.entries("maya") if "flat" in e.text] == ["Maya moved to a flat in Madrid."]


# -- what a small local model did (issue 15): placeholder merges, copyable prompts -------------------------------


def merge_everything_into(text: str):
    """A decider that answers 'update' with ``text`` for every target, in the format it is asked for."""

    def respond(messages: list[BaseMessage], tools: list[dict[str, Any]]) -> Any:
        system = str(messages[0].content)
        if "EXISTING memory" not in system:
            return extraction_responder(messages, tools)
        targets = re.findall(r"^\[(\d+)\]", str(messages[-1].content), re.MULTILINE)
        if not tools and "one line per existing memory" in system:
            return "\n".join(f"[{n}] update: {text}" for n in targets)
        return {"decisions": [{"target": int(n), "action": "update", "text": text} for n in targets]}

    return respond


@pytest.mark.parametrize("method", ["function_calling", "json_mode", "prompt", "lines"])
@pytest.mark.parametrize("text", ["...", "…", "text", "Priya has a Siamese cat named Miso."])
def test_a_placeholder_or_copied_merge_never_replaces_real_memories(planted, method, text):
    model = ScriptedChatModel(json_mode=True, responder=merge_everything_into(text))
    memory = planted(model, extraction={"methods": [method]})
    before = active_texts(memory)
    (report,) = memory.consolidate("maya")
    assert report.calls >= 1 and report.targets >= 1
    assert report.updated == 0 and report.superseded == 0 and report.rejected == report.targets
    assert active_texts(memory) == before  # nothing moved to history
    assert all(e.text.strip() not in ("...", "…", "text") for e in memory.entries("maya", include_history=True))


def echo_the_example(messages: list[BaseMessage], tools: list[dict[str, Any]]) -> Any:
    """What Qwen2.5-Coder-0.5B answered to all five consolidation calls of a LoCoMo conv-30 run: the worked
    example's answer, word for word (its 'supersede' would have retired a real memory each time)."""
    system = str(messages[0].content)
    if "EXISTING memory" not in system:
        return extraction_responder(messages, tools)
    method = "lines" if not tools and "one line per existing memory" in system else "json_mode"
    answer = decision_example_answer(method)
    return answer if method == "lines" else json.loads(answer)


@pytest.mark.parametrize("method", ["function_calling", "json_mode", "prompt", "lines"])
def test_an_answer_that_echoes_the_worked_example_changes_nothing(planted, method):
    memory = planted(ScriptedChatModel(json_mode=True, responder=echo_the_example), extraction={"methods": [method]})
    before = active_texts(memory)
    (report,) = memory.consolidate("maya")
    assert report.calls >= 1 and report.targets >= 1
    assert report.updated == 0 and report.superseded == 0 and report.rejected == report.targets
    assert active_texts(memory) == before


def test_a_merge_not_supported_by_its_memories_is_kept_as_is(planted):
    model = ScriptedChatModel(responder=merge_everything_into("Maya owns a red sports car and lives in Tokyo."))
    memory = planted(model)
    before = active_texts(memory)
    (report,) = memory.consolidate("maya")
    assert report.updated == 0 and report.rejected == report.targets and active_texts(memory) == before


def test_merge_problem_accepts_a_faithful_merge_only():
    old = MemoryEntry(id="a", namespace=("maya",), text="Maya has a dog named Rex.", source_ids=["m1"], event_time=T0)
    new = old.model_copy(update={"id": "b", "text": "Rex is now three and loves swimming.", "source_ids": ["m2"]})
    target = Target(old, [(new, 0.9)])
    assert merge_problem("Maya has a dog named Rex, now three, who loves swimming.", target) is None
    assert "placeholder" in str(merge_problem("...", target))
    assert "not supported" in str(merge_problem("Maya bought a boat.", target))


def test_saved_placeholder_decisions_are_not_applied(planted):
    memory = planted(ScriptedChatModel(responder=decision_rules))
    entries = memory.entries("maya")
    old = next(e for e in entries if "Rex" in e.text and "named" in e.text)
    newer = next(e for e in entries if "three" in e.text)
    counts = apply_decisions(memory.store, ("maya",), [Decision(old.id, "update", (newer.id,), "...")], model="m")
    assert counts.updated == 0 and counts.rejected == 1
    assert {e.id for e in memory.entries("maya")} >= {old.id, newer.id}


@pytest.mark.parametrize("method", ["function_calling", "json_mode", "prompt", "lines"])
def test_decision_prompts_hold_nothing_copyable(method):
    prompt = decision_prompt(method)
    assert "..." not in prompt and "…" not in prompt
    actions = [action for _, action, _ in DECISION_EXAMPLE_ANSWER]
    assert sorted(set(actions)) == ["keep", "supersede", "update"]  # several decisions, each kind once
    assert decision_example_answer(method) in prompt


def test_decision_lines_shapes():
    assert parse_decision_lines("[1] keep\n2: supersede\n- [3] update: Maya has two dogs.\n4. delete\nnoise") == [
        {"target": 1, "action": "keep", "text": ""},
        {"target": 2, "action": "supersede", "text": ""},
        {"target": 3, "action": "update", "text": "Maya has two dogs."},
        {"target": 4, "action": "supersede", "text": ""},
    ]
