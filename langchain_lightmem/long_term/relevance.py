"""Relevance: a search score that means the same for every query (``RetrievalConfig.relevance``).

A ranking score is relative to the candidates of one query (BM25 over the query's best match, cosines min-max
scaled over its candidates): a lone memory ranks first with 0.5 whatever the query. Relevance is the probability
that a hit is what the query asks about, from a logistic model of the ranking score and two facts about the query
itself: how close its best vector match is (raw cosine) and how strong its best word match is (raw BM25). Within a
query it is monotone in the ranking score, so the order of hits never changes; across queries, memories and store
items it is one scale, and ``min_score`` can gate what an agent is shown. The weights are fitted with
``python -m benchmarks.calibration`` (docs/retrieval.md, "Relevance").
"""

from __future__ import annotations

import math

from langchain_lightmem.config import RelevanceConfig

DEFAULT_MIN_SCORE = 0.02
"""What the agent middleware and the memory tools drop by default: clearly unrelated hits. On LoCoMo (by
conversation folds) it keeps 0.60 / 0.56 of the evidence the top 5 would show (0.65 / 0.58 with no threshold) while
the hits shown for a question about somebody else fall from 5 to 1.1 / 1.6 (docs/retrieval.md, "Relevance")."""


def default_min_score(calibrated: bool) -> float | None:
    """The agent surfaces' default threshold: :data:`DEFAULT_MIN_SCORE` where relevance is calibrated for the
    embedding model in use, else none (uncalibrated values could drop everything)."""
    return DEFAULT_MIN_SCORE if calibrated else None


def _logistic(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


def hybrid_relevance(score: float, best_cosine: float, best_bm25: float, config: RelevanceConfig) -> float:
    """Relevance of a hit ranked by the hybrid (or lexical) score ``score`` of a query whose best raw cosine and
    best raw BM25 among its candidates are ``best_cosine`` and ``best_bm25``."""
    w0, w_score, w_cosine, w_bm25 = config.hybrid
    saturated = best_bm25 / (best_bm25 + config.bm25_saturation) if best_bm25 > 0 else 0.0
    return _logistic(w0 + w_score * score + w_cosine * best_cosine + w_bm25 * saturated)


def dense_relevance(cosine: float, best_cosine: float, config: RelevanceConfig) -> float:
    """Relevance of a hit ranked by its cosine alone (dense mode, store items)."""
    w0, w_cosine, w_best = config.dense
    return _logistic(w0 + w_cosine * cosine + w_best * best_cosine)
