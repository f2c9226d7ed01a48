"""Content words: the stop words and query terms BM25 (both lexical backends) and the salience gate share, so they
agree on which words carry content."""

from __future__ import annotations

import re

# Function words only: names, numbers and content words must stay searchable.
_STOP_WORDS = """a about above after again against all am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have having he her here
hers herself him himself his how i if in into is it its itself just me more most my myself no nor not now of off on
once only or other our ours ourselves out over own same she should so some such than that the their theirs them
themselves then there these they this those through to too under until up very was we were what when where which
while who whom why will with would you your yours yourself yourselves s t don"""
ENGLISH_STOP_WORDS = frozenset(_STOP_WORDS.split())
_WORD = re.compile(r"\w+", re.UNICODE)


def query_terms(text: str, *, stop_words: frozenset[str] = ENGLISH_STOP_WORDS) -> list[str]:
    """The distinct content words of ``text``, lower-cased, in order (all words when every one is a stop word).

    Example:
        >>> query_terms("What did Caroline research?")
        ['caroline', 'research']
    """
    words = [w.lower() for w in _WORD.findall(text)]
    content = [w for w in words if w not in stop_words] or words
    return list(dict.fromkeys(w for w in content if w.strip("_")))
