"""LangChain and LangGraph surfaces over the facade.

* :class:`LightMemStore`: a LangGraph ``BaseStore`` on Chroma (items, filters, semantic search, TTL), with the
  pipeline's memories and write path in reserved namespaces.
* :class:`LightMemChatMessageHistory`: a chat session whose messages feed the pipeline.
* :class:`LightMemRetriever`: a retriever over one namespace's memories.
* :class:`LightMemMiddleware` (needs the ``agents`` extra: ``langchain``): memories into ``create_agent`` model
  calls, finished turns into the pipeline in the background.
* :func:`create_memory_tools`: ``search_memory`` and ``save_memory`` tools using the runtime's store and user.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langchain_lightmem.integrations.history import LightMemChatMessageHistory
from langchain_lightmem.integrations.namespaces import NamespaceTemplate
from langchain_lightmem.integrations.retriever import LightMemRetriever
from langchain_lightmem.integrations.store import LightMemStore
from langchain_lightmem.integrations.tools import (
    create_memory_tools,
    create_save_memory_tool,
    create_search_memory_tool,
)

if TYPE_CHECKING:
    from langchain_lightmem.integrations.middleware import LightMemMiddleware

_MIDDLEWARE = {"LightMemMiddleware"}


def __getattr__(name: str) -> Any:
    # The middleware imports `langchain` (the agents extra); load it only when asked for.
    if name in _MIDDLEWARE:
        from langchain_lightmem.integrations import middleware

        return getattr(middleware, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "LightMemChatMessageHistory",
    "LightMemMiddleware",
    "LightMemRetriever",
    "LightMemStore",
    "NamespaceTemplate",
    "create_memory_tools",
    "create_save_memory_tool",
    "create_search_memory_tool",
]
