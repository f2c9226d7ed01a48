"""The write path as one LangGraph graph.

    normalise -> compress -> segment -> short_term -> extract -> write

``normalise`` validates the call's messages and commits them to the journal: from then on they are never lost.
Every later node works on the journal, not only on this call's messages, so a run also finishes whatever an
interrupted run left behind. ``flush`` forces the open sensory tails and the open short-term buffer through.
"""

from __future__ import annotations

from typing import Any, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from langchain_lightmem.pipeline import Pipeline
from langchain_lightmem.types import Namespace, normalize_namespace


class IngestState(TypedDict, total=False):
    """Input: ``namespace``, ``messages``, optional ``thread_id`` and ``flush``. The rest is what the run did."""

    namespace: Namespace
    messages: list[Any]
    thread_id: str | None
    flush: bool
    accepted: list[str]
    duplicates: list[str]
    compressed: int
    segments: int
    batches: int
    ready: list[str]
    written: int


def build_ingest_graph(pipeline: Pipeline) -> CompiledStateGraph:
    """Compile the ingest graph over a pipeline's components."""

    def normalise(state: IngestState) -> IngestState:
        namespace = normalize_namespace(state["namespace"])  # JSON input (LangGraph Platform) gives a list
        accepted, duplicates = pipeline.accept(namespace, state.get("messages") or [], state.get("thread_id"))
        return {"namespace": namespace, "accepted": accepted, "duplicates": duplicates}

    def compress(state: IngestState) -> IngestState:
        return {"compressed": pipeline.compress(state["namespace"])}

    def segment(state: IngestState) -> IngestState:
        return {"segments": pipeline.segment(state["namespace"], force=bool(state.get("flush")))}

    def short_term(state: IngestState) -> IngestState:
        return {"batches": pipeline.batch(state["namespace"], force=bool(state.get("flush")))}

    def route_after_short_term(state: IngestState) -> str:
        return "extract" if pipeline.has_open_batches(state["namespace"]) else "done"

    def extract(state: IngestState, config: RunnableConfig) -> IngestState:
        return {"ready": pipeline.extract(state["namespace"], config)}

    def write(state: IngestState) -> IngestState:
        return {"written": pipeline.write(state["namespace"], state.get("ready") or [])}

    def done(state: IngestState) -> IngestState:
        pipeline.persist_usage(state["namespace"])
        return {}

    graph = StateGraph(IngestState)
    graph.add_node("normalise", normalise)
    graph.add_node("compress", compress)
    graph.add_node("segment", segment)
    graph.add_node("short_term", short_term)
    graph.add_node("extract", extract)
    graph.add_node("write", write)
    graph.add_node("done", done)
    graph.add_edge(START, "normalise")
    graph.add_edge("normalise", "compress")
    graph.add_edge("compress", "segment")
    graph.add_edge("segment", "short_term")
    graph.add_conditional_edges("short_term", route_after_short_term, {"extract": "extract", "done": "done"})
    graph.add_edge("extract", "write")
    graph.add_edge("write", "done")
    graph.add_edge("done", END)
    return graph.compile(name="lightmem_ingest")
