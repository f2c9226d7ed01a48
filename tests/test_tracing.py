"""Tracing: LightMem's own plumbing stays out of the caller's trace; its LLM calls are traced under the run that
caused them, also when they run later on the background worker."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import HumanMessage
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from langchain_lightmem import LightMem
from langchain_lightmem.testing import ScriptedChatModel


class Runs(BaseCallbackHandler):
    """Records every run's name and parent."""

    def __init__(self) -> None:
        self.parent: dict[UUID, UUID | None] = {}
        self.name: dict[UUID, str] = {}
        self.lock = threading.Lock()

    def _start(self, name: str, run_id: UUID, parent_run_id: UUID | None) -> None:
        with self.lock:
            self.parent[run_id], self.name[run_id] = parent_run_id, name

    def on_chain_start(
        self, serialized: Any, inputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kw: Any
    ) -> None:
        self._start(kw.get("name") or (serialized or {}).get("name", "chain"), run_id, parent_run_id)

    def on_chat_model_start(
        self, serialized: Any, messages: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kw: Any
    ) -> None:
        self._start("chat_model", run_id, parent_run_id)

    def ancestors(self, run_id: UUID) -> list[str]:
        out, current = [], self.parent.get(run_id)
        while current is not None:
            out.append(self.name[current])
            current = self.parent.get(current)
        return out

    def children_of(self, name: str) -> list[str]:
        ids = {r for r, n in self.name.items() if n == name}
        return [self.name[r] for r, p in self.parent.items() if p in ids]


class State(TypedDict):
    text: str


def graph_adding_to(memory: LightMem, **add: Any) -> Any:
    def remember(state: State) -> State:
        memory.add([{"role": "user", "content": state["text"]}], namespace="tia", **add)
        return state

    def flush(state: State) -> State:
        memory.flush("tia")
        return state

    graph = StateGraph(State)
    graph.add_node("remember", remember)
    graph.add_node("flush", flush)
    graph.add_edge(START, "remember")
    graph.add_edge("remember", "flush")
    graph.add_edge("flush", END)
    return graph.compile()


def test_an_add_inside_a_node_adds_no_runs_of_its_own(make_memory: Callable[..., LightMem]) -> None:
    memory = make_memory(ScriptedChatModel())
    runs = Runs()
    graph_adding_to(memory).invoke({"text": "I keep bees."}, {"callbacks": [runs]})
    # 0.1: the ingest graph's nodes appeared as nested runs of the node; now only the extraction call does
    assert runs.children_of("remember") == []
    under_flush = [n for r, n in runs.name.items() if "flush" in runs.ancestors(r)]
    assert "chat_model" in under_flush  # the extraction call, traced under the node that caused it
    assert not {"lightmem_ingest", "normalise", "extract", "write"} & set(runs.name.values())


def test_an_explicit_config_traces_the_ingest_graph(make_memory: Callable[..., LightMem]) -> None:
    memory = make_memory()
    runs = Runs()
    memory.add([{"role": "user", "content": "I keep bees."}], namespace="tia", config={"callbacks": [runs]})
    assert "lightmem_ingest" in runs.name.values() and "normalise" in runs.name.values()


def test_background_extraction_is_traced_under_the_agent_run(make_memory: Callable[..., LightMem]) -> None:
    from langchain.agents import create_agent

    from langchain_lightmem.integrations import LightMemMiddleware

    extractor = ScriptedChatModel()
    # tiny buffers: the turn fills a batch at once, so the worker extracts without any flush
    memory = make_memory(extractor, segmentation={"window_tokens": 16}, short_term={"threshold_tokens": 4})
    middleware = LightMemMiddleware(memory)
    agent = create_agent(ScriptedChatModel(responder=lambda m, t: "Noted."), middleware=[middleware])
    runs = Runs()
    agent.invoke(
        {"messages": [HumanMessage("I keep bees on my roof in Lyon and sell the honey at the market.")]},
        {"callbacks": [runs], "configurable": {"thread_id": "t"}},
        context={"user_id": "tia"},
    )
    assert middleware.flush(timeout=30)
    assert extractor.calls >= 1
    extraction = [r for r, n in runs.name.items() if n == "chat_model" and "LangGraph" in runs.ancestors(r)]
    extraction = [r for r in extraction if any("after_agent" in a for a in runs.ancestors(r))]
    assert extraction, "the worker's extraction call is not linked to the agent run"
