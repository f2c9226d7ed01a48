"""Small builders shared by tests."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

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


def _encodings(needle: str) -> set[bytes]:
    """The byte forms a text can take in a file: UTF-8, UTF-16 (both byte orders), JSON-escaped, lower-cased."""
    forms = {needle, needle.lower(), json.dumps(needle)[1:-1], json.dumps(needle, ensure_ascii=False)[1:-1]}
    out: set[bytes] = set()
    for form in forms:
        out |= {form.encode("utf-8"), form.encode("utf-16-le"), form.encode("utf-16-be")}
    return {b for b in out if b}


def files_containing(folder: Path, needles: Iterable[str]) -> list[Path]:
    """Every file under ``folder`` (WAL, shm, lock and segment files included) whose raw bytes hold one of the
    ``needles`` in any of its byte forms (``_encodings``; matched case-insensitively for ASCII), sorted.

    SQLite FTS5 stores each token of an indexed text lower-cased, stemmed and prefix-compressed against its
    neighbour, so a token inside a posting list need not appear as contiguous bytes: pick needles that appear
    whole in the raw texts (the rows), and check the lexical index's tables separately when that matters.
    """
    wanted = {form.lower() for needle in needles for form in _encodings(needle)}
    found: list[Path] = []
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes().lower()
            if any(form in data for form in wanted):
                found.append(path)
    return found
