"""The facade: ``LightMem`` wires the stages together and is what users and the surfaces call."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig

from langchain_lightmem.accounting import StageUsage, UsageLedger
from langchain_lightmem.config import LightMemConfig
from langchain_lightmem.errors import InvalidMessageError
from langchain_lightmem.graphs.consolidate import (
    ConsolidationReport,
    build_consolidate_all_graph,
    build_consolidation_graph,
)
from langchain_lightmem.graphs.ingest import build_ingest_graph
from langchain_lightmem.journal import Journal
from langchain_lightmem.long_term.consolidation import LLMDecider
from langchain_lightmem.long_term.lexical import LexicalIndex
from langchain_lightmem.long_term.retrieval import MemoryContext, MemorySearcher
from langchain_lightmem.long_term.store import ChromaMemoryStore
from langchain_lightmem.models import load_embeddings
from langchain_lightmem.normalize import MessageLike, parse_timestamp
from langchain_lightmem.pipeline import Pipeline
from langchain_lightmem.sensory.compression import Compressor, build_compressor
from langchain_lightmem.sensory.segmentation import Segmenter, build_segmenter
from langchain_lightmem.short_term.extraction import ExtractiveExtractor, Extractor, LLMExtractor
from langchain_lightmem.tokens import TokenCounter
from langchain_lightmem.types import (
    AddResult,
    MemoryEntry,
    Namespace,
    NamespaceLike,
    SearchResult,
    namespace_key,
    normalize_namespace,
)

if TYPE_CHECKING:
    from langchain_lightmem.integrations.retriever import LightMemRetriever
    from langchain_lightmem.types import Message

TimeRange = tuple[datetime | None, datetime | None]
_T = TypeVar("_T")


def _reference_time(value: datetime | str | float | None) -> datetime | None:
    """A question's date as an aware datetime (ISO text, epoch seconds or a datetime; naive means UTC)."""
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except ValueError as exc:
        raise InvalidMessageError(f"reference_time: {exc}") from None


def saved_entry_id(namespace: Namespace, key: str) -> str:
    """The id of a memory saved with :meth:`LightMem.remember`: ``saved:<namespace>:<key>``, unique per namespace."""
    return f"saved:{namespace_key(namespace)}:{key}"


@dataclass(slots=True)
class NamespaceStats:
    """What one namespace holds and what it cost."""

    namespace: Namespace
    messages: dict[str, int]
    batches: dict[str, int]
    entries: int
    usage: dict[str, StageUsage] = field(default_factory=dict)

    @property
    def llm_calls(self) -> int:
        return sum(u.calls for u in self.usage.values())


