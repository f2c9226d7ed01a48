"""LangGraph's and LangChain's long-term-memory tutorials, run on LightMemStore and on InMemoryStore side by side.

Each scenario makes the same store calls as a tutorial (namespaces, keys, values and arguments as published; the
URL is above it), in graphs and agents where the tutorial has them. Only the store construction changes, and a fake
chat model and deterministic embeddings stand in for the hosted ones. The answers must equal InMemoryStore's
(scores within float32 rounding), on a private in-memory LightMemStore and on one inside a LightMem.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, BaseMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.config import get_store
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.runtime import Runtime
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore
from typing_extensions import TypedDict

from langchain_lightmem import LightMem
from langchain_lightmem.integrations import LightMemStore
from langchain_lightmem.testing import ScriptedChatModel

MakeStore = Callable[..., BaseStore]


@pytest.fixture(params=["private", "with-lightmem"])
def lightmem_store(request: pytest.FixtureRequest, make_memory: Callable[..., LightMem]) -> MakeStore:
    """``LightMemStore(...)`` where a tutorial writes ``InMemoryStore(...)``: alone, or inside a LightMem."""

    def make(index: Any = None) -> BaseStore:
        if request.param == "private":
            return LightMemStore(index=index or False, scores="cosine")
        return LightMemStore(make_memory(), index=index or False, scores="cosine")

    return make


def reference_store(index: Any = None) -> BaseStore:
    return InMemoryStore(index=index)


def echo_system_prompt(messages: list[BaseMessage], tools: list[dict[str, Any]]) -> str:
    """A stand-in chat model that answers with the system prompt it got, so a test sees what memory reached it."""
    return next((m.text for m in messages if isinstance(m, SystemMessage)), "")


def same(mine: Any, theirs: Any) -> None:
    """Equal, except for scores (float32 here) and timestamps (created_at survives updates here)."""
    assert type(mine) is type(theirs)
    if isinstance(mine, dict):
        assert mine.keys() == theirs.keys()
        for key in mine:
            if key == "score" and mine[key] is not None:
                assert mine[key] == pytest.approx(theirs[key], abs=1e-4)
            elif key not in ("created_at", "updated_at"):
                same(mine[key], theirs[key])
    elif isinstance(mine, list | tuple):
        assert len(mine) == len(theirs)
        for m, t in zip(mine, theirs, strict=True):
            same(m, t)
    else:
        assert mine == theirs


def without_keys(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in item.items() if k != "key"} for item in items]  # uuid4 keys differ between runs


# -- https://docs.langchain.com/oss/python/langgraph/persistence#memory-store ------------------------------------
# -- https://docs.langchain.com/oss/python/langgraph/stores (basic usage, listing, semantic search) --------------


def persistence_basic_usage(make_store: MakeStore) -> dict[str, Any]:
    store = make_store()
    user_id = "1"
    namespace_for_memory = (user_id, "memories")
    store.put(namespace_for_memory, str(uuid.uuid4()), {"food_preference": "I like pizza"})
    memories = store.search(namespace_for_memory)
    last = memories[-1].dict()
    assert set(last) >= {"value", "key", "namespace", "created_at", "updated_at"}
    # The second case: (user_id, "messages") is an ordinary namespace too.
    store.put((user_id, "messages"), "m1", {"text": "hi there"})
    return {
        "last": {"value": last["value"], "namespace": last["namespace"]},
        "messages": [i.value for i in store.search((user_id, "messages"))],
        "namespaces": store.list_namespaces(prefix=(user_id,), max_depth=2),
    }


def persistence_semantic_search(make_store: MakeStore, embed: Any) -> dict[str, Any]:
    store = make_store(index={"embed": embed, "dims": 64, "fields": ["food_preference", "$"]})
    namespace_for_memory = ("1", "memories")
    store.put(namespace_for_memory, "pizza", {"food_preference": "I like pizza"})
    store.put(
        namespace_for_memory,
        "italian",
        {"food_preference": "I love Italian cuisine", "context": "Discussing dinner plans"},
        index=["food_preference"],
    )
    store.put(namespace_for_memory, "system", {"system_info": "Last updated: 2024-01-01"}, index=False)
    memories = store.search(namespace_for_memory, query="What does the user like to eat?", limit=3)
    return {"hits": [{"key": m.key, "value": m.value, "score": m.score} for m in memories]}


def stores_listing(make_store: MakeStore) -> dict[str, Any]:
    store = make_store()
    for i in range(120):
        store.put(("alice", "memories"), f"m{i:03}", {"n": i})
    store.put(("alice", "preferences"), "theme", {"theme": "dark"})
    items = store.search(("alice", "memories"), limit=100)
    page_size, offset, paged = 50, 0, []
    while True:
        page = store.search(("alice", "memories"), limit=page_size, offset=offset)
        if not page:
            break
        paged += [item.key for item in page]
        offset += page_size
    return {
        "first_100": [i.key for i in items],
        "paged": paged,
        "namespaces": store.list_namespaces(prefix=("alice",), max_depth=2),
    }


@dataclass
class Context:
    user_id: str


def persistence_graph(make_store: MakeStore, embed: Any) -> dict[str, Any]:
    """The Runtime[Context] nodes of the persistence guide: one writes a memory, the next reads it back."""
    store = make_store(index={"embed": embed, "dims": 64})
    model = ScriptedChatModel(responder=echo_system_prompt)

    async def update_memory(state: MessagesState, runtime: Runtime[Context]) -> dict[str, Any]:
        namespace = (runtime.context.user_id, "memories")
        memory = f"said: {state['messages'][-1].content}"
        await runtime.store.aput(namespace, str(uuid.uuid4()), {"memory": memory})  # type: ignore[union-attr]
        return {}

    async def call_model(state: MessagesState, runtime: Runtime[Context]) -> dict[str, Any]:
        namespace = (runtime.context.user_id, "memories")
        memories = await runtime.store.asearch(  # type: ignore[union-attr]
            namespace, query=state["messages"][-1].content, limit=3
        )
        info = "\n".join([d.value["memory"] for d in memories])
        response = await model.ainvoke([SystemMessage(f"User info: {info}"), *state["messages"]])
        return {"messages": [response]}

    builder = StateGraph(MessagesState, context_schema=Context)
    builder.add_node(update_memory)
    builder.add_node(call_model)
    builder.add_edge(START, "update_memory")
    builder.add_edge("update_memory", "call_model")
    graph = builder.compile(checkpointer=InMemorySaver(), store=store)

    async def run() -> list[str]:
        answers = []
        for thread, text in [("1", "hi"), ("2", "hi, tell me about my memories")]:
            async for update in graph.astream(
                {"messages": [{"role": "user", "content": text}]},
                {"configurable": {"thread_id": thread}},
                stream_mode="updates",
                context=Context(user_id="1"),
            ):
                if "call_model" in update:
                    answers.append(update["call_model"]["messages"][-1].content)
        return answers

    answers = asyncio.run(run())
    return {"answers": sorted(answers[1].split("\n")), "stored": without_keys([i.dict() for i in store.search(("1",))])}


# -- https://docs.langchain.com/oss/python/langgraph/add-memory (long-term memory, semantic search) ----------------


def add_memory_graph(make_store: MakeStore, embed: Any, *, with_runtime: bool) -> dict[str, Any]:
    """The how-to's call_model node: search ("memories", user_id), save "User name is Bob" when asked to remember."""
    store = make_store(index={"embed": embed, "dims": 64})
    model = ScriptedChatModel(responder=echo_system_prompt)

    def answer(store: BaseStore, user_id: str, state: MessagesState) -> dict[str, Any]:
        namespace = ("memories", user_id)
        memories = store.search(namespace, query=str(state["messages"][-1].content))
        info = "\n".join([d.value["data"] for d in memories])
        system_msg = f"You are a helpful assistant talking to the user. User info: {info}"
        last_message = state["messages"][-1]
        if "remember" in str(last_message.content).lower():
            store.put(namespace, str(uuid.uuid4()), {"data": "User name is Bob"})
        return {"messages": model.invoke([{"role": "system", "content": system_msg}, *state["messages"]])}

    def call_model_config(state: MessagesState, config: RunnableConfig, *, store: BaseStore) -> dict[str, Any]:
        return answer(store, config["configurable"]["user_id"], state)

    def call_model_runtime(state: MessagesState, runtime: Runtime[Context]) -> dict[str, Any]:
        assert runtime.store is not None
        return answer(runtime.store, runtime.context.user_id, state)

    builder = StateGraph(MessagesState, context_schema=Context if with_runtime else None)
    builder.add_node("call_model", call_model_runtime if with_runtime else call_model_config)
    builder.add_edge(START, "call_model")
    graph = builder.compile(checkpointer=InMemorySaver(), store=store)

    answers = []
    for thread, text in [("1", "Hi! Remember: my name is Bob"), ("2", "what is my name?")]:
        config: dict[str, Any] = {"configurable": {"thread_id": thread}}
        kwargs: dict[str, Any] = {"context": Context(user_id="1")} if with_runtime else {}
        if not with_runtime:
            config["configurable"]["user_id"] = "1"
        for chunk in graph.stream(
            {"messages": [{"role": "user", "content": text}]}, config, stream_mode="values", **kwargs
        ):
            last = chunk["messages"][-1]
        answers.append(last.content)
    return {"answers": answers, "stored": without_keys([i.dict() for i in store.search(("memories",))])}


