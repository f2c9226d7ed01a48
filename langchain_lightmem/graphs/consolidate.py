"""The sleep-time consolidation as its own LangGraph graph, run offline (cron, LangGraph Platform cron, CLI).

    prepare -> decide (one Send per batch of targets, in parallel) -> apply

``prepare`` takes the namespace's lease, re-applies decisions a killed run saved but did not apply, and plans
targets from the entries written since the last run. Each ``decide`` saves its decisions in the journal before
anything changes. ``apply`` changes the store, then removes the processed entries from the queue and releases the
lease. A second run with nothing new makes no call and changes nothing.
"""

from __future__ import annotations

import contextlib
import logging
import operator
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Annotated, Any, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Send

from langchain_lightmem.accounting import UsageLedger
from langchain_lightmem.config import ConsolidationConfig
from langchain_lightmem.journal import Journal, NamespaceForgottenError, consolidation_lease
from langchain_lightmem.llm import LLMCallError
from langchain_lightmem.long_term.base import SimilarMemories
from langchain_lightmem.long_term.consolidation import (
    ConsolidationDecider,
    Decision,
    DuplicateDecider,
    Target,
    apply_decisions,
    merged_entry_id,
    plan_targets,
)
from langchain_lightmem.types import Namespace, namespace_key, normalize_namespace

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class ConsolidationReport:
    """What one run did for one namespace. ``seconds`` is the run's wall time: planning (the queue-build
    vector searches), deciding (parallel chat-model calls) and applying."""

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

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["namespace"] = list(self.namespace)
        return out


class ConsolidationState(TypedDict, total=False):
    """Input: ``namespace``. The rest is the run's work in progress."""

    namespace: Namespace
    generation: int
    started: float
    busy: bool
    queued: list[str]
    batches: list[list[Target]]
    batch: list[Target]
    decisions: Annotated[list[Decision], operator.add]
    failed: Annotated[list[str], operator.add]
    report: ConsolidationReport


def build_consolidation_graph(
    *,
    journal: Journal,
    store: SimilarMemories,
    config: ConsolidationConfig,
    decider: ConsolidationDecider | None,
    ledger: UsageLedger,
    owner: str,
) -> CompiledStateGraph:
    """Compile the consolidation graph over the journal and store of a LightMem instance.

    ``decider`` decides each batch of targets in parallel (``decide`` nodes); ``None`` decides LLM-free with a
    :class:`DuplicateDecider` inside ``prepare`` (no call to wait for, nothing to fan out).
    """

    lease_name = consolidation_lease

    def fenced_apply(namespace: Namespace, decisions: Sequence[Decision], generation: int) -> Any:
        """Apply decisions to the store unless the namespace was forgotten; if a forget lands while they are
        applied, delete what they wrote (forget wins) and stop the run."""
        if journal.namespaces.generation(namespace) != generation:
            raise NamespaceForgottenError(f"{namespace_key(namespace)} was forgotten during consolidation")
        merged = [merged_entry_id(t) for t in store.get(namespace, [d.target_id for d in decisions])]
        counts = apply_decisions(store, namespace, decisions, model=decider.model_name if decider else None)
        if journal.namespaces.generation(namespace) != generation:
            touched = {i for d in decisions for i in (d.target_id, *d.newer_ids)}
            store.delete(namespace, sorted(touched | set(merged)))
            raise NamespaceForgottenError(f"{namespace_key(namespace)} was forgotten during consolidation")
        return counts

    def prepare(state: ConsolidationState) -> ConsolidationState:
        namespace = state["namespace"]
        started = time.perf_counter()
        generation = journal.namespaces.generation(namespace)  # every write of this run is fenced by it
        if not journal.leases.acquire(lease_name(namespace), owner, config.lease_seconds):
            return {"busy": True, "started": started, "batches": [], "generation": generation}
        leftovers = journal.consolidation.unapplied(namespace)  # a killed run decided but did not apply these
        if leftovers:
            saved = [Decision(t, a, tuple(n), x) for t, a, n, x in leftovers]  # type: ignore[arg-type]
            fenced_apply(namespace, saved, generation)
            journal.consolidation.mark_applied(namespace, [d.target_id for d in saved], generation=generation)
        queued = [entry_id for entry_id, _ in journal.consolidation.queue(namespace)]
        targets = plan_targets(store, namespace, queued, config) if queued else []
        # A run killed after deciding re-plans the same targets: skip those already decided on the same entries.
        decided = journal.consolidation.decided(namespace, [t.entry.id for t in targets])
        targets = [t for t in targets if sorted(decided.get(t.entry.id, [])) != sorted(e.id for e, _ in t.newer)]
        update: ConsolidationState = {"busy": False, "started": started, "queued": queued, "generation": generation}
        if decider is None:
            decisions, _ = DuplicateDecider(config.duplicate_threshold).decide(targets)
            journal.consolidation.save_decisions(
                namespace, [(d.target_id, d.action, d.newer_ids, d.text) for d in decisions], generation=generation
            )
            update.update({"batches": [], "decisions": decisions})
        else:
            size = config.batch_size
            update["batches"] = [targets[i : i + size] for i in range(0, len(targets), size)]
        update["report"] = ConsolidationReport(
            namespace, new_entries=len(queued), targets=len(targets), plan_seconds=time.perf_counter() - started
        )
        return update

    def fan_out(state: ConsolidationState) -> list[Send] | str:
        if state.get("busy"):
            return "finish"
        batches = state.get("batches") or []
        if not batches:
            return "apply"
        return [
            Send("decide", {"namespace": state["namespace"], "batch": batch, "generation": state["generation"]})
            for batch in batches
        ]

    def decide(state: ConsolidationState, config: RunnableConfig) -> ConsolidationState:
        assert decider is not None
        namespace, batch = state["namespace"], state["batch"]
        try:
            decisions, stats = decider.decide(batch, config)
        except LLMCallError as exc:
            logger.warning("consolidation of %s: %s; those targets stay queued for the next run", namespace, exc)
            stats, decisions = exc.stats, []
        ledger.record(
            namespace,
            "consolidate",
            calls=stats.calls,
            input_tokens=stats.input_tokens,
            output_tokens=stats.output_tokens,
            items=len(decisions),
        )
        # A forget while the model was thinking: the decisions (text from forgotten memories) are not kept.
        journal.consolidation.save_decisions(
            namespace, [(d.target_id, d.action, d.newer_ids, d.text) for d in decisions], generation=state["generation"]
        )
        failed = [] if decisions else [t.entry.id for t in batch]
        return {"decisions": decisions, "failed": failed}

    def apply(state: ConsolidationState) -> ConsolidationState:
        namespace = state["namespace"]
        started = time.perf_counter()
        decisions = state.get("decisions") or []
        generation = state["generation"]
        counts = fenced_apply(namespace, decisions, generation)
        journal.consolidation.mark_applied(namespace, [d.target_id for d in decisions], generation=generation)
        # Entries that fed a failed decision stay queued; everything else of this run is done.
        failed = set(state.get("failed") or [])
        blocked = {
            e.id for batch in state.get("batches") or [] for t in batch if t.entry.id in failed for e, _ in t.newer
        }
        journal.consolidation.dequeue(
            namespace, [e for e in state.get("queued") or [] if e not in blocked], generation=generation
        )
        report = state["report"]
        report.updated, report.superseded, report.kept = counts.updated, counts.superseded, counts.kept
        report.rejected = counts.rejected
        report.failed = len(failed)
        report.apply_seconds = time.perf_counter() - started
        return {"report": report}

    def finish(state: ConsolidationState) -> ConsolidationState:
        namespace = state["namespace"]
        report = state.get("report") or ConsolidationReport(namespace)
        report.busy = bool(state.get("busy"))
        elapsed = time.perf_counter() - state.get("started", time.perf_counter())
        if not report.busy:
            ledger.record(namespace, "consolidate", seconds=elapsed)  # wall time: decisions run in parallel
            rows = ledger.drain(namespace)
            run = rows.get((namespace, "consolidate"))
            if run is not None:
                report.calls, report.input_tokens, report.output_tokens = run.calls, run.input_tokens, run.output_tokens
            if rows:
                with contextlib.suppress(NamespaceForgottenError):  # a forgotten namespace keeps no usage row
                    journal.usage.add(namespace, rows.values(), generation=state.get("generation"))
            journal.leases.release(lease_name(namespace), owner)
        report.seconds = elapsed
        return {"report": report}

    graph = StateGraph(ConsolidationState)
    graph.add_node("prepare", prepare)
    graph.add_node("decide", decide)
    graph.add_node("apply", apply)
    graph.add_node("finish", finish)
    graph.add_edge(START, "prepare")
    graph.add_conditional_edges("prepare", fan_out, ["decide", "apply", "finish"])
    graph.add_edge("decide", "apply")
    graph.add_edge("apply", "finish")
    graph.add_edge("finish", END)
    return graph.compile(name="lightmem_consolidate")


