"""The coverage guarantee (issue 15): whatever a model answers, no counted message becomes unsearchable."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from langchain_lightmem import LightMem
from langchain_lightmem.short_term.coverage import ensure_coverage
from langchain_lightmem.testing import ScriptedChatModel, one_bad_fact_responder
from langchain_lightmem.types import MemoryEntry, Message, utcnow

WORDS = [
    "zebra",
    "quartz",
    "violin",
    "glacier",
    "mango",
    "falcon",
    "copper",
    "tundra",
    "saffron",
    "harbor",
    "walnut",
    "nebula",
]


def conversation() -> list[dict]:
    speakers = ["Caroline", "Melanie"]
    return [
        {
            "role": "user",
            "speaker": speakers[i % 2],
            "content": f"I told my cousin about the {word} museum trip and the {word} exhibit we saw",
            "timestamp": f"2023-05-{8 + 3 * (i // 4):02d}T10:{i:02d}:00+00:00",  # three sessions
        }
        for i, word in enumerate(WORDS)
    ]


@pytest.mark.parametrize("method", ["function_calling", "lines"])
def test_one_bad_fact_per_batch_leaves_every_message_searchable(
    make_memory: Callable[..., LightMem], method: str
) -> None:
    model = ScriptedChatModel(responder=one_bad_fact_responder, json_mode=True)
    memory = make_memory(model, extraction={"methods": [method]}, short_term={"threshold_tokens": 64})
    memory.add(conversation(), namespace="alice", thread_id="t1")
    memory.flush("alice")
    assert model.calls >= 2  # several batches, each answered with one bad fact
    for word in WORDS:
        hits = memory.search("alice", f"{word} museum trip exhibit", k=5)
        assert any(word in h.entry.text for h in hits), word
        assert all(not h.entry.pending for h in hits)
    stats = memory.stats("alice")
    assert stats.coverage.messages == len(WORDS)
    assert stats.coverage.covered + stats.coverage.kept == len(WORDS)
    assert stats.coverage.kept >= len(WORDS) - model.calls  # at most one message per batch came out as a fact


def test_without_coverage_the_bad_model_loses_messages(make_memory: Callable[..., LightMem]) -> None:
    """The same run with the guarantee off: messages the model left out are gone (what the guarantee prevents)."""
    model = ScriptedChatModel(responder=one_bad_fact_responder)
    memory = make_memory(model, extraction={"coverage": False}, short_term={"threshold_tokens": 64})
    memory.add(conversation(), namespace="alice", thread_id="t1")
    memory.flush("alice")
    found = [w for w in WORDS if any(w in h.entry.text for h in memory.search("alice", f"{w} museum", k=5))]
    assert len(found) < len(WORDS)
    assert memory.stats("alice").coverage.kept == 0


def _message(i: int, text: str, speaker: str = "Caroline") -> Message:
    return Message(
        id=f"m{i}",
        namespace=("alice",),
        thread_id="t",
        role="user",
        speaker=speaker,
        content=text,
        timestamp=utcnow(),
        tokens=len(text.split()),
        seq=i,
    )


def _fact(text: str, sources: list[str]) -> MemoryEntry:
    now = utcnow()
    return MemoryEntry(
        id=f"f-{text[:8]}",
        namespace=("alice",),
        text=text,
        source_ids=sources,
        event_time=now,
        ingested_at=now,
        method="llm",
    )


def test_a_fact_citing_the_wrong_line_covers_nothing() -> None:
    messages = [
        _message(1, "Hey Mel, good to see you!"),
        _message(2, "We went camping at the Rockies last weekend with the kids."),
    ]
    wrong = _fact("Caroline went camping at the Rockies with the kids.", ["m1"])
    entries, coverage = ensure_coverage(("alice",), "b1", messages, [wrong], counted_roles={"user"})
    assert (coverage.covered, coverage.kept, coverage.citations, coverage.precise) == (0, 2, 1, 0)
    assert [e.source_ids for e in entries[1:]] == [["m1"], ["m2"]]
    assert {e.method for e in entries[1:]} == {"uncovered"}

    right = _fact("Caroline went camping at the Rockies with the kids.", ["m2"])
    entries, coverage = ensure_coverage(("alice",), "b1", messages, [right], counted_roles={"user"})
    assert (coverage.covered, coverage.kept, coverage.precise) == (1, 1, 1)
    assert entries[1].source_ids == ["m1"]
    again, _ = ensure_coverage(("alice",), "b1", messages, [right], counted_roles={"user"})
    assert [e.id for e in again] == [e.id for e in entries]  # a retry of the same answer makes the same ids


def test_a_batch_that_fell_back_is_reextracted_once_the_model_answers(make_memory: Callable[..., LightMem]) -> None:
    model = ScriptedChatModel(script=[ConnectionError("model server down")])
    memory = make_memory(model, extraction={"max_attempts": 1, "backoff_seconds": 0})
    memory.add(conversation()[:4], namespace="alice", thread_id="t1")
    memory.flush("alice")
    before = memory.entries("alice")
    assert {e.method for e in before} == {"extractive_fallback"}

    assert memory.reextract("alice") == {"reextracted": 1, "failed": 0}
    after = memory.entries("alice")
    assert {e.method for e in after} == {"llm"}  # the scripted model cites and holds every line: all covered
    assert len(after) == 4
    assert memory.stats("alice").coverage.covered == 4
    assert memory.reextract("alice") == {"reextracted": 0, "failed": 0}  # nothing left to do
    hits = memory.search("alice", "quartz museum trip", k=3)
    assert hits and "quartz" in hits[0].entry.text


def test_reextract_that_fails_again_keeps_the_entries(make_memory: Callable[..., LightMem]) -> None:
    model = ScriptedChatModel(script=[ConnectionError("down"), ConnectionError("still down")])
    memory = make_memory(model, extraction={"max_attempts": 1, "backoff_seconds": 0})
    memory.add(conversation()[:4], namespace="alice", thread_id="t1")
    memory.flush("alice")
    assert memory.reextract("alice") == {"reextracted": 0, "failed": 1}
    assert {e.method for e in memory.entries("alice")} == {"extractive_fallback"}
    assert len(memory.entries("alice")) == 4
