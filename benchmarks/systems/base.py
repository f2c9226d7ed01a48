"""The one small interface every system under test implements, and what the harness hands it.

A :class:`MemorySystem` is built for one conversation in its own fresh working folder, ingests the
conversation's turns, optionally consolidates, then answers searches with :class:`Hit` objects. Every hit carries
the ids of the turns it came from (provenance), so retrieval is scored against the data set's evidence without
an LLM. ``Hit.text`` is exactly what would be put into a prompt: context budgets are counted on it.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel

from benchmarks.data import Conversation, Turn
from langchain_lightmem.tokens import TokenCounter

Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class Hit:
    """One retrieved item: its rendered text, the turn ids it came from, and the system's score."""

    text: str
    source_ids: tuple[str, ...]
    score: float | None = None


@dataclass(slots=True)
class SystemOptions:
    """Knobs of the systems under test (``python -m benchmarks run --help`` lists them)."""

    lightmem_config: dict[str, Any] = field(default_factory=dict)
    lightmem_budget: int = 1000
    mem0_protocol: str = "locomo"
    langmem_protocol: str = "pair"


@dataclass(slots=True)
class RunContext:
    """What the harness gives every system: shared embeddings, its own chat model (or none), a token counter."""

    embeddings: Embeddings | None
    chat_model: BaseChatModel | None
    counter: TokenCounter
    options: SystemOptions
    cache_dir: Path


class SystemUnavailable(RuntimeError):
    """The system cannot run here (a missing optional package, no endpoint); the message says what to do."""


class MemorySystem(ABC):
    """A memory system (or baseline) under test, built for one conversation.

    Class attributes:
        name: the id used on the command line.
        summary: one line for reports.
        llm: which chat model it needs: ``none``, ``scripted`` or ``endpoint``.
        needs_embeddings: whether the harness must load the embedding model for it.
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    llm: ClassVar[str] = "none"
    needs_embeddings: ClassVar[bool] = True

    def __init__(self, ctx: RunContext, conversation: Conversation, workdir: Path) -> None:
        self.ctx = ctx
        self.conversation = conversation
        self.workdir = workdir

    @property
    def embeddings(self) -> Embeddings:
        """The shared embedder (MiniLM, disk-cached)."""
        if self.ctx.embeddings is None:
            raise RuntimeError(f"{self.name} needs embeddings but none were loaded")
        return self.ctx.embeddings

    @classmethod
    def check_available(cls) -> None:
        """Raise :class:`SystemUnavailable` when this system cannot run in this environment."""
        return None

    @property
    def protocol(self) -> str:
        """How the conversation is fed to the system (reports state it next to the numbers)."""
        return ""

    @abstractmethod
    def ingest(self, progress: Progress) -> None:
        """Build memory from every turn of the conversation; call ``progress(n)`` as turns are consumed."""

    def stage_seconds(self) -> dict[str, float]:
        """Seconds per ingestion stage, when the system reports them."""
        return {}

    def consolidate(self) -> bool:
        """Run sleep-time consolidation if the system has one; ``False`` when it has none."""
        return False

    def usage_records(self) -> dict[str, Any]:
        """What the system's own accounting says its LLM calls cost (beside the harness's per-call log); empty
        when it keeps none."""
        return {}

    @abstractmethod
    def search(self, query: str, k: int) -> list[Hit]:
        """The ``k`` best items for ``query``, best first."""

    def search_at(self, query: str, k: int, *, reference_time: datetime | None) -> list[Hit]:
        """:meth:`search` as of ``reference_time`` (when the question is asked); systems without time-aware
        search ignore it."""
        return self.search(query, k)

    @abstractmethod
    def memories(self) -> list[str]:
        """The text of everything stored (for stored-memory tokens)."""

    def disk_bytes(self) -> int | None:
        """Bytes the system keeps on disk; ``None`` when it lives in memory only."""
        return None

    def close(self) -> None:
        """Release files and clients."""
        return None


def render_turn(turn: Turn) -> str:
    """A raw turn as it goes into a prompt: the same date form LightMem renders memories with."""
    return f"{turn.timestamp:%Y-%m-%d} ({turn.timestamp:%a}) {turn.speaker}: {turn.text}"


def turn_document(turn: Turn) -> str:
    """A raw turn as it is indexed: ``speaker: text``."""
    return f"{turn.speaker}: {turn.text}"


def folder_bytes(path: Path) -> int:
    """Total size of the files under ``path``."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += (Path(root) / name).stat().st_size
            except OSError:
                continue
    return total