def add_memory_semantic_search(make_store: MakeStore, embed: Any) -> dict[str, Any]:
    store = make_store(index={"embed": embed, "dims": 64})
    store.put(("user_123", "memories"), "1", {"text": "I love pizza"})
    store.put(("user_123", "memories"), "2", {"text": "I am a plumber"})
    items = store.search(("user_123", "memories"), query="I'm hungry", limit=1)

    model = ScriptedChatModel(responder=echo_system_prompt)

    async def chat(state: MessagesState, runtime: Runtime) -> dict[str, Any]:
        found = await runtime.store.asearch(  # type: ignore[union-attr]
            ("user_123", "memories"), query=state["messages"][-1].content, limit=2
        )
        memories = "\n".join(item.value["text"] for item in found)
        memories = f"## Memories of user\n{memories}" if memories else ""
        response = await model.ainvoke(
            [{"role": "system", "content": f"You are a helpful assistant.\n{memories}"}, *state["messages"]]
        )
        return {"messages": [response]}

    builder = StateGraph(MessagesState)
    builder.add_node(chat)
    builder.add_edge(START, "chat")
    graph = builder.compile(store=store)

    async def run() -> str:
        text = ""
        async for message, _metadata in graph.astream(
            input={"messages": [{"role": "user", "content": "I'm hungry"}]}, stream_mode="messages"
        ):
            text += str(message.content)
        return text

    return {"hits": [{"key": i.key, "value": i.value, "score": i.score} for i in items], "answer": asyncio.run(run())}


