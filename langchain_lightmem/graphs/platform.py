"""The graphs `langgraph dev` and LangGraph Platform serve (registered in ``langgraph.json``).

A deployment configures them through its environment: ``LIGHTMEM_DATA_DIR``, ``LIGHTMEM_CHROMA_URL``,
``LIGHTMEM_EMBEDDINGS`` (see :meth:`LightMemConfig.from_env`) and ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL`` /
``LIGHTMEM_MODEL`` for the chat model (none: LLM-free). Both graphs share one :class:`LightMem` per process, built
on first use: loading the embedder and opening the journal once is what keeps each run cheap.

* ``lightmem_ingest`` input: ``{"namespace": ["maya"], "messages": [...], "thread_id": "t1", "flush": false}``
* ``lightmem_consolidation`` input: ``{"namespace": ["maya"]}``, or ``{}`` for every namespace with new entries;
  schedule it with a platform cron.

``langgraph.json``'s ``"store"`` entry names :func:`lightmem_store`: the server's store (``runtime.store`` in every
run, and the ``/store`` API behind ``client.store.put_item`` / ``search_items``) is then a :class:`LightMemStore`
on the same LightMem, so ``(user, "lightmem_memories")`` serves the pipeline's memories and any other namespace
holds JSON items in the data folder. All entries use module paths, so the server loads this module once and the
graphs and the store share one LightMem.
"""

from __future__ import annotations

import asyncio
from functools import cache

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph

from langchain_lightmem.config import LightMemConfig
from langchain_lightmem.integrations.store import LightMemStore
from langchain_lightmem.memory import LightMem
from langchain_lightmem.models import chat_model_from_env


@cache
def shared_memory() -> LightMem:
    """The process's LightMem, configured from the environment."""
    return LightMem(LightMemConfig.from_env(), chat_model=chat_model_from_env())


async def ingest(config: RunnableConfig) -> CompiledStateGraph:
    """Graph factory for ``lightmem_ingest`` (builds the LightMem off the event loop: it opens files)."""
    return (await asyncio.to_thread(shared_memory)).graph


async def consolidation(config: RunnableConfig) -> CompiledStateGraph:
    """Graph factory for ``lightmem_consolidation``."""
    return (await asyncio.to_thread(shared_memory)).consolidation_graph


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
