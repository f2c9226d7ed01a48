"""Long-term memory in Chroma: two collections per namespace, one for current memories and one for history.

Why per namespace: Chroma's filtered queries slow down as a collection grows, so a shared collection filtered by
namespace gets slower with every tenant's data (``python -m benchmarks.chroma_filter``: 61 ms per query for a
namespace holding 10% of a 50k collection, against 4 ms unfiltered). A namespace's own collection is searched
with no filter at all (the price: ~2.6 MB of RAM per namespace, docs/architecture.md), and isolation is
physical: a query, get or delete only ever touches the collections of the namespace it was given, so a caller's
filter can narrow a search but never widen it.

Why a history collection: superseded entries (after consolidation) leave default search. Moving them out keeps
the default search unfiltered; ``include_history=True`` searches both collections.

Collection names are ``<chroma.collection>_<hash of the namespace>`` (``_h`` for history); the namespace itself is
recorded in the collection's metadata, with the embedding model, which is checked on every open. Vectors are
computed by our embedder and passed explicitly: Chroma's default embedding function (which downloads a model) is
never used.

The ``buckets`` layout (``ChromaConfig.layout``) is for thousands of namespaces on one server, where a pair of
collections each would cost gigabytes: a namespace is hashed (blake2b of its key) to one of ``chroma.buckets``
pairs named ``<chroma.collection>_b<NNN>`` (``_h`` for history). Every document carries its namespace's digest
(``lightmem_ns``), and every read, count and delete goes through :meth:`ChromaMemoryStore._scope`, which ANDs that
digest with the caller's filter; Chroma keys each entry by a digest of its id keyed by the namespace's digest, so
two namespaces may use the same id. Isolation is then by filter, not physical: the same code paths, one ``where``
clause more. ``docs/benchmarks.md`` ("10k tenants on one Chroma server") has the measurements behind it.

A server loads a collection's index on its first search after a restart (~80-100 ms per bucket at 10k tenants);
:meth:`ChromaMemoryStore.warm_up` pays that for every collection at once, before users search.

With a :class:`~langchain_lightmem.long_term.lexical.LexicalIndex`, every write (``add``, ``upsert``,
``supersede``, ``delete``, ``delete_namespace``) also updates the namespace's BM25 index, so hybrid search never
rebuilds it; an index found inconsistent after a crash is rebuilt from Chroma on first use.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

import numpy as np
from langchain_core.embeddings import Embeddings

from langchain_lightmem.config import ChromaConfig
from langchain_lightmem.errors import ConfigurationError, StoreError, StoreUnavailableError
from langchain_lightmem.long_term.lexical import LexicalBackend, LexicalHit, LexicalRow, epoch_range
from langchain_lightmem.models import embeddings_model_id
from langchain_lightmem.types import (
    PENDING,
    PENDING_PREFIX,
    MemoryEntry,
    Namespace,
    SearchResult,
    key_to_namespace,
    namespace_key,
)

logger = logging.getLogger(__name__)

_CHUNK = 1000
_QUERY_CHUNK = 256
_PAGE = 5000
_NS_KEY = "lightmem_ns"  # buckets layout: the namespace's digest on every document
_RACE_RETRIES = 4
_ID_KEY = "lightmem_id"  # buckets layout: the entry id (Chroma's own id is a digest of it)
TimeRange = tuple[datetime | None, datetime | None]


def _client(config: ChromaConfig, path: Path) -> Any:
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    if config.mode == "persistent":
        from langchain_lightmem.folder import chroma_writable, read_only_chroma_client

        path = path.expanduser().resolve()  # Chroma caches clients by path string: a relative path could alias
        if not chroma_writable(path):
            return read_only_chroma_client(path, settings)  # Chroma's own client cannot open a read-only folder
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


def entry_where(
    where: Mapping[str, Any] | None = None, *, time_range: TimeRange | None = None
) -> dict[str, Any] | None:
    """A Chroma ``where`` over one namespace's entries: the caller's filter AND the event-time range."""
    clauses: list[dict[str, Any]] = []
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
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _digest(namespace: Namespace) -> str:
    """A stable digest of the namespace: its collections' names, its bucket, its documents' ``lightmem_ns``."""
    return hashlib.blake2b(namespace_key(namespace).encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()


def _is_missing_collection(exc: BaseException) -> bool:
    """Chroma's answer for a collection deleted meanwhile (by ``forget``, here or in another process)."""
    return type(exc).__name__ in ("NotFoundError", "InvalidCollectionException") or "does not exist" in str(exc)


def _is_unreachable(exc: BaseException) -> bool:
    """A Chroma server that does not answer (chromadb's HTTP client raises httpx's transport errors)."""
    try:
        import httpx
    except ImportError:  # pragma: no cover - chromadb depends on httpx
        return False
    return isinstance(exc, httpx.TransportError)