# -- https://docs.langchain.com/oss/python/langchain/long-term-memory ---------------------------------------------


def langchain_memory_storage(make_store: MakeStore) -> dict[str, Any]:
    def embed(texts: list[str]) -> list[list[float]]:
        return [[1.0, 2.0] * len(texts)]  # the page's placeholder embedder, as published

    store = make_store(index={"embed": embed, "dims": 2})
    user_id = "my-user"
    application_context = "chitchat"
    namespace = (user_id, application_context)
    store.put(
        namespace,
        "a-memory",
        {"rules": ["User likes short, direct language", "User only speaks English & python"], "my-key": "my-value"},
    )
    item = store.get(namespace, "a-memory")
    items = store.search(namespace, filter={"my-key": "my-value"}, query="language preferences")
    assert item is not None
    return {"item": item.value, "hits": [{"key": i.key, "value": i.value, "score": i.score} for i in items]}


class UserInfo(TypedDict):
    name: str


def langchain_tools(make_store: MakeStore) -> dict[str, Any]:
    """The page's read and write tools: get_store() inside a tool of create_agent."""
    store = make_store()
    store.put(("users",), "user_123", {"name": "John Smith", "language": "English"})

    def get_user_info(config: RunnableConfig) -> str:
        """Look up user info."""
        user_info = get_store().get(("users",), config["configurable"].get("user_id"))
        return str(user_info.value) if user_info else "Unknown user"

    def save_user_info(user_info: UserInfo, config: RunnableConfig) -> str:
        """Save user info."""
        get_store().put(("users",), config["configurable"].get("user_id"), user_info)
        return "Successfully saved user info."

    def calls(name: str, args: dict[str, Any]) -> list[Any]:
        return [AIMessage("", tool_calls=[{"name": name, "args": args, "id": "call-1"}]), "done"]

    reader = create_agent(ScriptedChatModel(script=calls("get_user_info", {})), tools=[get_user_info], store=store)
    read = reader.invoke(
        {"messages": [{"role": "user", "content": "look up user information"}]},
        config={"configurable": {"user_id": "user_123"}},
    )
    writer = create_agent(
        ScriptedChatModel(script=calls("save_user_info", {"user_info": {"name": "John Smith"}})),
        tools=[save_user_info],
        store=store,
    )
    writer.invoke(
        {"messages": [{"role": "user", "content": "My name is John Smith"}]},
        config={"configurable": {"user_id": "user_456"}},
    )
    saved = store.get(("users",), "user_456")
    assert saved is not None
    return {"tool_answer": read["messages"][-2].content, "saved": saved.value}


