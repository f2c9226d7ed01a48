"""Agents: LightMemMiddleware in create_agent, the memory tools, namespaces from context= or configurable, and the
background ingestion (bounded, never delaying the reply, drained on close)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore

from langchain_lightmem import ConfigurationError, InvalidNamespaceError, LightMem, LightMemConfig
from langchain_lightmem.integrations import (
    BackgroundIngestor,
    LightMemMiddleware,
    LightMemStore,
    NamespaceTemplate,
    create_memory_tools,
)
from langchain_lightmem.integrations.store import MEMORIES
from langchain_lightmem.testing import ScriptedChatModel


@dataclass
class Context:
    user_id: str


def reply_from_memories(messages: list[BaseMessage], tools: list[dict[str, Any]]) -> str:
    """A stand-in for a chat model: answers with the memories it was shown (so a test can see them)."""
    if isinstance(messages[-1], ToolMessage):
        return f"Tool said: {messages[-1].text}"
    system = next((m.text for m in messages if isinstance(m, SystemMessage)), "")
    facts = [line[2:] for line in system.splitlines() if line.startswith("- ")]
    return "I remember: " + " | ".join(facts) if facts else "I don't know you yet."


def save_call(content: str) -> AIMessage:
    return AIMessage("", tool_calls=[{"name": "save_memory", "args": {"content": content}, "id": "call-1"}])


@pytest.fixture
def memory(make_memory: Callable[..., LightMem]) -> LightMem:
    return make_memory()


@pytest.fixture
def middleware(memory: LightMem) -> Any:
    mw = LightMemMiddleware(memory, k=5, max_tokens=200)
    yield mw
    mw.close()


def build(memory: LightMem, middleware: LightMemMiddleware, model: ScriptedChatModel, **kwargs: Any) -> Any:
    return create_agent(
        model,
        tools=create_memory_tools(),
        middleware=[middleware],
        store=LightMemStore(memory),
        checkpointer=InMemorySaver(),
        **kwargs,
    )


def test_agent_remembers_a_user_across_threads(memory: LightMem, middleware: LightMemMiddleware) -> None:
    model = ScriptedChatModel(script=[save_call("Alice is allergic to peanuts.")], responder=reply_from_memories)
    agent = build(memory, middleware, model, context_schema=Context)
    first = agent.invoke(
        {"messages": [HumanMessage("Hi! I just moved to Lisbon.")]},
        {"configurable": {"thread_id": "t1"}},
        context=Context(user_id="alice"),
    )
    assert first["messages"][-1].text.startswith("Tool said: Saved memory ")
    assert middleware.flush(timeout=30)
    memory.flush("alice")  # force the buffered turn through the pipeline now

    second = agent.invoke(
        {"messages": [HumanMessage("Where do I live, and what can't I eat?")]},
        {"configurable": {"thread_id": "t2"}},  # a new thread: nothing in its checkpoint
        context=Context(user_id="alice"),
    )
    answer = second["messages"][-1].text
    assert "Lisbon" in answer and "peanuts" in answer
    assert all("lightmem" not in str(m.content).lower() for m in second["messages"])  # memories not in state

    stranger = agent.invoke(
        {"messages": [HumanMessage("Where do I live?")]},
        {"configurable": {"thread_id": "t3"}},
        context=Context(user_id="bob"),
    )
    assert stranger["messages"][-1].text == "I don't know you yet."


def test_namespace_from_configurable_as_well_as_context(memory: LightMem, middleware: LightMemMiddleware) -> None:
    memory.remember("carol", "Carol plays the cello.")
    model = ScriptedChatModel(responder=reply_from_memories)
    agent = build(memory, middleware, model)
    by_config = agent.invoke(
        {"messages": [HumanMessage("What do I play?")]}, {"configurable": {"thread_id": "t", "user_id": "carol"}}
    )
    assert "cello" in by_config["messages"][-1].text
    by_context = agent.invoke(
        {"messages": [HumanMessage("What do I play?")]},
        {"configurable": {"thread_id": "u"}},
        context={"user_id": "carol"},
    )
    assert "cello" in by_context["messages"][-1].text
    with pytest.raises(InvalidNamespaceError, match="user_id"):
        agent.invoke({"messages": [HumanMessage("hi")]}, {"configurable": {"thread_id": "v"}})


def test_namespace_template() -> None:
    template = NamespaceTemplate(("org", "{org_id}", "user-{user_id}"))
    assert template(Context(user_id="7"), {"configurable": {"org_id": "acme"}}) == ("org", "acme", "user-7")
    assert template({"user_id": 42, "org_id": "acme"}) == ("org", "acme", "user-42")  # ids need not be strings
    assert template(None, {"configurable": {"user_id": "x", "org_id": "y"}}) == ("org", "y", "user-x")
    with pytest.raises(InvalidNamespaceError, match="org_id"):
        template({"user_id": "x"})
    assert NamespaceTemplate("fixed")() == ("fixed",)


def test_injection_stays_within_budget_and_searches_once_per_user_message(
    memory: LightMem, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(30):
        memory.remember("dana", f"Dana fact number {i} about her travels to Lisbon and Porto.")
    middleware = LightMemMiddleware(memory, k=30, max_tokens=60, ingest=False)
    calls: list[str] = []
    search = memory.search
    monkeypatch.setattr(memory, "search", lambda ns, q, **kw: calls.append(q) or search(ns, q, **kw))
    model = ScriptedChatModel(script=[save_call("Dana likes trains.")], responder=reply_from_memories)
    agent = build(memory, middleware, model)
    agent.invoke(
        {"messages": [HumanMessage("Tell me about my travels.")]},
        {"configurable": {"thread_id": "t"}},
        context={"user_id": "dana"},
    )
    assert calls == ["Tell me about my travels."]  # two model calls (tool round), one search
    system = next(m for m in model.prompts[0] if isinstance(m, SystemMessage)).text
    assert 0 < memory.pipeline.counter.count(system) <= 60
    assert model.prompts[1][0].text == system  # the same block in the second call
    middleware.close()


def test_the_reply_does_not_wait_for_the_pipeline(memory: LightMem, monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    added: list[list[str]] = []
    add = memory.add

    def slow_add(messages: Any, **kwargs: Any) -> Any:
        assert release.wait(30), "the test never released the pipeline"
        added.append([m.text for m in messages])
        return add(messages, **kwargs)

    monkeypatch.setattr(memory, "add", slow_add)
    middleware = LightMemMiddleware(memory)
    agent = build(memory, middleware, ScriptedChatModel(responder=reply_from_memories))
    config = {"configurable": {"thread_id": "t"}}
    result = agent.invoke({"messages": [HumanMessage("I like jazz.")]}, config, context={"user_id": "eve"})
    assert result["messages"][-1].text == "I don't know you yet."  # replied while the pipeline is blocked
    assert middleware.ingestor.pending == 1 and memory.recent_messages("eve") == []
    release.set()
    assert middleware.flush(timeout=30)
    assert added == [["I like jazz.", "I don't know you yet."]]
    agent.invoke({"messages": [HumanMessage("And blues.")]}, config, context={"user_id": "eve"})
    assert middleware.flush(timeout=30)
    assert added[1] == ["And blues.", "I don't know you yet."]  # only the new turn, despite the checkpoint
    assert [m.text for m in memory.recent_messages("eve")] == [*added[0], *added[1]]
    middleware.close()


async def test_async_agent(memory: LightMem) -> None:
    memory.remember("fay", "Fay's favourite colour is teal.")
    middleware = LightMemMiddleware(memory)
    model = ScriptedChatModel(script=[save_call("Fay has a dog named Rex.")], responder=reply_from_memories)
    agent = build(memory, middleware, model)
    config = {"configurable": {"thread_id": "t"}}
    await agent.ainvoke({"messages": [HumanMessage("What colour do I like?")]}, config, context={"user_id": "fay"})
    assert await middleware.aflush(timeout=30)
    assert "teal" in next(m for m in model.prompts[0] if isinstance(m, SystemMessage)).text
    assert {e.text for e in memory.entries("fay")} == {"Fay's favourite colour is teal.", "Fay has a dog named Rex."}
    assert [m.role for m in memory.recent_messages("fay")] == ["user", "assistant"]
    middleware.close()


def test_tools_work_with_any_store_and_explain_a_missing_one() -> None:
    store = InMemoryStore()
    model = ScriptedChatModel(
        script=[
            save_call("Gil speaks Greek."),
            AIMessage("", tool_calls=[{"name": "search_memory", "args": {"query": "Greek"}, "id": "call-2"}]),
        ],
        responder=reply_from_memories,
    )
    agent = create_agent(model, tools=create_memory_tools(), store=store)
    result = agent.invoke({"messages": [HumanMessage("remember this")]}, context={"user_id": "gil"})
    assert [i.value for i in store.search(("gil", MEMORIES))] == [{"text": "Gil speaks Greek."}]
    assert "Gil speaks Greek." in result["messages"][-2].text  # the search_memory tool's answer
    no_store = create_agent(ScriptedChatModel(script=[save_call("x")]), tools=create_memory_tools())
    with pytest.raises(ConfigurationError, match="needs a store"):
        no_store.invoke({"messages": [HumanMessage("hi")]}, context={"user_id": "gil"})


def test_background_ingestor_is_bounded_and_drains_on_close(memory: LightMem, monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    add = memory.add
    monkeypatch.setattr(memory, "add", lambda messages, **kw: release.wait(30) and add(messages, **kw))
    ingestor = BackgroundIngestor(memory, max_pending=1)
    ingestor.submit([HumanMessage("one")], namespace="hal")  # taken by the worker, which blocks
    ingestor.submit([HumanMessage("two")], namespace="hal")  # fills the queue
    third = threading.Thread(target=ingestor.submit, args=([HumanMessage("three")],), kwargs={"namespace": "hal"})
    third.start()
    third.join(0.3)
    assert third.is_alive()  # the producer waits: the queue is bounded
    assert not ingestor.join(timeout=0.1)
    release.set()
    third.join(10)
    ingestor.close()
    assert [m.text for m in memory.recent_messages("hal")] == ["one", "two", "three"]
    with pytest.raises(RuntimeError, match="closed"):
        ingestor.submit([HumanMessage("four")], namespace="hal")
    assert asyncio.run(ingestor.ajoin(1))


def test_bad_middleware_arguments(memory: LightMem) -> None:
    with pytest.raises(ValueError, match="roles"):
        LightMemMiddleware(memory, roles=("robot",))
    with pytest.raises(ValueError):
        LightMemMiddleware(memory, k=0)
    with pytest.raises(ConfigurationError):
        LightMemStore(memory, collection="?")


SHUTDOWN_SCRIPT = """
import sys, time
from langchain_core.messages import HumanMessage
from langchain_lightmem import LightMem, LightMemConfig
from langchain_lightmem.integrations import BackgroundIngestor

memory = LightMem(LightMemConfig(data_dir=sys.argv[1], embeddings={"backend": "static"}))
add = memory.add
memory.add = lambda messages, **kw: (time.sleep(0.5), add(messages, **kw))[1]  # a slow pipeline
ingestor = BackgroundIngestor(memory)
for i in range(3):
    ingestor.submit([HumanMessage(f"turn {i}")], namespace="ivy", thread_id="t")
print("pending at exit:", ingestor.pending)
"""  # exits without close(): the queued turns must still be added


@pytest.mark.integration
def test_queued_turns_are_added_when_the_process_exits(tmp_path: Any) -> None:
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", SHUTDOWN_SCRIPT, str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "pending at exit: 3" in out.stdout or "pending at exit: 2" in out.stdout
    with LightMem(LightMemConfig(data_dir=tmp_path, embeddings={"backend": "static"})) as memory:
        assert [m.text for m in memory.recent_messages("ivy")] == ["turn 0", "turn 1", "turn 2"]
