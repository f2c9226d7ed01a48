"""What the rest of LightMem asks of long-term memory, as protocols (the seam for another vector store).

Each consumer names the part it uses, so a backend knows what it must offer to whom:

* :class:`LongTermMemory`: entries per namespace, written and read by id. The write path (``pipeline.py``), the
  sleep-time update's ``apply`` step and the facade use it.
* :class:`SimilarMemories`: the vectors of entries and their nearest neighbours, for consolidation's ``plan`` step
  (``long_term/consolidation.py``).
* :class:`MemoryIndex`: the ranked reads retrieval fuses (``long_term/retrieval.py``): dense and BM25 candidates,
  entries by id, topic-segment neighbours, event times.

:class:`~langchain_lightmem.long_term.store.ChromaMemoryStore` (Chroma, with a BM25 index behind
:class:`~langchain_lightmem.long_term.lexical.LexicalBackend`: SQLite FTS5 or PostgreSQL) implements all three.
Every method is scoped by the namespace it is given: an implementation must never return or touch another
namespace's entries, whatever the ``where`` filter says.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
from langchain_core.embeddings import Embeddings

from langchain_lightmem.types import MemoryEntry, Namespace, SearchResult

if TYPE_CHECKING:
    from langchain_lightmem.long_term.lexical import LexicalHit

TimeRange = tuple[datetime | None, datetime | None]
Vectors = Mapping[str, Sequence[float] | np.ndarray]


@runtime_checkable
class LongTermMemory(Protocol):
    """Memory entries (current, history and pending) with their vectors, per namespace.

    ``add`` writes only ids stored nowhere yet (a batch re-written after a crash cannot undo a consolidation);
    ``upsert`` replaces; ``supersede`` moves entries to history. ``vectors`` (by entry id) skips embedding texts
    whose vector is known.
    """

    model_id: str
    """The embedding model the vectors come from (checked when a namespace's memories are opened)."""

    def namespaces(self) -> list[Namespace]: ...

    def add(self, entries: Sequence[MemoryEntry], *, vectors: Vectors | None = None) -> None: ...

    def upsert(self, entries: Sequence[MemoryEntry], *, vectors: Vectors | None = None) -> None: ...

    def supersede(self, entries: Sequence[MemoryEntry]) -> None: ...

    def delete(self, namespace: Namespace, ids: Sequence[str]) -> int: ...

    def delete_namespace(self, namespace: Namespace) -> int: ...

    def pending_ids(self, namespace: Namespace) -> set[str]: ...

    def get(self, namespace: Namespace, ids: Sequence[str]) -> list[MemoryEntry]: ...

    def list(
        self,
        namespace: Namespace,
        *,
        where: Mapping[str, Any] | None = None,
        include_history: bool = False,
        include_pending: bool = True,
        limit: int | None = None,
        offset: int | None = None,
    ) -> list[MemoryEntry]: ...

    def count(self, namespace: Namespace, *, include_history: bool = False) -> int: ...


@runtime_checkable
class SimilarMemories(LongTermMemory, Protocol):
    """Long-term memory that also finds similar entries (consolidation's plan)."""

    def get_with_vectors(self, namespace: Namespace, ids: Sequence[str]) -> list[tuple[MemoryEntry, list[float]]]: ...

    def neighbours(
        self, namespace: Namespace, vectors: Sequence[Sequence[float]], *, k: int, min_score: float = -1.0
    ) -> list[list[SearchResult]]: ...


@runtime_checkable
class MemoryIndex(Protocol):
    """The ranked reads of retrieval: candidates by vector and by words, then entries and their context by id."""

    embeddings: Embeddings
    """What queries are embedded with (the embedder of the stored vectors)."""

    def dense_search(
        self,
        namespace: Namespace,
        vector: Sequence[float],
        *,
        k: int,
        where: Mapping[str, Any] | None = None,
        include_history: bool = False,
    ) -> list[tuple[str, float]]: ...

    def lexical_search(
        self,
        namespace: Namespace,
        query: str,
        *,
        limit: int,
        include_history: bool = False,
        time_range: TimeRange | None = None,
    ) -> list[LexicalHit]: ...

    def fetch(
        self,
        namespace: Namespace,
        ids: Sequence[str],
        *,
        where: Mapping[str, Any] | None = None,
        include_history: bool = False,
    ) -> dict[str, MemoryEntry]: ...

    def segment_neighbours(self, namespace: Namespace, ids: Sequence[str], *, window: int) -> dict[str, list[str]]: ...

    def positions(self, namespace: Namespace, ids: Sequence[str]) -> dict[str, int]: ...

    def event_times(self, namespace: Namespace, ids: Sequence[str]) -> dict[str, float]: ...


__all__ = ["LongTermMemory", "MemoryIndex", "SimilarMemories", "TimeRange"]
