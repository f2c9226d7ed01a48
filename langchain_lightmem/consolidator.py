"""The steps of the sleep-time consolidation of one namespace, each over the durable journal.

    prepare (claim, recover, plan) -> decide (per batch of targets) -> apply -> finish

Every step reads what it needs from the journal and the store and commits its result there before the next one
runs, so a run killed anywhere is finished by the next: decisions are saved before anything changes, and a
queued entry leaves the queue only once the store holds what was decided about it. Every write is fenced by the
namespace's generation read at the start of the run: a ``forget`` meanwhile wins (``NamespaceForgottenError``).
The order of the steps and their parallelism live in ``graphs/consolidate.py``; what a step decides with is a
:class:`~langchain_lightmem.long_term.consolidation.ConsolidationDecider`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from langchain_core.runnables import RunnableConfig

from langchain_lightmem.accounting import Usage, UsageLedger
from langchain_lightmem.config import ConsolidationConfig
from langchain_lightmem.journal import Journal, NamespaceForgottenError, consolidation_lease
from langchain_lightmem.llm import LLMCallError
from langchain_lightmem.long_term.base import SimilarMemories
from langchain_lightmem.long_term.consolidation import (
    ApplyCounts,
    ConsolidationDecider,
    Decision,
    Target,
    apply_decisions,
    merged_entry_id,
    plan_targets,
)
from langchain_lightmem.types import Namespace, namespace_key

logger = logging.getLogger(__name__)

STAGE = "consolidate"
"""The usage stage of consolidation (``lightmem stats``)."""


@dataclass(slots=True)
class ConsolidationReport:
    """What one run did for one namespace. ``seconds`` is the run's wall time: planning (the queue-build vector
    searches), deciding (parallel chat-model calls) and applying.

    Its cost reads and writes as one :class:`~langchain_lightmem.accounting.Usage` (``report.usage``). The cost
    fields stay flat fields here, unlike the other cost records: a report's dataclass fields are its wire format
    (LangGraph Platform serves them as JSON; checkpoints rebuild the report from them).
    """

    namespace: Namespace
    new_entries: int = 0
    targets: int = 0
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    updated: int = 0
    superseded: int = 0
    kept: int = 0
    rejected: int = 0
    """Model updates turned into ``keep`` (placeholder or unsupported merge text); counted in ``kept`` too."""
    failed: int = 0
    seconds: float = 0.0
    plan_seconds: float = 0.0
    apply_seconds: float = 0.0
    busy: bool = False
    forgotten: bool = False  # forgotten during the run: its results were discarded

    @property
    def usage(self) -> Usage:
        """The run's cost as one record (a copy: set ``report.usage`` to change it)."""
        return Usage(self.calls, self.input_tokens, self.output_tokens, self.seconds)

    @usage.setter
    def usage(self, usage: Usage) -> None:
        self.calls, self.input_tokens, self.output_tokens = usage.calls, usage.input_tokens, usage.output_tokens
        self.seconds = usage.seconds

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready fields (``lightmem consolidate --json``)."""
        out = asdict(self)
        out["namespace"] = list(self.namespace)
        return out


@dataclass(slots=True)
class Prepared:
    """What :meth:`Consolidator.prepare` found, for the rest of the run.

    ``batches`` are left for the ``decide`` step (one per batch, in parallel); a decider that makes no call has
    already decided in ``prepare`` (``decisions``, ``failed``). ``busy``: another run holds the lease, and nothing
    else is set.
    """

    generation: int
    started: float
    busy: bool = False
    queued: list[str] = field(default_factory=list)
    batches: list[list[Target]] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    report: ConsolidationReport | None = None


@dataclass
class Consolidator:
    """The components of consolidation, injected once and shared by every namespace; its methods are the steps.

    ``decider`` decides each batch of targets (an ``LLMDecider``, or the LLM-free ``DuplicateDecider``). A decider
    with a model (``model_name``) is worth waiting for in parallel: its batches fan out to ``decide`` steps. One
    without has nothing to wait for: it decides inside ``prepare``, in one piece, through the same :meth:`decide`.
    """

    journal: Journal
    store: SimilarMemories
    config: ConsolidationConfig
    decider: ConsolidationDecider
    ledger: UsageLedger
    owner: str

    @property
    def fans_out(self) -> bool:
        """True when the decider calls a model: its batches are decided in parallel ``decide`` steps."""
        return self.decider.model_name is not None

    # -- prepare ----------------------------------------------------------------------------------------------

    def prepare(self, namespace: Namespace) -> Prepared:
        """Claim the namespace, finish what a killed run decided, and plan this run's targets.

        Reads the namespace's generation (it fences every later write of the run), the lease, the unapplied
        decisions and the consolidation queue. Commits the lease, and (through :meth:`recover`) the store changes
        of leftover decisions; a decider without a model also commits its decisions here (:meth:`decide`).
        """
        started = time.perf_counter()
        generation = self.journal.namespaces.generation(namespace)  # every write of this run is fenced by it
        if not self.claim(namespace):
            return Prepared(generation, started, busy=True)
        self.recover(namespace, generation)
        queued, targets = self.plan(namespace)
        prepared = Prepared(generation, started, queued=queued)
        if self.fans_out:
            size = self.config.batch_size
            prepared.batches = [targets[i : i + size] for i in range(0, len(targets), size)]
        else:  # nothing to wait for: decide here, all targets at once, instead of a graph hop per batch
            prepared.decisions, prepared.failed = self.decide(namespace, targets, generation)
        prepared.report = ConsolidationReport(
            namespace, new_entries=len(queued), targets=len(targets), plan_seconds=time.perf_counter() - started
        )
        return prepared

    def claim(self, namespace: Namespace) -> bool:
        """Take the namespace's lease for this owner (``False``: another run holds it). Commits the lease."""
        return self.journal.leases.acquire(consolidation_lease(namespace), self.owner, self.config.lease_seconds)

    def recover(self, namespace: Namespace, generation: int) -> int:
        """Apply the decisions a killed run saved but did not apply, and mark them applied. Reads the unapplied
        decisions; commits their store changes (fenced) and the mark. Returns how many there were."""
        leftovers = self.journal.consolidation.unapplied(namespace)
        if not leftovers:
            return 0
        saved = [Decision(t, a, tuple(n), x) for t, a, n, x in leftovers]  # type: ignore[arg-type]
        self.fenced_apply(namespace, saved, generation)
        self.journal.consolidation.mark_applied(namespace, [d.target_id for d in saved], generation=generation)
        return len(saved)

    def plan(self, namespace: Namespace) -> tuple[list[str], list[Target]]:
        """The queued (new) entry ids, and the targets they plan that are not decided yet. Reads the queue, the
        store (vector searches) and the saved decisions; commits nothing."""
        queued = [entry_id for entry_id, _ in self.journal.consolidation.queue(namespace)]
        targets = plan_targets(self.store, namespace, queued, self.config) if queued else []
        # A run killed after deciding re-plans the same targets: skip those already decided on the same entries.
        decided = self.journal.consolidation.decided(namespace, [t.entry.id for t in targets])
        targets = [t for t in targets if sorted(decided.get(t.entry.id, [])) != sorted(e.id for e, _ in t.newer)]
        return queued, targets

    # -- decide -----------------------------------------------------------------------------------------------

    def decide(
        self, namespace: Namespace, batch: Sequence[Target], generation: int, config: RunnableConfig | None = None
    ) -> tuple[list[Decision], list[str]]:
        """Decide one batch of targets: the decisions, and the ids of the targets that failed (they stay queued).

        Reads nothing from the journal; records what the decider's calls cost in the ledger, and commits the
        decisions to the journal (fenced: a forget while the model was thinking discards them) before anything
        changes. A decider that raises ``LLMCallError`` fails its whole batch.
        """
        try:
            decisions, stats = self.decider.decide(batch, config)
            failed: list[str] = []
        except LLMCallError as exc:
            logger.warning("consolidation of %s: %s; those targets stay queued for the next run", namespace, exc)
            stats, decisions, failed = exc.stats, [], [t.entry.id for t in batch]
        if stats.calls:  # a decider that made no call spent nothing but the run's wall time (recorded in finish)
            # calls and tokens only: the calls' seconds are inside the run's wall time, which finish records
            spent = stats.usage.copy()
            spent.seconds = 0.0
            self.ledger.record(namespace, STAGE, spent, items=len(decisions))
        self.journal.consolidation.save_decisions(
            namespace, [(d.target_id, d.action, d.newer_ids, d.text) for d in decisions], generation=generation
        )
        return decisions, failed

    # -- apply ------------------------------------------------------------------------------------------------

    def fenced_apply(self, namespace: Namespace, decisions: Sequence[Decision], generation: int) -> ApplyCounts:
        """Apply decisions to the store unless the namespace was forgotten; if a forget lands while they are
        applied, delete what they wrote (forget wins) and raise ``NamespaceForgottenError``. Reads the generation
        and the targets; commits to the store only."""
        if self.journal.namespaces.generation(namespace) != generation:
            raise NamespaceForgottenError(f"{namespace_key(namespace)} was forgotten during consolidation")
        merged = [merged_entry_id(t) for t in self.store.get(namespace, [d.target_id for d in decisions])]
        counts = apply_decisions(self.store, namespace, decisions, model=self.decider.model_name)
        if self.journal.namespaces.generation(namespace) != generation:
            touched = {i for d in decisions for i in (d.target_id, *d.newer_ids)}
            self.store.delete(namespace, sorted(touched | set(merged)))
            raise NamespaceForgottenError(f"{namespace_key(namespace)} was forgotten during consolidation")
        return counts

    def apply(
        self,
        namespace: Namespace,
        report: ConsolidationReport,
        decisions: Sequence[Decision],
        generation: int,
        *,
        queued: Sequence[str],
        batches: Sequence[Sequence[Target]],
        failed: Collection[str],
    ) -> ConsolidationReport:
        """Apply this run's decisions, then take its entries off the queue, except those that fed a failed
        decision. Commits the store changes (:meth:`fenced_apply`), then the decisions' mark and the dequeue in the
        journal (fenced). Fills ``report``'s counts and returns it."""
        started = time.perf_counter()
        counts = self.fenced_apply(namespace, decisions, generation)
        self.journal.consolidation.mark_applied(namespace, [d.target_id for d in decisions], generation=generation)
        # Entries that fed a failed decision stay queued; everything else of this run is done.
        blocked = {e.id for batch in batches for t in batch if t.entry.id in failed for e, _ in t.newer}
        self.journal.consolidation.dequeue(namespace, [e for e in queued if e not in blocked], generation=generation)
        report.updated, report.superseded, report.kept = counts.updated, counts.superseded, counts.kept
        report.rejected = counts.rejected
        report.failed = len(failed)
        report.apply_seconds = time.perf_counter() - started
        return report

    # -- finish -----------------------------------------------------------------------------------------------

    def finish(
        self,
        namespace: Namespace,
        report: ConsolidationReport | None,
        *,
        busy: bool,
        started: float | None,
        generation: int | None,
    ) -> ConsolidationReport:
        """Close the run. Unless ``busy``: record its wall time, persist the namespace's usage rows into the journal
        (one transaction, once per run; dropped if it was forgotten), fill the report's usage from them, and
        release the lease. Returns the report (a new, empty one when ``prepare`` made none)."""
        report = report or ConsolidationReport(namespace)
        report.busy = busy
        elapsed = time.perf_counter() - (started if started is not None else time.perf_counter())
        if not busy:
            self.ledger.record(namespace, STAGE, seconds=elapsed)  # wall time: decisions run in parallel
            rows = self.ledger.drain(namespace)
            run = rows.get((namespace, STAGE))
            if run is not None:
                report.usage = run.usage
            if rows:
                with contextlib.suppress(NamespaceForgottenError):  # a forgotten namespace keeps no usage row
                    self.journal.usage.add(namespace, rows.values(), generation=generation)
            self.journal.leases.release(consolidation_lease(namespace), self.owner)
        report.seconds = elapsed
        return report
