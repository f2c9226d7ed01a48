"""``LightMemStore``: a LangGraph ``BaseStore`` on Chroma, with LightMem's memories and write path inside it.

Items live in two Chroma collections named after ``collection``:

* ``<collection>_items``: one record per item. The document is the JSON value; the metadata holds the namespace
  (joined with ``.``, which LangGraph labels cannot contain), each label (``ns_0``, ``ns_1``, ...) for prefix
  scoping, the key, timestamps, TTL, and the value's short top-level strings (``v:<field>``) so equality filters
  run inside Chroma. Chroma wants a vector per record: items carry a constant 1-d one.
* ``<collection>_vectors``: one record per indexed text of an item (the ``index`` fields), with the item's
  namespace labels, so a semantic search is scoped inside Chroma before it ranks.

Every read is scoped by namespace in the Chroma ``where`` and then checked again in Python (namespace prefix,
expiry, the caller's whole filter): a filter can narrow a search, never widen it.

Every other namespace holds plain JSON items, exactly like LangGraph's ``InMemoryStore``. Two last labels,
``lightmem_memories`` and ``lightmem_messages``, are views into a :class:`~langchain_lightmem.LightMem` when the
store has one (see :class:`LightMemStore`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import json
import logging
import math
import re
import threading
import time
import uuid
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.embeddings import Embeddings
from langgraph.store.base import (
    BaseStore,
    GetOp,
    IndexConfig,
    InvalidNamespaceError,
    Item,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
    ensure_embeddings,
    get_text_at_path,
    tokenize_path,
    validate_op_namespace,
)

from langchain_lightmem.config import RelevanceConfig
from langchain_lightmem.errors import ConfigurationError, InvalidStoreInputError, StoreError
from langchain_lightmem.integrations.filters import (
    MAX_VALUE_CHARS,
    check_json,
    check_labels,
    check_text,
    matches,
    mirrored_fields,
    pushdown_clauses,
    validate_filter,
)
from langchain_lightmem.long_term.relevance import dense_relevance
from langchain_lightmem.models import embeddings_model_id
from langchain_lightmem.store_items import STORE_ITEMS_KIND, all_of, delete_items, prefix_clauses
from langchain_lightmem.types import MemoryEntry, Message, Namespace
from langchain_lightmem.validation import validate_json_size

if TYPE_CHECKING:
    from langchain_lightmem.memory import LightMem

logger = logging.getLogger(__name__)

MEMORIES = "lightmem_memories"  # (*user, MEMORIES): the pipeline's long-term memories of a LightMem user
MESSAGES = "lightmem_messages"  # (*user, MESSAGES): LightMem's write path
_CHUNK = 1000  # records per Chroma call (its limit is ~5k)
_COLLECTION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,498}[A-Za-z0-9]$")
_MEMORY_FIELDS = {"text", "content", "event_time", "thread_id", "speaker"}


def _ns_text(namespace: Sequence[str]) -> str:
    return ".".join(namespace)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def _iso(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _item_score(cosine: float, best_cosine: float, relevance: RelevanceConfig | None) -> float:
    """The score of an item hit, from the cosine similarity of its best vector to the query: LightMem's relevance
    (``long_term/relevance.py``), the scale memories are scored on, so a prefix search that reaches the memories
    view ranks memories and items together on one scale. Monotone in the cosine, so items keep InMemoryStore's
    order; the values differ (documented). ``relevance=None`` (``scores="cosine"``) keeps the raw cosine."""
    return cosine if relevance is None else dense_relevance(cosine, best_cosine, relevance)


def _dump_value(value: Any) -> str:
    """The JSON document of a value; refuses what would not come back unchanged (checked by ``_validate``)."""
    text = validate_json_size(dict(value), "value", max_chars=MAX_VALUE_CHARS, error=InvalidStoreInputError)
    if json.loads(text) != value:
        raise InvalidStoreInputError(
            "this value would not come back unchanged from JSON (a str or int subclass?); convert it to plain "
            "JSON types first",
            field="value",
        )
    return text


def _drop_collections(client: Any, names: list[str]) -> None:
    """Finalizer of a private in-memory store: its collections go with it (the client is shared in-process)."""
    for name in names:
        try:
            client.delete_collection(name)
        except Exception:  # already gone, or the client is shutting down
            logger.debug("could not drop collection %s", name, exc_info=True)


def _does_match(condition: MatchCondition, namespace: Namespace) -> bool:
    path = tuple(condition.path)
    if len(namespace) < len(path):
        return False
    labels = namespace[: len(path)] if condition.match_type == "prefix" else namespace[len(namespace) - len(path) :]
    return all(p == "*" or p == label for p, label in zip(path, labels, strict=True))


@dataclass(slots=True)
class _Record:
    """An item as read from Chroma, with what ordering and TTL need."""

    item: Item
    seq: int
    ttl_minutes: float | None


@dataclass(slots=True)
class _Hits:
    """One source's answer to a search: ranked hits (best first) and hits without a score (no vector)."""

    scored: list[tuple[float, _Record]]
    unscored: list[_Record]


