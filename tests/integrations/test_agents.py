"""Agents: LightMemMiddleware in create_agent, the memory tools, namespaces from context= or configurable, and the
background ingestion (bounded, never delaying the reply, drained on close)."""

from __future__ import annotations

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


@pytest.mark.parametrize("extraction", ["llm_free", "fake_model"])
def test_agent_remembers_a_user_across_threads_without_any_flush(
    make_memory: Callable[..., LightMem], extraction: str
) -> None:
    memory = make_memory(ScriptedChatModel() if extraction == "fake_model" else None)
    middleware = LightMemMiddleware(memory, k=5, max_tokens=200)
    model = ScriptedChatModel(script=[save_call("Alice is allergic to peanuts.")], responder=reply_from_memories)
    agent = build(memory, middleware, model, context_schema=Context)
    first = agent.invoke(
        {"messages": [HumanMessage("Hi! I just moved to Lisbon.")]},
        {"configurable": {"thread_id": "t1"}},
        context=Context(user_id="alice"),
    )
    assert first["messages"][-1].text.startswith("Tool said: Saved memory ")

    second = agent.invoke(  # no flush anywhere: the turn of t1 is searchable as soon as t1's run returned
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
    middleware.close()  # shutdown: the open threads are extracted; nothing stays pending
    assert memory.stats("alice").pending == 0
    assert any("Lisbon" in e.text for e in memory.entries("alice"))
    assert (model.calls if extraction == "llm_free" else memory.chat_model.calls) > 0  # type: ignore[union-attr]


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
    compress = memory.pipeline.compress

    def slow_compress(namespace: Any) -> int:
        assert release.wait(30), "the test never released the pipeline"
        return compress(namespace)

    monkeypatch.setattr(memory.pipeline, "compress", slow_compress)
    middleware = LightMemMiddleware(memory)
    agent = build(memory, middleware, ScriptedChatModel(responder=reply_from_memories))
    config = {"configurable": {"thread_id": "t"}}
    result = agent.invoke({"messages": [HumanMessage("I like jazz.")]}, config, context={"user_id": "eve"})
    assert result["messages"][-1].text == "I don't know you yet."  # replied while the pipeline is blocked
    # ... and the turn is already durable and searchable from any thread
    assert [m.text for m in memory.recent_messages("eve")] == ["I like jazz.", "I don't know you yet."]
    assert [h.entry.text for h in memory.search("eve", "jazz", k=1)] == ["user: I like jazz."]
    assert not middleware.flush(timeout=0.2)  # the worker is still blocked
    release.set()
    assert middleware.flush(timeout=30)
    agent.invoke({"messages": [HumanMessage("And blues.")]}, config, context={"user_id": "eve"})
    assert middleware.flush(timeout=30)
    # only the new turn was handed over, despite the checkpoint replaying the whole thread
    assert [m.text for m in memory.recent_messages("eve")][2] == "And blues."
    assert len(memory.recent_messages("eve")) == 4
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
    assert {h.entry.text for h in await memory.asearch("fay", "colour", k=10) if h.pending} >= {
        "user: What colour do I like?"
    }
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


def test_worker_failures_are_inspectable_and_retried_from_the_journal(
    memory: LightMem, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail = {"left": 1}
    compress = memory.pipeline.compress

    def flaky(namespace: Any) -> int:
        if fail["left"]:
            fail["left"] -= 1
            raise OSError("disk full")
        return compress(namespace)

    monkeypatch.setattr(memory.pipeline, "compress", flaky)
    memory.add([HumanMessage("turn 0")], namespace="hal", thread_id="t", background=True)
    assert memory.worker.join(timeout=30)
    assert "disk full" in str(memory.worker.errors[-1][1])
    assert memory.stats("hal").messages["accepted"] == 1  # nothing lost: still in the journal, and searchable
    assert memory.search("hal", "turn", k=1)[0].pending
    memory.add([HumanMessage("turn 1")], namespace="hal", thread_id="t", background=True)
    assert memory.worker.join(timeout=30)
    assert memory.stats("hal").messages["accepted"] == 0  # the next run retried the failed stage
    memory.close()
    with pytest.raises(RuntimeError, match="closed"):
        memory.add([HumanMessage("turn 2")], namespace="hal", background=True)


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

memory = LightMem(LightMemConfig(data_dir=sys.argv[1], embeddings={"backend": "static"}))
compress = memory.pipeline.compress
memory.pipeline.compress = lambda ns: (time.sleep(0.5), compress(ns))[1]  # a slow pipeline
for i in range(3):
    memory.add([HumanMessage(f"turn {i}")], namespace="ivy", thread_id="t", background=True)
print("searchable at exit:", len(memory.search("ivy", "turn", k=10)))
"""  # exits without close(): the accepted turns must survive, and a later run must process them


@pytest.mark.integration
def test_accepted_turns_survive_an_exit_before_processing(tmp_path: Any) -> None:
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", SHUTDOWN_SCRIPT, str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "searchable at exit: 3" in out.stdout
    with LightMem(LightMemConfig(data_dir=tmp_path, embeddings={"backend": "static"})) as memory:
        assert [m.text for m in memory.recent_messages("ivy")] == ["turn 0", "turn 1", "turn 2"]
        memory.flush_idle(0)  # what the worker's idle flush does on its own
        assert {e.text for e in memory.entries("ivy")} == {"user: turn 0", "user: turn 1", "user: turn 2"}
        assert memory.stats("ivy").pending == 0


def tool_call(name: str, **args: Any) -> AIMessage:
    return AIMessage("", tool_calls=[{"name": name, "args": args, "id": f"call-{name}-{len(args)}"}])


@pytest.mark.parametrize("store_kind", ["lightmem", "in_memory"])
def test_memory_tools_for_an_e_mail_user_id(memory: LightMem, store_kind: str) -> None:
    """0.1 raised LangGraph's InvalidNamespaceError for a user id with a '.' (labels cannot hold one)."""
    store = LightMemStore(memory) if store_kind == "lightmem" else InMemoryStore()
    user = "ada.lovelace@example.com"
    script = [
        tool_call("manage_memory", action="create", content="Ada prefers tea to coffee."),
        AIMessage("ok"),
        tool_call("search_memory", query="What does Ada drink?"),
        AIMessage("ok"),
    ]
    model = ScriptedChatModel(script=script, responder=reply_from_memories)
    agent = create_agent(model, tools=create_memory_tools(), store=store)
    agent.invoke(
        {"messages": [HumanMessage("remember: tea")]}, {"configurable": {"thread_id": "a"}}, context={"user_id": user}
    )
    result = agent.invoke(
        {"messages": [HumanMessage("what do I drink?")]},
        {"configurable": {"thread_id": "b"}},
        context={"user_id": user},
    )
    found = next(m for m in result["messages"] if isinstance(m, ToolMessage)).text
    assert "Ada prefers tea to coffee." in found
    if store_kind == "lightmem":
        assert [e.text for e in memory.entries(user)] == ["Ada prefers tea to coffee."]  # the facade's namespace


def test_manage_memory_updates_and_deletes_by_the_id_search_shows(memory: LightMem) -> None:
    memory.remember("kim", "Kim lives in Oslo.", key="home")
    memory.add([{"role": "user", "content": "I play the oboe in a band.", "thread_id": "t9"}], namespace="kim")
    tools = {t.name: t for t in create_memory_tools()}
    store = LightMemStore(memory)

    def call(name: str, **args: Any) -> str:
        model = ScriptedChatModel(script=[tool_call(name, **args), AIMessage("done")])
        agent = create_agent(model, tools=list(tools.values()), store=store)
        out = agent.invoke({"messages": [HumanMessage("go")]}, context={"user_id": "kim"})
        return next(m for m in out["messages"] if isinstance(m, ToolMessage)).text

    listing = call("search_memory", query="Where does Kim live?")
    home_id = next(line.split("]")[0][3:] for line in listing.splitlines() if "Oslo" in line)
    assert (
        call("manage_memory", action="update", id=home_id, content="Kim lives in Bergen.")
        == f"Updated memory {home_id}."
    )
    assert [(e.text, e.version) for e in memory.entries("kim")] == [("Kim lives in Bergen.", 2)]
    assert "No memory nope" in call("manage_memory", action="update", id="nope", content="x")
    filtered = call("search_memory", query="oboe band", filter={"thread_id": "t9"})
    assert "oboe" in filtered and "Bergen" not in filtered and "not yet consolidated" in filtered
    assert call("manage_memory", action="delete", id=home_id) == f"Deleted memory {home_id}."
    assert memory.entries("kim") == []
