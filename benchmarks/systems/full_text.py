"""Full text: the whole conversation is the context. It ignores the query; under a budget, the most recent
turns are kept (what truncating a long prompt keeps)."""

from __future__ import annotations

from benchmarks.systems.base import Hit, MemorySystem, Progress, render_turn


class FullText(MemorySystem):
    name = "full_text"
    summary = "the whole conversation, most recent turns first"
    needs_embeddings = False

    def ingest(self, progress: Progress) -> None:
        self._hits = [Hit(render_turn(t), (t.id,)) for t in reversed(self.conversation.turns)]
        progress(len(self._hits))

    def search(self, query: str, k: int) -> list[Hit]:
        return self._hits if k >= len(self._hits) else self._hits[:k]

    def all_hits(self) -> list[Hit]:
        """Every turn: full text's context is all of it, whatever ``k`` is."""
        return self._hits

    def memories(self) -> list[str]:
        return [h.text for h in self._hits]
