"""LangGraph's ``InMemoryStore`` with a vector index: the upstream baseline, one item per raw turn."""

from __future__ import annotations

from benchmarks.systems.base import Hit, MemorySystem, Progress, render_turn, turn_document


class LangGraphStore(MemorySystem):
    name = "langgraph_store"
    summary = "LangGraph InMemoryStore(index=MiniLM), one item per raw turn"

    def ingest(self, progress: Progress) -> None:
        from langgraph.store.base import PutOp
        from langgraph.store.memory import InMemoryStore

        self._store = InMemoryStore(
            index={"dims": len(self.embeddings.embed_query("dimensions")), "embed": self.embeddings, "fields": ["text"]}
        )
        self._namespace = ("turns", self.conversation.id)
        self._turns = {t.id: t for t in self.conversation.turns}
        for session in self.conversation.sessions:
            self._store.batch(
                [
                    PutOp(self._namespace, t.id, {"text": turn_document(t), "date": t.timestamp.isoformat()})
                    for t in session.turns
                ]
            )
            progress(len(session.turns))

    def search(self, query: str, k: int) -> list[Hit]:
        items = self._store.search(self._namespace, query=query, limit=k)
        return [Hit(render_turn(self._turns[i.key]), (i.key,), i.score) for i in items]

    def memories(self) -> list[str]:
        return [turn_document(t) for t in self._turns.values()]
