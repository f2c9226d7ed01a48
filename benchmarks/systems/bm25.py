"""BM25 over raw turns (Okapi, k1 1.5, b 0.75, English stop words removed): the lexical floor."""

from __future__ import annotations

import importlib.util
import re

import numpy as np

from benchmarks.systems.base import Hit, MemorySystem, Progress, SystemUnavailable, render_turn, turn_document

# A compact English stop-word list (function words only: names and content words must stay searchable).
_STOP_WORDS = """a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have having he her
    here hers herself him himself his how i if in into is it its itself just me more most my myself no nor not now of
    off on once only or other our ours ourselves out over own same she should so some such than that the their
    theirs them themselves then there these they this those through to too under until up very was we were what
    when where which while who whom why will with would you your yours yourself yourselves s t don"""
STOP_WORDS = frozenset(_STOP_WORDS.split())
_WORD = re.compile(r"[a-z0-9]+")


def tokenize(text: str) -> list[str]:
    """Lower-cased alphanumeric words without stop words."""
    return [w for w in _WORD.findall(text.lower()) if w not in STOP_WORDS]


class BM25(MemorySystem):
    name = "bm25"
    summary = "BM25 over raw turns (k1 1.5, b 0.75, stop words)"
    needs_embeddings = False

    @classmethod
    def check_available(cls) -> None:
        if not all(importlib.util.find_spec(m) for m in ("rank_bm25",)):
            raise SystemUnavailable("bm25 needs rank-bm25: pip install -e '.[bench]'")

    def ingest(self, progress: Progress) -> None:
        from rank_bm25 import BM25Okapi

        self._turns = self.conversation.turns
        self._index = BM25Okapi([tokenize(turn_document(t)) or [""] for t in self._turns], k1=1.5, b=0.75)
        progress(len(self._turns))

    def search(self, query: str, k: int) -> list[Hit]:
        scores = self._index.get_scores(tokenize(query))
        order = np.argsort(-scores, kind="stable")[:k]
        return [Hit(render_turn(self._turns[i]), (self._turns[i].id,), float(scores[i])) for i in order]

    def memories(self) -> list[str]:
        return [turn_document(t) for t in self._turns]