class LightMem:
    """LightMem long-term memory: add messages, get standalone memories back by search.

    Messages go through sensory memory (compression, topic segmentation), short-term memory (batches of whole
    topic segments, one extraction call each) into long-term memory (Chroma). Without a chat model the product
    runs LLM-free: each message of a segment becomes an entry.

    Setup:
        .. code-block:: bash

            pip install 'langchain-lightmem[all]'   # after: pip install torch==2.13.0 (CPU)

    Key init args:
        config: :class:`LightMemConfig`; the data folder, thresholds and backends.
        chat_model: any LangChain chat model for extraction; ``None`` runs LLM-free.
        embeddings: any LangChain ``Embeddings``; default the packaged all-MiniLM-L6-v2.
        compressor / segmenter / extractor: replace a stage with your own component.

    Instantiate:
        .. code-block:: python

            from langchain_lightmem import LightMem, LightMemConfig

            memory = LightMem(LightMemConfig(data_dir="./memory"))

    Add:
        .. code-block:: python

            memory.add(
                [{"role": "user", "content": "I moved to Berlin in May.", "timestamp": "2024-06-01T10:00:00Z"}],
                namespace="alice",
                thread_id="chat-1",
            )
            memory.flush("alice")  # force what is still buffered through extraction

    Search:
        .. code-block:: python

            for hit in memory.search("alice", "Where does Alice live?", k=5):
                print(hit.score, hit.render(), hit.entry.source_ids)

    Async:
        .. code-block:: python

            await memory.aadd(messages, namespace="alice")
            hits = await memory.asearch("alice", "Where does Alice live?")

    Use as retriever:
        .. code-block:: python

            retriever = memory.as_retriever(namespace="alice", k=5)
            docs = retriever.invoke("Where does Alice live?")
    """

    def __init__(
        self,
        config: LightMemConfig | None = None,
        *,
        chat_model: BaseChatModel | None = None,
        embeddings: Embeddings | None = None,
        compressor: Compressor | None = None,
        segmenter: Segmenter | None = None,
        extractor: Extractor | None = None,
    ) -> None:
        self.config = config or LightMemConfig()
        self.chat_model = chat_model
        counter = TokenCounter(self.config.token_encoding)
        self.embeddings = embeddings or load_embeddings(self.config.embeddings)
        if extractor is None:
            extractor = (
                LLMExtractor(chat_model, self.config.extraction, counter)
                if chat_model is not None
                else ExtractiveExtractor()
            )
        journal_path = ":memory:" if self.config.chroma.mode == "ephemeral" else self.config.journal_path
        self.pipeline = Pipeline(
            config=self.config,
            journal=Journal(journal_path),
            counter=counter,
            embeddings=self.embeddings,
            compressor=(compressor := compressor or build_compressor(self.config.compression)),
            segmenter=segmenter or build_segmenter(self.config.segmentation, self.embeddings, compressor=compressor),
            extractor=extractor,
            store=ChromaMemoryStore(
                self.config.chroma,
                self.config.chroma_path,
                self.embeddings,
                lexical=LexicalIndex(self.config.lexical_path),
            ),
            ledger=UsageLedger(),
        )
        self.graph = build_ingest_graph(self.pipeline)
        self.searcher = MemorySearcher(self.pipeline.store, self.config.retrieval, counter)
        self._namespace_consolidation = build_consolidation_graph(
            journal=self.pipeline.journal,
            store=self.pipeline.store,
            config=self.config.consolidation,
            decider=LLMDecider(chat_model, self.config.extraction, counter) if chat_model is not None else None,
            ledger=self.pipeline.ledger,
            owner=self.pipeline.worker_id,
        )
        self.consolidation_graph = build_consolidate_all_graph(
            self._namespace_consolidation, self.consolidation_backlog
        )
        self._locks: dict[Namespace, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._closed = False

    # -- plumbing -------------------------------------------------------------------------------------------

    @property
    def journal(self) -> Journal:
        return self.pipeline.journal

    @property
    def store(self) -> ChromaMemoryStore:
        return self.pipeline.store

    @property
    def llm_free(self) -> bool:
        """True when no chat model extracts facts (each message becomes an entry)."""
        return isinstance(self.pipeline.extractor, ExtractiveExtractor)

    def _lock(self, namespace: Namespace) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(namespace, threading.Lock())

    def _run(self, state: dict[str, Any], config: RunnableConfig | None) -> dict[str, Any]:
        if self._closed:
            raise RuntimeError("this LightMem is closed; create a new one")
        namespace = state["namespace"]
        with self._lock(namespace):
            return self.graph.invoke(state, config=config)

    def close(self) -> None:
        """Release the journal (Chroma needs no explicit close)."""
        if not self._closed:
            self._closed = True
            self.journal.release(self.pipeline.worker_id)
            self.journal.close()
            if self.store.lexical is not None:
                self.store.lexical.close()

    def __enter__(self) -> LightMem:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- write ----------------------------------------------------------------------------------------------

    def add(
        self,
        messages: Sequence[MessageLike],
        *,
        namespace: NamespaceLike,
        thread_id: str | None = None,
        config: RunnableConfig | None = None,
    ) -> AddResult:
        """Accept messages for a namespace (a user or tenant) and run them as far through the pipeline as they go.

        Accepted messages are durable when this returns. Segments and batches that are complete are extracted
        and written now; the rest waits in the buffers (call :meth:`flush` to force it).

        Args:
            messages: LangChain ``BaseMessage`` objects or dicts with ``role`` and ``content`` (optional
                ``timestamp``, ``speaker``, ``id``, ``thread_id``).
            namespace: ``"alice"`` or ``("org", "alice")``.
            thread_id: the conversation/session these messages belong to.
            config: LangChain run config (callbacks, tags) passed down to the chat model.

        Raises:
            InvalidMessageError: a message cannot be accepted; nothing of this call was stored.
            InvalidNamespaceError: the namespace is empty or malformed.
        """
        ns = normalize_namespace(namespace)
        out = self._run({"namespace": ns, "messages": list(messages), "thread_id": thread_id}, config)
        return AddResult(
            accepted=out.get("accepted", []),
            duplicates=out.get("duplicates", []),
            entries_written=out.get("written", 0),
            batches_extracted=len(out.get("ready", [])),
        )

    def flush(self, namespace: NamespaceLike, *, config: RunnableConfig | None = None) -> AddResult:
        """Force every buffered message of the namespace through segmentation, extraction and storage."""
        ns = normalize_namespace(namespace)
        out = self._run({"namespace": ns, "messages": [], "flush": True}, config)
        return AddResult(
            accepted=[],
            duplicates=[],
            entries_written=out.get("written", 0),
            batches_extracted=len(out.get("ready", [])),
        )

    async def aadd(
        self,
        messages: Sequence[MessageLike],
        *,
        namespace: NamespaceLike,
        thread_id: str | None = None,
        config: RunnableConfig | None = None,
    ) -> AddResult:
        """Async :meth:`add`. The stages are CPU-bound and SQLite is synchronous: this runs in a worker thread."""
        return await asyncio.to_thread(self.add, messages, namespace=namespace, thread_id=thread_id, config=config)

    async def aflush(self, namespace: NamespaceLike, *, config: RunnableConfig | None = None) -> AddResult:
        """Async :meth:`flush` (in a worker thread)."""
        return await asyncio.to_thread(self.flush, namespace, config=config)

    # -- read -----------------------------------------------------------------------------------------------

    def search(
        self,
        namespace: NamespaceLike,
        query: str,
        *,
        k: int | None = None,
        filters: Mapping[str, Any] | None = None,
        time_range: TimeRange | None = None,
        include_history: bool = False,
        reference_time: datetime | str | float | None = None,
        mode: str | None = None,
        **retrieval: Any,
    ) -> list[SearchResult]:
        """The memories of ``namespace`` most relevant to ``query``, best first, with scores and provenance.

        Ranking follows the ``retrieval`` config (default hybrid: BM25 fused with vectors, time-aware,
        segment neighbours sharing relevance; see docs/retrieval.md). ``score`` is the ranking score: in [0, 1]
        for ``hybrid``/``lexical``, the cosine similarity for ``dense``.

        Args:
            k: how many (default ``retrieval.k``).
            filters: a Chroma ``where`` over entry metadata (``speaker``, ``thread_id``, ``method``, ...); it can
                only narrow the namespace, never widen it.
            time_range: ``(start, end)`` on the entries' event time; either end may be ``None``.
            include_history: also return superseded entries (after consolidation).
            reference_time: when the question is asked (default now): "last month" is relative to it.
            mode: ``"hybrid"``, ``"dense"`` or ``"lexical"`` for this call (default ``retrieval.mode``).
            **retrieval: other ``RetrievalConfig`` fields for this call (``time_mode="filter"``, ...).

        Raises:
            InvalidMessageError: ``reference_time`` cannot be parsed.
            pydantic.ValidationError: an unknown or invalid retrieval option.
        """
        return self._retrieve(
            self.searcher.search,
            namespace,
            query,
            reference_time,
            k=k,
            filters=filters,
            time_range=time_range,
            include_history=include_history,
            mode=mode,
            **retrieval,
        )

    async def asearch(self, namespace: NamespaceLike, query: str, **kwargs: Any) -> list[SearchResult]:
        """Async :meth:`search` (in a worker thread)."""
        return await asyncio.to_thread(self.search, namespace, query, **kwargs)

    def context(
        self,
        namespace: NamespaceLike,
        query: str,
        *,
        max_tokens: int | None = None,
        k: int | None = None,
        filters: Mapping[str, Any] | None = None,
        time_range: TimeRange | None = None,
        include_history: bool = False,
        reference_time: datetime | str | float | None = None,
        **retrieval: Any,
    ) -> MemoryContext:
        """The best memories for ``query`` that fit ``max_tokens``, deduplicated, grouped by day, with sources.

        The top ``retrieval.expand`` hits bring their topic-segment neighbours along (multi-hop questions often
        need the turn next to the one that matched). ``context.render()`` goes into a prompt; ``context.items``
        keep each memory's entry and source message ids.

        Example:
            .. code-block:: python

                ctx = memory.context("alice", "What did I cook last week?", max_tokens=500)
                print(ctx.render())
                # 2024-05-06 (Mon)
                # - alice: I made a mushroom risotto for my sister.
        """
        return self._retrieve(
            self.searcher.context,
            namespace,
            query,
            reference_time,
            max_tokens=max_tokens,
            k=k,
            filters=filters,
            time_range=time_range,
            include_history=include_history,
            **retrieval,
        )

    def _retrieve(
        self,
        method: Callable[..., _T],
        namespace: NamespaceLike,
        query: str,
        reference_time: datetime | str | float | None,
        **options: Any,
    ) -> _T:
        """One :class:`MemorySearcher` call, timed as the namespace's ``search`` stage."""
        ns = normalize_namespace(namespace)
        when = _reference_time(reference_time)
        with self.pipeline.ledger.timed(ns, "search", items=1):
            return method(ns, query, reference_time=when, **options)

    async def acontext(self, namespace: NamespaceLike, query: str, **kwargs: Any) -> MemoryContext:
        """Async :meth:`context` (in a worker thread)."""
        return await asyncio.to_thread(self.context, namespace, query, **kwargs)

    def entries(self, namespace: NamespaceLike, *, include_history: bool = False) -> list[MemoryEntry]:
        """Every memory entry of the namespace, oldest event first."""
        return self.store.list(normalize_namespace(namespace), include_history=include_history)

    def recent_messages(
        self, namespace: NamespaceLike, *, thread_id: str | None = None, limit: int | None = None, after_seq: int = 0
    ) -> list[Message]:
        """The newest ``limit`` raw messages of the namespace (of one thread if given), oldest first, as accepted."""
        return self.journal.recent_messages(
            normalize_namespace(namespace), thread_id=thread_id, limit=limit, after_seq=after_seq
        )

    def remember(
        self,
        namespace: NamespaceLike,
        text: str,
        *,
        key: str | None = None,
        event_time: datetime | str | float | None = None,
        thread_id: str | None = None,
        speaker: str | None = None,
    ) -> MemoryEntry:
        """Store ``text`` as a long-term memory now, without extraction (an agent's ``save_memory`` tool).

        The entry's id is :func:`saved_entry_id` of ``(namespace, key)``: saving the same key again replaces it.
        Its ``method`` is ``"extractive"`` (the text is kept as given) and it has no source messages.

        Raises:
            InvalidMessageError: ``text`` is empty or ``event_time`` cannot be parsed.
        """
        import uuid

        from langchain_lightmem.errors import InvalidMessageError
        from langchain_lightmem.normalize import clean_text, parse_timestamp
        from langchain_lightmem.types import utcnow

        ns = normalize_namespace(namespace)
        cleaned = clean_text(text).strip() if isinstance(text, str) else ""
        if not cleaned:
            raise InvalidMessageError("a memory needs non-empty text")
        try:
            when = parse_timestamp(event_time) if event_time is not None else None
        except ValueError as exc:
            raise InvalidMessageError(str(exc)) from None
        entry = MemoryEntry(
            id=saved_entry_id(ns, key if key is not None else uuid.uuid4().hex),
            namespace=ns,
            text=cleaned,
            source_ids=[],
            thread_id=thread_id,
            speaker=speaker,
            event_time=when or utcnow(),
            method="extractive",
        )
        # Saving a key again replaces it completely, also when consolidation moved the old one to history.
        self.store.delete(ns, [entry.id])
        self.store.upsert([entry])
        self.journal.enqueue_for_consolidation(ns, [entry.id])  # it may update or supersede older memories too
        return entry

    def as_retriever(self, *, namespace: NamespaceLike, k: int | None = None, **kwargs: Any) -> LightMemRetriever:
        """A LangChain retriever over this namespace's memories."""
        from langchain_lightmem.integrations.retriever import LightMemRetriever

        return LightMemRetriever(
            memory=self, namespace=normalize_namespace(namespace), k=k or self.config.retrieval.k, **kwargs
        )

    # -- sleep-time consolidation ------------------------------------------------------------------------------

    def consolidate(self, namespace: NamespaceLike | None = None) -> list[ConsolidationReport]:
        """Run the sleep-time update for one namespace, or for every namespace with new entries (``None``).

        Newer memories update (merge into) or supersede older similar ones; with no chat model, near-duplicates
        are merged. Incremental (only entries written since the last run start work), idempotent (nothing new:
        no call, no change), resumable, and guarded by a per-namespace lease (a busy namespace is reported with
        ``busy=True`` and skipped). Superseded memories stay visible with ``include_history=True``.
        """
        state = {"namespace": normalize_namespace(namespace) if namespace is not None else None}
        limit = self.config.consolidation.max_concurrency
        out = self.consolidation_graph.invoke(state, config={"max_concurrency": limit})
        return sorted(out.get("reports", []), key=lambda r: r.namespace)

    def consolidation_backlog(self) -> list[Namespace]:
        """Namespaces with entries written since their last consolidation (or decisions left to apply)."""
        return sorted(set(self.journal.queued_namespaces()) | set(self.journal.namespaces_with_unapplied()))

    async def aconsolidate(self, namespace: NamespaceLike | None = None) -> list[ConsolidationReport]:
        """Async :meth:`consolidate` (in a worker thread)."""
        return await asyncio.to_thread(self.consolidate, namespace)

    # -- bookkeeping ----------------------------------------------------------------------------------------

    def namespaces(self) -> list[Namespace]:
        """Every namespace with messages in the journal."""
        return self.journal.namespaces()

    def stats(self, namespace: NamespaceLike) -> NamespaceStats:
        """Messages per stage, batches per status, stored entries, and calls/tokens/seconds per stage."""
        ns = normalize_namespace(namespace)
        usage = {stage: row for (_, stage), row in self.journal.usage(ns).items()}
        for (_, stage), row in self.pipeline.ledger.snapshot(ns).items():
            usage.setdefault(stage, StageUsage(stage)).add(row)
        return NamespaceStats(
            namespace=ns,
            messages=self.journal.stage_counts(ns),
            batches=self.journal.batch_counts(ns),
            entries=self.store.count(ns),
            usage=usage,
        )

    def delete(self, namespace: NamespaceLike, ids: Sequence[str]) -> int:
        """Delete memory entries by id within the namespace. Returns how many were deleted."""
        return self.store.delete(normalize_namespace(namespace), ids)

    def forget(self, namespace: NamespaceLike) -> dict[str, int]:
        """Delete everything held for a namespace: raw messages, buffers, batches, usage and memory entries."""
        ns = normalize_namespace(namespace)
        with self._lock(ns):
            entries = self.store.delete_namespace(ns)
            messages = self.journal.forget(ns)
            self.pipeline.ledger.drain(ns)
        return {"messages": messages, "entries": entries}
