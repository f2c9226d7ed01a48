"""The stages of the write path, each one step over the durable journal.

Every stage reads its input from the journal and commits its output there, so each can be re-run after a crash:
it picks up whatever the previous run left. The order of the stages lives in ``graphs/ingest.py``.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from langchain_core.embeddings import Embeddings
from langchain_core.runnables import RunnableConfig

from langchain_lightmem.accounting import UsageLedger
from langchain_lightmem.config import LightMemConfig
from langchain_lightmem.errors import EmbeddingError, ExtractionError
from langchain_lightmem.journal import BatchInfo, BatchStatus, Journal, NamespaceForgottenError, new_worker_id
from langchain_lightmem.long_term.base import LongTermMemory
from langchain_lightmem.models import embed_in_batches
from langchain_lightmem.normalize import MessageLike, normalize_messages
from langchain_lightmem.sensory.buffer import cut_segments
from langchain_lightmem.sensory.compression import Compressor
from langchain_lightmem.sensory.segmentation import Segmenter
from langchain_lightmem.short_term.buffer import pack_batches
from langchain_lightmem.short_term.coverage import Coverage, ensure_coverage
from langchain_lightmem.short_term.extraction import ExtractionOutcome, ExtractiveExtractor, Extractor
from langchain_lightmem.short_term.salience import is_filler_segment
from langchain_lightmem.tokens import TokenCounter
from langchain_lightmem.types import (
    PENDING,
    PENDING_PREFIX,
    MemoryEntry,
    Message,
    Namespace,
    Segment,
    Stage,
    pending_entry_id,
)

logger = logging.getLogger(__name__)

REEXTRACT_ATTEMPTS = 4
"""A fallback batch is extracted again at most this many times (its first extraction counts)."""


@dataclass
class Pipeline:
    """The components of the write path, injected once and shared by every namespace."""

    config: LightMemConfig
    journal: Journal
    counter: TokenCounter
    embeddings: Embeddings
    compressor: Compressor
    segmenter: Segmenter
    extractor: Extractor
    store: LongTermMemory
    ledger: UsageLedger = field(default_factory=UsageLedger)
    worker_id: str = field(default_factory=new_worker_id)

    @property
    def counted_roles(self) -> frozenset[str]:
        return self.config.short_term.counted_roles()

    # -- normalise ------------------------------------------------------------------------------------------

    def accept(
        self, namespace: Namespace, messages: Sequence[MessageLike], thread_id: str | None, *, repair: bool = False
    ) -> tuple[list[str], list[str]]:
        """Validate, embed and durably log a call's messages (all or nothing).

        Each new message is embedded once, here (``"<speaker>: <text>"``): segmentation, its pending entry and an
        LLM-free entry all reuse that vector. Nothing is stored when validation or the embedder fails.

        Raises:
            InvalidMessageError: a message cannot be accepted (with ``repair``, it is stored repaired instead).
            EmbeddingError: the embedder failed; nothing of this call was stored.
        """
        started = time.perf_counter()
        normalised = normalize_messages(
            messages, namespace, thread_id=thread_id, config=self.config.input, counter=self.counter, repair=repair
        )
        known = self.journal.messages.existing_ids(namespace, [m.id for m in normalised])
        fresh = [m for m in normalised if m.id not in known]
        self._embed(fresh)
        accepted, duplicates = self.journal.messages.append(normalised)
        self.ledger.record(namespace, "normalise", seconds=time.perf_counter() - started, items=len(accepted))
        return accepted, duplicates

    def _embed(self, messages: Sequence[Message]) -> None:
        """Give each message its vector (of ``turn_text``), in place."""
        if not messages:
            return
        try:
            vectors = embed_in_batches(self.embeddings, [m.turn_text for m in messages])
        except Exception as exc:
            raise EmbeddingError(
                f"the embedder failed ({type(exc).__name__}: {exc}); nothing of this call was stored, retry it"
            ) from exc
        for message, vector in zip(messages, vectors, strict=True):
            message.vector = vector

    # -- pending entries: accepted messages, searchable before extraction -------------------------------------

    def pending_entry(self, message: Message) -> MemoryEntry:
        """The stand-in entry of an open message: its own text, found by search until its memories exist."""
        return MemoryEntry(
            id=pending_entry_id(message.namespace, message.id),
            namespace=message.namespace,
            text=message.turn_text,
            source_ids=[message.id],
            thread_id=message.thread_id,
            speaker=message.speaker,
            role=message.role,
            event_time=message.timestamp,
            # the thread's open tail acts as its segment until segmentation cuts it: neighbouring turns of a
            # thread lift each other in search, as segment neighbours do once extracted
            segment_id=f"{PENDING_PREFIX}{message.thread_id or ''}",
            method=PENDING,
            valid_from=message.timestamp,
        )

    def sync_pending(self, namespace: Namespace) -> int:
        """Make the namespace's pending entries match its open messages; returns how many were added or removed.

        Pending entries are derived from the journal: every open message of a counted role has one, nothing else
        does. Whoever changes the journal syncs afterwards (accept after logging, write after marking done), and a
        sync re-checks the messages it just indexed, so two syncs racing cannot leave a stale entry behind.
        """
        wanted = {
            pending_entry_id(namespace, i): i for i in self.journal.messages.open_ids(namespace, self.counted_roles)
        }
        have = self.store.pending_ids(namespace)
        stale = have - wanted.keys()
        found = self.journal.messages.get(namespace, [i for key, i in wanted.items() if key not in have])
        missing = list(found.values())
        if missing:
            unembedded = [m for m in missing if m.vector is None]  # accepted before vectors were kept
            if unembedded:
                self._embed(unembedded)
                self.journal.messages.set_vectors(
                    namespace, [(m.id, m.vector) for m in unembedded if m.vector is not None]
                )
            entries = [self.pending_entry(m) for m in missing]
            vectors = {e.id: m.vector for e, m in zip(entries, missing, strict=True) if m.vector is not None}
            self.store.upsert(entries, vectors=vectors)
            closed = self.journal.messages.closed_among(namespace, [m.id for m in missing])
            stale |= {pending_entry_id(namespace, message_id) for message_id in closed}
        if stale:
            self.store.delete(namespace, sorted(stale))
        return len(missing) + len(stale)

    # -- sensory memory -------------------------------------------------------------------------------------

    def compress(self, namespace: Namespace) -> list[str | None]:
        """Compress every accepted message (in one batch) and move it into its thread's sensory buffer.

        Returns the threads whose buffers grew (segmentation looks at those)."""
        pending = self.journal.messages.read(namespace, stage=Stage.ACCEPTED)
        if not pending:
            return []
        with self.ledger.timed(namespace, "compress", items=len(pending)):
            compressed = self.compressor.compress([m.content for m in pending])
            counts = self.counter.count_many(compressed)
            self.journal.buffers.set_compressed(
                namespace, [(m.id, text, n) for m, text, n in zip(pending, compressed, counts, strict=True)]
            )
        return list(dict.fromkeys(m.thread_id for m in pending))

    def segment(
        self, namespace: Namespace, *, force: bool | Collection[str | None], grown: Collection[str | None] = ()
    ) -> int:
        """Cut each thread's sensory buffer into topic segments; complete segments move to short-term memory.

        ``force``: ``True`` flushes every thread's open tail, a collection of thread ids flushes only those.
        Only buffers that can change are read: forced ones, those that ``grown`` in this run, and any over the
        window (left so by an interrupted run).
        """
        cfg = self.config.segmentation
        threads = None
        if force is not True:
            threads = {*grown, *(force or ())} | self.journal.buffers.threads_over(
                namespace, self.counted_roles, cfg.window_tokens
            )
        buffers = self.journal.buffers.sensory(namespace, threads=threads)
        if not buffers:
            return 0
        gap = timedelta(hours=cfg.session_gap_hours) if cfg.session_gap_hours else None
        promoted: list[Segment] = []
        started = time.perf_counter()
        for thread, turns in buffers.items():
            segments, _tail = cut_segments(
                turns,
                self.segmenter,
                window_tokens=cfg.window_tokens,
                counted_roles=self.counted_roles,
                session_gap=gap,
                force=force if isinstance(force, bool) else thread in force,
            )
            promoted.extend(Segment(id=uuid.uuid4().hex, messages=s) for s in segments)
        self.journal.buffers.promote(namespace, promoted)
        self.ledger.record(
            namespace,
            "segment",
            seconds=time.perf_counter() - started,
            items=sum(len(s.messages) for s in promoted),
        )
        return len(promoted)

    # -- short-term memory ----------------------------------------------------------------------------------

    def batch(self, namespace: Namespace, *, force: bool, generation: int | None = None) -> int:
        """Close the short-term batches that are full (all of them on ``force``).

        With the salience gate, segments of small talk only do not enter a batch: they are written as their own
        messages at once, in a batch that makes no LLM call.
        """
        segments = self.journal.buffers.short_term(namespace)
        if not segments:
            return 0
        cfg = self.config.short_term
        if cfg.salience_gate and not isinstance(self.extractor, ExtractiveExtractor):
            filler = [s for s in segments if is_filler_segment(s, self.counted_roles, cfg.filler_content_words)]
            if filler:
                message_ids = [m.id for s in filler for m in s.messages]
                self.journal.batches.create(
                    namespace, uuid.uuid4().hex, message_ids, generation=generation, mode="extractive"
                )
                self.ledger.record(namespace, "salience", items=len(message_ids))
                gated = {s.id for s in filler}
                segments = [s for s in segments if s.id not in gated]
        batches = pack_batches(
            segments,
            threshold_tokens=cfg.threshold_tokens,
            counted_roles=self.counted_roles,
            force=force,
        )
        for batch in batches:
            message_ids = [m.id for s in batch for m in s.messages]
            self.journal.batches.create(namespace, uuid.uuid4().hex, message_ids, generation=generation)
        self.ledger.record(namespace, "short_term", items=len(batches))
        return len(batches)

    def has_open_batches(self, namespace: Namespace) -> bool:
        counts = self.journal.batches.counts(namespace)
        return bool(counts.get(BatchStatus.PENDING) or counts.get(BatchStatus.EXTRACTED))

    def extract(
        self, namespace: Namespace, config: RunnableConfig | None = None, *, generation: int | None = None
    ) -> list[str]:
        """One extraction per pending batch; the facts are saved in the journal before anything is written.

        A batch whose extraction fails after every retry gets extractive entries instead (never dropped).
        Returns the ids of the batches ready to write.
        """
        ready: list[str] = []
        for batch in self.journal.batches.claim(namespace, self.worker_id, self.config.extraction.lease_seconds):
            if batch.status == BatchStatus.EXTRACTED:
                ready.append(batch.id)  # extracted by an earlier run that stopped before writing
                continue
            messages = self.journal.batches.messages(namespace, batch.id)
            if batch.mode == "extractive":  # the salience gate: nothing here is worth a call
                outcome = ExtractiveExtractor().extract(namespace, batch.id, messages, counted_roles=self.counted_roles)
                coverage = Coverage(messages=len(outcome.entries), kept=len(outcome.entries))
                self.journal.batches.save_extraction(
                    namespace, batch.id, outcome.entries, coverage=coverage.as_dict(), generation=generation
                )
                ready.append(batch.id)
                continue
            try:
                outcome = self.extractor.extract(
                    namespace, batch.id, messages, counted_roles=self.counted_roles, config=config
                )
                self.journal.batches.record_attempt(namespace, batch.id, None, generation=generation)
                if isinstance(self.extractor, ExtractiveExtractor):  # LLM-free: every message is kept as itself
                    coverage = Coverage(messages=len(outcome.entries), kept=len(outcome.entries))
                else:
                    outcome.entries, coverage = ensure_coverage(
                        namespace,
                        batch.id,
                        messages,
                        outcome.entries,
                        counted_roles=self.counted_roles,
                        keep_uncovered=self.config.extraction.coverage,
                    )
                    if coverage.kept:
                        logger.info(
                            "batch %s: %d of %d messages no fact came from are kept as themselves",
                            batch.id,
                            coverage.kept,
                            coverage.messages,
                        )
            except ExtractionError as exc:
                spent: ExtractionOutcome = getattr(exc, "outcome", ExtractionOutcome(entries=[]))
                logger.warning("%s; storing the batch's messages as extractive entries instead", exc)
                outcome = ExtractiveExtractor(method="extractive_fallback").extract(
                    namespace, batch.id, messages, counted_roles=self.counted_roles
                )
                outcome.usage = spent.usage
                self.journal.batches.record_attempt(namespace, batch.id, str(exc), generation=generation)
                coverage = Coverage(messages=len(outcome.entries), kept=len(outcome.entries))
            self._record_extract(namespace, outcome, items=len(outcome.entries))
            self.journal.batches.save_extraction(
                namespace, batch.id, outcome.entries, coverage=coverage.as_dict(), generation=generation
            )
            ready.append(batch.id)
        return ready

    def reextract_candidates(self, namespace: Namespace) -> list[BatchInfo]:
        """Written batches that fell back to extractive entries (the model failed then) and that nothing changed
        since: each of their entries is still current and a fallback entry (not consolidated, superseded or
        deleted). A batch is tried at most :data:`REEXTRACT_ATTEMPTS` times. LLM-free: none.
        """
        if isinstance(self.extractor, ExtractiveExtractor):
            return []
        infos = [
            b
            for b in self.journal.batches.info(namespace)
            if (b.status, b.mode) == (BatchStatus.WRITTEN, "llm")
            and b.error
            and b.entry_ids
            and b.attempts < REEXTRACT_ATTEMPTS
        ]
        untouched = []
        for info in infos:
            current = self.store.get(namespace, info.entry_ids)
            if len(current) == len(info.entry_ids) and all(
                e.active and e.method == "extractive_fallback" for e in current
            ):
                untouched.append(info)
        return untouched

    def reextract(
        self,
        namespace: Namespace,
        info: BatchInfo,
        config: RunnableConfig | None = None,
        *,
        generation: int | None = None,
    ) -> bool:
        """Extract one fallback batch again; its facts (with the coverage guarantee, under new ids) replace its
        fallback entries through the write path. False when it failed again (its entries stay) or another worker
        holds the batch.
        """
        messages = self.journal.batches.messages(namespace, info.id)
        # New ids: the write path never overwrites an id, and decisions may still name the old ones.
        attempt_id = f"{info.id}#re{info.attempts}"
        try:
            outcome = self.extractor.extract(
                namespace, attempt_id, messages, counted_roles=self.counted_roles, config=config
            )
        except ExtractionError as exc:
            spent: ExtractionOutcome = getattr(exc, "outcome", ExtractionOutcome(entries=[]))
            self._record_extract(namespace, spent, items=0)
            self.journal.batches.record_attempt(namespace, info.id, str(exc), generation=generation)
            logger.warning("re-extraction of batch %s failed again; its entries stay as they are: %s", info.id, exc)
            return False
        entries, coverage = ensure_coverage(
            namespace,
            attempt_id,
            messages,
            outcome.entries,
            counted_roles=self.counted_roles,
            keep_uncovered=self.config.extraction.coverage,
        )
        for entry in entries:
            entry.batch_id = info.id
        self._record_extract(namespace, outcome, items=len(entries))
        if not self.journal.batches.replace_extraction(
            namespace,
            info.id,
            entries,
            info.entry_ids,
            owner=self.worker_id,
            lease_seconds=self.config.extraction.lease_seconds,
            coverage=coverage.as_dict(),
            generation=generation,
        ):
            return False
        self.write(namespace, [info.id], generation=generation)
        return True

    def _record_extract(self, namespace: Namespace, outcome: ExtractionOutcome, *, items: int) -> None:
        self.ledger.record(namespace, "extract", outcome.usage, items=items)

    # -- long-term memory -----------------------------------------------------------------------------------

    def write(self, namespace: Namespace, batch_ids: Sequence[str], *, generation: int | None = None) -> int:
        """Upsert each extracted batch into long-term memory, mark its messages done, and retire their pending
        entries. An entry that is a message's own text reuses the message's vector (no second embedding).

        Raises:
            NamespaceForgottenError: the namespace was forgotten meanwhile; what this call wrote is deleted again.
        """
        written = 0
        for batch in self.journal.batches.get(namespace, batch_ids):
            if batch.status != BatchStatus.EXTRACTED or batch.entries is None:
                continue
            with self.ledger.timed(namespace, "write", items=len(batch.entries)):
                if batch.replaces:  # a re-extraction: its fallback entries go first (also after a crash)
                    self.store.delete(namespace, batch.replaces)
                sources = {m.id: m for m in self.journal.batches.messages(namespace, batch.id)}
                vectors = {}
                for entry in batch.entries:
                    source = sources.get(entry.source_ids[0]) if len(entry.source_ids) == 1 else None
                    if source is not None and source.vector is not None and entry.text == source.turn_text:
                        vectors[entry.id] = source.vector
                self.store.add(batch.entries, vectors=vectors)
                try:
                    self.journal.batches.mark_written(
                        namespace, batch.id, [e.id for e in batch.entries], generation=generation
                    )
                except NamespaceForgottenError:
                    self.store.delete(namespace, [e.id for e in batch.entries])  # forget won: leave no trace
                    raise
            written += len(batch.entries)
        if written:
            self.sync_pending(namespace)
        return written

    def persist_usage(self, namespace: Namespace, *, generation: int | None = None) -> None:
        """Move this run's ledger rows into the journal (one transaction; dropped if the namespace was forgotten)."""
        rows = self.ledger.drain(namespace)
        if rows:
            with contextlib.suppress(NamespaceForgottenError):  # the usage of a forgotten namespace is forgotten too
                self.journal.usage.add(namespace, rows.values(), generation=generation)
