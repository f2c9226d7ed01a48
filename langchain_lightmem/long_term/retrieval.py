"""Retrieval over long-term memory: hybrid ranking, time-aware queries, and context packing within a token budget.

Ranking (:meth:`MemorySearcher.search`), for one namespace:

1. **Candidates**: the ``candidates`` closest entries by vector (Chroma) and the ``candidates`` best by BM25 (the
   namespace's incremental FTS5 index, ``long_term/lexical.py``), both within the caller's filters.
2. **Fusion** (``mode="hybrid"``): ``lexical_weight * bm25 / best bm25 + (1 - lexical_weight) * dense``, the dense
   part being the cosine min-max scaled over the vector candidates. Measured on LoCoMo before building it (raw
   turns, recall within 1,000 tokens): this convex fusion 0.742, reciprocal-rank fusion 0.674 (k=60) to 0.739
   (k=5), BM25 alone 0.677, dense alone 0.597. ``mode="dense"`` ranks by cosine (0.1's search), ``"lexical"`` by
   BM25 alone.
3. **Time**: a time expression in the query ("last month", "in May", "two weeks ago") read against
   ``reference_time`` (default now) gives an event-time window; entries inside it are boosted (``time_mode``
   ``"boost"``: they also become candidates when others are closer: BM25 searches the window on its own and the
   vector search looks 10x deeper for them) or the search is limited to it (``"filter"``).
4. **Neighbours**: each entry is lifted by its best neighbour in its topic segment (``neighbour_window`` on each
   side, in message order): ``1 - (1 - score) * (1 - neighbour_weight * neighbour score)``. A turn that answers the
   turn the query matched rises with it, and no hit is ever lowered. Scores stay in [0, 1]. Neighbours that could
   not reach the top ``candidates`` are not read.
5. **Dedupe**: entries with the same text keep only the best.

Packing (:meth:`MemorySearcher.context`): the ranked entries (the top ``expand`` ones followed by their segment
neighbours) are taken best first while they fit ``max_tokens``, then grouped by day (or topic segment) in time
order, in message order within a group: one date header per group instead of one date per line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from langchain_lightmem.config import RetrievalConfig
from langchain_lightmem.long_term.base import MemoryIndex, TimeRange
from langchain_lightmem.long_term.relevance import dense_relevance, hybrid_relevance
from langchain_lightmem.long_term.store import entry_where
from langchain_lightmem.long_term.temporal import TimeWindow, parse_time_window
from langchain_lightmem.tokens import TokenCounter
from langchain_lightmem.types import MemoryEntry, Namespace, SearchResult, utcnow

_WINDOW_SCAN = 10  # boost mode: entries inside the time window are looked for among 10x the vector candidates


@dataclass(slots=True)
class Candidate:
    """One ranked memory with what its score was made of (:meth:`MemorySearcher.explain`)."""

    entry: MemoryEntry
    dense: float = 0.0  # cosine min-max scaled over the vector candidates, 0..1
    lexical: float = 0.0  # bm25 / best bm25, 0..1
    score: float = 0.0
    cosine: float | None = None  # the raw cosine similarity (None: not among the vector candidates)
    bm25: float = 0.0  # the raw BM25 score (0: no query word matched)
    in_window: bool = False  # inside the query's time window (boost mode)
    base: float = 0.0  # the score before the segment-neighbour lift
    neighbour: float = 0.0  # the best score among its segment neighbours (what lifted it)
    relevance: float = 0.0  # the calibrated score search returns (long_term/relevance.py)


@dataclass(frozen=True, slots=True)
class ContextItem:
    """One memory in a packed context: the hit, its rank in the search (``None``: added as a neighbour of
    ``neighbour_of``), and the group it is shown under."""

    hit: SearchResult
    rank: int | None
    group: str
    neighbour_of: str | None = None

    @property
    def line(self) -> str:
        """``- <memory>``; with no grouping (each item its own group) the date comes first on the line."""
        return f"- {self.hit.render()}" if self.group.startswith("entry:") else f"- {self.hit.entry.text}"


@dataclass(slots=True)
class MemoryContext:
    """The memories that fit a token budget, grouped by day (or topic segment) in time order.

    ``render()`` is what goes into a prompt; ``items`` keep each memory's entry, score and sources
    (``item.hit.entry.source_ids``); ``tokens`` is the rendered size.

    Example:
        .. code-block:: python

            ctx = memory.context("alice", "Where did Alice move last month?", max_tokens=500)
            prompt = f"Memories:\\n{ctx.render()}\\n\\nQuestion: ..."
            [item.hit.entry.source_ids for item in ctx.items]
    """

    query: str
    max_tokens: int
    items: list[ContextItem] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    tokens: int = 0
    window: TimeWindow | None = None

    @property
    def hits(self) -> list[SearchResult]:
        return [item.hit for item in self.items]

    @property
    def source_ids(self) -> list[str]:
        """Every source message id of the context, in context order."""
        return list(dict.fromkeys(s for item in self.items for s in item.hit.entry.source_ids))

    def lines(self, *, sources: bool = False) -> list[tuple[ContextItem, str]]:
        """Each item with its text in the rendering: the group's header before its first item."""
        out: list[tuple[ContextItem, str]] = []
        group = None
        for item in self.items:
            line = item.line + (f" [{', '.join(item.hit.entry.source_ids)}]" if sources else "")
            if item.group != group:
                group = item.group
                header = self.headers.get(group, "")
                line = f"{header}\n{line}" if header else line
            out.append((item, line))
        return out

    def render(self, *, sources: bool = False) -> str:
        """``2023-05-08 (Mon)`` headers, then ``- <memory>`` lines; ``sources=True`` appends message ids."""
        return "\n".join(text for _, text in self.lines(sources=sources))

    def __str__(self) -> str:
        return self.render()