class ConsolidateAllState(TypedDict, total=False):
    """Input: ``namespace`` (one, as a list of components) or nothing for every namespace with work."""

    namespace: Namespace | list[str] | None
    reports: Annotated[list[ConsolidationReport], operator.add]


def build_consolidate_all_graph(
    per_namespace: CompiledStateGraph,
    list_namespaces: Callable[[], Sequence[Namespace]],
    flush_idle: Callable[[Namespace | None], Any] | None = None,
    ledger: UsageLedger | None = None,
) -> CompiledStateGraph:
    """The graph to schedule: one namespace, or fan out over every namespace with new entries (``Send`` each).

    ``flush_idle`` runs first: threads that went quiet are extracted, so their memories take part in this run.
    """

    def flush(state: ConsolidateAllState) -> ConsolidateAllState:
        if flush_idle is not None:
            chosen = state.get("namespace")
            flush_idle(normalize_namespace(chosen) if chosen else None)
        return {}

    def select(state: ConsolidateAllState) -> list[Send]:
        chosen = state.get("namespace")
        namespaces = [normalize_namespace(chosen)] if chosen else list(list_namespaces())
        return [Send("consolidate_namespace", {"namespace": ns}) for ns in namespaces]

    def consolidate_namespace(state: ConsolidationState, config: RunnableConfig) -> ConsolidateAllState:
        try:
            out = per_namespace.invoke({"namespace": state["namespace"]}, config=config)
        except NamespaceForgottenError:
            if ledger is not None:
                ledger.drain(state["namespace"])  # its calls are forgotten with it
            return {"reports": [ConsolidationReport(state["namespace"], forgotten=True)]}
        return {"reports": [out["report"]]}

    graph = StateGraph(ConsolidateAllState)
    graph.add_node("flush_idle", flush)
    graph.add_node("consolidate_namespace", consolidate_namespace)
    graph.add_edge(START, "flush_idle")
    graph.add_conditional_edges("flush_idle", select, ["consolidate_namespace"])
    graph.add_edge("consolidate_namespace", END)
    return graph.compile(name="lightmem_consolidation")
