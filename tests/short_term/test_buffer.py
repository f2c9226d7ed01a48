from __future__ import annotations

from langchain_lightmem.short_term.buffer import pack_batches
from langchain_lightmem.types import Segment
from tests.helpers import msg


def seg(name: str, *tokens: int, role: str = "user") -> Segment:
    return Segment(id=name, messages=[msg(i, role=role, tokens=t) for i, t in enumerate(tokens)])


def names(batches):
    return [[s.id for s in b] for b in batches]


def test_buffer_closes_when_the_next_segment_would_exceed_the_threshold():
    segments = [seg("a", 200), seg("b", 200), seg("c", 200), seg("d", 50)]
    assert names(pack_batches(segments, threshold_tokens=512, counted_roles={"user"})) == [["a", "b"]]


def test_force_closes_the_open_buffer():
    segments = [seg("a", 200), seg("b", 200), seg("c", 200)]
    assert names(pack_batches(segments, threshold_tokens=512, counted_roles={"user"}, force=True)) == [
        ["a", "b"],
        ["c"],
    ]


def test_a_segment_over_the_threshold_closes_alone_and_at_once():
    segments = [seg("a", 100), seg("big", 900), seg("c", 10)]
    assert names(pack_batches(segments, threshold_tokens=512, counted_roles={"user"})) == [["a"], ["big"]]


def test_only_counted_roles_weigh():
    segments = [seg("a", 400, role="assistant"), seg("b", 400, role="assistant"), seg("c", 10)]
    assert pack_batches(segments, threshold_tokens=512, counted_roles={"user"}) == []
    assert names(pack_batches(segments, threshold_tokens=512, counted_roles={"assistant"})) == [["a"]]


def test_nothing_closes_below_the_threshold():
    assert pack_batches([seg("a", 10)], threshold_tokens=512, counted_roles={"user"}) == []
    assert pack_batches([], threshold_tokens=512, counted_roles={"user"}, force=True) == []


def test_segments_of_small_talk_skip_the_extraction_call(make_memory) -> None:
    from langchain_lightmem.testing import ScriptedChatModel

    model = ScriptedChatModel()
    memory = make_memory(model, segmentation={"backend": "fixed", "fixed_turns": 2})
    memory.add(
        [
            {"id": "g1", "role": "user", "content": "Hey! Thanks so much!"},
            {"id": "g2", "role": "assistant", "content": "Haha, see you later!"},
            {"id": "f1", "role": "user", "content": "I booked a flight to Tokyo on 3 March."},
            {"id": "f2", "role": "assistant", "content": "Tokyo in March sounds lovely."},
        ],
        namespace="gab",
    )
    memory.flush("gab")
    assert model.calls == 1  # the batch with the flight; the greetings made no call
    by_source = {e.source_ids[0]: e.method for e in memory.entries("gab")}
    assert by_source["g1"] == by_source["g2"] == "extractive"  # still remembered, as themselves
    assert memory.stats("gab").usage["salience"].items == 2