class MemorySearcher:
    """Hybrid, time-aware search and context packing over long-term memory's ranked reads
    (:class:`~langchain_lightmem.long_term.base.MemoryIndex`; see the module docs).

    Args:
        store: long-term memory (with a lexical index for ``hybrid``/``lexical`` modes).
        config: the ``retrieval`` section.
        counter: token counter for packing.

    Example:
        .. code-block:: python

            searcher = MemorySearcher(memory.store, memory.config.retrieval, memory.pipeline.counter)
            hits = searcher.search(("alice",), "What did I cook last week?", k=5)
            context = searcher.context(("alice",), "What did I cook last week?", max_tokens=800)
    """

    def __init__(self, store: MemoryIndex, config: RetrievalConfig, counter: TokenCounter) -> None:
        self.store = store
        self.config = config
        self.counter = counter

    # -- ranking --------------------------------------------------------------------------------------------

    def window(self, query: str, reference_time: datetime | None, config: RetrievalConfig) -> TimeWindow | None:
        """The event-time window of the query's time expression (``None``: none, or ``time_mode="off"``)."""
        if config.time_mode == "off":
            return None
        return parse_time_window(query, reference_time or utcnow())

    def search(
        self,
        namespace: Namespace,
        query: str,
        *,
        k: int | None = None,
        filters: Mapping[str, Any] | None = None,
        time_range: TimeRange | None = None,
        include_history: bool = False,
        reference_time: datetime | None = None,
        **overrides: Any,
    ) -> list[SearchResult]:
        """The ``k`` best memories for ``query``, best first (``overrides``: any ``RetrievalConfig`` field)."""
        config = self._config(overrides)
        ranked, _ = self._rank(namespace, query, config, filters, time_range, include_history, reference_time)
        return [SearchResult(c.entry, c.relevance) for c in ranked[: k or config.k]]

    def explain(
        self,
        namespace: Namespace,
        query: str,
        *,
        k: int | None = None,
        filters: Mapping[str, Any] | None = None,
        time_range: TimeRange | None = None,
        include_history: bool = False,
        reference_time: datetime | None = None,
        **overrides: Any,
    ) -> list[Candidate]:
        """Like :meth:`search`, with what each score was made of (raw cosine and BM25, time window, neighbour lift).

        ``k=None`` returns every candidate that was ranked.
        """
        config = self._config(overrides)
        ranked, _ = self._rank(namespace, query, config, filters, time_range, include_history, reference_time)
        return ranked[:k] if k is not None else ranked

    def _config(self, overrides: Mapping[str, Any]) -> RetrievalConfig:
        given = {key: value for key, value in overrides.items() if value is not None}
        return RetrievalConfig.model_validate({**self.config.model_dump(), **given}) if given else self.config

    def _rank(
        self,
        namespace: Namespace,
        query: str,
        config: RetrievalConfig,
        filters: Mapping[str, Any] | None,
        time_range: TimeRange | None,
        include_history: bool,
        reference_time: datetime | None,
    ) -> tuple[list[Candidate], TimeWindow | None]:
        window = self.window(query, reference_time, config)
        if window is not None and config.time_mode == "filter":
            time_range = _intersect(time_range, (window.start, window.end))
            if time_range is None:
                return [], window
        scope = entry_where(filters, time_range=time_range)
        n = config.candidates
        boost = window if window is not None and config.time_mode == "boost" else None
        in_window = _intersect(time_range, (boost.start, boost.end)) if boost is not None else None
        dense: dict[str, float] = {}  # id -> cosine
        lexical: dict[str, float] = {}  # id -> bm25

        if config.mode in ("lexical", "hybrid"):
            text = window.strip(query) if window is not None else query
            lexical = self._lexical(namespace, text, n, include_history, time_range, in_window)

        if config.mode in ("dense", "hybrid"):
            vector = self.store.embeddings.embed_query(query)
            if in_window is None:
                dense = dict(
                    self.store.dense_search(namespace, vector, k=n, where=scope, include_history=include_history)
                )
            else:
                # Entries inside the window become candidates even when others are closer. They are found in a
                # wider scan of the same (unfiltered) query: a Chroma filter on event time is 20-60x slower.
                hits = self.store.dense_search(
                    namespace, vector, k=n * _WINDOW_SCAN, where=scope, include_history=include_history
                )
                when = self.store.event_times(namespace, [i for i, _ in hits[n:]])
                start, end = in_window[0], in_window[1]
                inside = [
                    (i, cosine)
                    for i, cosine in hits[n:]
                    if i in when
                    and (start is None or when[i] >= start.timestamp())
                    and (end is None or when[i] <= end.timestamp())
                ]
                dense = dict(hits[:n] + inside[:n])

        # Dense hits passed the filters in Chroma; lexical ones are checked here (time ranges already were).
        if filters:
            entries = self.store.fetch(namespace, list(dense), include_history=include_history)
            only_lexical = [i for i in lexical if i not in dense]
            entries.update(
                self.store.fetch(namespace, only_lexical, where=entry_where(filters), include_history=include_history)
            )
        else:
            entries = self.store.fetch(namespace, [*dense, *lexical], include_history=include_history)
        named = (
            _named_speakers(query, {e.speaker for e in entries.values() if e.speaker}) if config.speaker_boost else ()
        )
        top, low = max(dense.values(), default=1.0), min(dense.values(), default=0.0)
        best = max(lexical.values(), default=0.0) or 1.0
        weight = {"dense": 0.0, "lexical": 1.0, "hybrid": config.lexical_weight}[config.mode]
        found: dict[str, Candidate] = {}
        for entry_id, entry in entries.items():
            similarity = dense.get(entry_id)
            scaled = _scale(similarity, low, top) if similarity is not None else 0.0
            raw = lexical.get(entry_id, 0.0)
            c = Candidate(entry, scaled, raw / best, cosine=similarity, bm25=raw)
            c.in_window = boost is not None and boost.contains(entry.event_time)
            if config.mode == "dense":
                c.score = similarity if similarity is not None else 0.0  # the plain cosine, as before hybrid search
            else:
                c.score = weight * c.lexical + (1.0 - weight) * c.dense
            if boost is not None:
                c.score = (c.score + config.time_boost * boost.contains(entry.event_time)) / (1.0 + config.time_boost)
            if named:
                c.score = (c.score + config.speaker_boost * (entry.speaker in named)) / (1.0 + config.speaker_boost)
            c.base = c.score
            found[entry_id] = c
        if config.neighbour_weight > 0 and found:
            self._spread(namespace, found, config, scope, include_history)
        ranked = sorted(found.values(), key=lambda c: (-c.score, c.entry.event_time, c.entry.id))
        _calibrate(ranked, config)
        return _drop_replaced(_dedupe(ranked) if config.dedupe else ranked), window

    def _lexical(
        self,
        namespace: Namespace,
        text: str,
        n: int,
        include_history: bool,
        time_range: TimeRange | None,
        in_window: TimeRange | None,
    ) -> dict[str, float]:
        """``id -> bm25`` of the ``n`` best entries (and of the ``n`` best inside ``in_window``)."""
        hits = self.store.lexical_search(
            namespace, text, limit=n, include_history=include_history, time_range=time_range
        )
        if in_window is not None:
            hits += self.store.lexical_search(
                namespace, text, limit=n, include_history=include_history, time_range=in_window
            )
        out: dict[str, float] = {}
        for hit in hits:
            out[hit.id] = max(out.get(hit.id, 0.0), hit.score)
        return out

    def _spread(
        self,
        namespace: Namespace,
        found: dict[str, Candidate],
        config: RetrievalConfig,
        scope: Mapping[str, Any] | None,
        include_history: bool,
    ) -> None:
        """Lift each entry by its best segment neighbour (which may be new): ``1 - (1 - s) * (1 - w * best)``.

        A noisy OR: an entry is relevant if it matched, or (with probability ``neighbour_weight``) if the turn
        beside it did. Unlike averaging with the neighbours, it never lowers a hit, so a strong isolated hit keeps
        its place and one stray keyword match cannot drag a whole neighbourhood above it.
        """
        sides = self.store.segment_neighbours(namespace, list(found), window=config.neighbour_window)
        best: dict[str, float] = {}
        for anchor, neighbours in sides.items():
            for neighbour in neighbours:
                best[neighbour] = max(best.get(neighbour, 0.0), found[anchor].score)
        # A new entry scores ``neighbour_weight * its anchor's score``: below its anchor. So neighbours of anchors
        # outside the top ``candidates`` can never enter the top ``candidates``; they are not read at all.
        scores = sorted((c.score for c in found.values()), reverse=True)
        floor = scores[config.candidates - 1] if len(scores) >= config.candidates else -1.0
        new = [i for i, score in best.items() if i not in found and config.neighbour_weight * score > floor]
        for entry_id, entry in self.store.fetch(namespace, new, where=scope, include_history=include_history).items():
            found[entry_id] = Candidate(entry)
        for entry_id, candidate in found.items():
            candidate.neighbour = best.get(entry_id, 0.0)
            lift = config.neighbour_weight * candidate.neighbour
            candidate.score = 1.0 - (1.0 - candidate.score) * (1.0 - lift)

    # -- packing --------------------------------------------------------------------------------------------

    def context(
        self,
        namespace: Namespace,
        query: str,
        *,
        max_tokens: int | None = None,
        k: int | None = None,
        filters: Mapping[str, Any] | None = None,
        time_range: TimeRange | None = None,
        include_history: bool = False,
        reference_time: datetime | None = None,
        **overrides: Any,
    ) -> MemoryContext:
        """The best memories that fit ``max_tokens`` (default ``retrieval.max_tokens``), grouped and rendered.

        ``k`` caps how many ranked memories are considered (neighbours added by ``expand`` come on top).
        """
        config = self._config(overrides)
        budget = max_tokens or config.max_tokens
        ranked, window = self._rank(namespace, query, config, filters, time_range, include_history, reference_time)
        if k is not None:
            ranked = ranked[:k]
        order = self._expanded(namespace, ranked, config, filters, time_range, include_history)
        context = MemoryContext(query=query, max_tokens=budget, window=window)
        chosen: list[ContextItem] = []
        used = 0
        for item in order:
            group = _group_key(item.hit.entry, config.group_by)
            placed = ContextItem(item.hit, item.rank, group, item.neighbour_of)
            new_group = group not in context.headers
            header = _header(item.hit.entry, config.group_by) if new_group else ""
            cost = self.counter.count(placed.line) + 1 + (self.counter.count(header) + 1 if header else 0)
            if used + cost > budget:
                continue  # a shorter one further down may still fit
            used += cost
            if new_group:
                context.headers[group] = header
            chosen.append(placed)
        positions = self.store.positions(namespace, [c.hit.entry.id for c in chosen])
        first_time: dict[str, datetime] = {}
        for c in chosen:
            first_time[c.group] = min(first_time.get(c.group, c.hit.entry.event_time), c.hit.entry.event_time)
        chosen.sort(
            key=lambda c: (
                first_time[c.group],
                c.group,
                positions.get(c.hit.entry.id, 0),
                c.hit.entry.event_time,
                c.hit.entry.id,
            )
        )
        context.items = chosen
        context.tokens = self.counter.count(context.render())
        while context.tokens > budget and context.items:  # token merges across lines can differ by a few
            worst = max(context.items, key=lambda c: (c.rank is None, c.rank or 0))
            context.items.remove(worst)
            context.tokens = self.counter.count(context.render())
        return context

    def _expanded(
        self,
        namespace: Namespace,
        ranked: Sequence[Candidate],
        config: RetrievalConfig,
        filters: Mapping[str, Any] | None,
        time_range: TimeRange | None,
        include_history: bool,
    ) -> list[ContextItem]:
        """Ranked hits, each of the top ``expand`` followed by its segment neighbours (each memory once)."""
        items = [ContextItem(SearchResult(c.entry, c.relevance), rank, "") for rank, c in enumerate(ranked)]
        if config.expand < 1 or not items:
            return items
        anchors = [c.entry.id for c in ranked[: config.expand]]
        sides = self.store.segment_neighbours(namespace, anchors, window=config.neighbour_window)
        known = {c.entry.id: c for c in ranked}
        wanted = [i for ids in sides.values() for i in ids if i not in known]
        scope = entry_where(filters, time_range=time_range)
        fetched = self.store.fetch(namespace, wanted, where=scope, include_history=include_history)
        out: list[ContextItem] = []
        seen: set[str] = set()
        for item in items:
            entry_id = item.hit.entry.id
            if entry_id in seen:
                continue
            seen.add(entry_id)
            out.append(item)
            for neighbour in sides.get(entry_id, []) if item.rank is not None and item.rank < config.expand else []:
                if neighbour in seen:
                    continue
                if neighbour in known:
                    hit = SearchResult(known[neighbour].entry, known[neighbour].relevance)
                elif neighbour in fetched:
                    hit = SearchResult(fetched[neighbour], 0.0)
                else:
                    continue
                seen.add(neighbour)
                out.append(ContextItem(hit, None, "", neighbour_of=entry_id))
        return out


