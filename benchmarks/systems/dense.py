"""Dense RAG over raw turns: all-MiniLM-L6-v2 vectors of ``speaker: text``, cosine similarity."""

from __future__ import annotations

import numpy as np

from benchmarks.systems.base import Hit, MemorySystem, Progress, render_turn, turn_document


class Dense(MemorySystem):
    name = "dense"
    summary = "dense retrieval over raw turns (MiniLM, cosine)"

    def ingest(self, progress: Progress) -> None:
        self._turns = self.conversation.turns
        vectors: list[list[float]] = []
        for start in range(0, len(self._turns), 64):
            chunk = self._turns[start : start + 64]
            vectors.extend(self.embeddings.embed_documents([turn_document(t) for t in chunk]))
            progress(len(chunk))
        matrix = np.asarray(vectors, dtype=np.float32).reshape(len(self._turns), -1)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        self._matrix = matrix / np.where(norms == 0, 1.0, norms)

    def search(self, query: str, k: int) -> list[Hit]:
        vector = np.asarray(self.embeddings.embed_query(query), dtype=np.float32)
        scores = self._matrix @ (vector / (np.linalg.norm(vector) or 1.0))
        order = np.argsort(-scores, kind="stable")[:k]
        return [Hit(render_turn(self._turns[i]), (self._turns[i].id,), float(scores[i])) for i in order]

    def memories(self) -> list[str]:
        return [turn_document(t) for t in self._turns]
