"""The salience gate: topic segments with nothing to remember skip the extraction call.

A segment whose counted messages are all phatic (greetings, thanks, "lol", "see you later": at most
``filler_content_words`` content words each, no digits) goes to long-term memory as its own messages, in a batch of
its own that makes no LLM call; it never takes room in a short-term batch. Nothing is dropped: the messages stay
searchable as themselves. On LoCoMo dev8 the rule with 1 content word gates 2.3% of turns, 8.7% of them evidence
turns (``python -m benchmarks.salience``): those are still found, as the messages themselves.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from langchain_lightmem.types import Message, Segment
from langchain_lightmem.words import ENGLISH_STOP_WORDS

# Words of small talk that carry no fact on their own.
_PHATIC = """hey hi hello thanks thank bye goodbye later lol haha hahaha wow awesome great cool nice sounds good yeah
yes yep yup nope sure okay ok totally agree glad happy hear love amazing definitely absolutely right true care talk soon
congrats congratulations sorry welcome morning night evening see catch"""
PHATIC_WORDS = frozenset(_PHATIC.split())
_WORD = re.compile(r"[^\W\d_]+|\d+", re.UNICODE)


def fact_bearing_words(text: str) -> list[str]:
    """Words that could carry a fact: not stop words, not small talk, at least three letters (digits always)."""
    words = [w.lower() for w in _WORD.findall(text)]
    return [w for w in words if w.isdigit() or (len(w) > 2 and w not in ENGLISH_STOP_WORDS and w not in PHATIC_WORDS)]


def is_filler(message: Message, max_content_words: int) -> bool:
    """Small talk: at most ``max_content_words`` content words and no number."""
    words = fact_bearing_words(message.content)
    return len(words) <= max_content_words and not any(w.isdigit() for w in words)


def is_filler_segment(segment: Segment, counted_roles: Collection[str], max_content_words: int) -> bool:
    """Every counted message of the segment is small talk (a segment with no counted message is not gated: it rides
    along with its neighbours as context)."""
    counted = [m for m in segment.messages if m.role in counted_roles]
    return bool(counted) and all(is_filler(m, max_content_words) for m in counted)
