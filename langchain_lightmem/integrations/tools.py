"""Agent tools ``search_memory`` and ``save_memory``: the store and the user come from the runtime.

The tools read ``runtime.store`` (pass ``store=`` to ``create_agent`` or ``graph.compile``) and fill the namespace
template from ``context=`` or ``config["configurable"]``. They use the namespace ``(*user, "memories")``: with a
:class:`~langchain_lightmem.integrations.LightMemStore` that is the user's long-term memory (what the pipeline
extracted plus what the agent saved); with any other ``BaseStore`` it is an ordinary namespace of ``{"text": ...}``
items, so the tools work there too.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool
from langgraph.prebuilt import ToolRuntime
from langgraph.store.base import BaseStore, SearchItem

from langchain_lightmem.errors import ConfigurationError
from langchain_lightmem.integrations.namespaces import NamespaceTemplate
from langchain_lightmem.integrations.store import MEMORIES


def _store(runtime: ToolRuntime[Any, Any], tool: str) -> BaseStore:
    if runtime.store is None:
        raise ConfigurationError(
            f"{tool} needs a store: create_agent(..., store=LightMemStore(memory)) or graph.compile(store=...)"
        )
    return runtime.store


def _render(items: Sequence[SearchItem]) -> str:
    if not items:
        return "No memories found."
    lines = []
    for item in items:
        when = str(item.value.get("event_time", item.created_at.isoformat()))[:10]
        text = item.value.get("text", item.value.get("content", item.value))
        score = f" (relevance {item.score:.2f})" if item.score is not None else ""
        lines.append(f"- [{item.key}] {when}: {text}{score}")
    return "\n".join(lines)


def create_search_memory_tool(
    namespace: str | Sequence[str] | NamespaceTemplate = ("{user_id}",),
    *,
    limit: int = 5,
    label: str = MEMORIES,
    name: str = "search_memory",
) -> BaseTool:
    """A tool that searches the user's long-term memories.

    Example:
        .. code-block:: python

            agent = create_agent(model, tools=[create_search_memory_tool()], store=LightMemStore(memory))
            agent.invoke({"messages": [...]}, context={"user_id": "alice"})
    """
    template = NamespaceTemplate(namespace)

    def _namespace(runtime: ToolRuntime[Any, Any]) -> tuple[str, ...]:
        return (*template(runtime.context, runtime.config), label)

    def search_memory(query: str, runtime: ToolRuntime[Any, Any], max_results: int = limit) -> str:
        items = _store(runtime, name).search(_namespace(runtime), query=query, limit=max_results)
        return _render(items)

    async def asearch_memory(query: str, runtime: ToolRuntime[Any, Any], max_results: int = limit) -> str:
        items = await _store(runtime, name).asearch(_namespace(runtime), query=query, limit=max_results)
        return _render(items)

    return StructuredTool.from_function(
        func=search_memory,
        coroutine=asearch_memory,
        name=name,
        description=(
            "Search your long-term memory about the user (facts, preferences, past events from earlier "
            "conversations). Use it when the answer may depend on something the user told you before."
        ),
    )


def create_save_memory_tool(
    namespace: str | Sequence[str] | NamespaceTemplate = ("{user_id}",),
    *,
    label: str = MEMORIES,
    name: str = "save_memory",
) -> BaseTool:
    """A tool that saves one standalone fact about the user to long-term memory right away.

    Example:
        .. code-block:: python

            tools = [create_search_memory_tool(), create_save_memory_tool()]
            agent = create_agent(model, tools=tools, store=LightMemStore(memory))
    """
    template = NamespaceTemplate(namespace)

    def _namespace(runtime: ToolRuntime[Any, Any]) -> tuple[str, ...]:
        return (*template(runtime.context, runtime.config), label)

    def save_memory(content: str, runtime: ToolRuntime[Any, Any]) -> str:
        key = uuid.uuid4().hex
        _store(runtime, name).put(_namespace(runtime), key, {"text": content})
        return f"Saved memory {key}."

    async def asave_memory(content: str, runtime: ToolRuntime[Any, Any]) -> str:
        key = uuid.uuid4().hex
        await _store(runtime, name).aput(_namespace(runtime), key, {"text": content})
        return f"Saved memory {key}."

    return StructuredTool.from_function(
        func=save_memory,
        coroutine=asave_memory,
        name=name,
        description=(
            "Save one standalone fact about the user to long-term memory (a preference, a plan, a detail worth "
            "remembering in later conversations). Write it so it makes sense on its own."
        ),
    )


def create_memory_tools(
    namespace: str | Sequence[str] | NamespaceTemplate = ("{user_id}",), *, limit: int = 5, label: str = MEMORIES
) -> list[BaseTool]:
    """``[search_memory, save_memory]`` for one namespace template.

    Example:
        .. code-block:: python

            agent = create_agent(model, tools=create_memory_tools(), store=LightMemStore(memory),
                                 context_schema=Context)
    """
    return [
        create_search_memory_tool(namespace, limit=limit, label=label),
        create_save_memory_tool(namespace, label=label),
    ]
