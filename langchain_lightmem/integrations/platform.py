"""The LangGraph Platform entry point: the graphs and the store ``langgraph.json`` registers (`langgraph dev`,
LangGraph Platform).

A deployment configures them through its environment: ``LIGHTMEM_DATA_DIR``, ``LIGHTMEM_CHROMA_URL``,
``LIGHTMEM_EMBEDDINGS`` (see :meth:`LightMemConfig.from_env`) and ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL`` /
``LIGHTMEM_MODEL`` for the chat model (none: LLM-free). The graphs and the store share one :class:`LightMem` per
process, built on first use: loading the embedder and opening the journal once is what keeps each run cheap.

* ``lightmem_ingest`` input: ``{"namespace": ["maya"], "messages": [...], "thread_id": "t1", "flush": false}``
  (optional ``repair``, ``idempotency_key``: as :meth:`LightMem.add`). Output adds ``accepted``, ``duplicates``,
  ``written``, ``batches`` and ``deferred_error``.
* ``lightmem_consolidation`` input: ``{"namespace": ["maya"]}``, or ``{}`` for every namespace with new entries;
  schedule it with a platform cron. Output: ``reports``.

Both graphs are one node over the facade (:meth:`LightMem.add` / :meth:`LightMem.flush`,
:meth:`LightMem.consolidate`), so a run takes the same per-namespace lock as every other caller of the same
LightMem (the store below, a background flush, a consolidation's idle flush) and is refused on a read-only folder
like them. The write path's own nodes show up nested under the run in a tracer.

``langgraph.json``'s ``"store"`` entry names :func:`lightmem_store`: the server's store (``runtime.store`` in every
run, and the ``/store`` API behind ``client.store.put_item`` / ``search_items``) is then a :class:`LightMemStore`
on the same LightMem, so ``(user, "lightmem_memories")`` serves the pipeline's memories and any other namespace
holds JSON items in the data folder. All entries use module paths, so the server loads this module once and the
graphs and the store share one LightMem.
"""

from __future__ import annotations

import asyncio
from functools import cache
from typing import Any, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from langchain_lightmem.config import LightMemConfig
from langchain_lightmem.integrations.store import LightMemStore
from langchain_lightmem.memory import ConsolidationReport, LightMem
from langchain_lightmem.models import chat_model_from_env


class PlatformIngestState(TypedDict, total=False):
    """``lightmem_ingest``'s input (``namespace``, ``messages``, ``thread_id``, ``flush``, ``repair``,
    ``idempotency_key``) and output (what :meth:`LightMem.add` and :meth:`LightMem.flush` returned)."""

    namespace: list[str]
    messages: list[Any]
    thread_id: str | None
    flush: bool
    repair: bool
    idempotency_key: str | None
    accepted: list[str]
    duplicates: list[str]
    written: int
    batches: int
    deferred_error: str | None


class PlatformConsolidationState(TypedDict, total=False):
    """``lightmem_consolidation``'s input (``namespace``, or nothing for every namespace with new entries) and
    output (one report per namespace)."""

    namespace: list[str] | None
    reports: list[ConsolidationReport]


def build_ingest_graph(memory: LightMem) -> CompiledStateGraph:
    """``lightmem_ingest`` over ``memory``: :meth:`LightMem.add` (under the namespace's lock), then
    :meth:`LightMem.flush` when ``flush`` is set (every thread of the namespace)."""

    def ingest(state: PlatformIngestState, config: RunnableConfig) -> PlatformIngestState:
        namespace, messages = state["namespace"], state.get("messages") or []
        results = []
        if messages or not state.get("flush"):  # a bare run still finishes what an earlier run left behind
            results.append(
                memory.add(
                    messages,
                    namespace=namespace,
                    thread_id=state.get("thread_id"),
                    config=config,
                    repair=bool(state.get("repair")),
                    idempotency_key=state.get("idempotency_key"),
                )
            )
        if state.get("flush"):
            results.append(memory.flush(namespace, config=config))
        return {
            "accepted": [i for r in results for i in r.accepted],
            "duplicates": [i for r in results for i in r.duplicates],
            "written": sum(r.entries_written for r in results),
            "batches": sum(r.batches_extracted for r in results),
            "deferred_error": next((r.deferred_error for r in results if r.deferred_error), None),
        }

    graph = StateGraph(PlatformIngestState)
    graph.add_node("ingest", ingest)
    graph.add_edge(START, "ingest")
    graph.add_edge("ingest", END)
    return graph.compile(name="lightmem_ingest")


def build_consolidation_graph(memory: LightMem) -> CompiledStateGraph:
    """``lightmem_consolidation`` over ``memory``: :meth:`LightMem.consolidate` of one namespace or of all."""

    def consolidate(state: PlatformConsolidationState) -> PlatformConsolidationState:
        chosen = state.get("namespace")
        return {"reports": memory.consolidate(chosen or None)}

    graph = StateGraph(PlatformConsolidationState)
    graph.add_node("consolidate", consolidate)
    graph.add_edge(START, "consolidate")
    graph.add_edge("consolidate", END)
    return graph.compile(name="lightmem_consolidation")


@cache
def shared_memory() -> LightMem:
    """The process's LightMem, configured from the environment."""
    return LightMem(LightMemConfig.from_env(), chat_model=chat_model_from_env())


@cache
def _graphs() -> tuple[CompiledStateGraph, CompiledStateGraph]:
    memory = shared_memory()
    return build_ingest_graph(memory), build_consolidation_graph(memory)


async def ingest(config: RunnableConfig) -> CompiledStateGraph:
    """Graph factory for ``lightmem_ingest`` (builds the LightMem off the event loop: it opens files)."""
    return (await asyncio.to_thread(_graphs))[0]


async def consolidation(config: RunnableConfig) -> CompiledStateGraph:
    """Graph factory for ``lightmem_consolidation``."""
    return (await asyncio.to_thread(_graphs))[1]


async def lightmem_store() -> LightMemStore:
    """Store factory for the ``"store"`` entry of ``langgraph.json``: the server's store is a :class:`LightMemStore`.

    The server calls it once per thread that uses the store; every store it returns works on the process's one
    LightMem (built off the event loop: it opens files).

    Example:
        .. code-block:: python

            from langgraph_sdk import get_sync_client

            client = get_sync_client(url="http://127.0.0.1:2024")  # `langgraph dev` in this repository
            client.store.put_item(["alice", "prefs"], "theme", {"text": "dark mode"})
            client.store.search_items(["alice", "lightmem_memories"], query="where does Alice live?")
    """
    return await asyncio.to_thread(lambda: LightMemStore(shared_memory()))


__all__ = [
    "PlatformConsolidationState",
    "PlatformIngestState",
    "build_consolidation_graph",
    "build_ingest_graph",
    "consolidation",
    "ingest",
    "lightmem_store",
    "shared_memory",
]
