"""The sleep-time consolidation as its own LangGraph graph, run offline (cron, LangGraph Platform cron, CLI).

    prepare -> decide (one Send per batch of targets, in parallel) -> apply -> finish

Only the wiring lives here: each node is one step of :class:`~langchain_lightmem.consolidator.Consolidator`
(what each reads and commits is in its docstring). ``prepare`` takes the namespace's lease, re-applies decisions a
killed run saved but did not apply, and plans targets from the entries written since the last run (a decider
without a model decides them there: no call to wait for, nothing to fan out). Each ``decide`` saves its decisions
in the journal before anything changes. ``apply`` changes the store, then removes the processed entries from the
queue; ``finish`` persists the run's usage and releases the lease. A second run with nothing new makes no call
and changes nothing.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Send

from langchain_lightmem.accounting import UsageLedger
from langchain_lightmem.config import ConsolidationConfig
from langchain_lightmem.consolidator import ConsolidationReport, Consolidator
from langchain_lightmem.journal import Journal, NamespaceForgottenError
from langchain_lightmem.long_term.base import SimilarMemories
from langchain_lightmem.long_term.consolidation import ConsolidationDecider, Decision, DuplicateDecider, Target
from langchain_lightmem.types import Namespace, normalize_namespace

__all__ = [
    "ConsolidateAllState",
    "ConsolidationReport",
    "ConsolidationState",
    "build_consolidate_all_graph",
    "build_consolidation_graph",
]


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
    chosen = decider if decider is not None else DuplicateDecider(config.duplicate_threshold)
    consolidator = Consolidator(journal, store, config, chosen, ledger, owner)

    def prepare(state: ConsolidationState) -> ConsolidationState:
        prepared = consolidator.prepare(state["namespace"])
        update: ConsolidationState = {
            "busy": prepared.busy,
            "started": prepared.started,
            "batches": prepared.batches,
            "generation": prepared.generation,
        }
        if prepared.busy:
            return update
        update.update({"queued": prepared.queued, "decisions": prepared.decisions, "failed": prepared.failed})
        if prepared.report is not None:
            update["report"] = prepared.report
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
        decisions, failed = consolidator.decide(state["namespace"], state["batch"], state["generation"], config)
        return {"decisions": decisions, "failed": failed}

    def apply(state: ConsolidationState) -> ConsolidationState:
        report = consolidator.apply(
            state["namespace"],
            state["report"],
            state.get("decisions") or [],
            state["generation"],
            queued=state.get("queued") or [],
            batches=state.get("batches") or [],
            failed=set(state.get("failed") or []),
        )
        return {"report": report}

    def finish(state: ConsolidationState) -> ConsolidationState:
        report = consolidator.finish(
            state["namespace"],
            state.get("report"),
            busy=bool(state.get("busy")),
            started=state.get("started"),
            generation=state.get("generation"),
        )
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
