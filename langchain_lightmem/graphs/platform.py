"""The graphs `langgraph dev` and LangGraph Platform serve (registered in ``langgraph.json``).

A deployment configures them through its environment: ``LIGHTMEM_DATA_DIR``, ``LIGHTMEM_CHROMA_URL``,
``LIGHTMEM_EMBEDDINGS`` (see :meth:`LightMemConfig.from_env`) and ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL`` /
``LIGHTMEM_MODEL`` for the chat model (none: LLM-free). Both graphs share one :class:`LightMem` per process, built
on first use: loading the embedder and opening the journal once is what keeps each run cheap.

* ``lightmem_ingest`` input: ``{"namespace": ["maya"], "messages": [...], "thread_id": "t1", "flush": false}``
* ``lightmem_consolidation`` input: ``{"namespace": ["maya"]}``, or ``{}`` for every namespace with new entries;
  schedule it with a platform cron.
"""

from __future__ import annotations

import asyncio
from functools import cache

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph

from langchain_lightmem.config import LightMemConfig
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
