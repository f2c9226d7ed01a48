"""Agent tools ``search_memory``, ``manage_memory`` and ``save_memory``: the store and the user come from the run.

The tools read ``runtime.store`` (pass ``store=`` to ``create_agent`` or ``graph.compile``) and fill the namespace
template from ``context=`` or ``config["configurable"]``.

* With a :class:`~langchain_lightmem.integrations.LightMemStore` they work on the user's LightMem memory through
  the facade: what the pipeline extracted, what is still pending, and what the agent saved. Any user id works,
  e-mail addresses included (LangGraph store labels cannot contain ``.``; LightMem namespaces can).
* With any other ``BaseStore`` they keep ``{"text": ...}`` items under ``(*user, label)``; a ``.`` in a label is
  escaped (``%2E``) so dotted ids work there too.

Scores shown to the model are LightMem's relevance (see ``LightMem.search``); hits below ``min_score`` are left
out, so the model is not handed unrelated memories as if they were answers (``"auto"``: 0.02 where relevance is
calibrated for the memory's embeddings, else no threshold).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from langchain_core.tools import BaseTool, StructuredTool
from langgraph.prebuilt import ToolRuntime
from langgraph.store.base import BaseStore

from langchain_lightmem.errors import ConfigurationError, InvalidInputError
from langchain_lightmem.integrations.filters import matches, validate_filter
from langchain_lightmem.integrations.namespaces import NamespaceTemplate
from langchain_lightmem.integrations.store import MEMORIES
from langchain_lightmem.types import MemoryEntry, Namespace

Action = Literal["create", "update", "delete"]


def _store(runtime: ToolRuntime[Any, Any], tool: str) -> BaseStore:
    if runtime.store is None:
        raise ConfigurationError(
            f"{tool} needs a store: create_agent(..., store=LightMemStore(memory)) or graph.compile(store=...)"
        )
    return runtime.store


def _escape(label: str) -> str:
    return label.replace("%", "%25").replace(".", "%2E")


class _Memories:
    """One user's memories behind either kind of store; what the three tools share."""

    def __init__(self, runtime: ToolRuntime[Any, Any], template: NamespaceTemplate, label: str, tool: str) -> None:
        self.store = _store(runtime, tool)
        self.user: Namespace = template(runtime.context, runtime.config)
        self.memory = getattr(self.store, "memory", None)  # a LightMemStore with a LightMem: use the facade
        self.namespace = (*(_escape(p) for p in self.user), label)

    def search(
        self, query: str, limit: int, filter: Mapping[str, Any] | None, min_score: float | Literal["auto"] | None
    ) -> str:
        validate_filter(filter)
        if min_score == "auto":
            min_score = self.memory.default_min_score if self.memory is not None else None
        lines = []
        if self.memory is not None:
            hits = self.memory.search(self.user, query, k=max(limit * 4, limit) if filter else limit)
            for hit in hits:
                if (min_score is not None and hit.score < min_score) or not matches(hit.entry.to_value(), filter):
                    continue
                lines.append(_line(hit.entry.id, hit.entry, hit.score))
        else:
            for item in self.store.search(self.namespace, query=query, filter=dict(filter or {}) or None, limit=limit):
                if min_score is not None and item.score is not None and item.score < min_score:
                    continue
                when = str(item.value.get("event_time", item.created_at.isoformat()))[:10]
                text = item.value.get("text", item.value.get("content", item.value))
                score = f" (relevance {item.score:.2f})" if item.score is not None else ""
                lines.append(f"- [{item.key}] {when}: {text}{score}")
        return "\n".join(lines[:limit]) or "No memories found."

    def create(self, content: str) -> str:
        key = uuid.uuid4().hex
        if self.memory is not None:
            return self.memory.remember(self.user, content, key=key).id
        self.store.put(self.namespace, key, {"text": content})
        return key

    def update(self, memory_id: str, content: str) -> None:
        if self.memory is not None:
            self.memory.update(self.user, memory_id, content)
        elif self.store.get(self.namespace, memory_id) is None:
            raise KeyError(memory_id)
        else:
            self.store.put(self.namespace, memory_id, {"text": content})

    def delete(self, memory_id: str) -> bool:
        if self.memory is not None:
            return bool(self.memory.delete(self.user, [memory_id]))
        found = self.store.get(self.namespace, memory_id) is not None
        self.store.delete(self.namespace, memory_id)
        return found


def _line(key: str, entry: MemoryEntry, score: float | None) -> str:
    marks = " (not yet consolidated: said in conversation)" if entry.pending else ""
    relevance = f" (relevance {score:.2f})" if score is not None else ""
    return f"- [{key}] {entry.event_time:%Y-%m-%d}: {entry.text}{marks}{relevance}"


