"""Relevance: one score scale for every query, memory and store item (calibrated for the packaged MiniLM)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from langchain_lightmem import LightMem
from langchain_lightmem.config import RelevanceConfig
from langchain_lightmem.integrations import LightMemStore
from langchain_lightmem.integrations.store import MEMORIES
from langchain_lightmem.long_term.relevance import DEFAULT_MIN_SCORE, dense_relevance, hybrid_relevance

pytestmark = pytest.mark.integration  # the calibration is MiniLM's


@pytest.fixture
def memory(make_memory: Callable[..., LightMem], minilm: Any) -> LightMem:
    return make_memory(embeddings=minilm)


def test_a_lone_unrelated_memory_does_not_score_half(memory: LightMem) -> None:
    memory.remember("bob", "Bob likes jazz.")
    unrelated = memory.search("bob", "quantum chromodynamics", k=1)[0].score
    related = memory.search("bob", "What music does Bob like?", k=1)[0].score
    assert unrelated < DEFAULT_MIN_SCORE < related  # 0.1: 0.5 for both (the lone candidate is its own maximum)


def test_scores_compare_across_queries_and_keep_the_order(memory: LightMem) -> None:
    memory.add(
        [
            {"role": "user", "content": "I adopted a grey cat called Miso last spring."},
            {"role": "user", "content": "My sister Jun moved to Osaka for work."},
            {"role": "user", "content": "We painted the kitchen yellow on Sunday."},
        ],
        namespace="ann",
    )
    explained = memory.searcher.explain(("ann",), "What is my cat called?")
    hits = memory.search("ann", "What is my cat called?", k=3)
    assert [h.entry.id for h in hits] == [c.entry.id for c in explained[:3]]  # ranked by the ranking score
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert "Miso" in hits[0].entry.text and hits[0].score > DEFAULT_MIN_SCORE
    assert memory.search("ann", "tax law in Brazil", k=1)[0].score < hits[0].score


def test_an_exact_item_outranks_an_unrelated_memory(memory: LightMem) -> None:
    store = LightMemStore(memory)
    store.put(("bob", MEMORIES), "jazz", {"text": "Bob likes jazz."})
    store.put(("bob", "notes"), "qcd", {"text": "Quantum chromodynamics lecture notes"})
    hits = store.search(("bob",), query="quantum chromodynamics")
    assert [h.key for h in hits] == ["qcd", "jazz"]  # 0.1: the memory's 0.5 beat the item's cosine
    assert hits[1].score is not None and hits[1].score < DEFAULT_MIN_SCORE


def test_the_middleware_injects_nothing_clearly_unrelated(memory: LightMem) -> None:
    from langchain_lightmem.integrations import LightMemMiddleware

    memory.remember("bob", "Bob likes jazz.")
    middleware = LightMemMiddleware(memory)
    assert middleware.recall("quantum chromodynamics", namespace="bob") == []
    assert [h.entry.text for h in middleware.recall("What music do I like?", namespace="bob")] == ["Bob likes jazz."]
    assert LightMemMiddleware(memory, min_score=None).recall("quantum chromodynamics", namespace="bob")
    middleware.close()


def test_the_functions_are_monotone_and_bounded() -> None:
    config = RelevanceConfig()
    hybrid = [hybrid_relevance(s, 0.6, 4.0, config) for s in (0.0, 0.25, 0.5, 0.75, 1.0)]
    dense = [dense_relevance(c, 0.9, config) for c in (-1.0, 0.0, 0.5, 0.9)]
    assert hybrid == sorted(hybrid) and dense == sorted(dense)
    assert all(0.0 < v < 1.0 for v in hybrid + dense)
