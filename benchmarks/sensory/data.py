"""Synthetic topic-switch streams for the segmentation benchmark, from the ``chitchat-dataset`` package.

Whole conversations (each on its own prompt) are concatenated, so the true topic boundaries are where one
conversation ends and the next begins. LoCoMo comes from the harness loader, :mod:`benchmarks.data`.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from langchain_lightmem.types import Message


@dataclass(frozen=True, slots=True)
class Stream:
    """Concatenated chitchat conversations; ``boundaries`` are the indices where a new conversation starts."""

    turns: list[str]
    roles: list[str]
    boundaries: frozenset[int]


def chitchat_conversations(min_turns: int = 6, max_turns: int = 40) -> list[tuple[str, list[tuple[str, str]]]]:
    """``(prompt, [(role, text), ...])`` for every chitchat conversation of a usable length.

    A message is one sender's consecutive utterances; the first sender of a conversation is ``user``, the other
    ``assistant`` (sender ids would give boundaries away).
    """
    from benchmarks.exits import chitchat

    raw = json.loads(Path(chitchat()._PATH).read_text())
    out = []
    for conv in raw.values():
        messages = conv["messages"]
        if not min_turns <= len(messages) <= max_turns:
            continue
        first = messages[0][0]["sender"]
        turns = [
            ("user" if m[0]["sender"] == first else "assistant", " ".join(u["text"] for u in m).strip())
            for m in messages
        ]
        if all(text for _, text in turns):
            out.append((conv.get("prompt") or "", turns))
    return out


def topic_streams(
    count: int, *, split: str = "test", per_stream: tuple[int, int] = (3, 6), seed: int = 0
) -> list[Stream]:
    """``count`` streams of 3-6 whole conversations each; neighbours never share a prompt, and no conversation is
    used twice. The conversations are split once, by a fixed shuffle, into a ``dev`` half (for tuning) and a
    ``test`` half (for reporting), so numbers reported on ``test`` were never tuned on."""
    if split not in ("dev", "test"):
        raise ValueError("split must be 'dev' or 'test'")
    conversations = chitchat_conversations()
    random.Random(2024).shuffle(conversations)
    conversations = conversations[split == "test" :: 2]
    rng = random.Random(seed)
    rng.shuffle(conversations)
    streams: list[Stream] = []
    pool = iter(conversations)
    for _ in range(count):
        size = rng.randint(*per_stream)
        chosen: list[tuple[str, list[tuple[str, str]]]] = []
        for prompt, conv in pool:
            if chosen and prompt and prompt == chosen[-1][0]:
                continue  # same prompt back to back: not a topic switch
            chosen.append((prompt, conv))
            if len(chosen) == size:
                break
        if len(chosen) < 2:
            break
        turns: list[str] = []
        roles: list[str] = []
        bounds: set[int] = set()
        for _, conv in chosen:
            if turns:
                bounds.add(len(turns))
            roles += [r for r, _ in conv]
            turns += [t for _, t in conv]
        streams.append(Stream(turns, roles, frozenset(bounds)))
    return streams


def stream_messages(stream: Stream, counter_tokens: list[int]) -> list[Message]:
    """A stream as messages of one thread, one minute apart (timestamps must not reveal boundaries)."""
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    return [
        Message(
            id=f"t{i}",
            namespace=("bench",),
            role=role,
            content=text,
            timestamp=t0 + timedelta(minutes=i),
            thread_id="stream",
            tokens=tokens,
            seq=i,
        )
        for i, (role, text, tokens) in enumerate(zip(stream.roles, stream.turns, counter_tokens, strict=True))
    ]