def create_search_memory_tool(
    namespace: str | Sequence[str] | NamespaceTemplate = ("{user_id}",),
    *,
    limit: int = 5,
    min_score: float | Literal["auto"] | None = "auto",
    label: str = MEMORIES,
    name: str = "search_memory",
) -> BaseTool:
    """A tool that searches the user's long-term memories (optionally with a filter on their fields).

    Example:
        .. code-block:: python

            agent = create_agent(model, tools=[create_search_memory_tool()], store=LightMemStore(memory))
            agent.invoke({"messages": [...]}, context={"user_id": "alice@example.com"})
    """
    template = NamespaceTemplate(namespace)

    def search_memory(
        query: str,
        runtime: ToolRuntime[Any, Any],
        max_results: int = limit,
        filter: dict[str, Any] | None = None,
    ) -> str:
        return _Memories(runtime, template, label, name).search(query, max(1, max_results), filter, min_score)

    return StructuredTool.from_function(
        func=search_memory,
        name=name,
        description=(
            "Search your long-term memory about the user (facts, preferences, past events from earlier "
            "conversations). Use it when the answer may depend on something the user told you before. Optional "
            'filter on memory fields, e.g. {"thread_id": "t1"} or {"speaker": "Alice"}.'
        ),
    )


def create_manage_memory_tool(
    namespace: str | Sequence[str] | NamespaceTemplate = ("{user_id}",),
    *,
    label: str = MEMORIES,
    name: str = "manage_memory",
) -> BaseTool:
    """A tool that creates, updates or deletes one memory (langmem's ``manage_memory``).

    ``update`` and ``delete`` take the id shown in brackets by ``search_memory``. An update replaces the text
    (re-embedded, ``version`` + 1, provenance kept).

    Example:
        .. code-block:: python

            tools = [create_search_memory_tool(), create_manage_memory_tool()]
            agent = create_agent(model, tools=tools, store=LightMemStore(memory))
    """
    template = NamespaceTemplate(namespace)

    def manage_memory(
        runtime: ToolRuntime[Any, Any], action: Action = "create", content: str | None = None, id: str | None = None
    ) -> str:
        memories = _Memories(runtime, template, label, name)
        if action != "create" and not id:
            return f"Give the 'id' of the memory to {action} (the bracketed id from search_memory)."
        try:
            if action == "create":
                if not content:
                    return "Nothing saved: give the memory's text in 'content'."
                return f"Saved memory {memories.create(content)}."
            assert id is not None
            if action == "update":
                if not content:
                    return "Nothing changed: give the new text in 'content'."
                memories.update(id, content)
                return f"Updated memory {id}."
            return f"Deleted memory {id}." if memories.delete(id) else f"No memory {id} to delete."
        except KeyError:
            return f"No memory {id} to update (search_memory shows the ids)."
        except InvalidInputError as exc:
            return f"Nothing changed: {exc}"

    return StructuredTool.from_function(
        func=manage_memory,
        name=name,
        description=(
            "Create, update or delete a long-term memory about the user. action='create' with 'content' saves a "
            "new standalone fact; action='update' with 'id' and 'content' corrects one; action='delete' with 'id' "
            "removes one that is wrong or that the user asked you to forget."
        ),
    )


def create_save_memory_tool(
    namespace: str | Sequence[str] | NamespaceTemplate = ("{user_id}",),
    *,
    label: str = MEMORIES,
    name: str = "save_memory",
) -> BaseTool:
    """A tool that saves one standalone fact about the user to long-term memory right away (``create`` only).

    Example:
        .. code-block:: python

            tools = [create_search_memory_tool(), create_save_memory_tool()]
            agent = create_agent(model, tools=tools, store=LightMemStore(memory))
    """
    template = NamespaceTemplate(namespace)

    def save_memory(content: str, runtime: ToolRuntime[Any, Any]) -> str:
        return f"Saved memory {_Memories(runtime, template, label, name).create(content)}."

    return StructuredTool.from_function(
        func=save_memory,
        name=name,
        description=(
            "Save one standalone fact about the user to long-term memory (a preference, a plan, a detail worth "
            "remembering in later conversations). Write it so it makes sense on its own."
        ),
    )


def create_memory_tools(
    namespace: str | Sequence[str] | NamespaceTemplate = ("{user_id}",),
    *,
    limit: int = 5,
    min_score: float | Literal["auto"] | None = "auto",
    label: str = MEMORIES,
) -> list[BaseTool]:
    """``[search_memory, save_memory, manage_memory]`` for one namespace template.

    Example:
        .. code-block:: python

            agent = create_agent(model, tools=create_memory_tools(), store=LightMemStore(memory),
                                 context_schema=Context)
    """
    return [
        create_search_memory_tool(namespace, limit=limit, min_score=min_score, label=label),
        create_save_memory_tool(namespace, label=label),
        create_manage_memory_tool(namespace, label=label),
    ]
