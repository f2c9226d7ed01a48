"""Small builders shared by tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from langchain_lightmem.types import Message

T0 = datetime(2024, 5, 8, 13, 0, tzinfo=UTC)


def msg(
    i: int,
    role: str = "user",
    tokens: int = 10,
    *,
    minutes: float | None = None,
    text: str | None = None,
    thread: str | None = "t",
    speaker: str | None = None,
) -> Message:
    return Message(
        id=f"m{i}",
        namespace=("ns",),
        role=role,
        content=text or f"message {i}",
        timestamp=T0 + timedelta(minutes=i if minutes is None else minutes),
        thread_id=thread,
        speaker=speaker,
        tokens=tokens,
        seq=i,
    )


class ScriptedSegmenter:
    """Boundaries by a rule on message ids, recording every buffer it was asked about."""

    name = "scripted"

    def __init__(self, every: int | None = None, starts: set[str] | None = None) -> None:
        self.every = every
        self.starts = starts or set()
        self.seen: list[list[str]] = []

    def boundaries(self, turns):
        self.seen.append([t.id for t in turns])
        out = [i for i, t in enumerate(turns) if i > 0 and t.id in self.starts]
        if self.every:
            out += list(range(self.every, len(turns), self.every))
        return sorted(set(out))