# -- the tests -----------------------------------------------------------------------------------------------------


def test_persistence_basic_usage(lightmem_store: MakeStore) -> None:
    mine, theirs = persistence_basic_usage(lightmem_store), persistence_basic_usage(reference_store)
    same(mine, theirs)
    assert mine["last"]["value"] == {"food_preference": "I like pizza"}


def test_persistence_semantic_search(lightmem_store: MakeStore, static_embeddings: Any) -> None:
    mine = persistence_semantic_search(lightmem_store, static_embeddings)
    same(mine, persistence_semantic_search(reference_store, static_embeddings))
    assert [h["score"] is None for h in mine["hits"]] == [False, False, True]  # index=False: found, unscored


def test_stores_listing_and_paging(lightmem_store: MakeStore) -> None:
    mine = stores_listing(lightmem_store)
    same(mine, stores_listing(reference_store))
    assert len(mine["first_100"]) == 100 and len(mine["paged"]) == 120


def test_persistence_graph_with_runtime_context(lightmem_store: MakeStore, static_embeddings: Any) -> None:
    mine = persistence_graph(lightmem_store, static_embeddings)
    same(mine, persistence_graph(reference_store, static_embeddings))
    assert "said: hi" in " ".join(mine["answers"])  # thread 2 saw the memory written in thread 1


@pytest.mark.parametrize("with_runtime", [False, True], ids=["config-and-store-args", "runtime-context"])
def test_add_memory_graph(lightmem_store: MakeStore, static_embeddings: Any, with_runtime: bool) -> None:
    mine = add_memory_graph(lightmem_store, static_embeddings, with_runtime=with_runtime)
    same(mine, add_memory_graph(reference_store, static_embeddings, with_runtime=with_runtime))
    assert mine["answers"][1].endswith("User info: User name is Bob")


def test_add_memory_semantic_search(lightmem_store: MakeStore, static_embeddings: Any) -> None:
    mine = add_memory_semantic_search(lightmem_store, static_embeddings)
    same(mine, add_memory_semantic_search(reference_store, static_embeddings))
    assert "I love pizza" in mine["answer"] and "I am a plumber" in mine["answer"]


def test_langchain_long_term_memory_storage(lightmem_store: MakeStore) -> None:
    mine = langchain_memory_storage(lightmem_store)
    same(mine, langchain_memory_storage(reference_store))
    assert [h["key"] for h in mine["hits"]] == ["a-memory"]


def test_langchain_long_term_memory_tools(lightmem_store: MakeStore) -> None:
    mine = langchain_tools(lightmem_store)
    same(mine, langchain_tools(reference_store))
    assert mine == {"tool_answer": "{'name': 'John Smith', 'language': 'English'}", "saved": {"name": "John Smith"}}
