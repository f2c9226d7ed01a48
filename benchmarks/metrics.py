"""Scoring retrieval against evidence, without an LLM.

For each question, the ranked hits of a system are scored against the question's evidence turn ids:

* ``recall@k``: the fraction of evidence turns among the sources of the top ``k`` hits; ``all@k``: every
  evidence turn is there; ``any@k``: at least one is (LongMemEval's ``recall_any``); ``mrr``: 1 / the rank of
  the first hit citing an evidence turn (0 if none in the retrieved depth).
* ``session_any@k`` / ``session_all@k``: the same at session level (LongMemEval's session metrics).
* **budgets**: hits are taken in rank order while the rendered context stays within ``B`` cl100k tokens;
  ``recall@B``, ``all@B`` and ``answer@B`` (the normalised gold answer occurs in that context) are scored on
  what fits. This is the fair comparison: a system returning large chunks inflates ``recall@k``.

Records are flat dicts of numbers (``None`` when a metric does not apply); :func:`aggregate` averages them.

Example:
    .. code-block:: python

        record = score_question(hits, {"D1:3"}, token_counts=[12, 9], answer="7 May 2023")
        record["recall@5"], record["recall@budget1000"]
"""

from __future__ import annotations

import re
import string
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from benchmarks.systems.base import Hit

KS = (1, 5, 10, 20)
BUDGETS = (500, 1000, 2000)

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans({c: " " for c in string.punctuation})


def normalize_text(text: str) -> str:
    """Lower case, punctuation and articles removed, whitespace collapsed (SQuAD-style answer normalisation)."""
    return " ".join(_ARTICLES.sub(" ", str(text).lower().translate(_PUNCTUATION)).split())


def answer_in_context(answer: str, context: str) -> bool | None:
    """Whether the normalised ``answer`` occurs in the normalised ``context``; ``None`` for an empty answer."""
    needle = normalize_text(answer)
    if not needle:
        return None
    return f" {needle} " in f" {normalize_text(context)} "


def score_question(
    hits: Sequence[Hit],
    evidence: Collection[str],
    *,
    token_counts: Sequence[int],
    answer: str = "",
    evidence_sessions: Collection[str] = (),
    session_of: Mapping[str, str] | None = None,
    ks: Iterable[int] = KS,
    budgets: Iterable[int] = BUDGETS,
) -> dict[str, Any]:
    """Score one question's ranked ``hits`` (see the module docstring). ``token_counts[i]`` is hit ``i``'s size."""
    gold = set(evidence)
    record: dict[str, Any] = {"hits": len(hits)}
    # How many turns a hit cites: a system that credits every hit with several turns gets recall more cheaply.
    record["sources_per_hit"] = sum(len(h.source_ids) for h in hits[:10]) / min(len(hits), 10) if hits else None
    first = next((rank for rank, h in enumerate(hits, 1) if gold & set(h.source_ids)), None)
    record["mrr"] = 1.0 / first if first else 0.0
    record["first_rank"] = first
    gold_sessions = set(evidence_sessions)
    for k in ks:
        seen = {s for h in hits[:k] for s in h.source_ids}
        found = gold & seen
        record[f"recall@{k}"] = len(found) / len(gold) if gold else None
        record[f"all@{k}"] = float(found == gold) if gold else None
        record[f"any@{k}"] = float(bool(found)) if gold else None
        if gold_sessions and session_of is not None:
            sessions = {session_of[s] for s in seen if s in session_of}
            record[f"session_any@{k}"] = float(bool(gold_sessions & sessions))
            record[f"session_all@{k}"] = float(gold_sessions <= sessions)
    for budget in budgets:
        used, included = 0, 0
        for n in token_counts:
            if used + n > budget:
                break
            used += n
            included += 1
        kept = hits[:included]
        found = gold & {s for h in kept for s in h.source_ids}
        record[f"recall@budget{budget}"] = len(found) / len(gold) if gold else None
        record[f"all@budget{budget}"] = float(found == gold) if gold else None
        present = answer_in_context(answer, "\n".join(h.text for h in kept))
        record[f"answer@budget{budget}"] = None if present is None else float(present)
        record[f"hits@budget{budget}"] = included
        record[f"tokens@budget{budget}"] = used
    return record


def aggregate(records: Iterable[Mapping[str, Any]]) -> dict[str, float | int]:
    """The mean of every numeric metric over ``records`` (``None`` values skipped), and ``n``."""
    sums: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    n = 0
    for record in records:
        n += 1
        for key, value in record.items():
            if isinstance(value, bool | int | float) and value is not None:
                sums[key] += float(value)
                counts[key] += 1
    out: dict[str, float | int] = {key: sums[key] / counts[key] for key in sums}
    out["n"] = n
    return out


def by_category(records: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, float | int]]:
    """:func:`aggregate` per ``category``."""
    groups: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for record in records:
        groups[str(record.get("category"))].append(record)
    return {category: aggregate(rows) for category, rows in sorted(groups.items())}


def latency_summary(seconds: Sequence[float]) -> dict[str, float | None]:
    """p50 / p95 / mean in milliseconds."""
    if not seconds:
        return {"p50": None, "p95": None, "mean": None, "n": 0}
    ms = np.asarray(seconds, dtype=np.float64) * 1000.0
    return {
        "p50": float(np.percentile(ms, 50)),
        "p95": float(np.percentile(ms, 95)),
        "mean": float(ms.mean()),
        "n": len(ms),
    }


def per_thousand(value: float, turns: int) -> float | None:
    """``value`` per 1,000 ingested turns."""
    return value * 1000.0 / turns if turns else None
