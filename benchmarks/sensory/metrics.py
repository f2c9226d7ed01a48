"""Segmentation and compression metrics.

Segmentations are sets of boundaries: indices ``i`` (``0 < i < n``) where a new segment starts.

* Boundary precision / recall / F1 with a tolerance: a predicted boundary matches an unmatched true one at most
  ``tolerance`` turns away (greedy, nearest first, one-to-one).
* Pk (Beeferman et al. 1999) and WindowDiff (Pevzner & Hearst 2002), with ``k`` half the mean true segment length
  of the stream: lower is better, 0 is perfect.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable

STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "from",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "i",
        "you",
        "he",
        "she",
        "we",
        "they",
        "me",
        "him",
        "her",
        "us",
        "them",
        "my",
        "your",
        "his",
        "our",
        "their",
        "mine",
        "yours",
        "not",
        "no",
        "so",
        "do",
        "does",
        "did",
        "have",
        "has",
        "had",
        "will",
        "would",
        "can",
        "could",
        "should",
        "may",
        "might",
        "just",
        "very",
    ]
)
_WORD = re.compile(r"\w+")


def boundary_matches(predicted: Collection[int], truth: Collection[int], tolerance: int = 1) -> int:
    """How many predicted boundaries match a distinct true boundary within ``tolerance`` turns."""
    matched = 0
    pairs = sorted((abs(p - t), p, t) for p in predicted for t in truth if abs(p - t) <= tolerance)
    used_p: set[int] = set()
    used_t: set[int] = set()
    for _, p, t in pairs:
        if p in used_p or t in used_t:
            continue
        used_p.add(p)
        used_t.add(t)
        matched += 1
    return matched


def _labels(n: int, boundaries: Collection[int]) -> list[int]:
    """Segment number of each of ``n`` turns."""
    seg, out = 0, []
    starts = set(boundaries)
    for i in range(n):
        if i in starts and i > 0:
            seg += 1
        out.append(seg)
    return out


def window_k(n: int, truth: Collection[int]) -> int:
    """Half the mean true segment length (at least 2)."""
    return max(2, round(n / (len(truth) + 1) / 2))


def pk(n: int, predicted: Collection[int], truth: Collection[int], k: int | None = None) -> float:
    """Probability that two turns ``k`` apart are wrongly put in the same or in different segments."""
    k = k or window_k(n, truth)
    if n <= k:
        return 0.0
    ref, hyp = _labels(n, truth), _labels(n, predicted)
    errors = sum((ref[i] == ref[i + k]) != (hyp[i] == hyp[i + k]) for i in range(n - k))
    return errors / (n - k)


def window_diff(n: int, predicted: Collection[int], truth: Collection[int], k: int | None = None) -> float:
    """Share of windows of ``k`` turns whose number of boundaries differs between truth and prediction."""
    k = k or window_k(n, truth)
    if n <= k:
        return 0.0
    ref, hyp = _labels(n, truth), _labels(n, predicted)
    errors = sum((ref[i + k] - ref[i]) != (hyp[i + k] - hyp[i]) for i in range(n - k))
    return errors / (n - k)


def content_words(text: str) -> list[str]:
    """Lower-cased words without stop words: what "gold-answer tokens" means in the compression benchmark."""
    return [w for w in _WORD.findall(text.lower()) if w not in STOP_WORDS]


def answer_survival(answer: str, originals: Iterable[str], compressed: Iterable[str]) -> tuple[int, int]:
    """``(survived, present)``: of the answer's content words that occur in the original evidence turns, how many
    still occur in the compressed ones."""
    before = {w for t in originals for w in content_words(t)}
    after = {w for t in compressed for w in content_words(t)}
    present = [w for w in dict.fromkeys(content_words(answer)) if w in before]
    return sum(1 for w in present if w in after), len(present)
