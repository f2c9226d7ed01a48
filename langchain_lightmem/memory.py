"""The facade: ``LightMem`` wires the stages together and is what users and the surfaces call."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig, ensure_config
from langchain_core.runnables.config import var_child_runnable_config

from langchain_lightmem.accounting import StageUsage, UsageLedger
from langchain_lightmem.config import LightMemConfig
from langchain_lightmem.errors import InvalidMessageError
from langchain_lightmem.folder import DataFolder, compact_chroma, read_only_client
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
from langchain_lightmem.models import embeddings_model_id, load_embeddings
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
from langchain_lightmem.worker import BackgroundWorker

if TYPE_CHECKING:
    from langchain_lightmem.integrations.retriever import LightMemRetriever
    from langchain_lightmem.types import Message

TimeRange = tuple[datetime | None, datetime | None]
_T = TypeVar("_T")
logger = logging.getLogger(__name__)


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
    pending: int = 0
    """Messages accepted but not extracted yet: searchable as themselves until their memories exist."""

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
        # First, before any model loads: one process per embedded folder (FolderInUseError), and whether this
        # process can write the folder at all (a read-only folder opens for reading only).
        self.folder = DataFolder.open(self.config)
        self.read_only = self.folder.read_only
        weakref.finalize(self, self.folder.close)  # a LightMem dropped without close() frees the folder too
        try:
            self._open(chat_model, embeddings, compressor, segmenter, extractor)
        except BaseException:
            self.folder.close()
            raise

    def _open(
        self,
        chat_model: BaseChatModel | None,
        embeddings: Embeddings | None,
        compressor: Compressor | None,
        segmenter: Segmenter | None,
        extractor: Extractor | None,
    ) -> None:
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
        journal = Journal(journal_path, read_only=self.read_only)
        try:
            lexical = LexicalIndex(self.config.lexical_path, read_only=self.read_only)
        except BaseException:
            journal.close()
            raise
        self.pipeline = Pipeline(
            config=self.config,
            journal=journal,
            counter=counter,
            embeddings=self.embeddings,
            compressor=(compressor := compressor or build_compressor(self.config.compression)),
            segmenter=segmenter or build_segmenter(self.config.segmentation, self.embeddings, compressor=compressor),
            extractor=extractor,
            store=ChromaMemoryStore(self.config.chroma, self.config.chroma_path, self.embeddings, lexical=lexical),
            ledger=UsageLedger(),
        )
        if self.read_only:  # collection-level writes (forget) refused before they reach Chroma (a server too)
            self.pipeline.store.client = read_only_client(self.pipeline.store.client, self.folder.path)
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
            self._namespace_consolidation, self.consolidation_backlog, lambda ns: self.flush_idle(namespace=ns)
        )
        self._locks: dict[Namespace, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self.worker = BackgroundWorker(self._process, self.flush_idle, self.config.background)
        self._closed = False

    # -- plumbing -------------------------------------------------------------------------------------------

    @property
    def journal(self) -> Journal:
        return self.pipeline.journal

    @property
    def store(self) -> ChromaMemoryStore:
        return self.pipeline.store

    @property
    def relevance_calibrated(self) -> bool:
        """Whether search scores are calibrated relevance for these embeddings (``retrieval.relevance.models``)."""
        return embeddings_model_id(self.embeddings) in self.config.retrieval.relevance.models

    @property
    def llm_free(self) -> bool:
        """True when no chat model extracts facts (each message becomes an entry)."""
        return isinstance(self.pipeline.extractor, ExtractiveExtractor)

    def _lock(self, namespace: Namespace) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(namespace, threading.Lock())

    def _run(
        self,
        state: dict[str, Any],
        config: RunnableConfig | None,
        *,
        trace: RunnableConfig | None = None,
        locked: bool = True,
    ) -> tuple[dict[str, Any], str | None]:
        """Run the ingest graph; returns its final state and the error of a stage after acceptance, if any.

        A failure before the messages are in the journal raises (nothing was stored); a failure after it is
        returned instead of raised (the messages are safe, the next run retries that stage). ``config`` traces the
        whole graph under the caller's run. Without it the graph runs detached from the caller's run (a store put
        inside a node would otherwise show the ingest graph's nodes in its trace) and only its LLM calls are
        traced, under ``trace`` (default: the run we are called from).
        """
        if self._closed:
            raise RuntimeError("this LightMem is closed; create a new one")
        namespace = state["namespace"]
        if config is None:
            state = {**state, "llm_config": trace if trace is not None else _llm_trace(ensure_config())}
        out = dict(state)
        accepted = False

        def stream() -> None:
            nonlocal accepted
            if config is None:  # detach from the caller's run: LangGraph would nest the graph under it
                var_child_runnable_config.set(None)
            for update in self.graph.stream(state, config=config, stream_mode="updates"):
                for node, values in update.items():
                    out.update(values or {})
                    accepted = accepted or node == "normalise"

        guard = self._lock(namespace) if locked else contextlib.nullcontext()
        with guard:
            try:
                contextvars.copy_context().run(stream)
            except Exception as exc:
                if not accepted:
                    raise
                logger.warning(
                    "LightMem: a stage after acceptance failed for %s (%s: %s); its messages are stored and "
                    "searchable, and the stage is retried on the next run",
                    namespace,
                    type(exc).__name__,
                    exc,
                )
                return out, f"{type(exc).__name__}: {exc}"
        return out, None

    def _process(self, namespace: Namespace, trace: RunnableConfig | None) -> None:
        """The worker's run: the write path of one namespace from the journal (a stage error is retried later)."""
        _, error = self._run({"namespace": namespace, "messages": []}, None, trace=trace or {})
        if error is not None:
            raise RuntimeError(error)

    def close(self) -> None:
        """Finish the background work in progress, then release the journal and the data folder (Chroma needs no
        explicit close)."""
        if not self._closed:
            self.worker.close()
            self._closed = True
            try:
                if not self.read_only:
                    self.journal.release(self.pipeline.worker_id)
                self.journal.close()
                if self.store.lexical is not None:
                    self.store.lexical.close()
            finally:
                self.folder.close()

    def vacuum(self) -> list[str]:
        """Compact the data folder so that deleted text is gone from its files, while this process keeps running.

        Deleted rows leave their bytes in SQLite's free pages and write-ahead logs. Through this process's own
        connections, the journal and the lexical index are checkpointed (their ``-wal`` files emptied) and
        VACUUMed; an embedded Chroma's ``chroma.sqlite3`` is VACUUMed (in a child process: Chroma's own SQLite
        would not see this process's locks) and the vector folders of deleted collections are removed. A Chroma
        server is not touched (``chroma vacuum --path DIR`` where it runs). Other threads' calls wait for each
        file's turn. Not covered: Chroma 1.5's vector files may hold stray process memory in their unused slots
        (docs/reliability.md, "Data folders").

        Returns:
            The paths compacted.

        Raises:
            FolderInUseError: another process has the folder open ("folder is in use"); with a Chroma server,
                processes share the folder: vacuum when the others have closed it.
            ReadOnlyFolderError: the folder is read-only for this process.

        Example:
            .. code-block:: python

                memory.forget("alice")
                memory.vacuum()  # no file of the data folder holds alice's text any more
        """
        if self._closed:
            raise RuntimeError("this LightMem is closed; create a new one")
        done: list[str] = []
        with self.folder.exclusive():
            if self.journal.vacuum():
                done.append(self.journal.path)
            lexical = self.store.lexical
            if lexical is not None and lexical.vacuum():
                done.append(lexical.path)
            if self.config.chroma.mode == "persistent" and compact_chroma(self.config.chroma_path):
                done.append(str(self.config.chroma_path))
        return done

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
        background: bool = False,
        repair: bool = False,
    ) -> AddResult:
        """Accept messages for a namespace (a user or tenant) and run them as far through the pipeline as they go.

        Accepted messages are durable and searchable when this returns: until their batch is extracted each is
        found by :meth:`search` as itself (``hit.pending``), and then replaced by the memories made from it.
        Segments and batches that are complete are extracted and written now (``background=False``) or by the
        background worker (``background=True``: this returns as soon as the messages are accepted). A thread quiet
        for ``background.idle_flush_seconds`` is flushed by the worker; :meth:`flush` forces it now.

        Args:
            messages: LangChain ``BaseMessage`` objects or dicts with ``role`` and ``content`` (optional
                ``timestamp``, ``speaker``, ``id``, ``thread_id``).
            namespace: ``"alice"`` or ``("org", "alice")``.
            thread_id: the conversation/session these messages belong to.
            config: LangChain run config (callbacks, tags): the ingest graph is traced under it. Without one, only
                the chat-model calls are traced (under the run this is called from).
            background: return once the messages are accepted; the worker does the rest.
            repair: store a message that cannot be accepted as given repaired and marked (an unknown role as a
                system message, empty content as a placeholder, ...; see docs/input.md) instead of refusing the
                call. For callers that have nobody to raise to.

        Returns:
            What was accepted; ``deferred_error`` when a stage after acceptance failed (the messages are stored,
            searchable, and that stage is retried on the next run: retrying the call would add nothing).

        Raises:
            InvalidMessageError: a message cannot be accepted; nothing of this call was stored.
            InvalidNamespaceError: the namespace is empty or malformed.
            EmbeddingError: the embedder failed; nothing of this call was stored.
        """
        ns = normalize_namespace(namespace)
        state = {
            "namespace": ns,
            "messages": list(messages),
            "thread_id": thread_id,
            "accept_only": background,
            "repair": repair,
        }
        out, error = self._run(state, config, locked=not background)
        if background and out.get("accepted"):
            self.worker.schedule(ns, config or _llm_trace(ensure_config()))
        return AddResult(
            accepted=out.get("accepted", []),
            duplicates=out.get("duplicates", []),
            entries_written=out.get("written", 0),
            batches_extracted=len(out.get("ready", [])),
            deferred_error=error,
        )

    def flush(
        self, namespace: NamespaceLike, *, thread_id: str | None = None, config: RunnableConfig | None = None
    ) -> AddResult:
        """Force buffered messages of the namespace (of one thread, if given) through extraction and storage now.

        Without a flush, a batch is extracted when it is full or when its threads have been quiet for
        ``background.idle_flush_seconds`` (:meth:`flush_idle`); its messages are searchable as pending entries
        meanwhile.
        """
        ns = normalize_namespace(namespace)
        state = {"namespace": ns, "messages": [], "flush": True, "threads": None if thread_id is None else [thread_id]}
        out, error = self._run(state, config)
        return AddResult(
            accepted=[],
            duplicates=[],
            entries_written=out.get("written", 0),
            batches_extracted=len(out.get("ready", [])),
            deferred_error=error,
        )

    def flush_idle(
        self, idle_seconds: float | None = None, *, namespace: NamespaceLike | None = None, now: float | None = None
    ) -> dict[Namespace, AddResult]:
        """Flush the threads that have received no message for ``idle_seconds`` (default
        ``background.idle_flush_seconds``); returns what each flushed namespace wrote.

        When every thread of a namespace with open messages is quiet, the namespace is flushed entirely. When
        some are still active, only the quiet threads' open segments move on to short-term memory, where they wait
        for a full batch with the others (no extra extraction call). The background worker calls this every
        ``background.poll_seconds``; a cron job can call it too (``lightmem flush --idle``).
        """
        limit = self.config.background.idle_flush_seconds if idle_seconds is None else idle_seconds
        if limit is None:
            return {}
        now = time.time() if now is None else now
        results: dict[Namespace, AddResult] = {}
        only = normalize_namespace(namespace) if namespace is not None else None
        for ns, threads in self.journal.activity(only).items():
            quiet = {t for t, (last, _) in threads.items() if now - last >= limit}
            if not quiet:
                continue
            if len(quiet) == len(threads):
                results[ns] = self.flush(ns)
                continue
            ready = [t for t in quiet if threads[t][1]]  # quiet threads with an open sensory tail
            if ready:
                state = {"namespace": ns, "messages": [], "flush": True, "threads": ready, "hold_batch": True}
                out, error = self._run(state, None)
                results[ns] = AddResult([], [], out.get("written", 0), len(out.get("ready", [])), error)
        return results

    async def aadd(
        self,
        messages: Sequence[MessageLike],
        *,
        namespace: NamespaceLike,
        thread_id: str | None = None,
        config: RunnableConfig | None = None,
        background: bool = False,
        repair: bool = False,
    ) -> AddResult:
        """Async :meth:`add`. The stages are CPU-bound and SQLite is synchronous: this runs in a worker thread."""
        return await asyncio.to_thread(
            self.add,
            messages,
            namespace=namespace,
            thread_id=thread_id,
            config=config,
            background=background,
            repair=repair,
        )

    async def aflush(
        self, namespace: NamespaceLike, *, thread_id: str | None = None, config: RunnableConfig | None = None
    ) -> AddResult:
        """Async :meth:`flush` (in a worker thread)."""
        return await asyncio.to_thread(self.flush, namespace, thread_id=thread_id, config=config)

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

    def entries(
        self, namespace: NamespaceLike, *, include_history: bool = False, include_pending: bool = False
    ) -> list[MemoryEntry]:
        """Every memory entry of the namespace, oldest event first (``include_pending``: also the messages not
        extracted yet, as pending entries)."""
        return self.store.list(
            normalize_namespace(namespace), include_history=include_history, include_pending=include_pending
        )

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

    def get(self, namespace: NamespaceLike, ids: Sequence[str]) -> list[MemoryEntry]:
        """Entries of the namespace by id (history and pending included); ids of other namespaces are never found."""
        return self.store.get(normalize_namespace(namespace), list(ids))

    def update(self, namespace: NamespaceLike, entry_id: str, text: str) -> MemoryEntry:
        """Replace the text of one memory (an agent's correction): re-embedded, ``version`` + 1, provenance kept.

        Raises:
            InvalidMessageError: ``text`` is empty.
            KeyError: no current memory with that id in the namespace (pending entries are messages: they cannot
                be edited, only extracted or forgotten).
        """
        from langchain_lightmem.normalize import clean_text

        ns = normalize_namespace(namespace)
        cleaned = clean_text(text).strip() if isinstance(text, str) else ""
        if not cleaned:
            raise InvalidMessageError("a memory needs non-empty text")
        found = [e for e in self.store.get(ns, [entry_id]) if e.active and not e.pending]
        if not found:
            raise KeyError(f"no current memory {entry_id!r} in namespace {namespace_key(ns)!r}")
        entry = found[0].model_copy(update={"text": cleaned, "version": found[0].version + 1})
        self.store.upsert([entry])
        self.journal.enqueue_for_consolidation(ns, [entry.id])
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

        Threads quiet for ``background.idle_flush_seconds`` are flushed first, so their memories take part. Newer
        memories update (merge into) or supersede older similar ones; with no chat model, near-duplicates are
        merged. Incremental (only entries written since the last run start work), idempotent (nothing new:
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
        pending = len(self.store.pending_ids(ns))
        return NamespaceStats(
            namespace=ns,
            messages=self.journal.stage_counts(ns),
            batches=self.journal.batch_counts(ns),
            entries=self.store.count(ns) - pending,
            usage=usage,
            pending=pending,
        )

    def delete(self, namespace: NamespaceLike, ids: Sequence[str]) -> int:
        """Delete memory entries by id within the namespace. Returns how many were deleted."""
        return self.store.delete(normalize_namespace(namespace), ids)

    def forget(self, namespace: NamespaceLike) -> dict[str, int]:
        """Delete everything held for a namespace: raw messages, buffers, batches, usage and memory entries."""
        ns = normalize_namespace(namespace)
        self.worker.forget(ns)
        with self._lock(ns):
            entries = self.store.delete_namespace(ns)
            messages = self.journal.forget(ns)
            self.pipeline.ledger.drain(ns)
        return {"messages": messages, "entries": entries}


def _llm_trace(config: RunnableConfig) -> RunnableConfig:
    """What LLM calls of a quiet run keep of the caller's run: its callbacks, tags and metadata."""
    return {k: v for k, v in config.items() if k in ("callbacks", "tags", "metadata") and v}  # type: ignore[return-value]
