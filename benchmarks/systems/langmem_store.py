"""langmem's ``create_memory_store_manager`` driven by the same scripted chat model, over a LangGraph
``InMemoryStore`` with a MiniLM index (its quick-start setup; ``enable_deletes`` left at its default).

Provenance: the manager returns the items it put; the harness maps each item key to the ids of the turns of that
invocation (an update adds the new turns to the key's sources).

Protocols (``--langmem-protocol``): ``pair`` (default, its quick-start usage: one invocation per pair of
consecutive turns) or ``session`` (one invocation per session).
"""

from __future__ import annotations

import importlib.util
from typing import Any

from benchmarks.data import Turn
from benchmarks.systems.base import Hit, MemorySystem, Progress, SystemUnavailable

PROTOCOLS = {"pair": "one invocation per pair of consecutive turns", "session": "one invocation per session"}


class LangMemSystem(MemorySystem):
    name = "langmem"
    summary = "langmem create_memory_store_manager over InMemoryStore(index=MiniLM), scripted chat model"
    llm = "scripted"

    @classmethod
    def check_available(cls) -> None:
        if not all(importlib.util.find_spec(m) for m in ("langmem",)):
            raise SystemUnavailable("langmem needs the langmem package: pip install -e '.[bench]'")

    @property
    def protocol(self) -> str:
        return PROTOCOLS[self.ctx.options.langmem_protocol]

    @staticmethod
    def _message(turn: Turn) -> Any:
        from langchain_core.messages import AIMessage, HumanMessage

        kind = HumanMessage if turn.role == "user" else AIMessage
        return kind(content=f"{turn.speaker}: {turn.text}", name=turn.speaker)

    def ingest(self, progress: Progress) -> None:
        from langgraph.store.memory import InMemoryStore
        from langmem import create_memory_store_manager

        self.store = InMemoryStore(
            index={"dims": len(self.embeddings.embed_query("dimensions")), "embed": self.embeddings}
        )
        self.namespace = ("memories", self.conversation.id)
        self.sources: dict[str, list[str]] = {}
        manager = create_memory_store_manager(self.ctx.chat_model, namespace=self.namespace, store=self.store)
        pairs = self.ctx.options.langmem_protocol == "pair"
        for session in self.conversation.sessions:
            size = 2 if pairs else max(len(session.turns), 1)
            for start in range(0, len(session.turns), size):
                turns = session.turns[start : start + size]
                for item in manager.invoke({"messages": [self._message(t) for t in turns]}):
                    known = self.sources.setdefault(item["key"], [])
                    known.extend(t.id for t in turns if t.id not in known)
                progress(len(turns))

    @staticmethod
    def _content(value: dict[str, Any]) -> str:
        content = value.get("content")
        if isinstance(content, dict):
            return str(content.get("content", content))
        return str(content)

    def search(self, query: str, k: int) -> list[Hit]:
        items = self.store.search(self.namespace, query=query, limit=k)
        return [Hit(self._content(i.value), tuple(self.sources.get(i.key, ())), i.score) for i in items]

    def memories(self) -> list[str]:
        return [self._content(i.value) for i in self.store.search(self.namespace, limit=1_000_000)]
