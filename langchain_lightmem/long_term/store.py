"""Long-term memory in Chroma: one collection, every read and write scoped by namespace.

Isolation lives in one function, :func:`scoped_where`: every query, get and delete goes through it, and a
caller's own filter is always AND-ed under the namespace clause, so it can narrow a search but never widen it.
Vectors are computed by our embedder and passed explicitly: Chroma's default embedding function (which
downloads a model) is never used.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

from langchain_lightmem.config import ChromaConfig
from langchain_lightmem.errors import ConfigurationError, StoreError
from langchain_lightmem.models import embeddings_model_id
from langchain_lightmem.types import MemoryEntry, Namespace, SearchResult, namespace_key

logger = logging.getLogger(__name__)

_UPSERT_CHUNK = 1000


def _client(config: ChromaConfig, path: Path) -> Any:
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    if config.mode == "persistent":
        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=settings)
    if config.mode == "http":
        try:
            return chromadb.HttpClient(
                host=config.host, port=config.port, ssl=config.ssl, headers=config.headers or None, settings=settings
            )
        except Exception as exc:
            raise StoreError(
                f"cannot reach the Chroma server at {config.host}:{config.port} ({exc}); start one with "
                f"'chroma run --path DIR --host {config.host} --port {config.port}'"
            ) from exc
    return chromadb.EphemeralClient(settings=settings)


def scoped_where(
    namespace: Namespace,
    where: Mapping[str, Any] | None = None,
    *,
    include_history: bool = False,
    time_range: tuple[datetime | None, datetime | None] | None = None,
    prefix: bool = False,
) -> dict[str, Any]:
    """The Chroma ``where`` for a namespace: namespace clause AND (active) AND (time range) AND caller's filter.

    ``prefix=True`` matches the namespace and every namespace below it (``("org",)`` matches ``("org", "a")``).
    """
    if prefix:
        clauses: list[dict[str, Any]] = [{f"ns_{i}": part} for i, part in enumerate(namespace)]
    else:
        clauses = [{"namespace": namespace_key(namespace)}]
    if not include_history:
        clauses.append({"active": True})
    if time_range is not None:
        start, end = time_range
        if start is not None:
            clauses.append({"event_ts": {"$gte": start.timestamp()}})
        if end is not None:
            clauses.append({"event_ts": {"$lte": end.timestamp()}})
    if where:
        if not isinstance(where, Mapping):
            raise TypeError(f"filters must be a Chroma where-dict, got {type(where).__name__}")
        clauses.append(dict(where))
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


class ChromaMemoryStore:
    """Memory entries with their vectors in a Chroma collection.

    Args:
        config: where Chroma lives (embedded folder, server, or in memory).
        path: folder for the embedded client.
        embeddings: the embedder; its ``model_id`` is recorded on the collection and checked on reopen.
    """

    def __init__(self, config: ChromaConfig, path: Path, embeddings: Embeddings) -> None:
        self.config = config
        self.embeddings = embeddings
        self.model_id = embeddings_model_id(embeddings)
        self.client = _client(config, path)
        self.collection = self.client.get_or_create_collection(
            config.collection,
            embedding_function=None,
            configuration={"hnsw": {"space": "cosine"}},
            metadata={"embedding_model": self.model_id},
        )
        stored = (self.collection.metadata or {}).get("embedding_model")
        if stored and stored != self.model_id:
            raise ConfigurationError(
                f"collection {config.collection!r} was built with embeddings {stored!r}, not {self.model_id!r}; "
                "use the same embeddings or another chroma.collection"
            )

    # -- writes ---------------------------------------------------------------------------------------------

    def upsert(self, entries: Sequence[MemoryEntry], vectors: Sequence[Sequence[float]] | None = None) -> None:
        """Insert or overwrite entries (ids are deterministic, so a repeat is harmless)."""
        if not entries:
            return
        if vectors is None:
            vectors = self.embeddings.embed_documents([e.text for e in entries])
        for start in range(0, len(entries), _UPSERT_CHUNK):
            chunk = entries[start : start + _UPSERT_CHUNK]
            self.collection.upsert(
                ids=[e.id for e in chunk],
                documents=[e.text for e in chunk],
                embeddings=[list(v) for v in vectors[start : start + _UPSERT_CHUNK]],
                metadatas=[e.to_metadata() for e in chunk],
            )

    def delete(self, namespace: Namespace, ids: Sequence[str]) -> int:
        """Delete entries of this namespace by id (ids of other namespaces are ignored). Returns how many."""
        if not ids:
            return 0
        found = self.collection.get(ids=list(ids), where=scoped_where(namespace, include_history=True), include=[])
        if found["ids"]:
            self.collection.delete(ids=found["ids"])
        return len(found["ids"])

    def delete_namespace(self, namespace: Namespace) -> int:
        """Delete every entry of the namespace, history included. Returns how many."""
        where = scoped_where(namespace, include_history=True)
        found = self.collection.get(where=where, include=[])
        for start in range(0, len(found["ids"]), _UPSERT_CHUNK):
            self.collection.delete(ids=found["ids"][start : start + _UPSERT_CHUNK])
        return len(found["ids"])

    # -- reads ----------------------------------------------------------------------------------------------

    def search(
        self,
        namespace: Namespace,
        query: str | Sequence[float],
        *,
        k: int = 10,
        where: Mapping[str, Any] | None = None,
        time_range: tuple[datetime | None, datetime | None] | None = None,
        include_history: bool = False,
    ) -> list[SearchResult]:
        """The ``k`` entries of the namespace closest to ``query`` (text, or a vector), best first."""
        vector = self.embeddings.embed_query(query) if isinstance(query, str) else list(query)
        scope = scoped_where(namespace, where, include_history=include_history, time_range=time_range)
        try:
            res = self.collection.query(
                query_embeddings=[vector],
                n_results=k,
                where=scope,
                include=["documents", "metadatas", "distances"],
            )
        except ValueError as exc:
            raise StoreError(f"Chroma rejected the search (check the filters): {exc}") from exc
        results = []
        for eid, doc, meta, dist in zip(
            res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0], strict=True
        ):
            results.append(SearchResult(entry=MemoryEntry.from_record(eid, doc, meta), score=1.0 - float(dist)))
        return results

    def get(self, namespace: Namespace, ids: Sequence[str]) -> list[MemoryEntry]:
        if not ids:
            return []
        res = self.collection.get(
            ids=list(ids), where=scoped_where(namespace, include_history=True), include=["documents", "metadatas"]
        )
        return [
            MemoryEntry.from_record(i, d, m)
            for i, d, m in zip(res["ids"], res["documents"], res["metadatas"], strict=True)
        ]

    def list(
        self,
        namespace: Namespace,
        *,
        where: Mapping[str, Any] | None = None,
        include_history: bool = False,
        limit: int | None = None,
        offset: int | None = None,
    ) -> list[MemoryEntry]:
        """Entries of the namespace (unordered by Chroma; sorted here by event time)."""
        res = self.collection.get(
            where=scoped_where(namespace, where, include_history=include_history),
            include=["documents", "metadatas"],
            limit=limit,
            offset=offset,
        )
        entries = [
            MemoryEntry.from_record(i, d, m)
            for i, d, m in zip(res["ids"], res["documents"], res["metadatas"], strict=True)
        ]
        return sorted(entries, key=lambda e: (e.event_time, e.id))

    def count(self, namespace: Namespace, *, include_history: bool = False) -> int:
        res = self.collection.get(where=scoped_where(namespace, include_history=include_history), include=[])
        return len(res["ids"])
