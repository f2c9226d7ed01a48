"""The systems under test, by name. Each module holds one system behind :class:`~benchmarks.systems.base.MemorySystem`.

Example:
    .. code-block:: python

        from benchmarks.systems import SYSTEMS

        SYSTEMS["bm25"].summary
"""

from __future__ import annotations

from types import MappingProxyType

from benchmarks.systems.base import Hit, MemorySystem, RunContext, SystemOptions, SystemUnavailable
from benchmarks.systems.bm25 import BM25
from benchmarks.systems.dense import Dense
from benchmarks.systems.full_text import FullText
from benchmarks.systems.langgraph_store import LangGraphStore
from benchmarks.systems.langmem_store import LangMemSystem
from benchmarks.systems.lightmem import (
    LightMemContext,
    LightMemDense,
    LightMemEndpoint,
    LightMemLexical,
    LightMemScripted,
    LightMemSystem,
)
from benchmarks.systems.mem0_oss import Mem0System

SYSTEMS: MappingProxyType[str, type[MemorySystem]] = MappingProxyType(
    {
        cls.name: cls
        for cls in (
            FullText,
            BM25,
            Dense,
            LangGraphStore,
            LightMemDense,
            LightMemLexical,
            LightMemSystem,
            LightMemContext,
            LightMemScripted,
            LightMemEndpoint,
            Mem0System,
            LangMemSystem,
        )
    }
)

__all__ = ["SYSTEMS", "Hit", "MemorySystem", "RunContext", "SystemOptions", "SystemUnavailable"]
