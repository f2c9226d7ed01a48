from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from langchain_lightmem.sensory.buffer import cut_segments
from tests.helpers import ScriptedSegmenter, msg

USER_ASSISTANT = {"user", "assistant"}


def ids(segments):
    return [[m.id for m in s] for s in segments]


def test_under_the_window_nothing_leaves():
    turns = [msg(i) for i in range(5)]  # 50 tokens
    segs, tail = cut_segments(turns, ScriptedSegmenter(every=2), window_tokens=60, counted_roles=USER_ASSISTANT)
    assert segs == [] and [m.id for m in tail] == [m.id for m in turns]


def test_over_the_window_all_segments_but_the_open_tail_leave():
    turns = [msg(i) for i in range(8)]  # 80 tokens
    seg = ScriptedSegmenter(starts={"m3", "m5"})
    segs, tail = cut_segments(turns, seg, window_tokens=60, counted_roles=USER_ASSISTANT)
    # First window is m0..m5 (60 tokens): segments [m0-m2], [m3,m4], tail [m5] goes back with m6, m7.
    assert ids(segs) == [["m0", "m1", "m2"], ["m3", "m4"]]
    assert [m.id for m in tail] == ["m5", "m6", "m7"]
    assert seg.seen[0] == ["m0", "m1", "m2", "m3", "m4", "m5"]


def test_window_without_boundary_leaves_whole():
    turns = [msg(i) for i in range(8)]
    segs, tail = cut_segments(turns, ScriptedSegmenter(), window_tokens=60, counted_roles=USER_ASSISTANT)
    assert ids(segs) == [["m0", "m1", "m2", "m3", "m4", "m5"]]
    assert [m.id for m in tail] == ["m6", "m7"]


def test_force_lets_everything_leave():
    turns = [msg(i) for i in range(5)]
    segs, tail = cut_segments(
        turns, ScriptedSegmenter(starts={"m2"}), window_tokens=1000, counted_roles=USER_ASSISTANT, force=True
    )
    assert ids(segs) == [["m0", "m1"], ["m2", "m3", "m4"]] and tail == []


def test_oversized_single_message_leaves_alone():
    turns = [msg(0), msg(1, tokens=500), msg(2)]
    segs, tail = cut_segments(turns, ScriptedSegmenter(), window_tokens=100, counted_roles=USER_ASSISTANT)
    assert ids(segs) == [["m0"], ["m1"]]
    assert [m.id for m in tail] == ["m2"]


def test_uncounted_roles_ride_along_without_weight():
    turns = [msg(0), msg(1, role="tool", tokens=1000), msg(2, role="system", tokens=1000), msg(3)]
    segs, tail = cut_segments(turns, ScriptedSegmenter(), window_tokens=100, counted_roles={"user"})
    assert segs == [] and len(tail) == 4


def test_assistant_only_counts_only_assistant_tokens():
    turns = [msg(i, role="user" if i % 2 else "assistant", tokens=30) for i in range(6)]
    segs, _ = cut_segments(turns, ScriptedSegmenter(), window_tokens=100, counted_roles={"assistant"})
    assert segs == []  # 3 assistant turns = 90 tokens
    segs, _ = cut_segments(turns, ScriptedSegmenter(), window_tokens=100, counted_roles=USER_ASSISTANT)
    assert segs


def test_long_pause_ends_a_segment_even_below_the_window():
    turns = [msg(0), msg(1), msg(2, minutes=60 * 24), msg(3, minutes=60 * 24 + 1)]
    segs, tail = cut_segments(
        turns, ScriptedSegmenter(), window_tokens=1000, counted_roles=USER_ASSISTANT, session_gap=timedelta(hours=6)
    )
    assert ids(segs) == [["m0", "m1"]]
    assert [m.id for m in tail] == ["m2", "m3"]


def test_every_message_leaves_exactly_once_on_force():
    turns = [msg(i, tokens=(i * 37) % 90 + 1) for i in range(200)]
    segs, tail = cut_segments(
        turns, ScriptedSegmenter(every=3), window_tokens=128, counted_roles=USER_ASSISTANT, force=True
    )
    flat = [m.id for s in segs for m in s]
    assert flat == [m.id for m in turns] and tail == []


def test_consecutive_user_messages_and_any_role_order_work():
    roles = ["system", "user", "user", "user", "tool", "assistant", "assistant", "user"]
    turns = [msg(i, role=r, tokens=40) for i, r in enumerate(roles)]
    segs, tail = cut_segments(turns, ScriptedSegmenter(every=2), window_tokens=100, counted_roles=USER_ASSISTANT)
    flat = [m.id for s in segs for m in s] + [m.id for m in tail]
    assert flat == [m.id for m in turns]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["user", "assistant", "system", "tool"]), st.integers(min_value=0, max_value=300)),
        min_size=1,
        max_size=60,
    ),
    st.integers(min_value=2, max_value=5),
    st.integers(min_value=1, max_value=8),
)
def test_streaming_arrivals_leave_once_in_order_and_within_the_window(arrivals, every, per_call):
    """Messages arrive a few at a time; the tail is kept between calls and a final flush empties the buffer."""
    window = 128
    incoming = [msg(i, role=role, tokens=tokens) for i, (role, tokens) in enumerate(arrivals)]
    buffer, left = [], []
    for start in range(0, len(incoming), per_call):
        buffer += incoming[start : start + per_call]
        segs, buffer = cut_segments(
            buffer, ScriptedSegmenter(every=every), window_tokens=window, counted_roles=USER_ASSISTANT
        )
        left += segs
        for seg in segs:
            counted = sum(m.tokens for m in seg if m.role in USER_ASSISTANT)
            assert counted <= window or len(seg) == 1  # only a single oversized message exceeds the window
    segs, tail = cut_segments(
        buffer, ScriptedSegmenter(every=every), window_tokens=window, counted_roles=USER_ASSISTANT, force=True
    )
    assert tail == []
    assert [m.id for s in left + segs for m in s] == [m.id for m in incoming]
