"""The write path as one LangGraph graph.

    normalise -> index -> compress -> segment -> short_term -> extract -> write -> done

``normalise`` validates the call's messages, embeds them and commits them to the journal: from then on they are
never lost. ``index`` makes them searchable at once as pending entries (read-your-writes; extraction stays
batched). Every later node works on the journal, not only on this call's messages, so a run also finishes whatever
an interrupted or failed run left behind. ``flush`` forces the open sensory tails (of every thread, or of the
``threads`` given) and the open short-term buffer through (unless ``hold_batch``: an idle flush of some threads
lets their segments wait for a full batch while other threads are still talking). ``accept_only`` stops after
``index``: the rest runs later (the background worker), from the journal.
"""

from __future__ import annotations

from typing import Any, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from langchain_lightmem.pipeline import Pipeline
from langchain_lightmem.types import Namespace, normalize_namespace


class IngestState(TypedDict, total=False):
    """Input: ``namespace``, ``messages``, optional ``thread_id``, ``flush``, ``threads``, ``hold_batch``,
    ``accept_only`` and ``repair`` (store invalid messages repaired instead of refusing the call). The rest is what
    the run did."""

    namespace: Namespace
    messages: list[Any]
    thread_id: str | None
    flush: bool
    threads: list[str | None] | None
    hold_batch: bool
    accept_only: bool
    repair: bool
    llm_config: RunnableConfig | None
    generation: int
    accepted: list[str]
    duplicates: list[str]
    indexed: int
    grown: list[str | None]
    segments: int
    batches: int
    ready: list[str]
    written: int


def build_ingest_graph(pipeline: Pipeline) -> CompiledStateGraph:
    """Compile the ingest graph over a pipeline's components."""

    def force(state: IngestState) -> bool | list[str | None]:
        """What a flush forces: every thread (``True``), the listed threads, or nothing."""
        if not state.get("flush"):
            return False
        threads = state.get("threads")
        return True if threads is None else list(threads)

    def normalise(state: IngestState) -> IngestState:
        namespace = normalize_namespace(state["namespace"])  # JSON input (LangGraph Platform) gives a list
        # Every later write of this run is fenced by the generation it started at: a forget meanwhile wins.
        generation = pipeline.journal.namespaces.generation(namespace)
        accepted, duplicates = pipeline.accept(
            namespace, state.get("messages") or [], state.get("thread_id"), repair=bool(state.get("repair"))
        )
        return {"namespace": namespace, "accepted": accepted, "duplicates": duplicates, "generation": generation}

    def index(state: IngestState) -> IngestState:
        return {"indexed": pipeline.sync_pending(state["namespace"])}

    def route_after_index(state: IngestState) -> str:
        return "done" if state.get("accept_only") else "compress"

    def compress(state: IngestState) -> IngestState:
        return {"grown": pipeline.compress(state["namespace"])}

    def segment(state: IngestState) -> IngestState:
        grown = state.get("grown") or []
        return {"segments": pipeline.segment(state["namespace"], force=force(state), grown=grown)}

    def short_term(state: IngestState) -> IngestState:
        close = bool(state.get("flush")) and not state.get("hold_batch")
        return {"batches": pipeline.batch(state["namespace"], force=close, generation=state.get("generation"))}

    def route_after_short_term(state: IngestState) -> str:
        return "extract" if pipeline.has_open_batches(state["namespace"]) else "done"

    def extract(state: IngestState, config: RunnableConfig) -> IngestState:
        # A quiet run (LightMem called without a config) traces its LLM calls under the caller's run instead.
        llm_config = state.get("llm_config")
        ready = pipeline.extract(
            state["namespace"], llm_config if llm_config is not None else config, generation=state.get("generation")
        )
        return {"ready": ready}

    def write(state: IngestState) -> IngestState:
        return {
            "written": pipeline.write(state["namespace"], state.get("ready") or [], generation=state.get("generation"))
        }

    def done(state: IngestState) -> IngestState:
        pipeline.persist_usage(state["namespace"], generation=state.get("generation"))
        return {}

    graph = StateGraph(IngestState)
    graph.add_node("normalise", normalise)
    graph.add_node("index", index)
    graph.add_node("compress", compress)
    graph.add_node("segment", segment)
    graph.add_node("short_term", short_term)
    graph.add_node("extract", extract)
    graph.add_node("write", write)
    graph.add_node("done", done)
    graph.add_edge(START, "normalise")
    graph.add_edge("normalise", "index")
    graph.add_conditional_edges("index", route_after_index, {"compress": "compress", "done": "done"})
    graph.add_edge("compress", "segment")
    graph.add_edge("segment", "short_term")
    graph.add_conditional_edges("short_term", route_after_short_term, {"extract": "extract", "done": "done"})
    graph.add_edge("extract", "write")
    graph.add_edge("write", "done")
    graph.add_edge("done", END)
    return graph.compile(name="lightmem_ingest")
