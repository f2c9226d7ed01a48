"""The short-term buffer rule: which segments close a batch (one extraction call each)."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from langchain_lightmem.types import Segment


def pack_batches(
    segments: Sequence[Segment],
    *,
    threshold_tokens: int,
    counted_roles: Collection[str],
    force: bool = False,
) -> list[list[Segment]]:
    """Group whole segments into batches; returns only the batches that are complete.

    When adding a segment would push the buffer over ``threshold_tokens`` (counting only ``counted_roles``), the
    buffer closes as one batch and the segment starts the next. A buffer that is over the threshold on its own
    closes at once. With ``force`` (a flush) the open buffer closes too. Segments without any counted message
    ride along with their neighbours; a batch made only of them is still closed on ``force`` so nothing lingers.
    """

    def weight(segment: Segment) -> int:
        return sum(m.tokens for m in segment.messages if m.role in counted_roles)

    batches: list[list[Segment]] = []
    current: list[Segment] = []
    tokens = 0
    for segment in segments:
        w = weight(segment)
        if current and tokens + w > threshold_tokens:
            batches.append(current)
            current, tokens = [], 0
        current.append(segment)
        tokens += w
        if tokens > threshold_tokens:
            batches.append(current)
            current, tokens = [], 0
    if force and current:
        batches.append(current)
    return batches
