"""Moved to :mod:`langchain_lightmem.citations` (extraction and consolidation both check citations with it);
these names stay importable from here for code written against the earlier path."""

from langchain_lightmem.citations import (
    CALENDAR_WORDS,
    LINE_SUPPORT_THRESHOLD,
    STOP_WORDS,
    SUPPORT_THRESHOLD,
    citation_support,
    content_words,
    copied_from,
    is_placeholder,
    is_supported,
    lexical_support,
)

__all__ = [
    "CALENDAR_WORDS",
    "LINE_SUPPORT_THRESHOLD",
    "STOP_WORDS",
    "SUPPORT_THRESHOLD",
    "citation_support",
    "content_words",
    "copied_from",
    "is_placeholder",
    "is_supported",
    "lexical_support",
]