class LightMemStore(BaseStore):
    """A LangGraph ``BaseStore`` on Chroma: key-value items with namespaces, filters, semantic search and TTL, plus
    LightMem's long-term memories and write path.

    A drop-in for LangGraph's ``InMemoryStore`` and ``PostgresStore``: any JSON value under any namespace, the same
    filter semantics, the same ranking (a random-sequence test compares the two; docs/surfaces/store.md lists the
    few differences). It keeps what ``InMemoryStore`` forgets: ``created_at`` survives updates, and items live in
    Chroma (embedded on disk, a server, or in memory). Values are JSON; anything else, and any string with a lone
    surrogate, is refused with :class:`~langchain_lightmem.StoreError` naming where it is.

    **LightMem's views** (only with ``memory=``; the last label decides, the namespace before it is LightMem's user):

    * ``(*user, "lightmem_memories")`` (:data:`MEMORIES`): the user's long-term memories made by the pipeline.
      ``search`` ranks them by LightMem's retrieval; ``get``/``delete`` take the memory id as key;
      ``put(ns, key, {"text": ...})`` saves a memory directly (``LightMem.remember``; optional ``event_time``,
      ``thread_id``, ``speaker``). Values read back are ``{"text", "event_time", "source_ids", "method", "version",
      ...}``. Prefix searches (``("alice",)``, ``()``) include them, ranked with items by score.
    * ``(*user, "lightmem_messages")`` (:data:`MESSAGES`): the write path. ``put(ns, message_id, {"role": "user",
      "content": ...})`` routes a message into the pipeline (``LightMem.add``; optional ``timestamp``,
      ``thread_id``, ``speaker``); ``get`` reads it back from the journal, ``search`` on exactly this namespace lists
      them in arrival order. The journal is append-only: ``delete`` is refused (``LightMem.forget`` deletes a whole
      namespace). Messages are neither listed by ``list_namespaces`` nor returned by searches over a wider prefix.

    LangGraph refuses ``.`` in labels, so the memories of a LightMem user with a dot in a label (``"ana.silva"``)
    cannot be named here: the views leave them out, and the facade (``memory.search("ana.silva", ...)``) or the
    memory tools reach them.

    Setup:
        .. code-block:: bash

            pip install 'langchain-lightmem[all]'   # after: pip install torch==2.13.0 (CPU)

    Key init args:
        memory: a :class:`~langchain_lightmem.LightMem`; its Chroma and embeddings are used, and the views above
            are enabled. Without it, pass ``client`` (any ``chromadb`` client). With neither, the store is private
            and in memory like ``InMemoryStore``: two ``LightMemStore()`` never share items.
        index: ``{"embed": Embeddings, "fields": ["$"], "dims": 384}`` for semantic search (LangGraph's
            ``IndexConfig``); with a memory, missing keys default to its embeddings over the whole value (``["$"]``);
            ``False`` turns semantic search off.
        ttl: LangGraph's ``TTLConfig`` (``default_ttl`` minutes, ``refresh_on_read``, ``sweep_interval_minutes``).
        collection: name prefix of the two Chroma collections (``lightmem_store``; a private store adds a unique
            suffix).
        memories_label / messages_label: the views' last labels (``None`` disables one).
        scores: ``"relevance"`` (default): item scores are LightMem's calibrated relevance, the scale of memories, so
            items and memories rank together and ``min_score`` means the same for both; ``"cosine"``: the raw cosine,
            as ``InMemoryStore`` reports it (same order either way).
        memory_search: ``RetrievalConfig`` overrides for searches of the memories view (default: the memory's
            retrieval config, hybrid). Scores of memories are that mode's scores (hybrid: in [0, 1]).

    Instantiate:
        .. code-block:: python

            from langchain_lightmem import LightMem, LightMemConfig
            from langchain_lightmem.integrations import LightMemStore

            memory = LightMem(LightMemConfig(data_dir="./memory"))
            store = LightMemStore(memory)

    Add:
        .. code-block:: python

            store.put(("alice", "prefs"), "theme", {"text": "prefers dark mode", "weight": 3})
            store.put(("alice", "memories"), "food", {"food_preference": "I like pizza"})   # plain JSON
            store.put(("alice", "lightmem_messages"), "m1", {"role": "user", "content": "I moved to Lisbon."})

    Delete:
        .. code-block:: python

            store.delete(("alice", "prefs"), "theme")

    Search:
        .. code-block:: python

            store.search(("alice",), query="where does she live?", filter={"weight": {"$gte": 2}}, limit=5)
            store.search(("alice", "lightmem_memories"), query="where does she live?")   # the pipeline's memories

    Async:
        .. code-block:: python

            await store.aput(("alice", "prefs"), "theme", {"text": "prefers dark mode"})
            items = await store.asearch(("alice",), query="colours")

    Use with LangGraph:
        .. code-block:: python

            agent = create_agent(model, tools=create_memory_tools(), store=store)   # or graph.compile(store=store)

    Async methods run the synchronous Chroma client in a worker thread. The embedder must offer the sync
    ``embed_documents``/``embed_query`` (LangChain ``Embeddings`` or a plain function).
    """

    supports_ttl: bool = True

    def __init__(
        self,
        memory: LightMem | None = None,
        *,
        client: Any = None,
        index: IndexConfig | Literal[False] | None = None,
        ttl: TTLConfig | None = None,
        collection: str | None = None,
        memories_label: str | None = MEMORIES,
        messages_label: str | None = MESSAGES,
        memory_search: Mapping[str, Any] | None = None,
        scores: Literal["relevance", "cosine"] = "relevance",
    ) -> None:
        private = client is None and memory is None
        collection = collection or "lightmem_store"
        if private:  # chromadb's in-memory clients share one process-wide system: a unique name keeps this apart
            collection = f"{collection}-{uuid.uuid4().hex[:12]}"
        if not _COLLECTION.match(collection + "_items") or len(collection) > 400:
            raise ConfigurationError(
                f"collection {collection!r} cannot name a Chroma collection: use 3-400 letters, digits, '.', '_' or "
                "'-', starting and ending with a letter or digit"
            )
        for label in (memories_label, messages_label):
            if label is not None and (not isinstance(label, str) or not label or "." in label):
                raise ConfigurationError(f"reserved label {label!r} must be a non-empty string without '.'")
        if memories_label is not None and memories_label == messages_label:
            raise ConfigurationError("memories_label and messages_label must differ")
        if scores not in ("relevance", "cosine"):
            raise ConfigurationError(f"scores must be 'relevance' or 'cosine', got {scores!r}")
        self.memory = memory
        relevance = memory.config.retrieval.relevance if memory is not None else RelevanceConfig()
        self.relevance: RelevanceConfig | None = relevance if scores == "relevance" else None
        self.memory_search = dict(memory_search or {})
        self.memories_label = memories_label if memory is not None else None
        self.messages_label = messages_label if memory is not None else None
        self.ttl_config = ttl
        if client is None:
            client = memory.chroma_client if memory is not None else _ephemeral_client()
        self.client = client
        if memory is not None and index is not False:
            index = {"embed": memory.embeddings, "fields": ["$"], **(index or {})}
        self.index_config: IndexConfig | None = dict(index) if index else None  # type: ignore[assignment]
        self.embeddings: Embeddings | None = None
        self._fields: list[tuple[str, str | list[str]]] = []
        if self.index_config:
            self.embeddings = ensure_embeddings(self.index_config.get("embed"))
            self._fields = [(p, p if p == "$" else tokenize_path(p)) for p in self.index_config.get("fields") or ["$"]]
        self.items = client.get_or_create_collection(
            f"{collection}_items", embedding_function=None, metadata={"kind": STORE_ITEMS_KIND}
        )
        self.vectors = None
        if self.embeddings is not None:
            model_id = embeddings_model_id(self.embeddings)
            self.vectors = client.get_or_create_collection(
                f"{collection}_vectors",
                embedding_function=None,
                configuration={"hnsw": {"space": "cosine"}},
                metadata={"embedding_model": model_id},
            )
            stored = (self.vectors.metadata or {}).get("embedding_model")
            if stored and stored != model_id:
                raise ConfigurationError(
                    f"collection {collection!r}_vectors was built with embeddings {stored!r}, not {model_id!r}; use "
                    "the same embeddings or another collection"
                )
        if private:
            names = [self.items.name] + ([self.vectors.name] if self.vectors is not None else [])
            weakref.finalize(self, _drop_collections, client, names).atexit = False
        self._write_lock = threading.RLock()
        self._last_seq = 0
        self._sweeper: threading.Thread | None = None
        self._sweeper_stop = threading.Event()
        if memory is not None:
            memory.on_forget(self)  # LightMem.forget(user) deletes the user's items here too

    # -- the two required methods ---------------------------------------------------------------------------

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run operations; reads see the store as it was before the batch, puts apply last (last write wins).

        Raises:
            StoreError: an operation's input cannot be stored or compared (nothing of the batch was written), or
                Chroma refused the operation.
            InvalidNamespaceError: LangGraph's, where ``InMemoryStore`` raises it (an empty namespace, a label with
                ``.``, the root label ``langgraph``).
        """
        from chromadb.errors import ChromaError

        ops = list(ops)
        for op in ops:
            self._validate(op)
        try:
            return self._run(ops)
        except ChromaError as exc:
            raise StoreError(f"Chroma refused the store operation: {exc}") from exc

    def _run(self, ops: list[Op]) -> list[Result]:
        now = time.time()
        results: list[Result] = [None] * len(ops)
        refresh: dict[str, float] = {}
        puts: dict[tuple[Namespace, str], PutOp] = {}
        for i, op in enumerate(ops):
            if isinstance(op, GetOp):
                results[i] = self._get(op, now, refresh)
            elif isinstance(op, SearchOp):
                results[i] = self._search(op, now, refresh)
            elif isinstance(op, ListNamespacesOp):
                results[i] = self._list_namespaces(op, now)
            elif isinstance(op, PutOp):
                puts[(tuple(op.namespace), op.key)] = op
        if refresh:
            self._refresh_ttl(refresh, now)
        if puts:
            self._apply_puts(list(puts.values()))
        return results

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Async :meth:`batch`: the Chroma client is synchronous, so this runs in a worker thread."""
        return await asyncio.to_thread(self.batch, list(ops))

    # -- validation and routing ----------------------------------------------------------------------------

    def _validate(self, op: Op) -> None:
        """Refuse what cannot be stored or compared before anything of the batch runs, with the validation layer's
        limits and checks (``InvalidStoreInputError``: a ``StoreError`` and an ``InvalidInputError``)."""
        if not isinstance(op, GetOp | SearchOp | ListNamespacesOp | PutOp):
            raise StoreError(f"unknown store operation {type(op).__name__}")
        validate_op_namespace(op)
        if isinstance(op, ListNamespacesOp):
            for condition in op.match_conditions or ():
                check_labels(condition.path, "a match condition's path")
        else:
            check_labels(op.namespace_prefix if isinstance(op, SearchOp) else op.namespace)
        if isinstance(op, GetOp | PutOp):
            if not isinstance(op.key, str):
                raise InvalidStoreInputError(f"keys must be strings, got {type(op.key).__name__}", field="key")
            check_text(op.key, f"the key {op.key!r}", field="key")
        if isinstance(op, PutOp):
            if not op.namespace:
                raise InvalidNamespaceError("Namespace cannot be empty.")
            if op.namespace[0] == "langgraph":
                raise InvalidNamespaceError(f'Root label for namespace cannot be "langgraph". Got: {op.namespace}')
            if op.ttl is not None and (not isinstance(op.ttl, int | float) or not op.ttl > 0 or math.isinf(op.ttl)):
                raise InvalidStoreInputError(
                    f"ttl must be a positive number of minutes or None, got {op.ttl!r}", field="ttl"
                )
            if op.value is not None:
                if not isinstance(op.value, Mapping):
                    raise InvalidStoreInputError(
                        f"a store value must be a dict, got {type(op.value).__name__}", field="value"
                    )
                check_json(dict(op.value), "value")
        if isinstance(op, SearchOp):
            validate_filter(op.filter)
            if op.query is not None:
                if not isinstance(op.query, str):
                    raise InvalidStoreInputError(
                        f"query must be a string or None, got {type(op.query).__name__}", field="query"
                    )
                check_text(op.query, "the query", field="query")
            if not isinstance(op.limit, int) or not isinstance(op.offset, int) or op.limit < 0 or op.offset < 0:
                raise InvalidStoreInputError(
                    f"limit and offset must be integers >= 0, got {op.limit!r} and {op.offset!r}", field="limit"
                )

    def _view(self, namespace: Sequence[str]) -> tuple[str, Namespace] | None:
        """``(MEMORIES | MESSAGES, user namespace)`` for a view's namespace, else ``None``."""
        if len(namespace) < 2:
            return None
        if namespace[-1] == self.memories_label:
            return MEMORIES, tuple(namespace[:-1])
        if namespace[-1] == self.messages_label:
            return MESSAGES, tuple(namespace[:-1])
        return None

    def _lightmem(self) -> LightMem:
        assert self.memory is not None  # the views exist only with a memory
        return self.memory

    # -- get ------------------------------------------------------------------------------------------------

    def _get(self, op: GetOp, now: float, refresh: dict[str, float]) -> Item | None:
        view = self._view(op.namespace)
        if view is not None:
            kind, user = view
            return self._get_memory(user, op.key) if kind == MEMORIES else self._get_message(user, op.key)
        item_id = _digest(_ns_text(op.namespace), op.key)
        res = self.items.get(ids=[item_id], where=self._alive(now), include=["documents", "metadatas"])
        if not res["ids"]:
            return None
        record = self._record(res["documents"][0], res["metadatas"][0])
        if op.refresh_ttl and record.ttl_minutes:
            refresh[item_id] = record.ttl_minutes
        return record.item

    # -- search ---------------------------------------------------------------------------------------------

    def _search(self, op: SearchOp, now: float, refresh: dict[str, float]) -> list[SearchItem]:
        prefix = tuple(op.namespace_prefix)
        memory_scope = self._memory_scope(prefix)
        item_vector = None
        if op.query and self.embeddings is not None:
            item_vector = self.embeddings.embed_query(op.query)
        # The memories are ranked by LightMem.search, which embeds the query itself.
        memories_ranked = bool(op.query) and memory_scope is not None
        want = op.offset + op.limit
        sources = [self._search_items(prefix, op, item_vector, want, now)]
        if memory_scope is not None:
            sources.append(self._search_memories(memory_scope, op, memories_ranked, want))
        view = self._view(prefix)
        if view is not None and view[0] == MESSAGES:
            sources.append(self._search_messages(view[1], op))
        if item_vector is not None or memories_ranked:
            scored = sorted((hit for s in sources for hit in s.scored), key=lambda h: -h[0])
            kept = scored[op.offset : want]
            unscored = sorted((r for s in sources for r in s.unscored), key=lambda r: r.seq)
            page = [(score, r) for score, r in kept] + [(None, r) for r in unscored[: op.limit - len(kept)]]
        else:
            ordered = sorted((r for s in sources for r in s.unscored), key=lambda r: r.seq)
            page = [(None, r) for r in ordered[op.offset : want]]
        out = []
        for score, record in page:
            item = record.item
            if op.refresh_ttl and record.ttl_minutes:
                refresh[_digest(_ns_text(item.namespace), item.key)] = record.ttl_minutes
            out.append(
                SearchItem(
                    namespace=item.namespace,
                    key=item.key,
                    value=item.value,
                    created_at=item.created_at,
                    updated_at=item.updated_at,
                    score=score,
                )
            )
        return out

    def _search_items(
        self, prefix: Namespace, op: SearchOp, vector: list[float] | None, want: int, now: float
    ) -> _Hits:
        scope = [*prefix_clauses(prefix), *self._alive_clauses(now)]
        where = all_of([*scope, *pushdown_clauses(op.filter)])
        if vector is None or self.vectors is None:
            records = self._fetch_items(where, op.filter)
            return _Hits([], records)
        # Rank vectors (best first), keep each item's best one (max pooling), then check the items themselves.
        ranked: list[tuple[float, _Record]] = []
        n = max(want, 10) * 2
        while True:
            res = self.vectors.query(
                query_embeddings=[vector],
                n_results=n,
                where=all_of(prefix_clauses(prefix)),
                include=["metadatas", "distances"],
            )
            best: dict[str, float] = {}
            top = 1.0 - float(res["distances"][0][0]) if res["distances"][0] else 0.0
            for meta, dist in zip(res["metadatas"][0], res["distances"][0], strict=True):
                # cosine space: distance = 1 - cos
                best.setdefault(meta["item"], _item_score(1.0 - float(dist), top, self.relevance))
            records = self._fetch_items(where, op.filter, ids=list(best))
            by_id = {_digest(_ns_text(r.item.namespace), r.item.key): r for r in records}
            ranked = [(score, by_id[i]) for i, score in best.items() if i in by_id]
            if len(ranked) >= want or len(res["ids"][0]) < n:
                break
            n *= 4
        unscored = self._fetch_items(all_of([*scope, {"vectors": 0}, *pushdown_clauses(op.filter)]), op.filter)
        return _Hits(ranked, unscored)

    def _fetch_items(
        self, where: dict[str, Any] | None, filter: Mapping[str, Any] | None, ids: list[str] | None = None
    ) -> list[_Record]:
        if ids is not None and not ids:
            return []
        out: list[_Record] = []
        chunks = [ids[i : i + _CHUNK] for i in range(0, len(ids), _CHUNK)] if ids is not None else [None]
        for chunk in chunks:
            res = self.items.get(ids=chunk, where=where, include=["documents", "metadatas"])
            for doc, meta in zip(res["documents"], res["metadatas"], strict=True):
                record = self._record(doc, meta)
                if matches(record.item.value, filter):
                    out.append(record)
        return out

    # -- list namespaces ------------------------------------------------------------------------------------

    def _list_namespaces(self, op: ListNamespacesOp, now: float) -> list[tuple[str, ...]]:
        found: set[Namespace] = set()
        res = self.items.get(where=self._alive(now), include=["metadatas"])
        found.update(tuple(m["ns"].split(".")) for m in res["metadatas"])
        if self.memories_label is not None:
            found.update((*user, self.memories_label) for user in self._memory_scope(()) or [])
        namespaces = [ns for ns in found if all(_does_match(c, ns) for c in op.match_conditions or ())]
        if op.max_depth is not None:
            namespaces = list({ns[: op.max_depth] for ns in namespaces})
        return sorted(namespaces)[op.offset : op.offset + op.limit]

    # -- put / delete ---------------------------------------------------------------------------------------

    def _apply_puts(self, puts: list[PutOp]) -> None:
        plain: list[PutOp] = []
        memories: list[tuple[Namespace, PutOp]] = []
        messages: dict[Namespace, list[PutOp]] = {}
        for op in puts:  # everything that can be refused is refused before anything is written
            view = self._view(op.namespace)
            if view is None:
                plain.append(op)
            elif view[0] == MEMORIES:
                if op.value is not None:
                    self._memory_input(view[1], op)
                memories.append((view[1], op))
            else:
                if op.value is None:
                    raise StoreError(
                        "messages routed into LightMem stay in its journal and cannot be deleted one by one; "
                        "LightMem.forget(namespace) deletes everything held for a namespace"
                    )
                messages.setdefault(view[1], []).append(op)
        prepared = self._prepare_items(plain) if plain else None
        for user, op in memories:
            self._put_memory(user, op)
        for user, ops in messages.items():
            self._put_messages(user, ops)
        if prepared is not None:
            self._put_items(*prepared)

    def _prepare_items(
        self, ops: list[PutOp]
    ) -> tuple[list[PutOp], dict[int, str], list[tuple[str, str, str]], list[list[float]]]:
        """Documents and vectors of plain puts (refusing oversized values and mismatched embeddings)."""
        docs = {id(op): _dump_value(op.value) for op in ops if op.value is not None}
        texts: list[tuple[str, str, str]] = []  # (item id, path, text)
        for op in ops:
            if op.value is not None and self.embeddings is not None and op.index is not False:
                paths = self._fields if op.index is None else [(p, tokenize_path(p)) for p in op.index]
                item_id = _digest(_ns_text(op.namespace), op.key)
                for path, tokens in paths:
                    found = get_text_at_path(op.value, tokens)
                    for i, text in enumerate(found):
                        texts.append((item_id, f"{path}.{i}" if len(found) > 1 else path, text))
        vectors = self.embeddings.embed_documents([t for _, _, t in texts]) if texts and self.embeddings else []
        if texts and self.index_config and self.index_config.get("dims") not in (None, len(vectors[0])):
            raise ConfigurationError(
                f"index dims is {self.index_config.get('dims')} but the embeddings return {len(vectors[0])}"
            )
        return ops, docs, texts, [list(v) for v in vectors]

    def _put_items(
        self, ops: list[PutOp], docs: dict[int, str], texts: list[tuple[str, str, str]], vectors: list[list[float]]
    ) -> None:
        with self._write_lock:
            now = time.time()
            ids = [_digest(_ns_text(op.namespace), op.key) for op in ops]
            existing: dict[str, dict[str, Any]] = {}  # expired items count as absent: a new put starts afresh
            for start in range(0, len(ids), _CHUNK):
                res = self.items.get(ids=ids[start : start + _CHUNK], include=["metadatas"])
                existing.update(zip(res["ids"], res["metadatas"], strict=True))
            expired = [k for k, m in existing.items() if m.get("has_ttl") and float(m["expires_ts"]) <= now]
            gone = [i for op, i in zip(ops, ids, strict=True) if op.value is None and i in existing]
            if gone or expired:
                self._delete_ids(list({*gone, *expired}))
            for expired_id in expired:
                del existing[expired_id]
            if self.vectors is not None:
                stale = [i for op, i in zip(ops, ids, strict=True) if op.value is not None and i in existing]
                for start in range(0, len(stale), _CHUNK):
                    self.vectors.delete(where={"item": {"$in": stale[start : start + _CHUNK]}})
            counts: dict[str, int] = {}
            for item_id, _, _ in texts:
                counts[item_id] = counts.get(item_id, 0) + 1
            rows: list[tuple[str, str, dict[str, Any]]] = []
            for op, item_id in zip(ops, ids, strict=True):
                if op.value is None:
                    continue
                old = existing.get(item_id)
                meta = self._item_metadata(op, now, old, counts.get(item_id, 0))
                rows.append((item_id, docs[id(op)], meta))
            for start in range(0, len(rows), _CHUNK):
                chunk = rows[start : start + _CHUNK]
                self.items.upsert(
                    ids=[r[0] for r in chunk],
                    documents=[r[1] for r in chunk],
                    metadatas=[r[2] for r in chunk],
                    embeddings=[[0.0]] * len(chunk),
                )
            if texts and self.vectors is not None:
                ns_of = {i: op.namespace for op, i in zip(ops, ids, strict=True)}
                for start in range(0, len(texts), _CHUNK):
                    part = texts[start : start + _CHUNK]
                    self.vectors.upsert(
                        ids=[_digest(item_id, path) for item_id, path, _ in part],
                        embeddings=[list(v) for v in vectors[start : start + _CHUNK]],
                        metadatas=[
                            {
                                "item": item_id,
                                "path": path,
                                **{f"ns_{k}": label for k, label in enumerate(ns_of[item_id])},
                            }
                            for item_id, path, _ in part
                        ],
                    )

    def _item_metadata(self, op: PutOp, now: float, old: dict[str, Any] | None, n_vectors: int) -> dict[str, Any]:
        assert op.value is not None
        seq = int(old["seq"]) if old else self._next_seq()
        meta: dict[str, Any] = {
            "ns": _ns_text(op.namespace),
            "key": op.key,
            "seq": seq,
            "created_ts": float(old["created_ts"]) if old else now,
            "updated_ts": now,
            "has_ttl": op.ttl is not None,
            "ttl_minutes": float(op.ttl) if op.ttl is not None else 0.0,
            "expires_ts": now + op.ttl * 60.0 if op.ttl is not None else 0.0,
            "vectors": n_vectors,
            **{f"ns_{i}": label for i, label in enumerate(op.namespace)},
            **mirrored_fields(op.value),
        }
        for stale in set(old or ()) - set(meta):  # Chroma merges metadata: clear what the new value dropped
            meta[stale] = None
        return meta

    def _next_seq(self) -> int:
        """Creation order: nanoseconds, strictly increasing within this process."""
        self._last_seq = max(self._last_seq + 1, time.time_ns())
        return self._last_seq

    def forget_namespace(self, namespace: Sequence[str]) -> int:
        """Delete every item under ``namespace`` (called by ``LightMem.forget``: a forgotten user keeps no item
        here either). Returns how many."""
        with self._write_lock:
            where = all_of(prefix_clauses(tuple(namespace)))
            ids = list(self.items.get(where=where, include=[])["ids"])
            self._delete_ids(ids)
        return len(ids)

    def _delete_ids(self, ids: list[str]) -> None:
        delete_items(self.items, self.vectors, ids)

    # -- TTL ------------------------------------------------------------------------------------------------

    @staticmethod
    def _alive_clauses(now: float) -> list[dict[str, Any]]:
        return [{"$or": [{"has_ttl": False}, {"expires_ts": {"$gt": now}}]}]

    def _alive(self, now: float) -> dict[str, Any]:
        return self._alive_clauses(now)[0]

    def _refresh_ttl(self, refresh: dict[str, float], now: float) -> None:
        ids = list(refresh)
        with self._write_lock:
            present = set(self.items.get(ids=ids, include=[])["ids"])  # deleted meanwhile: leave them deleted
            keep = [i for i in ids if i in present]
            if keep:
                self.items.update(ids=keep, metadatas=[{"expires_ts": now + refresh[i] * 60.0} for i in keep])

    def sweep_ttl(self) -> int:
        """Delete expired items now. Returns how many were deleted."""
        with self._write_lock:
            res = self.items.get(where={"$and": [{"has_ttl": True}, {"expires_ts": {"$lte": time.time()}}]}, include=[])
            self._delete_ids(list(res["ids"]))
        return len(res["ids"])

    def start_ttl_sweeper(self, sweep_interval_minutes: float | None = None) -> concurrent.futures.Future[None]:
        """Sweep expired items periodically in a daemon thread (interval: argument, ``ttl`` config, or 5 min).

        Expired items are never returned even before a sweep deletes them.
        """
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        if self._sweeper is not None and self._sweeper.is_alive():
            future.set_result(None)
            return future
        interval = sweep_interval_minutes or (self.ttl_config or {}).get("sweep_interval_minutes") or 5
        self._sweeper_stop.clear()

        def loop() -> None:
            try:
                while not self._sweeper_stop.wait(float(interval) * 60.0):
                    try:
                        if removed := self.sweep_ttl():
                            logger.info("TTL sweep deleted %d expired items", removed)
                    except Exception:
                        logger.exception("TTL sweep failed; retrying at the next interval")
            finally:
                future.set_result(None)

        self._sweeper = threading.Thread(target=loop, name="lightmem-ttl-sweeper", daemon=True)
        self._sweeper.start()
        return future

    def stop_ttl_sweeper(self, timeout: float | None = None) -> bool:
        """Stop the sweeper thread. Returns True when it has stopped (or never ran)."""
        if self._sweeper is None:
            return True
        self._sweeper_stop.set()
        self._sweeper.join(timeout)
        stopped = not self._sweeper.is_alive()
        if stopped:
            self._sweeper = None
        return stopped

    def __enter__(self) -> LightMemStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_ttl_sweeper()

    # -- records --------------------------------------------------------------------------------------------

    @staticmethod
    def _record(document: str, meta: Mapping[str, Any]) -> _Record:
        item = Item(
            value=json.loads(document),
            key=str(meta["key"]),
            namespace=tuple(str(meta["ns"]).split(".")),
            created_at=_iso(float(meta["created_ts"])),
            updated_at=_iso(float(meta["updated_ts"])),
        )
        return _Record(item, int(meta["seq"]), float(meta["ttl_minutes"]) if meta.get("has_ttl") else None)

    # -- (*user, MEMORIES): the pipeline's long-term memories ---------------------------------------------------

    def _memory_scope(self, prefix: Namespace) -> list[Namespace] | None:
        """The users whose memories view ``(*user, label)`` lies under ``prefix`` (None: memories are off)."""
        if self.memories_label is None:
            return None
        label = self.memories_label
        return [
            user
            for user in self._lightmem().memory_namespaces()
            if not any("." in part for part in user)  # not addressable through the store
            and (*user, label)[: len(prefix)] == prefix
        ]

    def _memory_item(self, entry: MemoryEntry) -> Item:
        from langchain_lightmem.memory import saved_entry_id

        saved = saved_entry_id(entry.namespace, "")
        key = entry.id[len(saved) :] if entry.id.startswith(saved) else entry.id
        assert self.memories_label is not None
        return Item(
            value=entry.to_value(),
            key=key,
            namespace=(*entry.namespace, self.memories_label),
            created_at=entry.ingested_at,
            updated_at=entry.valid_from or entry.ingested_at,
        )

    def _memory_record(self, entry: MemoryEntry) -> _Record:
        return _Record(self._memory_item(entry), int(entry.ingested_at.timestamp() * 1e9), None)

    def _get_memory(self, user: Namespace, key: str) -> Item | None:
        from langchain_lightmem.memory import saved_entry_id
        from langchain_lightmem.types import normalize_namespace

        user = normalize_namespace(user)
        found = {e.id: e for e in self._lightmem().get(user, [saved_entry_id(user, key), key])}
        entry = found.get(saved_entry_id(user, key)) or found.get(key)
        return self._memory_item(entry) if entry is not None else None

    def _search_memories(self, users: list[Namespace], op: SearchOp, ranked_by_query: bool, want: int) -> _Hits:
        memory = self._lightmem()
        if not ranked_by_query or not op.query:
            records = [self._memory_record(e) for user in users for e in memory.entries(user, include_pending=True)]
            return _Hits([], [r for r in records if matches(r.item.value, op.filter)])
        ranked: list[tuple[float, _Record]] = []
        for user in users:  # one collection per user: ask each for enough that pass the filter
            n = max(want, 10) * 2
            while True:
                hits = memory.search(user, op.query, k=n, **self.memory_search)  # hybrid by default
                passing = [
                    (hit.score, record)
                    for hit in hits
                    if matches((record := self._memory_record(hit.entry)).item.value, op.filter)
                ]
                if len(passing) >= want or len(hits) < n:
                    ranked.extend(passing)
                    break
                n *= 4
        return _Hits(ranked, [])

    def _memory_text(self, value: Mapping[str, Any]) -> str:
        """The text of a memory saved through the view; refuses values that are not memories."""
        unknown = set(value) - _MEMORY_FIELDS
        text = value.get("text", value.get("content"))
        if unknown or not isinstance(text, str):
            extra = f"; unexpected: {sorted(unknown)}" if unknown else ""
            raise InvalidStoreInputError(
                f"items of a '{self.memories_label}' namespace are LightMem memories: give 'text' (or 'content') and "
                f"optionally 'event_time', 'thread_id', 'speaker'{extra}. Any other namespace, such as "
                "(user_id, 'memories'), holds arbitrary JSON.",
                field="value",
            )
        return text

    def _memory_input(self, user: Namespace, op: PutOp) -> None:
        """Refuse a memory put before anything of the batch is written, exactly as ``LightMem.remember`` would
        (the same checks and limits: a text over ``input.max_message_chars``, a bad ``event_time``, key, ...)."""
        from langchain_lightmem.normalize import normalize_memory
        from langchain_lightmem.types import normalize_namespace

        assert op.value is not None
        normalize_namespace(user)
        normalize_memory(
            self._memory_text(op.value),
            key=op.key,
            event_time=op.value.get("event_time"),
            thread_id=op.value.get("thread_id"),
            speaker=op.value.get("speaker"),
            max_chars=self._lightmem().config.input.max_message_chars,
        )

    def _put_memory(self, user: Namespace, op: PutOp) -> None:
        from langchain_lightmem.memory import saved_entry_id
        from langchain_lightmem.types import normalize_namespace

        memory = self._lightmem()
        user = normalize_namespace(user)
        if op.value is None:
            memory.delete(user, [saved_entry_id(user, op.key), op.key])
            return
        value = op.value
        text = self._memory_text(value)
        memory.remember(
            user,
            text,
            key=op.key,
            event_time=value.get("event_time"),
            thread_id=value.get("thread_id"),
            speaker=value.get("speaker"),
        )

    # -- (*user, MESSAGES): the write path ----------------------------------------------------------------------

    def _message_item(self, message: Message) -> Item:
        value: dict[str, Any] = {
            "role": message.role,
            "content": message.content,
            "timestamp": message.timestamp.isoformat(),
        }
        if message.thread_id is not None:
            value["thread_id"] = message.thread_id
        if message.speaker is not None:
            value["speaker"] = message.speaker
        assert self.messages_label is not None
        return Item(
            value=value,
            key=message.id,
            namespace=(*message.namespace, self.messages_label),
            created_at=message.timestamp,
            updated_at=message.timestamp,
        )

    def _get_message(self, user: Namespace, key: str) -> Item | None:
        from langchain_lightmem.types import normalize_namespace

        found = self._lightmem().messages_by_id(normalize_namespace(user), [key])
        return self._message_item(found[key]) if key in found else None

    def _search_messages(self, user: Namespace, op: SearchOp) -> _Hits:
        messages = self._lightmem().recent_messages(user)
        records = [_Record(self._message_item(m), m.seq, None) for m in messages]
        return _Hits([], [r for r in records if matches(r.item.value, op.filter)])

    def _put_messages(self, user: Namespace, ops: list[PutOp]) -> None:
        batch = []
        for op in ops:
            assert op.value is not None
            if not isinstance(op.value, Mapping):
                raise StoreError(f"a message must be a dict with 'role' and 'content', got {type(op.value).__name__}")
            batch.append({**op.value, "id": op.key})
        self._lightmem().add(batch, namespace=user)


def _ephemeral_client() -> Any:
    import chromadb
    from chromadb.config import Settings

    return chromadb.EphemeralClient(settings=Settings(anonymized_telemetry=False))


__all__ = ["MEMORIES", "MESSAGES", "LightMemStore"]