def _revalidating(
    when_gone: Callable[..., Any] | None,
) -> Callable[[Callable[Concatenate[ChromaMemoryStore, _P], _R]], Callable[Concatenate[ChromaMemoryStore, _P], _R]]:
    """Retry a store operation once when a cached collection turned out to be deleted meanwhile.

    Collection handles are cached per process; a ``forget`` in this process (another thread) or in another process
    sharing a Chroma server deletes the collection under them. The cache is dropped and the operation retried:
    a write then creates the collection afresh; a read of a namespace that is now gone gets ``when_gone(*args)``
    (an empty answer), never chromadb's ``NotFoundError``.
    """

    def decorate(
        method: Callable[Concatenate[ChromaMemoryStore, _P], _R],
    ) -> Callable[Concatenate[ChromaMemoryStore, _P], _R]:
        def attempt(self: ChromaMemoryStore, *args: _P.args, **kwargs: _P.kwargs) -> _R:
            for retry in range(_RACE_RETRIES):
                try:
                    return method(self, *args, **kwargs)
                except Exception as exc:
                    # A query racing another process's write on the same server can see an id whose record
                    # is not readable yet (Chroma 1.5: "Error finding id"); the same call a moment later succeeds.
                    if "Error finding id" not in str(exc) or retry == _RACE_RETRIES - 1:
                        raise
                    time.sleep(0.05 * (retry + 1))
            raise AssertionError("unreachable")

        def attempt_typed(self: ChromaMemoryStore, *args: _P.args, **kwargs: _P.kwargs) -> _R:
            try:
                return attempt(self, *args, **kwargs)
            except Exception as exc:
                if _is_unreachable(exc):
                    raise self._unavailable(exc) from exc
                raise

        @functools.wraps(method)
        def wrapper(self: ChromaMemoryStore, *args: _P.args, **kwargs: _P.kwargs) -> _R:
            try:
                return attempt_typed(self, *args, **kwargs)
            except Exception as exc:
                if not _is_missing_collection(exc):
                    raise
            self._drop_cached()
            try:
                return attempt_typed(self, *args, **kwargs)
            except Exception as exc:
                if not _is_missing_collection(exc) or when_gone is None:
                    raise
                return cast(_R, when_gone(*args, **kwargs))

        return wrapper

    return decorate


