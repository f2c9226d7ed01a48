"""The sensory buffer rule: when to segment, which segments leave, and what stays.

A thread's buffer is segmented once its counted tokens exceed the window. It is cut window by window: each
window's segments leave for short-term memory except the last, which may still be growing and stays (the tail).
A window without any boundary leaves whole. A single message larger than the window leaves alone. A long pause
(``session_gap``) always ends a segment. ``force`` (a flush) lets everything leave, tail included.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import timedelta
from itertools import pairwise

from langchain_lightmem.sensory.segmentation import Segmenter
from langchain_lightmem.types import Message


def _split(turns: Sequence[Message], bounds: Sequence[int]) -> list[list[Message]]:
    cuts = [0, *sorted(b for b in set(bounds) if 0 < b < len(turns)), len(turns)]
    return [list(turns[a:b]) for a, b in pairwise(cuts) if b > a]


def _split_on_gaps(turns: Sequence[Message], gap: timedelta | None) -> list[list[Message]]:
    if gap is None or len(turns) < 2:
        return [list(turns)] if turns else []
    bounds = [i for i in range(1, len(turns)) if turns[i].timestamp - turns[i - 1].timestamp >= gap]
    return _split(turns, bounds)


def cut_segments(
    turns: Sequence[Message],
    segmenter: Segmenter,
    *,
    window_tokens: int,
    counted_roles: Collection[str],
    session_gap: timedelta | None = None,
    force: bool = False,
) -> tuple[list[list[Message]], list[Message]]:
    """Cut a thread's sensory buffer.

    Returns:
        ``(segments, tail)``: complete segments in order, and the messages that stay in the buffer.
    """

    def weight(m: Message) -> int:
        return m.tokens if m.role in counted_roles else 0

    runs = _split_on_gaps(turns, session_gap)
    segments: list[list[Message]] = []
    tail: list[Message] = []
    for run_index, run in enumerate(runs):
        # Every run but the last was closed by a pause: it leaves whole, however short.
        run_force = force or run_index < len(runs) - 1
        pending = list(run)
        while pending and (run_force or sum(weight(m) for m in pending) > window_tokens):
            if weight(pending[0]) > window_tokens:
                segments.append([pending.pop(0)])
                continue
            size, tokens = 0, 0
            for m in pending:
                if size and tokens + weight(m) > window_tokens:
                    break
                size, tokens = size + 1, tokens + weight(m)
            window = pending[:size]
            parts = _split(window, segmenter.boundaries(window))
            if size == len(pending) and run_force:
                segments.extend(parts)  # the last window of a flush: nothing stays
                pending = []
            elif len(parts) == 1:
                segments.append(parts[0])  # no boundary inside a full window: it leaves whole
                pending = pending[size:]
            else:
                segments.extend(parts[:-1])
                pending = parts[-1] + pending[size:]
        tail = pending
    return segments, tail