def _scale(value: float, low: float, top: float) -> float:
    return min(1.0, max(0.0, (value - low) / (top - low))) if top > low else 1.0


def _intersect(a: TimeRange | None, b: TimeRange) -> TimeRange | None:
    """The overlap of two time ranges (``a`` may be open); ``None`` when they do not overlap."""
    if a is None:
        return b
    starts = [t for t in (a[0], b[0]) if t is not None]
    ends = [t for t in (a[1], b[1]) if t is not None]
    start, end = (max(starts) if starts else None), (min(ends) if ends else None)
    if start is not None and end is not None and start > end:
        return None
    return start, end


def _named_speakers(query: str, speakers: set[str]) -> frozenset[str]:
    """The speakers the query names (whole words, any case): "What did Caroline research?" names Caroline."""
    lowered = query.lower()
    return frozenset(s for s in speakers if re.search(rf"\b{re.escape(s.lower())}\b", lowered))


def _calibrate(ranked: Sequence[Candidate], config: RetrievalConfig) -> None:
    """Each candidate's relevance, from its ranking score and what the query's best matches were."""
    best_cosine = max((c.cosine for c in ranked if c.cosine is not None), default=0.0)
    best_bm25 = max((c.bm25 for c in ranked), default=0.0)
    for c in ranked:
        if config.mode == "dense":
            c.relevance = dense_relevance(c.score, best_cosine, config.relevance)
        else:
            c.relevance = hybrid_relevance(c.score, best_cosine, best_bm25, config.relevance)


def _drop_replaced(ranked: list[Candidate]) -> list[Candidate]:
    """Pending entries whose message already has a memory among the candidates: a batch is being written while we
    read. The memory counts, the message does not count twice."""
    if not any(c.entry.pending for c in ranked):
        return ranked
    covered = {s for c in ranked if not c.entry.pending for s in c.entry.source_ids}
    return [c for c in ranked if not (c.entry.pending and covered.issuperset(c.entry.source_ids))]


def _dedupe(ranked: list[Candidate]) -> list[Candidate]:
    """The best of each text; a superseded copy (history) stays beside the current one."""
    seen: set[tuple[str, bool]] = set()
    out = []
    for c in ranked:
        key = (" ".join(c.entry.text.lower().split()), c.entry.active)
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out


def _group_key(entry: MemoryEntry, group_by: str) -> str:
    if group_by == "segment":
        return f"segment:{entry.segment_id or entry.id}"
    if group_by == "day":
        return f"day:{entry.event_time:%Y-%m-%d}"
    return f"entry:{entry.id}"


def _header(entry: MemoryEntry, group_by: str) -> str:
    return f"{entry.event_time:%Y-%m-%d} ({entry.event_time:%a})" if group_by != "none" else ""