class ChromaMemoryStore:
    """Memory entries with their vectors, in a current and a history collection per namespace, or (``buckets``
    layout) in the shared current and history bucket the namespace hashes to, every access filtered by it.

    Args:
        config: where Chroma lives (embedded folder, server, or in memory), the collection-name prefix and the
            layout (``collections`` or ``buckets``).
        path: folder for the embedded client.
        embeddings: the embedder; its ``model_id`` is recorded on each collection and checked when it is opened.
        lexical: the BM25 index kept in step with every write (hybrid and lexical search need it).
    """

    def __init__(
        self, config: ChromaConfig, path: Path, embeddings: Embeddings, *, lexical: LexicalBackend | None = None
    ) -> None:
        self.config = config
        self.embeddings = embeddings
        self.lexical = lexical
        self.model_id = embeddings_model_id(embeddings)
        self.client = _client(config, path)
        self.buckets = config.buckets if config.layout == "buckets" else None
        self._collections: dict[tuple[Namespace, bool], Any] = {}
        self._lock = threading.Lock()

    # -- collections ----------------------------------------------------------------------------------------

    def collection_name(self, namespace: Namespace, *, history: bool = False) -> str:
        """The Chroma collection holding the namespace's current (or history) entries: its own, or its bucket."""
        suffix = "_h" if history else ""
        if self.buckets is not None:
            return f"{self.config.collection}_b{int(_digest(namespace), 16) % self.buckets:03d}{suffix}"
        return f"{self.config.collection}_{_digest(namespace)}{suffix}"

    def index_name(self, namespace: Namespace) -> str:
        """The namespace's name in the lexical index (its collection's name in the ``collections`` layout)."""
        return f"{self.config.collection}_{_digest(namespace)}"

    def _scope(self, namespace: Namespace, where: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        """``where`` restricted to the namespace: in a bucket, its digest AND the caller's filter (which can then
        narrow a read but never widen it); in the namespace's own collection, ``where`` unchanged."""
        if self.buckets is None:
            return dict(where) if where else None
        mine = {_NS_KEY: _digest(namespace)}
        return {"$and": [mine, dict(where)]} if where else mine

    def _collection(self, namespace: Namespace, *, history: bool = False, create: bool = False) -> Any | None:
        """The namespace's current (or history) collection; ``None`` when it does not exist and ``create`` is off."""
        key = (namespace, history)
        with self._lock:
            cached = self._collections.get(key)
        if cached is not None:
            return cached
        name = self.collection_name(namespace, history=history)
        if create:
            owner: dict[str, Any] = (
                {"lightmem_buckets": self.buckets}
                if self.buckets is not None
                else {"lightmem_namespace": namespace_key(namespace)}
            )
            collection = self.client.get_or_create_collection(
                name,
                embedding_function=None,
                configuration={"hnsw": {"space": "cosine"}},
                metadata={**owner, "embedding_model": self.model_id, "history": history},
            )
        else:
            try:
                collection = self.client.get_collection(name, embedding_function=None)
            except Exception:  # Chroma raises NotFoundError / ValueError depending on the client
                return None
        meta = collection.metadata or {}
        if self.buckets is not None:
            if meta.get("lightmem_buckets") != self.buckets:
                raise ConfigurationError(
                    f"collection {name!r} was made for chroma.buckets={meta.get('lightmem_buckets')!r}, not "
                    f"{self.buckets}: another count would move namespaces to other buckets; set chroma.buckets back "
                    "or use another chroma.collection"
                )
        elif meta.get("lightmem_namespace") != namespace_key(namespace):
            raise StoreError(f"collection {name!r} belongs to another namespace; is chroma.collection shared?")
        stored = meta.get("embedding_model")
        if stored and stored != self.model_id:
            raise ConfigurationError(
                f"the memories of {namespace_key(namespace)!r} were built with embeddings {stored!r}, not "
                f"{self.model_id!r}; use the same embeddings or another chroma.collection"
            )
        if self.buckets is not None:
            collection = _BucketView(collection, namespace)
        with self._lock:
            self._collections[key] = collection
        return collection

    def _drop_cached(self) -> None:
        """Forget every cached collection handle, and have each namespace's BM25 index checked against Chroma
        again: a collection deleted elsewhere leaves this process's index stale."""
        with self._lock:
            cached = {namespace for namespace, _ in self._collections}
            self._collections.clear()
        if self.lexical is not None:
            for namespace in cached:
                self.lexical.invalidate(self.index_name(namespace))

    def _both(self, namespace: Namespace, *, include_history: bool = True) -> list[Any]:
        found = [self._collection(namespace)]
        if include_history:
            found.append(self._collection(namespace, history=True))
        return [c for c in found if c is not None]

    def namespaces(self) -> list[Namespace]:
        """Every namespace that has a memory collection, or (``buckets`` layout) a document in a bucket.

        In the ``buckets`` layout this reads the metadata of every document of every bucket (paged): its cost grows
        with the number of entries. ``LightMem.namespaces()`` (the journal) answers without touching Chroma.
        """
        found: set[Namespace] = set()
        for collection in self.client.list_collections():
            if not self._ours(collection):
                continue
            if self.buckets is None:
                found.add(key_to_namespace(collection.metadata["lightmem_namespace"]))
            else:
                for start in itertools.count(0, _PAGE):
                    page = collection.get(include=["metadatas"], limit=_PAGE, offset=start)["metadatas"]
                    found.update(key_to_namespace(m["namespace"]) for m in page if m and "namespace" in m)
                    if len(page) < _PAGE:
                        break
        return sorted(found)

    @_revalidating(None)
    def warm_up(self, *, on_progress: Callable[[int, int], None] | None = None) -> int:
        """Search every memory collection of this store once, so that Chroma loads its indexes now rather than on
        a user's first search. Returns the collections searched.

        Each collection is searched with one of its own vectors (and, in a bucket, that document's namespace
        filter, as a real search has), so the vector index and the metadata index are both loaded. History
        collections are skipped (only ``include_history`` searches read them). ``on_progress(done, total)`` is
        called after each collection. A collection deleted meanwhile (``forget`` elsewhere) is skipped.

        Raises:
            StoreUnavailableError: the Chroma server does not answer.
        """
        collections = [
            c for c in self.client.list_collections() if self._ours(c) and not (c.metadata or {}).get("history")
        ]
        warmed = 0
        for done, collection in enumerate(collections, 1):
            try:
                sample = collection.get(limit=1, include=["embeddings", "metadatas"])
                if len(sample["ids"]):
                    meta = sample["metadatas"][0] or {}
                    where = {_NS_KEY: meta[_NS_KEY]} if self.buckets is not None and _NS_KEY in meta else None
                    collection.query(query_embeddings=[sample["embeddings"][0]], n_results=1, where=where, include=[])
                    warmed += 1
            except Exception as exc:
                if not _is_missing_collection(exc):
                    raise
            if on_progress is not None:
                on_progress(done, len(collections))
        return warmed

    def _ours(self, collection: Any) -> bool:
        """Whether ``collection`` is a memory collection of this store (its prefix, and made for its layout)."""
        meta = collection.metadata or {}
        if not collection.name.startswith(f"{self.config.collection}_"):
            return False
        if self.buckets is not None:
            return bool(meta.get("lightmem_buckets") == self.buckets)
        return "lightmem_namespace" in meta

    def _unavailable(self, exc: BaseException) -> StoreUnavailableError:
        return StoreUnavailableError(
            f"the Chroma server at {self.config.host}:{self.config.port} does not answer ({exc}); "
            "start it or check LIGHTMEM_CHROMA_URL (accepted messages are kept in the journal)"
        )

    # -- writes ---------------------------------------------------------------------------------------------

    @_revalidating(None)
    def add(
        self, entries: Sequence[MemoryEntry], *, vectors: Mapping[str, Sequence[float] | np.ndarray] | None = None
    ) -> None:
        """Insert entries whose ids are not stored yet (current or history); existing ids are left untouched.

        The write path uses this: re-writing a batch after a crash can then never undo what consolidation did to
        one of its entries in the meantime. ``vectors`` (entry id -> vector) are used instead of embedding the text
        again (the message vectors computed at accept time).
        """
        for namespace, group in _by_namespace(entries).items():
            known = {
                r["id"]
                for c in self._both(namespace)
                for r in _get_rows(c, [e.id for e in group], [], self._scope(namespace))
            }
            fresh = [e for e in group if e.id not in known]
            if fresh:
                with self._indexing(namespace) as index:
                    given = [vectors.get(e.id) for e in fresh] if vectors else None
                    self._write(self._collection(namespace, create=True), fresh, replace=False, vectors=given)
                    index.upsert(fresh)

    @_revalidating(None)
    def upsert(
        self,
        entries: Sequence[MemoryEntry],
        *,
        vectors: Mapping[str, Sequence[float] | np.ndarray] | None = None,
        history: bool = False,
    ) -> None:
        """Insert or overwrite current entries, text, vector and metadata (fields now ``None`` are cleared).

        ``history`` writes them into the namespace's history instead, as they are (a copy of a deployment's
        superseded entries, ``lightmem migrate``); nothing is removed from current memory.
        """
        for namespace, group in _by_namespace(entries).items():
            with self._indexing(namespace) as index:
                given = [vectors.get(e.id) for e in group] if vectors else None
                collection = self._collection(namespace, history=history, create=True)
                self._write(collection, group, replace=True, vectors=given)
                index.upsert(group, history=history)

    @_revalidating(lambda *a, **k: set())
    def pending_ids(self, namespace: Namespace) -> set[str]:
        """The ids of the namespace's pending entries (messages not extracted yet)."""
        if not self._both(namespace, include_history=False):
            return set()
        if self.lexical is not None:
            index = self._lexical_ready(namespace)
            return set(index.ids_with_prefix(self.index_name(namespace), PENDING_PREFIX))
        collection = self._collection(namespace)
        if collection is None:
            return set()
        return set(collection.get(where=self._scope(namespace, {"method": PENDING}), include=[])["ids"])

    @_revalidating(None)
    def supersede(self, entries: Sequence[MemoryEntry]) -> None:
        """Move entries (with ``superseded_by`` / ``valid_to`` set) out of current memory into history.

        Written to history first, then removed from current memory: a crash in between leaves the entry in both,
        and repeating the move completes it.
        """
        for namespace, group in _by_namespace(entries).items():
            with self._indexing(namespace) as index:
                current = self._collection(namespace)
                vectors: dict[str, list[float]] = {}
                if current is not None:
                    rows = _get_rows(current, [e.id for e in group], ["embeddings"], self._scope(namespace))
                    vectors = {r["id"]: r["embeddings"] for r in rows}
                history = self._collection(namespace, history=True, create=True)
                self._write(history, group, replace=True, vectors=[vectors.get(e.id) for e in group])
                if current is not None:
                    current.delete(ids=[e.id for e in group], where=self._scope(namespace))
                index.upsert(group, history=True)

    def _write(
        self,
        collection: Any,
        entries: Sequence[MemoryEntry],
        *,
        replace: bool,
        vectors: Sequence[Sequence[float] | np.ndarray | None] | None = None,
    ) -> None:
        if not entries:
            return
        namespace = entries[0].namespace  # callers write one namespace at a time
        stamp = {_NS_KEY: _digest(namespace)} if self.buckets is not None else {}
        missing = [i for i, v in enumerate(vectors or [None] * len(entries)) if v is None]
        computed = self.embeddings.embed_documents([entries[i].text for i in missing]) if missing else []
        final = list(vectors or [None] * len(entries))
        for i, vector in zip(missing, computed, strict=True):
            final[i] = vector
        write = collection.upsert if replace else collection.add
        for start in range(0, len(entries), _CHUNK):
            chunk = entries[start : start + _CHUNK]
            write(
                ids=[e.id for e in chunk],
                documents=[e.text for e in chunk],
                embeddings=[[float(x) for x in v] for v in final[start : start + _CHUNK] if v is not None],
                metadatas=[{**e.to_metadata(clear_unset=replace), **stamp} for e in chunk],
            )

    def delete(self, namespace: Namespace, ids: Sequence[str]) -> int:
        """Delete entries of this namespace by id, history included. Returns how many were found."""
        deleted = 0
        with self._indexing(namespace) as index:
            for collection in self._both(namespace):
                mine = [r["id"] for r in _get_rows(collection, ids, [], self._scope(namespace))]
                if mine:
                    collection.delete(ids=mine, where=self._scope(namespace))
                    deleted += len(mine)
            index.delete(ids)
        return deleted

    def delete_namespace(self, namespace: Namespace) -> int:
        """Delete every entry of the namespace, history included. Returns how many.

        In the ``collections`` layout its two collections are dropped (with their vector files, which
        ``LightMem.vacuum`` then removes from an embedded folder). In the ``buckets`` layout its vectors are first
        overwritten with random ones (the bucket's HNSW index only marks a delete, keeping the floats), then its
        documents are deleted by ``where``; ``vacuum`` compacts Chroma's SQLite and scrubs its write log
        (``python -m benchmarks.forget_residue``).

        Safe to race: a collection another thread or process already deleted counts as deleted.
        """
        removed = 0
        with self._lock:
            self._collections.pop((namespace, False), None)
            self._collections.pop((namespace, True), None)
        for history in (False, True):
            collection = self._collection(namespace, history=history)
            if collection is None:
                continue
            try:
                if self.buckets is not None:
                    removed += _scrub_and_delete(collection, self._scope(namespace))
                else:
                    removed += collection.count()
                    self.client.delete_collection(collection.name)
            except Exception as exc:
                if not _is_missing_collection(exc):
                    raise
            with self._lock:
                self._collections.pop((namespace, history), None)
        if self.lexical is not None:
            self.lexical.drop(self.index_name(namespace))
        return removed

    @contextlib.contextmanager
    def _indexing(self, namespace: Namespace) -> Iterator[_IndexWrite]:
        """Around one Chroma write of a namespace: its lexical index is marked pending first, and the body updates
        it once Chroma has the change. A write that fails half-way leaves the mark: the index is rebuilt from
        Chroma on next use."""
        write = _IndexWrite(self.lexical, self.index_name(namespace))
        if self.lexical is not None:
            self.lexical.begin_write(write.name)
        try:
            yield write
        finally:
            if self.lexical is not None and not write.done:
                self.lexical.invalidate(write.name)

    # -- reads ----------------------------------------------------------------------------------------------

    @_revalidating(lambda *a, **k: [])
    def search(
        self,
        namespace: Namespace,
        query: str | Sequence[float],
        *,
        k: int = 10,
        where: Mapping[str, Any] | None = None,
        time_range: TimeRange | None = None,
        include_history: bool = False,
    ) -> list[SearchResult]:
        """The ``k`` entries of the namespace closest to ``query`` (text, or a vector), best first."""
        collections = self._both(namespace, include_history=include_history)
        if not collections:
            return []
        vector = self.embeddings.embed_query(query) if isinstance(query, str) else list(query)
        scope = self._scope(namespace, entry_where(where, time_range=time_range))
        results: list[SearchResult] = []
        for collection in collections:
            try:
                res = collection.query(
                    query_embeddings=[vector], n_results=k, where=scope, include=["documents", "metadatas", "distances"]
                )
            except ValueError as exc:
                raise StoreError(f"Chroma rejected the search (check the filters): {exc}") from exc
            for eid, doc, meta, dist in zip(
                res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0], strict=True
            ):
                results.append(SearchResult(entry=MemoryEntry.from_record(eid, doc, meta), score=1.0 - float(dist)))
        results.sort(key=lambda r: -r.score)
        return results[:k]

    # -- hybrid retrieval (long_term/retrieval.py composes these) ------------------------------------------

    def _lexical_ready(self, namespace: Namespace) -> LexicalBackend:
        """The lexical index, rebuilt from Chroma first when it is not consistent with it (checked once)."""
        if self.lexical is None:
            raise ConfigurationError(
                "lexical and hybrid search need a lexical index: build the store with lexical=LexicalIndex(path) "
                "(LightMem does), or use retrieval mode 'dense'"
            )
        name = self.index_name(namespace)
        if self.lexical.checked(name):
            return self.lexical
        if self.lexical.needs_rebuild(name, self.count(namespace, include_history=True)):
            logger.info("rebuilding the lexical index of %s from Chroma", namespace_key(namespace))
            rows: dict[bool, list[LexicalRow]] = {}
            for history in (False, True):
                collection = self._collection(namespace, history=history)
                res = (
                    collection.get(where=self._scope(namespace), include=["documents", "metadatas"])
                    if collection is not None
                    else None
                )
                entries = (
                    [MemoryEntry.from_record(i, d, m) for i, d, m in zip(*_columns(res), strict=True)] if res else []
                )
                # Chroma returns insertion order; event time first keeps message order for timestamped messages.
                entries.sort(key=lambda e: e.event_time)
                rows[history] = _lexical_rows(entries)
            self.lexical.rebuild(name, rows[False], rows[True])
        return self.lexical

    @_revalidating(lambda *a, **k: [])
    def lexical_search(
        self,
        namespace: Namespace,
        query: str,
        *,
        limit: int,
        include_history: bool = False,
        time_range: TimeRange | None = None,
    ) -> list[LexicalHit]:
        """The namespace's ``limit`` best entries for ``query`` by BM25 (ids and scores), best first."""
        if not self._both(namespace, include_history=True):
            return []
        index = self._lexical_ready(namespace)
        return index.search(
            self.index_name(namespace),
            query,
            limit=limit,
            include_history=include_history,
            time_range=epoch_range(time_range),
        )

    @_revalidating(lambda *a, **k: [])
    def dense_search(
        self,
        namespace: Namespace,
        vector: Sequence[float],
        *,
        k: int,
        where: Mapping[str, Any] | None = None,
        include_history: bool = False,
    ) -> list[tuple[str, float]]:
        """Ids of the ``k`` entries closest to ``vector`` with their cosine, best first (``where``: a Chroma filter).

        Only ids and distances come back: :meth:`fetch` reads the entries that survive ranking.
        """
        out: list[tuple[str, float]] = []
        for collection in self._both(namespace, include_history=include_history):
            try:
                res = collection.query(
                    query_embeddings=[list(vector)],
                    n_results=k,
                    where=self._scope(namespace, where),
                    include=["distances"],
                )
            except ValueError as exc:
                raise StoreError(f"Chroma rejected the search (check the filters): {exc}") from exc
            out.extend((i, 1.0 - float(d)) for i, d in zip(res["ids"][0], res["distances"][0], strict=True))
        out.sort(key=lambda hit: -hit[1])
        return out[:k]

    @_revalidating(lambda *a, **k: {})
    def fetch(
        self,
        namespace: Namespace,
        ids: Sequence[str],
        *,
        where: Mapping[str, Any] | None = None,
        include_history: bool = False,
    ) -> dict[str, MemoryEntry]:
        """Entries of the namespace by id that pass ``where`` (a Chroma filter).

        With a lexical index they are read from its copy (one SQLite query); a filter is still checked by Chroma.
        """
        ids = list(dict.fromkeys(ids))  # Chroma refuses repeated ids
        if not ids:
            return {}
        if self.lexical is not None:
            index = self._lexical_ready(namespace)
            name = self.index_name(namespace)
            records = index.records(name, ids, include_history=include_history)
            if where is not None:
                scope = self._scope(namespace, where)
                passing = {
                    i for c in self._both(namespace, include_history=include_history) for i in _ids_where(c, ids, scope)
                }
                records = {i: r for i, r in records.items() if i in passing}
            return {i: MemoryEntry.from_record(i, text, json.loads(record)) for i, (text, record) in records.items()}
        found: dict[str, MemoryEntry] = {}
        for collection in self._both(namespace, include_history=include_history):
            for start in range(0, len(ids), _CHUNK):
                try:
                    res = collection.get(
                        ids=ids[start : start + _CHUNK],
                        where=self._scope(namespace, where),
                        include=["documents", "metadatas"],
                    )
                except ValueError as exc:
                    raise StoreError(f"Chroma rejected the search (check the filters): {exc}") from exc
                for eid, doc, meta in zip(*_columns(res), strict=True):
                    found.setdefault(eid, MemoryEntry.from_record(eid, doc, meta))
        return found

    def segment_neighbours(self, namespace: Namespace, ids: Sequence[str], *, window: int) -> dict[str, list[str]]:
        """For each id, up to ``window`` entries on each side of it in its topic segment, in message order."""
        if self.lexical is None or not ids:
            return {}
        return self._lexical_ready(namespace).neighbours(self.index_name(namespace), ids, window=window)

    def positions(self, namespace: Namespace, ids: Sequence[str]) -> dict[str, int]:
        """Each id's position in the namespace (message order for entries of the write path)."""
        if self.lexical is None or not ids:
            return {}
        return self._lexical_ready(namespace).positions(self.index_name(namespace), ids)

    @_revalidating(lambda *a, **k: {})
    def event_times(self, namespace: Namespace, ids: Sequence[str]) -> dict[str, float]:
        """Each id's event time in epoch seconds (from the lexical index when there is one, else from Chroma)."""
        ids = list(dict.fromkeys(ids))
        if not ids:
            return {}
        if self.lexical is not None:
            return self._lexical_ready(namespace).event_times(self.index_name(namespace), ids)
        out: dict[str, float] = {}
        for collection in self._both(namespace):
            for start in range(0, len(ids), _CHUNK):
                res = collection.get(
                    ids=ids[start : start + _CHUNK], where=self._scope(namespace), include=["metadatas"]
                )
                out.update(
                    (i, float(m.get("event_ts", 0.0))) for i, m in zip(res["ids"], res["metadatas"], strict=True)
                )
        return out

    @_revalidating(lambda *a, **k: [])
    def get_with_vectors(
        self, namespace: Namespace, ids: Sequence[str], *, history: bool = False
    ) -> list[tuple[MemoryEntry, list[float]]]:
        """Current (or, with ``history``, superseded) entries of the namespace by id, each with its stored vector;
        ids not found there are left out."""
        collection = self._collection(namespace, history=history)
        if collection is None:
            return []
        return [
            (MemoryEntry.from_record(r["id"], r["documents"], r["metadata"]), [float(x) for x in r["embeddings"]])
            for r in _get_rows(collection, ids, ["documents", "embeddings"], self._scope(namespace))
        ]

    @_revalidating(lambda namespace, vectors, **k: [[] for _ in vectors])
    def neighbours(
        self, namespace: Namespace, vectors: Sequence[Sequence[float]], *, k: int, min_score: float = -1.0
    ) -> list[list[SearchResult]]:
        """For each vector, its ``k`` closest current entries scoring at least ``min_score`` (pending entries, which
        are messages waiting for extraction, are never neighbours).

        Batched queries fetch ids and distances only; the few entries that pass ``min_score`` are then read once
        each (most neighbours are dropped, so reading them all would dominate).
        """
        collection = self._collection(namespace)
        if collection is None:
            return [[] for _ in vectors]
        pending = self.pending_ids(namespace)
        found: list[list[tuple[str, float]]] = []
        for start in range(0, len(vectors), _QUERY_CHUNK):
            chunk = [list(v) for v in vectors[start : start + _QUERY_CHUNK]]
            res = collection.query(
                query_embeddings=chunk, n_results=k + len(pending), where=self._scope(namespace), include=["distances"]
            )
            for ids, dists in zip(res["ids"], res["distances"], strict=True):
                hits = [(i, 1.0 - float(d)) for i, d in zip(ids, dists, strict=True) if i not in pending]
                found.append([(i, score) for i, score in hits[:k] if score >= min_score])
        wanted = list(dict.fromkeys(i for hits in found for i, _ in hits))
        entries = {
            r["id"]: MemoryEntry.from_record(r["id"], r["documents"], r["metadata"])
            for r in _get_rows(collection, wanted, ["documents"], self._scope(namespace))
        }
        return [[SearchResult(entries[i], score) for i, score in hits if i in entries] for hits in found]

    @_revalidating(lambda *a, **k: [])
    def get(self, namespace: Namespace, ids: Sequence[str]) -> list[MemoryEntry]:
        """Entries of the namespace by id (history included); ids of other namespaces are never found.

        An id found in both collections is a move to history that a crash interrupted: the history version is
        returned and the move is completed.
        """
        found: dict[str, MemoryEntry] = {}
        interrupted: list[str] = []
        for collection in self._both(namespace):  # current first, then history
            for r in _get_rows(collection, ids, ["documents"], self._scope(namespace)):
                if r["id"] in found:
                    interrupted.append(r["id"])
                found[r["id"]] = MemoryEntry.from_record(r["id"], r["documents"], r["metadata"])
        if interrupted:
            current = self._collection(namespace)
            if current is not None:
                current.delete(ids=interrupted, where=self._scope(namespace))
        return list(found.values())

    @_revalidating(lambda *a, **k: [])
    def list(
        self,
        namespace: Namespace,
        *,
        where: Mapping[str, Any] | None = None,
        include_history: bool = False,
        include_pending: bool = True,
        limit: int | None = None,
        offset: int | None = None,
    ) -> list[MemoryEntry]:
        """Entries of the namespace, oldest event first (``limit``/``offset`` apply to that order)."""
        entries: list[MemoryEntry] = []
        for collection in self._both(namespace, include_history=include_history):
            res = collection.get(where=self._scope(namespace, entry_where(where)), include=["documents", "metadatas"])
            entries.extend(
                MemoryEntry.from_record(i, d, m)
                for i, d, m in zip(res["ids"], res["documents"], res["metadatas"], strict=True)
                if include_pending or not i.startswith(PENDING_PREFIX)
            )
        entries.sort(key=lambda e: (e.event_time, e.id))
        start = offset or 0
        return entries[start : start + limit if limit is not None else None]

    @_revalidating(lambda *a, **k: 0)
    def count(self, namespace: Namespace, *, include_history: bool = False) -> int:
        """How many entries the namespace holds (a bucket's documents of other namespaces are not counted)."""
        collections = self._both(namespace, include_history=include_history)
        if self.buckets is None:
            return sum(c.count() for c in collections)
        return sum(len(c.get(where=self._scope(namespace), include=[])["ids"]) for c in collections)


