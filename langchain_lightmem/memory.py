"""The facade: ``LightMem`` wires the stages together and is what users and the surfaces call."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig, ensure_config
from langchain_core.runnables.config import var_child_runnable_config

from langchain_lightmem.accounting import StageUsage, UsageLedger
from langchain_lightmem.config import LightMemConfig
from langchain_lightmem.errors import InvalidMessageError, MemoryMissingError
from langchain_lightmem.folder import DataFolder, compact_chroma, read_only_client
from langchain_lightmem.graphs.consolidate import (
    ConsolidationReport,
    build_consolidate_all_graph,
    build_consolidation_graph,
)
from langchain_lightmem.graphs.ingest import build_ingest_graph
from langchain_lightmem.journal import BatchInfo, Journal, NamespaceForgottenError, consolidation_lease
from langchain_lightmem.long_term.consolidation import LLMDecider
from langchain_lightmem.long_term.lexical import LexicalBackend, LexicalIndex
from langchain_lightmem.long_term.relevance import default_min_score
from langchain_lightmem.long_term.retrieval import MemoryContext, MemorySearcher
from langchain_lightmem.long_term.store import ChromaMemoryStore
from langchain_lightmem.models import embeddings_model_id, load_embeddings
from langchain_lightmem.normalize import MessageLike, memory_text, normalize_memory
from langchain_lightmem.pipeline import Pipeline
from langchain_lightmem.sensory.compression import Compressor, build_compressor
from langchain_lightmem.sensory.segmentation import Segmenter, build_segmenter
from langchain_lightmem.short_term.coverage import Coverage
from langchain_lightmem.short_term.extraction import ExtractiveExtractor, Extractor, LLMExtractor
from langchain_lightmem.store_items import forget_items
from langchain_lightmem.tokens import TokenCounter
from langchain_lightmem.types import (
    AddResult,
    MemoryEntry,
    Message,
    Namespace,
    NamespaceLike,
    SearchResult,
    namespace_key,
    normalize_namespace,
)
from langchain_lightmem.validation import (
    validate_count,
    validate_filters,
    validate_id,
    validate_ids,
    validate_lookup_id,
    validate_query,
    validate_time_range,
    validate_timestamp,
)
from langchain_lightmem.worker import BackgroundWorker

if TYPE_CHECKING:
    from langchain_lightmem.integrations.retriever import LightMemRetriever

TimeRange = tuple[datetime | None, datetime | None]
_T = TypeVar("_T")
logger = logging.getLogger(__name__)


def _reference_time(value: datetime | str | float | None) -> datetime | None:
    """A question's date as an aware datetime (ISO text, epoch seconds or a datetime, 1970 to 3000; naive means UTC).

    Raises:
        InvalidTimeError: unparseable or out of range (an ``InvalidMessageError`` too, as before).
    """
    return validate_timestamp(value, "reference_time") if value is not None else None


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
    coverage: Coverage = field(default_factory=Coverage)
    """What extracted facts covered, summed over batches (see :mod:`langchain_lightmem.short_term.coverage`)."""
    batch_coverage: dict[str, Coverage] = field(default_factory=dict)
    """The same per extracted batch id."""

    @property
    def llm_calls(self) -> int:
        return sum(u.calls for u in self.usage.values())


@dataclass(slots=True)
class NamespaceSnapshot:
    """Everything LightMem holds for one namespace, for inspection (``lightmem inspect``): every message with its
    stage, topic segment and batch; every memory (current, superseded and pending); every batch; the consolidation
    decisions; usage; and when the background worker would flush the quietest open thread."""

    namespace: Namespace
    messages: list[Message]
    entries: list[MemoryEntry]
    batches: list[BatchInfo]
    decisions: list[Decided]
    stats: NamespaceStats
    idle_flush_seconds: float | None
    next_idle_flush: float | None  # epoch seconds; None: nothing open (or idle flush off)


@dataclass(slots=True, frozen=True)
class Decided:
    """A consolidation decision: ``target_id`` was updated (merged ``text``), superseded or kept, from ``newer_ids``."""

    target_id: str
    action: str
    newer_ids: tuple[str, ...]
    text: str | None
    applied: bool


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

    Public attributes: ``config``, ``chat_model``, ``embeddings`` (the embedder in use) and ``read_only``. The
    surfaces (``integrations/``, the CLI, ``inspect/``) use only the methods and attributes documented here; the
    journal, the long-term store and the pipeline behind them are internal (``docs/architecture.md``).

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
        journal, lexical = self._open_backends()
        # The facade keeps the concrete store (its Chroma client and lexical index are closed and vacuumed here);
        # the pipeline, retrieval and consolidation see it through the protocols of long_term/base.py.
        self._chroma = ChromaMemoryStore(self.config.chroma, self.config.chroma_path, self.embeddings, lexical=lexical)
        self.pipeline = Pipeline(
            config=self.config,
            journal=journal,
            counter=counter,
            embeddings=self.embeddings,
            compressor=(compressor := compressor or build_compressor(self.config.compression)),
            segmenter=segmenter or build_segmenter(self.config.segmentation, self.embeddings, compressor=compressor),
            extractor=extractor,
            store=self._chroma,
            ledger=UsageLedger(),
        )
        if self.read_only:  # collection-level writes (forget) refused before they reach Chroma (a server too)
            self._chroma.client = read_only_client(self._chroma.client, self.folder.path)
        self.graph = build_ingest_graph(self.pipeline)
        self.searcher = MemorySearcher(self._chroma, self.config.retrieval, counter)
        self._namespace_consolidation = build_consolidation_graph(
            journal=self.pipeline.journal,
            store=self._chroma,
            config=self.config.consolidation,
            decider=LLMDecider(chat_model, self.config.extraction, counter) if chat_model is not None else None,
            ledger=self.pipeline.ledger,
            owner=self.pipeline.worker_id,
        )
        self.consolidation_graph = build_consolidate_all_graph(
            self._namespace_consolidation,
            self.consolidation_backlog,
            lambda ns: self.flush_idle(namespace=ns),
            ledger=self.pipeline.ledger,
        )
        self._locks: dict[Namespace, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self.worker = BackgroundWorker(self._process, self.flush_idle, self.config.background)
        self._present: set[Namespace] = set()  # namespaces whose long-term memory was found where the journal says
        self._forget_listeners: weakref.WeakSet[Any] = weakref.WeakSet()  # surfaces with data of their own
        self._closed = False
        if self.config.chroma.warm_up:
            threading.Thread(target=self._warm_up_quietly, name="lightmem-warm-up", daemon=True).start()

    def _open_backends(self) -> tuple[Journal, LexicalBackend]:
        """The journal and the lexical index: SQLite files in the data folder, or tables on PostgreSQL."""
        if self.config.backend == "postgres":
            from langchain_lightmem.database import PostgresDatabase
            from langchain_lightmem.long_term.lexical_postgres import PostgresLexicalIndex

            pg = self.config.postgres
            assert pg.url is not None
            database = PostgresDatabase.from_conn_string(
                pg.url.get_secret_value(),
                schema=pg.schema_name,
                min_size=pg.pool_min_size,
                max_size=pg.pool_max_size,
                timeout=pg.connect_timeout,
            )
            try:
                return Journal(database), PostgresLexicalIndex(database)
            except BaseException:
                database.close()
                raise
        journal_path = ":memory:" if self.config.chroma.mode == "ephemeral" else self.config.journal_path
        journal = Journal(journal_path, read_only=self.read_only)
        try:
            return journal, LexicalIndex(self.config.lexical_path, read_only=self.read_only)
        except BaseException:
            journal.close()
            raise

    @classmethod
    def from_conn_string(cls, conn_string: str, config: LightMemConfig | None = None, **kwargs: Any) -> LightMem:
        """A LightMem whose journal and lexical index live on the PostgreSQL server at ``conn_string``.

        The same as ``LightMem(config)`` with ``postgres.url`` set (``LightMemConfig.from_env()`` reads it from
        ``LIGHTMEM_POSTGRES_URL``). The tables are created or migrated on open (:meth:`setup`, idempotent). Vectors
        stay in Chroma: embedded in ``config.data_dir``, or a Chroma server (``chroma.mode='http'``) that every
        worker shares. ``kwargs`` go to the constructor (``chat_model``, ``embeddings``, ...).

        Raises:
            MissingDependencyError: the ``postgres`` extra is not installed.
            DatabaseUnavailableError: the server cannot be reached.

        Example:
            .. code-block:: python

                from langchain_lightmem import LightMem, LightMemConfig

                with LightMem.from_conn_string(
                    "postgresql://app:secret@db:5432/app",
                    LightMemConfig(data_dir="./worker-1", chroma={"mode": "http", "host": "chroma", "port": 8000}),
                ) as memory:
                    memory.add([{"role": "user", "content": "I moved to Berlin."}], namespace="alice")
        """
        from pydantic import SecretStr

        base = config or LightMemConfig()
        postgres = base.postgres.model_copy(update={"url": SecretStr(conn_string)})
        return cls(base.model_copy(update={"postgres": postgres}), **kwargs)

    def setup(self) -> None:
        """Create or migrate the journal's and the lexical index's tables (idempotent; opening runs it too)."""
        self.journal.setup()
        setup = getattr(self.store.lexical, "setup", None)
        if callable(setup):
            setup()

    # -- plumbing -------------------------------------------------------------------------------------------

    @property
    def journal(self) -> Journal:
        """Internal: the journal (SQLite or PostgreSQL). For the facade and tests; surfaces call the methods of this
        class."""
        return self.pipeline.journal

    @property
    def store(self) -> ChromaMemoryStore:
        """Internal: long-term memory (Chroma). For the facade and tests; surfaces call the methods of this class."""
        return self._chroma

    @property
    def relevance_calibrated(self) -> bool:
        """Whether search scores are calibrated relevance for these embeddings (``retrieval.relevance.models``)."""
        return self.embeddings_model_id in self.config.retrieval.relevance.models

    # -- what the surfaces need (they call these, never the journal, the store or the pipeline) ---------------

    @property
    def embeddings_model_id(self) -> str:
        """The id of the embedding model this memory embeds with (recorded on every collection it writes)."""
        return embeddings_model_id(self.embeddings)

    @property
    def default_min_score(self) -> float | None:
        """The score below which the agent surfaces drop a hit by default: ``DEFAULT_MIN_SCORE`` when relevance is
        calibrated for these embeddings (:attr:`relevance_calibrated`), else ``None`` (no threshold)."""
        return default_min_score(self.relevance_calibrated)

    @property
    def token_counter(self) -> TokenCounter:
        """How this memory counts tokens (``config.token_encoding``): a surface that packs memories into a token
        budget counts them the way :meth:`context` does."""
        return self.pipeline.counter

    @property
    def chroma_client(self) -> Any:
        """The Chroma client long-term memory lives in (embedded or server; refusing writes when the folder is
        read-only), for a surface that keeps collections of its own beside the memories
        (:class:`~langchain_lightmem.integrations.LightMemStore`'s JSON items). Never write to the memories'
        collections through it: use :meth:`remember`, :meth:`update` and :meth:`delete`."""
        return self.store.client

    def memory_namespaces(self) -> list[Namespace]:
        """Every namespace that holds long-term memories, sorted; unlike :meth:`namespaces` this includes
        namespaces whose memories were only saved with :meth:`remember` (no message)."""
        return self.store.namespaces()

    def warm_up(self, *, on_progress: Callable[[int, int], None] | None = None) -> int:
        """Have Chroma load every namespace's memory index now, so no user's first search pays for it. Returns the
        collections searched (one query each; ``on_progress(done, total)`` after each).

        A Chroma server loads a collection's index on its first search after the server starts: with the
        ``buckets`` layout at 10,000 namespaces that is ~80-100 ms for each of the 256 buckets, against ~7 ms for a
        warm search (docs/benchmarks.md). Run it after the server restarts (``lightmem warm-up``), or set
        ``chroma.warm_up`` (``LIGHTMEM_CHROMA_WARM_UP=1``) to have each process do it in the background as it opens.

        Raises:
            StoreUnavailableError: the Chroma server does not answer.
        """
        return self.store.warm_up(on_progress=on_progress)

    def messages_by_id(self, namespace: NamespaceLike, ids: Sequence[str]) -> dict[str, Message]:
        """The accepted messages of the namespace with these ids, by id (ids never accepted there are missing).

        Raises:
            InvalidIdError: ``ids`` is a single string or holds something other than strings without lone
                surrogates.
        """
        return self.journal.messages.get(normalize_namespace(namespace), validate_ids(ids))

    def chat_window_start(self, namespace: NamespaceLike, thread_id: str | None) -> int:
        """The ``seq`` after which a thread's chat window starts: 0 until :meth:`start_chat_window` is called
        (pass it as ``after_seq`` to :meth:`recent_messages`)."""
        thread = validate_id(thread_id, "thread_id") if thread_id is not None else None
        return self.journal.windows.start_seq(normalize_namespace(namespace), thread)

    def start_chat_window(self, namespace: NamespaceLike, thread_id: str | None) -> None:
        """Start a thread's chat window after every message accepted so far (a chat history's ``clear``). Nothing
        is deleted: the messages stay in the journal and go on to long-term memory.

        Raises:
            ReadOnlyFolderError: the folder is read-only for this process.
        """
        self._writable("clear a chat window")
        thread = validate_id(thread_id, "thread_id") if thread_id is not None else None
        self.journal.windows.start(normalize_namespace(namespace), thread)

    def wait_for_background(self, timeout: float | None = None) -> bool:
        """Wait until the background worker has run everything scheduled so far (``add(..., background=True)``).
        Returns False on timeout. The messages are searchable before that, as pending entries."""
        return self.worker.join(timeout)

    def background_errors(self) -> list[tuple[Namespace | None, BaseException]]:
        """The last failures of the background worker (at most 100, oldest first), with the namespace whose run
        failed (``None``: an idle flush). Their messages are safe in the journal; the next run retries the stage."""
        return self.worker.errors

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the data folder for this process alone during the block, so that several calls (``forget`` then
        :meth:`vacuum`) are refused together, before the first changes anything. Re-entrant.

        Raises:
            FolderInUseError: another process has the folder open ("folder is in use").
            ReadOnlyFolderError: the folder is read-only for this process.

        Example:
            .. code-block:: python

                with memory.exclusive():
                    memory.forget("alice")
                    memory.vacuum()
        """
        with self.folder.exclusive():
            yield

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
        self._check_present(namespace)
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
            except NamespaceForgottenError:
                logger.debug("%s was forgotten during this run: its work was discarded", namespace)
                return out, None
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

    def _check_present(self, namespace: Namespace) -> None:
        """Fail loudly, once per namespace and process, when the store lost what the journal says it holds."""
        if namespace in self._present:
            return
        if self.journal.entries.has_memories(namespace) and self.store.count(namespace, include_history=True) == 0:
            where = self.config.chroma_path if self.config.chroma.mode == "persistent" else "the Chroma server"
            raise MemoryMissingError(
                f"the long-term memories of {namespace_key(namespace)!r} are missing from {where}, though the journal "
                f"({self.journal.path}) says they were written (a lost or replaced chroma folder?). Restore "
                "them from the journal with `lightmem rebuild` or LightMem.rebuild() (re-embeds, no LLM call)."
            )
        self._present.add(namespace)

    def rebuild(self, namespace: NamespaceLike | None = None) -> dict[Namespace, int]:
        """Re-create long-term memory from the journal: the extracted memories of every written batch, the
        memories saved or edited by hand (minus those deleted), the consolidation decisions, and the pending
        entries of open messages. Texts are re-embedded; no chat model is called. Returns entries per namespace.

        For a lost or damaged ``chroma/`` folder (see :class:`~langchain_lightmem.errors.MemoryMissingError`), or
        after changing the embedding model.
        """
        self._writable("rebuild")
        from langchain_lightmem.long_term.consolidation import Decision, apply_decisions

        targets = (
            [normalize_namespace(namespace)]
            if namespace is not None
            else sorted(set(self.journal.entries.namespaces_with_memories()) | set(self.journal.messages.namespaces()))
        )
        rebuilt: dict[Namespace, int] = {}
        for ns in targets:
            with self._lock(ns):
                self.store.delete_namespace(ns)
                entries = {e.id: e for e in self.journal.entries.written(ns)}
                saved, deleted = self.journal.entries.saved(ns)
                entries.update((e.id, e) for e in saved)
                for entry_id in deleted:
                    entries.pop(entry_id, None)
                if entries:
                    self.store.upsert(list(entries.values()))
                decisions = [Decision(t, a, tuple(n), x) for t, a, n, x in self.journal.consolidation.applied(ns)]  # type: ignore[arg-type]
                if decisions:
                    apply_decisions(self.store, ns, decisions, model=None)
                if deleted:
                    self.store.delete(ns, sorted(deleted))
                self.pipeline.sync_pending(ns)
                rebuilt[ns] = self.store.count(ns, include_history=True)
                self._present.add(ns)
        return rebuilt

    def _warm_up_quietly(self) -> None:
        """``chroma.warm_up`` at open: a failure costs only speed (the first searches load their indexes
        themselves), so it is logged, not raised."""
        started = time.monotonic()
        try:
            warmed = self.warm_up()
        except Exception as exc:
            logger.warning("chroma.warm_up stopped: %s (first searches will load their indexes themselves)", exc)
        else:
            logger.info("chroma.warm_up: %d collections in %.1f s", warmed, time.monotonic() - started)

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
                    self.journal.batches.release(self.pipeline.worker_id)
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
        file's turn. In Chroma's write log the vectors of writes that a later delete undid
        are overwritten with random ones (a replay still finds a vector). Not covered: Chroma 1.5's vector files may
        hold stray process memory in their unused slots (docs/reliability.md, "Data folders").

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
        idempotency_key: str | None = None,
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
            idempotency_key: names this call, so that retrying it never stores a message twice: a message without
                an ``id`` gets one derived from the key and its position (messages with ids are deduplicated by
                id anyway). Use the same key when retrying after an error.

        Returns:
            What was accepted; ``deferred_error`` when a stage after acceptance failed (the messages are stored,
            searchable, and that stage is retried on the next run: retrying the call would add nothing).

        Raises:
            InvalidMessageError: a message cannot be accepted; nothing of this call was stored.
            InvalidNamespaceError: the namespace is empty or malformed.
            EmbeddingError: the embedder failed; nothing of this call was stored.
        """
        self._writable("add")
        ns = normalize_namespace(namespace)
        if isinstance(messages, str | bytes | Mapping | BaseMessage) or not isinstance(messages, Sequence):
            raise InvalidMessageError(
                f"messages must be a list of messages, got {type(messages).__name__}", field="messages"
            )
        if idempotency_key is not None:
            messages = _with_ids(messages, idempotency_key)
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
        self._writable("flush")
        ns = normalize_namespace(namespace)
        threads = None if thread_id is None else [validate_id(thread_id, "thread_id")]
        state = {"namespace": ns, "messages": [], "flush": True, "threads": threads}
        out, error = self._run(state, config)
        return AddResult(
            accepted=[],
            duplicates=[],
            entries_written=out.get("written", 0),
            batches_extracted=len(out.get("ready", [])),
            deferred_error=error,
        )

    def reextract(self, namespace: NamespaceLike, *, config: RunnableConfig | None = None) -> dict[str, int]:
        """Extract again the batches that fell back to extractive entries because the model failed (server down,
        no usable answer), now that it answers; each batch's facts replace its fallback entries.

        Only batches nothing changed since are taken (their entries not consolidated, superseded or deleted), each
        at most a few times. The namespace's consolidation lease is held meanwhile (so no consolidation moves an
        entry being replaced), the namespace lock one batch at a time. Returns ``{"reextracted": n, "failed": m,
        "busy": b}``: ``failed`` batches keep their entries; ``busy``: 1 when a consolidation run held the
        namespace (nothing was done). LLM-free: nothing to do.
        """
        self._writable("reextract")
        ns = normalize_namespace(namespace)
        counts = {"reextracted": 0, "failed": 0, "busy": 0}
        lease, owner = consolidation_lease(ns), self.pipeline.worker_id
        if not self.journal.leases.acquire(lease, owner, self.config.consolidation.lease_seconds):
            counts["busy"] = 1
            return counts
        try:
            for info in self.pipeline.reextract_candidates(ns):
                with self._lock(ns):
                    generation = self.journal.namespaces.generation(ns)
                    try:
                        done = self.pipeline.reextract(ns, info, config, generation=generation)
                    except NamespaceForgottenError:
                        break
                    finally:
                        self.pipeline.persist_usage(ns, generation=generation)
                counts["reextracted" if done else "failed"] += 1
        finally:
            self.journal.leases.release(lease, owner)
        return counts

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
        self._writable("flush_idle")
        limit = self.config.background.idle_flush_seconds if idle_seconds is None else idle_seconds
        if limit is None:
            return {}
        now = time.time() if now is None else now
        results: dict[Namespace, AddResult] = {}
        only = normalize_namespace(namespace) if namespace is not None else None
        for ns, threads in self.journal.messages.activity(only).items():
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
        idempotency_key: str | None = None,
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
            idempotency_key=idempotency_key,
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
            query: the question (at most ``input.max_message_chars`` characters, no lone surrogates).
            k: how many, 1 or more (default ``retrieval.k``).
            filters: a Chroma ``where`` over entry metadata (``{"speaker": "Alice"}``, ``{"$and": [...]}``); it can
                only narrow the namespace, never widen it.
            time_range: ``(start, end)`` on the entries' event time, 1970 to 3000; either end may be ``None``.
            include_history: also return superseded entries (after consolidation).
            reference_time: when the question is asked (default now): "last month" is relative to it.
            mode: ``"hybrid"``, ``"dense"`` or ``"lexical"`` for this call (default ``retrieval.mode``).
            **retrieval: other ``RetrievalConfig`` fields for this call (``time_mode="filter"``, ...).

        Raises:
            InvalidQueryError: ``query``, ``k`` or ``filters`` cannot be used (``exc.field`` says which).
            InvalidTimeError: ``reference_time`` or ``time_range`` cannot be parsed or is out of range.
            InvalidNamespaceError: the namespace is empty or malformed.
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

        Raises:
            InvalidQueryError: ``query``, ``max_tokens``, ``k`` or ``filters`` cannot be used (see :meth:`search`).
            InvalidTimeError: ``reference_time`` or ``time_range`` cannot be parsed or is out of range.
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
        """One :class:`MemorySearcher` call, timed as the namespace's ``search`` stage (its arguments validated
        first: every refusal is an ``InvalidInputError`` naming the argument)."""
        ns = normalize_namespace(namespace)
        self._check_present(ns)
        query = validate_query(query, max_chars=self.config.input.max_message_chars)
        when = _reference_time(reference_time)
        for name in ("k", "max_tokens"):
            if name in options:
                options[name] = validate_count(options[name], name)
        options["filters"] = validate_filters(options.get("filters"))
        options["time_range"] = validate_time_range(options.get("time_range"))
        with self.pipeline.ledger.timed(ns, "search", items=1):
            return method(ns, query, reference_time=when, **options)

    async def acontext(self, namespace: NamespaceLike, query: str, **kwargs: Any) -> MemoryContext:
        """Async :meth:`context` (in a worker thread)."""
        return await asyncio.to_thread(self.context, namespace, query, **kwargs)

    def entries(
        self, namespace: NamespaceLike, *, include_history: bool = False, include_pending: bool = False
    ) -> list[MemoryEntry]:
        """Every memory entry of the namespace, oldest event first (``include_pending``: also the messages not
        extracted yet, as pending entries).

        Raises:
            InvalidNamespaceError: the namespace is empty or malformed.
        """
        return self.store.list(
            normalize_namespace(namespace), include_history=include_history, include_pending=include_pending
        )

    def recent_messages(
        self, namespace: NamespaceLike, *, thread_id: str | None = None, limit: int | None = None, after_seq: int = 0
    ) -> list[Message]:
        """The newest ``limit`` raw messages of the namespace (of one thread if given), oldest first, as accepted."""
        thread = validate_id(thread_id, "thread_id") if thread_id is not None else None
        return self.journal.messages.recent(
            normalize_namespace(namespace), thread_id=thread, limit=limit, after_seq=after_seq
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
        Its ``method`` is ``"extractive"`` (the text is kept as given) and it has no source messages. The text,
        ``thread_id``, ``speaker`` and ``event_time`` follow the rules and limits ``add`` applies to a message
        (docs/input.md): at most ``input.max_message_chars`` characters, lone surrogates become U+FFFD.

        Raises:
            InvalidMessageError: ``text`` is not a string, is empty or too long, or ``thread_id``/``speaker`` is
                invalid (``exc.field`` says which).
            InvalidTimeError: ``event_time`` cannot be parsed or is out of range.
            InvalidIdError: ``key`` is not a string of at most 256 characters without control characters or lone
                surrogates.
        """
        self._writable("remember")
        from langchain_lightmem.types import utcnow

        ns = normalize_namespace(namespace)
        given = normalize_memory(
            text,
            key=key,
            event_time=event_time,
            thread_id=thread_id,
            speaker=speaker,
            max_chars=self.config.input.max_message_chars,
        )
        entry = MemoryEntry(
            id=saved_entry_id(ns, given.key if given.key is not None else uuid.uuid4().hex),
            namespace=ns,
            text=given.text,
            source_ids=[],
            thread_id=given.thread_id,
            speaker=given.speaker,
            event_time=given.event_time or utcnow(),
            method="extractive",
        )
        # Saving a key again replaces it completely, also when consolidation moved the old one to history.
        generation = self.journal.namespaces.generation(ns)
        self.store.delete(ns, [entry.id])
        self.store.upsert([entry])
        self._keep(ns, [entry], generation)
        return entry

    def _keep(self, namespace: Namespace, entries: Sequence[MemoryEntry], generation: int) -> None:
        """Journal entries written outside the write path (so :meth:`rebuild` can restore them) and queue them for
        consolidation; if the namespace was forgotten meanwhile, forget wins and they are deleted again."""
        try:
            self.journal.entries.save(namespace, entries, generation=generation)
            # it may update or supersede older memories too
            self.journal.consolidation.enqueue(namespace, [e.id for e in entries], generation=generation)
        except NamespaceForgottenError:
            self.store.delete(namespace, [e.id for e in entries])
            raise

    def get(self, namespace: NamespaceLike, ids: Sequence[str]) -> list[MemoryEntry]:
        """Entries of the namespace by id (history and pending included); ids of other namespaces are never found.

        Raises:
            InvalidIdError: ``ids`` is a single string or holds something other than strings without lone
                surrogates.
        """
        ns = normalize_namespace(namespace)
        return self.store.get(ns, validate_ids(ids))

    def update(self, namespace: NamespaceLike, entry_id: str, text: str) -> MemoryEntry:
        """Replace the text of one memory (an agent's correction): re-embedded, ``version`` + 1, provenance kept.

        Raises:
            InvalidMessageError: ``text`` is not a string, is empty or over ``input.max_message_chars``.
            InvalidIdError: ``entry_id`` is not a string without lone surrogates.
            KeyError: no current memory with that id in the namespace (pending entries are messages: they cannot
                be edited, only extracted or forgotten).
        """
        self._writable("update")
        ns = normalize_namespace(namespace)
        entry_id = validate_lookup_id(entry_id, "entry_id")
        cleaned = memory_text(text, max_chars=self.config.input.max_message_chars)
        found = [e for e in self.store.get(ns, [entry_id]) if e.active and not e.pending]
        if not found:
            raise KeyError(f"no current memory {entry_id!r} in namespace {namespace_key(ns)!r}")
        entry = found[0].model_copy(update={"text": cleaned, "version": found[0].version + 1})
        generation = self.journal.namespaces.generation(ns)
        self.store.upsert([entry])
        self._keep(ns, [entry], generation)
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
        self._writable("consolidate")
        state = {"namespace": normalize_namespace(namespace) if namespace is not None else None}
        limit = self.config.consolidation.max_concurrency
        out = self.consolidation_graph.invoke(state, config={"max_concurrency": limit})
        return sorted(out.get("reports", []), key=lambda r: r.namespace)

    def consolidation_backlog(self) -> list[Namespace]:
        """Namespaces with entries written since their last consolidation (or decisions left to apply)."""
        return sorted(
            set(self.journal.consolidation.queued_namespaces())
            | set(self.journal.consolidation.namespaces_with_unapplied())
        )

    async def aconsolidate(self, namespace: NamespaceLike | None = None) -> list[ConsolidationReport]:
        """Async :meth:`consolidate` (in a worker thread)."""
        return await asyncio.to_thread(self.consolidate, namespace)

    # -- bookkeeping ----------------------------------------------------------------------------------------

    def namespaces(self) -> list[Namespace]:
        """Every namespace with messages in the journal."""
        return self.journal.messages.namespaces()

    def snapshot(self, namespace: NamespaceLike) -> NamespaceSnapshot:
        """Everything held for the namespace, for inspection (see :class:`NamespaceSnapshot`)."""
        ns = normalize_namespace(namespace)
        decided = [Decided(t, a, tuple(n), x, True) for t, a, n, x in self.journal.consolidation.applied(ns)]
        decided += [Decided(t, a, tuple(n), x, False) for t, a, n, x in self.journal.consolidation.unapplied(ns)]
        idle = self.config.background.idle_flush_seconds
        activity = self.journal.messages.activity(ns).get(ns, {})
        last = max((when for when, _ in activity.values()), default=None)
        return NamespaceSnapshot(
            namespace=ns,
            messages=self.journal.messages.read(ns),
            entries=self.store.list(ns, include_history=True, include_pending=True),
            batches=self.journal.batches.info(ns),
            decisions=decided,
            stats=self.stats(ns),
            idle_flush_seconds=idle,
            next_idle_flush=(last + idle) if last is not None and idle is not None else None,
        )

    def stats(self, namespace: NamespaceLike) -> NamespaceStats:
        """Messages per stage, batches per status, stored entries, calls/tokens/seconds per stage, and how many
        messages each batch's facts covered."""
        ns = normalize_namespace(namespace)
        usage = {stage: row for (_, stage), row in self.journal.usage.totals(ns).items()}
        for (_, stage), row in self.pipeline.ledger.snapshot(ns).items():
            usage.setdefault(stage, StageUsage(stage)).add(row)
        pending = len(self.store.pending_ids(ns))
        batch_coverage = {b.id: Coverage.from_dict(b.coverage) for b in self.journal.batches.info(ns) if b.coverage}
        coverage = Coverage()
        for one in batch_coverage.values():
            coverage.add(one)
        return NamespaceStats(
            namespace=ns,
            messages=self.journal.messages.stage_counts(ns),
            batches=self.journal.batches.counts(ns),
            entries=self.store.count(ns) - pending,
            usage=usage,
            pending=pending,
            coverage=coverage,
            batch_coverage=batch_coverage,
        )

    def delete(self, namespace: NamespaceLike, ids: Sequence[str]) -> int:
        """Delete memory entries by id within the namespace. Returns how many were deleted.

        The journal keeps the deletion (a :meth:`rebuild` does not bring them back). A pending entry (a message not
        extracted yet) comes back with its message: delete the namespace's messages with :meth:`forget`.

        Raises:
            InvalidIdError: ``ids`` is a single string or holds something other than strings without lone
                surrogates.
        """
        self._writable("delete")
        ns = normalize_namespace(namespace)
        ids = validate_ids(ids)
        deleted = self.store.delete(ns, ids)
        self.journal.entries.delete(ns, list(ids))
        return deleted

    def forget(self, namespace: NamespaceLike, *, vacuum: bool = False) -> dict[str, int]:
        """Delete everything held for a namespace: raw messages, buffers, batches, usage, memory entries, and the
        items under it of every :class:`~langchain_lightmem.integrations.LightMemStore` in this memory's Chroma
        (open in this process or not).

        Work in flight for the namespace (the worker, a consolidation waiting on the model, an extraction) cannot
        write after this returns. With ``vacuum``, the folder is compacted too (:meth:`vacuum`): no file of it
        holds the namespace's text any more. In the ``buckets`` Chroma layout the namespace's vectors and entry ids
        can remain in its shared bucket's files: use the ``collections`` layout where they must go too.

        Raises:
            FolderInUseError: ``vacuum`` while another process has the folder open; nothing was deleted.
            ReadOnlyFolderError: the folder is read-only for this process.
        """
        ns = normalize_namespace(namespace)
        self._writable("forget")
        with self.folder.exclusive() if vacuum else contextlib.nullcontext():
            self.worker.forget(ns)
            with self._lock(ns):
                # The journal first: its new generation fences every writer still in flight (a consolidation
                # waiting on the model, a batch being extracted), then the store.
                messages = self.journal.namespaces.forget(ns)
                entries = self.store.delete_namespace(ns)
                self.pipeline.ledger.drain(ns)
                self._present.discard(ns)
                for listener in list(self._forget_listeners):
                    listener.forget_namespace(ns)
                # and those of stores open in no process here (the CLI, a cron, another worker forgets)
                forget_items(self.store.client, ns)
            if vacuum:
                self.vacuum()
        return {"messages": messages, "entries": entries}

    def on_forget(self, listener: Any) -> None:
        """Call ``listener.forget_namespace(namespace)`` whenever a namespace is forgotten: surfaces that keep data
        of their own (:class:`~langchain_lightmem.integrations.LightMemStore`) delete it there. Held weakly."""
        self._forget_listeners.add(listener)

    def _writable(self, what: str) -> None:
        if self.read_only:
            raise self.folder.refuse(what)


def _llm_trace(config: RunnableConfig) -> RunnableConfig:
    """What LLM calls of a quiet run keep of the caller's run: its callbacks, tags and metadata."""
    return {k: v for k, v in config.items() if k in ("callbacks", "tags", "metadata") and v}  # type: ignore[return-value]


def _with_ids(messages: Sequence[MessageLike], key: str) -> list[MessageLike]:
    """The messages, each without an id given ``<uuid5 of key and position>``: a retry of the call finds them."""
    out: list[MessageLike] = []
    for index, message in enumerate(messages):
        derived = str(uuid.uuid5(uuid.NAMESPACE_URL, f"lightmem:idempotency:{key}:{index}"))
        if isinstance(message, Mapping) and not message.get("id"):
            message = {**message, "id": derived}
        elif isinstance(message, BaseMessage) and not message.id:
            message = message.model_copy(update={"id": derived})
        out.append(message)
    return out
