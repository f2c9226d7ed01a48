"""Does a cited message really say what a fact claims? A cheap check with no model call.

A model's citations cannot be trusted as given: a small local model cited line 1 for what line 4 said, and
copied the prompt's example into its answer. :func:`citation_support` measures how much of a fact its cited
texts support, lexically: the share of the fact's content words (lower-cased, light stemming, stop words and
calendar words left out) that appear among the sources' content words. Calendar words are left out because a
model is asked to turn "yesterday" into a date: the date comes from the message's timestamp, not its text.
Optionally, vectors of the fact and the sources (any embedder, e.g. MiniLM) let a paraphrase count through their
cosine similarity: the support is then the better of the two measures.

The same function serves extraction (drop facts copied from the prompt's example), consolidation (a merged text
must be supported by the memories it merges) and the coverage check and benchmark (is a citation precise?).

Example:
    .. code-block:: python

        from langchain_lightmem.citations import citation_support, is_supported

        citation_support("Caroline went to an LGBTQ support group on 7 May 2023.",
                         ["Caroline: I went to a LGBTQ support group yesterday."])  # 1.0
        is_supported("Melanie paints sunsets.", ["Caroline: I went to a support group."])  # False
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np

SUPPORT_THRESHOLD = 0.5
"""A fact is supported by its sources when at least this share of its content words appears in them."""

LINE_SUPPORT_THRESHOLD = 0.4
"""One cited line of a supported fact is a precise citation when it alone supports this share of the fact."""

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_STEM_LENGTH = 5  # "adopted"/"adopting"/"adoption" meet at "adopt" (after -ing/-ed/-es/-s); short words whole


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOP_WORDS = _words(
    """a about above after again against all also am an and any are as at be because been before being below between
    both but by can could did do does doing down during each few for from further had has have having he her here
    hers herself him himself his how i if in into is it its itself just me more most my myself no nor not now of
    off on once only or other our ours ourselves out over own same she should so some such than that the their
    theirs them themselves then there these they this those through to too under until up very was we were what
    when where which while who whom why will with would you your yours yourself yourselves really very much many
    one get got go going went gone says said say tell told like just well also still even ever lot lots thing
    things something someone something anything way yes yeah oh hey hi hello thanks thank cool great nice wow
    awesome amazing ok okay sure"""
)
CALENDAR_WORDS = _words(
    """january february march april may june july august september october november december jan feb mar apr jun jul
    aug sep sept oct nov dec monday tuesday wednesday thursday friday saturday sunday mon tue wed thu fri sat sun
    today yesterday tomorrow week weeks weekend month months year years day days ago last next early late mid"""
)
_CALENDAR_NUMBER = re.compile(r"^(?:19|20)\d\d$|^\d{1,2}(?:st|nd|rd|th)?$")


def _stem(word: str) -> str:
    word = word.removesuffix("'s")
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word[:_STEM_LENGTH]


def content_words(text: str) -> set[str]:
    """The stemmed content words of ``text``: no stop words, calendar words, years or day numbers."""
    words = _WORD.findall(text.lower())
    return {
        _stem(w)
        for w in words
        if len(w) > 1 and w not in STOP_WORDS and w not in CALENDAR_WORDS and not _CALENDAR_NUMBER.match(w)
    }


def lexical_support(fact: str, sources: Iterable[str]) -> float:
    """Share of ``fact``'s content words found in ``sources`` (0.0 when the fact has none)."""
    wanted = content_words(fact)
    if not wanted:
        return 0.0
    found: set[str] = set()
    for source in sources:
        found |= content_words(source)
    return len(wanted & found) / len(wanted)


def citation_support(
    fact: str,
    sources: Sequence[str],
    *,
    fact_vector: np.ndarray | None = None,
    source_vectors: Sequence[np.ndarray] | None = None,
) -> float:
    """How well ``sources`` (the cited texts, e.g. ``"Caroline: I went ..."``) support ``fact``, in [0, 1].

    Lexical by default (see the module docstring). With ``fact_vector`` and ``source_vectors`` (one per source,
    same embedder) the result is the larger of the lexical support and the best cosine similarity, so a faithful
    paraphrase is not penalised. No source: 0.0.
    """
    if not sources:
        return 0.0
    score = lexical_support(fact, sources)
    if fact_vector is not None and source_vectors is not None and len(source_vectors):
        f = np.asarray(fact_vector, dtype=np.float64)
        norm = float(np.linalg.norm(f))
        if norm > 0:
            best = max(
                float(np.dot(f, np.asarray(v, dtype=np.float64)) / (norm * (float(np.linalg.norm(v)) or 1.0)))
                for v in source_vectors
            )
            score = max(score, best)
    return max(0.0, min(1.0, score))


def is_supported(fact: str, sources: Sequence[str], threshold: float = SUPPORT_THRESHOLD) -> bool:
    """True when ``sources`` support at least ``threshold`` of ``fact`` (lexically)."""
    return citation_support(fact, sources) >= threshold


_PLACEHOLDERS = frozenset(
    {
        "text",
        "fact",
        "facts",
        "memory",
        "memories",
        "string",
        "str",
        "none",
        "null",
        "nil",
        "n a",
        "na",
        "tbd",
        "todo",
        "example",
        "placeholder",
        "fact text",
        "the fact",
        "a fact",
        "merged text",
        "the merged memory",
        "merged memory",
        "your fact here",
        "standalone fact",
        "lorem ipsum",
    }
)
_TEMPLATE = re.compile(r"^\s*(?:<[^<>]*>|\{[^{}]*\}|\[[^\[\]]*\]|\$\{?\w+\}?)\s*$")


def is_placeholder(text: str | None) -> bool:
    """True for template text a model may copy instead of a fact: ``"..."``, ``"…"``, ``"text"``, ``"<fact>"``,
    only punctuation, or a date-format spec like ``"YYYY-MM-DD or null"``."""
    if text is None:
        return True
    stripped = text.strip()
    if not stripped or not any(ch.isalnum() for ch in stripped):
        return True
    if _TEMPLATE.match(stripped):
        return True
    normal = " ".join(re.findall(r"[a-z0-9]+", stripped.lower()))
    if normal in _PLACEHOLDERS:
        return True
    if re.fullmatch(r"(?:yyyy|mm|dd|hh|\d|[-/ ])+(?: or null| or none)?", stripped.lower()):
        return True  # a date format, or a bare date: not a fact
    return "yyyy" in stripped.lower() or not content_words(stripped)


def copied_from(text: str, examples: Sequence[str], sources: Sequence[str]) -> bool:
    """True when ``text`` is better supported by a prompt's ``examples`` than by the batch's ``sources``: the model
    copied the example instead of reading the conversation."""
    if not examples:
        return False
    from_example = lexical_support(text, examples)
    return from_example >= SUPPORT_THRESHOLD and from_example > lexical_support(text, sources)