class _IndexWrite:
    """The lexical half of one write (nothing without an index)."""

    def __init__(self, lexical: LexicalBackend | None, name: str) -> None:
        self.lexical, self.name, self.done = lexical, name, False

    def upsert(self, entries: Sequence[MemoryEntry], *, history: bool = False) -> None:
        if self.lexical is not None:
            self.lexical.upsert(self.name, _lexical_rows(entries), history=history)
        self.done = True

    def delete(self, ids: Sequence[str]) -> None:
        if self.lexical is not None:
            self.lexical.delete(self.name, list(ids))
        self.done = True


def _lexical_rows(entries: Sequence[MemoryEntry]) -> list[LexicalRow]:
    return [
        LexicalRow(e.id, e.text, e.event_time.timestamp(), e.segment_id, json.dumps(e.to_metadata())) for e in entries
    ]


def _by_namespace(entries: Sequence[MemoryEntry]) -> dict[Namespace, list[MemoryEntry]]:
    groups: dict[Namespace, list[MemoryEntry]] = {}
    for entry in entries:
        groups.setdefault(entry.namespace, []).append(entry)
    return groups


class _BucketView:
    """One namespace's view of a shared bucket: Chroma stores each entry under an opaque key.

    The key is a digest of the namespace's digest and the entry id, and the id itself travels in the metadata
    (``lightmem_id``), which a delete removes with the document. Two namespaces can then use the same id in one
    bucket, and what Chroma keeps after a delete (its write log keeps the ids of deletes) names no entry and no
    namespace. The view offers the calls the store makes on a collection, in entry ids.
    """

    def __init__(self, collection: Any, namespace: Namespace) -> None:
        self.collection = collection
        self.name = collection.name
        self.metadata = collection.metadata
        self._salt = _digest(namespace).encode()

    def key(self, entry_id: str) -> str:
        raw = entry_id.encode("utf-8", "surrogatepass")
        return hashlib.blake2b(raw, digest_size=16, key=self._salt).hexdigest()

    def _keys(self, ids: Sequence[str] | None) -> list[str] | None:
        return None if ids is None else [self.key(i) for i in ids]

    @staticmethod
    def _stamped(ids: Sequence[str], metadatas: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
        return [{**(m or {}), _ID_KEY: i} for i, m in zip(ids, metadatas or [{}] * len(ids), strict=True)]

    @staticmethod
    def _with_ids(res: Mapping[str, Any], include: Sequence[str], nested: bool) -> dict[str, Any]:
        """Chroma's answer in entry ids; metadata only where the caller asked for it."""

        def unkey(metas: Sequence[Mapping[str, Any] | None]) -> tuple[list[str], list[dict[str, Any]]]:
            ids = [str((m or {})[_ID_KEY]) for m in metas]
            return ids, [{k: v for k, v in (m or {}).items() if k != _ID_KEY} for m in metas]

        out = dict(res)
        if nested:
            pairs = [unkey(metas) for metas in res["metadatas"]]
            out["ids"], out["metadatas"] = [p[0] for p in pairs], [p[1] for p in pairs]
        else:
            out["ids"], out["metadatas"] = unkey(res["metadatas"])
        if "metadatas" not in include:
            out["metadatas"] = None
        return out

    def get(self, ids: Sequence[str] | None = None, *, include: Sequence[str] = (), **kwargs: Any) -> dict[str, Any]:
        res = self.collection.get(ids=self._keys(ids), include=list({*include, "metadatas"}), **kwargs)
        return self._with_ids(res, include, nested=False)

    def query(self, *, include: Sequence[str] = (), **kwargs: Any) -> dict[str, Any]:
        res = self.collection.query(include=list({*include, "metadatas"}), **kwargs)
        return self._with_ids(res, include, nested=True)

    def add(self, *, ids: Sequence[str], metadatas: Sequence[Mapping[str, Any]], **kwargs: Any) -> None:
        self.collection.add(ids=self._keys(ids), metadatas=self._stamped(ids, metadatas), **kwargs)

    def upsert(self, *, ids: Sequence[str], metadatas: Sequence[Mapping[str, Any]], **kwargs: Any) -> None:
        self.collection.upsert(ids=self._keys(ids), metadatas=self._stamped(ids, metadatas), **kwargs)

    def update(self, *, ids: Sequence[str], **kwargs: Any) -> None:
        self.collection.update(ids=self._keys(ids), **kwargs)

    def delete(self, ids: Sequence[str] | None = None, **kwargs: Any) -> None:
        self.collection.delete(ids=self._keys(ids), **kwargs)


def _scrub_and_delete(collection: Any, scope: Mapping[str, Any] | None) -> int:
    """Delete a namespace's documents from a shared bucket, overwriting their vectors first.

    Chroma's HNSW index only marks a deleted vector as deleted and keeps its floats in the bucket's files; an update
    rewrites them in place, so the vectors are replaced by random ones (drawn from no data) before the delete.
    """
    ids = collection.get(where=scope, include=[])["ids"]
    if not ids:
        return 0
    dim = len(collection.get(ids=ids[:1], include=["embeddings"])["embeddings"][0])
    rng = np.random.default_rng()
    for start in range(0, len(ids), _PAGE):
        page = ids[start : start + _PAGE]
        noise = rng.standard_normal((len(page), dim)).astype(np.float32)
        noise /= np.linalg.norm(noise, axis=1, keepdims=True)
        collection.update(ids=page, embeddings=noise)
    collection.delete(where=scope)  # by filter: also what a racing writer added since the read
    return len(ids)


def _ids_where(collection: Any, ids: Sequence[str], where: Mapping[str, Any] | None) -> list[str]:
    """The ids among ``ids`` whose entries pass ``where``."""
    passing: list[str] = []
    for start in range(0, len(ids), _CHUNK):
        try:
            res = collection.get(ids=list(ids[start : start + _CHUNK]), where=where, include=[])
        except ValueError as exc:
            raise StoreError(f"Chroma rejected the search (check the filters): {exc}") from exc
        passing.extend(res["ids"])
    return passing


def _columns(res: Mapping[str, Any]) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    return res["ids"], res["documents"], res["metadatas"]


def _get_rows(
    collection: Any, ids: Sequence[str], include: list[str], where: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    """Rows of one collection by id that pass ``where`` (the namespace's scope), in chunks, with their metadata."""
    rows: list[dict[str, Any]] = []
    for start in range(0, len(ids), _CHUNK):
        res = collection.get(ids=list(ids[start : start + _CHUNK]), where=where, include=["metadatas", *include])
        for n, (entry_id, meta) in enumerate(zip(res["ids"], res["metadatas"], strict=True)):
            rows.append({"id": entry_id, "metadata": meta or {}, **{f: res[f][n] for f in include}})
    return rows
