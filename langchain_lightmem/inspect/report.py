"""The inspection report: one self-contained HTML page of what LightMem holds for one namespace.

The page is built from the facade only (:meth:`LightMem.snapshot` and :meth:`LightMem.search`): the timeline of
sessions and topic segments with their messages and the memories made from each; every memory with its provenance,
how it was made and its history; what is still pending in the buffers and when the next idle flush is due;
batches; consolidation decisions; cost per stage as a chart; and search (precomputed example queries, or live
when served by ``lightmem serve``).

It works offline: CSS, script and charts (inline SVG) are in the file, nothing is fetched. Every text from memory
is HTML-escaped; data for the script travels as JSON in a non-executable block, and a Content-Security-Policy lets
only the page's own script run, so a memory holding ``<script>`` shows as text.

Example:
    .. code-block:: python

        from langchain_lightmem import LightMem, LightMemConfig
        from langchain_lightmem.inspect import write_report

        with LightMem(LightMemConfig(data_dir="./memory")) as memory:
            memory.add([{"role": "user", "content": "I moved to Lisbon."}], namespace="maya", thread_id="s1")
            write_report(memory, "maya", "report.html", queries=["Where does Maya live?"])
"""

from __future__ import annotations

import html
import json
import re
import secrets
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_lightmem.accounting import INGEST_STAGES
from langchain_lightmem.types import MemoryEntry, Message, NamespaceLike, SearchResult, Stage, namespace_key

if TYPE_CHECKING:
    from langchain_lightmem.memory import LightMem, NamespaceSnapshot

STAGES: tuple[Stage, ...] = tuple(Stage)
STAGE_LABELS: dict[str, str] = {
    Stage.ACCEPTED: "accepted, not compressed yet",
    Stage.SENSORY: "sensory buffer: open topic segment",
    Stage.SHORT_TERM: "short-term buffer: waiting for a full batch",
    Stage.BATCHED: "batched: extraction not written yet",
    Stage.DONE: "extracted",
}
METHOD_LABELS = {
    "llm": "extracted by a chat model",
    "extractive": "kept as written (no extraction call)",
    "extractive_fallback": "kept as written: the model's answer failed",
    "uncovered": "kept as written: no extracted fact came from it",
    "consolidated": "merged by consolidation",
    "pending": "pending: its message is not extracted yet",
}
# Words never worth an example query: function words, and chat filler.
_STOPWORDS = frozenset(
    {
        "about",
        "after",
        "again",
        "also",
        "always",
        "among",
        "another",
        "anyone",
        "anything",
        "around",
        "because",
        "been",
        "before",
        "being",
        "between",
        "both",
        "cannot",
        "could",
        "did",
        "does",
        "doing",
        "done",
        "down",
        "during",
        "each",
        "even",
        "every",
        "from",
        "further",
        "glad",
        "going",
        "good",
        "great",
        "have",
        "having",
        "here",
        "hers",
        "herself",
        "himself",
        "into",
        "itself",
        "just",
        "know",
        "last",
        "like",
        "love",
        "lovely",
        "made",
        "make",
        "many",
        "might",
        "more",
        "most",
        "much",
        "must",
        "myself",
        "never",
        "next",
        "nice",
        "okay",
        "only",
        "other",
        "ours",
        "over",
        "really",
        "right",
        "same",
        "should",
        "since",
        "some",
        "something",
        "sounds",
        "still",
        "such",
        "sure",
        "than",
        "thank",
        "thanks",
        "that",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "thing",
        "things",
        "think",
        "this",
        "those",
        "though",
        "through",
        "time",
        "times",
        "today",
        "told",
        "tomorrow",
        "under",
        "until",
        "upon",
        "very",
        "want",
        "was",
        "week",
        "weeks",
        "well",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "will",
        "with",
        "would",
        "yeah",
        "year",
        "years",
        "your",
        "yours",
        "yourself",
    }
)
_WORD = re.compile(r"[^\W\d_]{4,}")


@dataclass(slots=True)
class SearchExample:
    """One query of the report's search section and the memories it ranked, best first."""

    query: str
    hits: list[SearchResult] = field(default_factory=list)


def example_queries(snapshot: NamespaceSnapshot, n: int = 4) -> list[str]:
    """The ``n`` content words found in the most memories of the namespace (speaker names and filler left out):
    the report's default search examples.

    Example:
        .. code-block:: python

            example_queries(memory.snapshot("maya"))  # ['lisbon', 'marathon', 'wedding', 'dog']
    """
    names = {w.lower() for m in snapshot.messages for w in _WORD.findall(m.display_speaker)}
    texts = [e.text for e in snapshot.entries if e.active] or [m.content for m in snapshot.messages]
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update({w.lower() for w in _WORD.findall(text)} - names - _STOPWORDS)
    return [word for word, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


def build_report(
    memory: LightMem,
    namespace: NamespaceLike,
    *,
    queries: Sequence[str] | None = None,
    k: int = 5,
    live_search: bool = False,
    now: datetime | None = None,
) -> str:
    """The report of one namespace as an HTML page (a string).

    Args:
        queries: the example searches precomputed into the page (default :func:`example_queries`).
        k: memories per search.
        live_search: the page is served by ``lightmem serve``: a query that is not precomputed is asked to the
            server (``GET search?q=...``) instead of being refused.
        now: the report's time (default now).

    Raises:
        InvalidNamespaceError: the namespace is empty or malformed.
        InvalidQueryError: a query cannot be searched (empty, too long) or ``k`` is below 1.
    """
    snapshot = memory.snapshot(namespace)
    asked = list(queries) if queries else example_queries(snapshot)
    examples = [SearchExample(q, memory.search(snapshot.namespace, q, k=k)) for q in asked]
    return render_report(
        snapshot, examples, calibrated=memory.relevance_calibrated, live_search=live_search, k=k, now=now
    )


def write_report(memory: LightMem, namespace: NamespaceLike, path: str | Path, **options: Any) -> Path:
    """Write :func:`build_report` to ``path`` (UTF-8); returns the path."""
    out = Path(path)
    out.write_text(build_report(memory, namespace, **options), encoding="utf-8")
    return out


# -- the page ------------------------------------------------------------------------------------------------


def esc(value: object) -> str:
    """Text as HTML (quotes too, so it is safe in attributes as well)."""
    return html.escape(str(value), quote=True)


def _json_for_script(document: Any) -> str:
    """JSON that cannot end its ``<script type="application/json">`` block nor open a comment in it."""
    text = json.dumps(document, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _when(value: datetime | None) -> str:
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if value is not None else "-"


def _epoch(value: float | None) -> str:
    return _when(datetime.fromtimestamp(value, UTC)) if value is not None else "-"


def _asset(name: str) -> str:
    return (files("langchain_lightmem.inspect") / "assets" / name).read_text(encoding="utf-8")


def _short(text: str, length: int = 8) -> str:
    return text if len(text) <= length + 2 else text[:length] + "…"


def _status(entry: MemoryEntry) -> str:
    return "pending" if entry.pending else ("current" if entry.active else "superseded")


class _Page:
    """Anchors for every message, memory, segment, batch and thread of one snapshot, and the indexes between them."""

    def __init__(self, snapshot: NamespaceSnapshot) -> None:
        self.snapshot = snapshot
        self.messages = {m.id: m for m in snapshot.messages}
        self.msg_anchor = {m.id: f"msg-{i}" for i, m in enumerate(snapshot.messages, start=1)}
        self.entries = {e.id: e for e in snapshot.entries}
        self.mem_anchor = {e.id: f"mem-{i}" for i, e in enumerate(snapshot.entries, start=1)}
        self.batch_anchor = {b.id: f"batch-{b.seq}" for b in snapshot.batches}
        self.batch_label = {b.id: f"batch {b.seq}" for b in snapshot.batches}
        self.batch_mode = {b.id: b.mode for b in snapshot.batches}
        # threads in order of their first message; segments in order of their first message
        threads: dict[str | None, list[Message]] = {}
        for message in sorted(snapshot.messages, key=lambda m: (m.timestamp, m.seq)):
            threads.setdefault(message.thread_id, []).append(message)
        self.threads = threads
        self.thread_anchor = {t: f"thread-{i}" for i, t in enumerate(threads, start=1)}
        self.segments: dict[str, list[Message]] = {}
        for messages in threads.values():
            for message in sorted(messages, key=lambda m: m.seq):
                if message.segment_id is not None:
                    self.segments.setdefault(message.segment_id, []).append(message)
        self.seg_anchor = {s: f"seg-{i}" for i, s in enumerate(self.segments, start=1)}
        # memories made from each segment ("" = open messages of a thread, keyed by thread)
        self.made_from: dict[tuple[str | None, str | None], list[MemoryEntry]] = {}
        for entry in snapshot.entries:
            for group in dict.fromkeys(
                (m.thread_id, m.segment_id) for s in entry.source_ids if (m := self.messages.get(s)) is not None
            ):
                self.made_from.setdefault(group, []).append(entry)
        self.replaces: dict[str, list[MemoryEntry]] = {}
        for entry in snapshot.entries:
            if entry.superseded_by is not None:
                self.replaces.setdefault(entry.superseded_by, []).append(entry)

    def mem_link(self, entry_id: str, label: str | None = None) -> str:
        """A link to a memory's card, labelled with (the start of) its text."""
        anchor = self.mem_anchor.get(entry_id)
        if anchor is None:
            return f'<span class="gone" title="not in this namespace any more">{esc(_short(entry_id))}</span>'
        text = label if label is not None else _short(self.entries[entry_id].text, 48)
        return f'<a class="mem-link" href="#{anchor}" title="{esc(entry_id)}">{esc(text)}</a>'

    def msg_link(self, message_id: str) -> str:
        anchor = self.msg_anchor.get(message_id)
        if anchor is None:
            return f'<span class="gone" title="message not in the journal">{esc(message_id)}</span>'
        return f'<a class="prov" href="#{anchor}">{esc(message_id)}</a>'

    def batch_link(self, batch_id: str | None) -> str:
        if batch_id is None or batch_id not in self.batch_anchor:
            return ""
        return f'<a class="batch-link" href="#{self.batch_anchor[batch_id]}">{esc(self.batch_label[batch_id])}</a>'

    def seg_link(self, segment_id: str | None) -> str:
        if segment_id is None or segment_id not in self.seg_anchor:
            return ""
        anchor = self.seg_anchor[segment_id]
        return f'<a class="seg-link" href="#{anchor}">segment {esc(anchor.removeprefix("seg-"))}</a>'


def render_report(
    snapshot: NamespaceSnapshot,
    examples: Sequence[SearchExample] = (),
    *,
    calibrated: bool = False,
    live_search: bool = False,
    k: int = 5,
    now: datetime | None = None,
) -> str:
    """The HTML page for a snapshot and its precomputed searches (see :func:`build_report`)."""
    page = _Page(snapshot)
    now = now or datetime.now(UTC)
    name = namespace_key(snapshot.namespace)
    nonce = secrets.token_urlsafe(16)
    data = {
        "namespace": name,
        "k": k,
        "live": live_search,
        "generated": now.timestamp(),
        "anchors": page.mem_anchor,
        "queries": {
            ex.query.strip().lower(): {"query": ex.query, "hits": [hit_to_json(h) for h in ex.hits]} for ex in examples
        },
    }
    csp = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        f"script-src 'nonce-{nonce}'; connect-src 'self'; base-uri 'none'; form-action 'none'"
    )
    body = "\n".join(
        [
            _header(page, now),
            _cost(page),
            _search(examples, calibrated=calibrated, live=live_search, k=k),
            _timeline(page),
            _memories(page),
            _pending(page, now),
            _batches(page),
            _decisions(page),
        ]
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{esc(csp)}">
<meta name="generator" content="langchain-lightmem inspect">
<title>LightMem · {esc(name)}</title>
<style>
{_asset("report.css")}
</style>
</head>
<body>
<nav class="top">
  <strong>LightMem</strong> <span class="ns">{esc(name)}</span>
  <a href="#summary">summary</a> <a href="#cost">cost</a> <a href="#search">search</a>
  <a href="#timeline">timeline</a> <a href="#memories">memories</a> <a href="#pending">pending</a>
  <a href="#batches">batches</a> <a href="#consolidation">consolidation</a>
</nav>
<main>
{body}
</main>
<script type="application/json" id="report-data">{_json_for_script(data)}</script>
<script nonce="{nonce}">
{_asset("report.js")}
</script>
</body>
</html>
"""


def hit_to_json(hit: SearchResult) -> dict[str, Any]:
    """A search hit as the page's script reads it (id, text, score, pending, status, when)."""
    return {
        "id": hit.entry.id,
        "text": hit.entry.text,
        "score": round(hit.score, 4),
        "pending": hit.pending,
        "status": _status(hit.entry),
        "when": _when(hit.entry.event_time),
    }


def _card(label: str, value: object, note: str = "") -> str:
    title = f' title="{esc(note)}"' if note else ""
    return f'<div class="card"{title}><div class="value">{esc(value)}</div><div class="label">{esc(label)}</div></div>'


def _header(page: _Page, now: datetime) -> str:
    snap = page.snapshot
    stats = snap.stats
    by_status = Counter(_status(e) for e in snap.entries)
    tokens = sum(u.input_tokens + u.output_tokens for u in stats.usage.values())
    cards = [
        _card("messages", len(snap.messages)),
        _card("sessions", len(page.threads)),
        _card("topic segments", len(page.segments)),
        _card("current memories", by_status["current"]),
        _card("superseded", by_status["superseded"], "kept as history by consolidation"),
        _card("pending", by_status["pending"], "messages searchable as themselves until extracted"),
        _card("batches", len(snap.batches)),
        _card("LLM calls", stats.llm_calls),
        _card("tokens", f"{tokens:,}"),
    ]
    return f"""<section id="summary">
<h1>Memory of <span class="ns">{esc(namespace_key(snap.namespace))}</span></h1>
<p class="muted">Report made {esc(_when(now))}. Everything below belongs to this namespace only.</p>
<div class="cards">{"".join(cards)}</div>
</section>"""


# -- cost ----------------------------------------------------------------------------------------------------


def _stage_key(stage: str) -> tuple[int, str]:
    return (INGEST_STAGES.index(stage) if stage in INGEST_STAGES else len(INGEST_STAGES), stage)


def _bar_chart(title: str, rows: Sequence[tuple[str, float, str]], css: str) -> str:
    """A horizontal bar chart as inline SVG: one bar per row (label, value, shown value)."""
    label_w, bar_w, value_w, row_h = 92, 180, 80, 22
    height = row_h * len(rows) + 28
    top = max((v for _, v, _ in rows), default=0.0)
    parts = [
        f'<svg class="chart {css}" role="img" aria-label="{esc(title)}" width="{label_w + bar_w + value_w}" '
        f'height="{height}" viewBox="0 0 {label_w + bar_w + value_w} {height}">',
        f'<text class="chart-title" x="0" y="14">{esc(title)}</text>',
    ]
    for i, (label, value, shown) in enumerate(rows):
        y = 24 + i * row_h
        width = 0.0 if top <= 0 else max(1.0, bar_w * value / top) if value > 0 else 0.0
        parts.append(f'<text class="bar-label" x="0" y="{y + 14}">{esc(label)}</text>')
        parts.append(f'<rect class="bar" x="{label_w}" y="{y + 3}" width="{width:.1f}" height="{row_h - 8}" rx="2"/>')
        parts.append(f'<text class="bar-value" x="{label_w + width + 4:.1f}" y="{y + 14}">{esc(shown)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _cost(page: _Page) -> str:
    usage = sorted(page.snapshot.stats.usage.values(), key=lambda u: _stage_key(u.stage))
    if not usage:
        return '<section id="cost"><h2>Cost per stage</h2><p class="muted">Nothing recorded yet.</p></section>'
    calls = [(u.stage, float(u.calls), f"{u.calls:,}") for u in usage]
    tokens = [
        (u.stage, float(u.input_tokens + u.output_tokens), f"{u.input_tokens + u.output_tokens:,}") for u in usage
    ]
    seconds = [(u.stage, u.seconds, f"{u.seconds:.3f} s") for u in usage]
    rows = "".join(
        f"<tr><td>{esc(u.stage)}</td><td>{u.calls:,}</td><td>{u.input_tokens:,}</td><td>{u.output_tokens:,}</td>"
        f"<td>{u.seconds:.3f}</td><td>{u.items:,}</td></tr>"
        for u in usage
    )
    note = (
        ""
        if any(u.calls for u in usage)
        else '<p class="muted">No chat-model call was made: this namespace ran LLM-free (or everything was kept '
        "as written).</p>"
    )
    return f"""<section id="cost">
<h2>Cost per stage</h2>
{note}
<div class="charts">{_bar_chart("LLM calls", calls, "calls")}{_bar_chart("tokens (in + out)", tokens, "tokens")}\
{_bar_chart("seconds", seconds, "seconds")}</div>
<details><summary>table</summary>
<table class="usage"><thead><tr><th>stage</th><th>LLM calls</th><th>input tokens</th><th>output tokens</th>
<th>seconds</th><th>items</th></tr></thead><tbody>{rows}</tbody></table>
</details>
<p class="muted">Totals recorded by every process that used this data folder (searches only by this one).</p>
</section>"""


# -- search --------------------------------------------------------------------------------------------------


def _search(examples: Sequence[SearchExample], *, calibrated: bool, live: bool, k: int) -> str:
    scale = (
        "Scores are calibrated relevance: the probability that a memory is relevant to the query."
        if calibrated
        else "Scores rank memories for one query (not calibrated for these embeddings: compare within a query)."
    )
    how = (
        "Type any query: this page is served by <code>lightmem serve</code>, which searches live."
        if live
        else "This page is static: the example queries below were searched when it was made. For any query, run "
        "<code>lightmem serve</code> (or <code>lightmem inspect --query ...</code>)."
    )
    options = "".join(f'<option value="{esc(ex.query)}"></option>' for ex in examples)
    buttons = "".join(
        f'<button type="button" class="example" data-query="{esc(ex.query)}">{esc(ex.query)}</button>'
        for ex in examples
    )
    return f"""<section id="search">
<h2>Search</h2>
<p class="muted">{how} {esc(scale)} Top {k} memories per query.</p>
<form id="search-form" autocomplete="off">
<input id="query" type="search" list="example-queries" placeholder="a query" aria-label="query">
<datalist id="example-queries">{options}</datalist>
<button type="submit">search</button>
</form>
<div class="examples">{buttons}</div>
<div id="search-note" class="muted" role="status"></div>
<ol id="search-results"></ol>
</section>"""


# -- timeline ------------------------------------------------------------------------------------------------


def _segment_status(messages: Iterable[Message]) -> str:
    stages = [m.stage or Stage.ACCEPTED for m in messages]
    return min(stages, key=STAGES.index) if stages else Stage.ACCEPTED


def _overview(page: _Page) -> str:
    """The sessions on a date axis (inline SVG): one dot per session, a link to it."""
    spans = {t: (ms[0].timestamp, ms[-1].timestamp) for t, ms in page.threads.items()}
    if not spans:
        return ""
    start = min(a for a, _ in spans.values()).timestamp()
    end = max(b for _, b in spans.values()).timestamp()
    span = max(end - start, 3600.0)
    width, left, right = 900, 20, 20
    labels = len(spans) <= 12
    parts = [
        f'<svg class="overview" role="img" aria-label="sessions over time" width="100%" viewBox="0 0 {width} 70" '
        'preserveAspectRatio="xMidYMid meet">',
        f'<line class="axis" x1="{left}" y1="40" x2="{width - right}" y2="40"/>',
        f'<text class="tick" x="{left}" y="62">{esc(_when(datetime.fromtimestamp(start, UTC))[:10])}</text>',
        f'<text class="tick" x="{width - right}" y="62" text-anchor="end">'
        f"{esc(_when(datetime.fromtimestamp(end, UTC))[:10])}</text>",
    ]
    for i, (thread, (first, last)) in enumerate(spans.items()):
        x1 = left + (width - left - right) * (first.timestamp() - start) / span
        x2 = left + (width - left - right) * (last.timestamp() - start) / span
        name = thread if thread is not None else "(no thread)"
        parts.append(f'<a href="#{page.thread_anchor[thread]}"><title>{esc(name)}: {esc(_when(first))}</title>')
        parts.append(
            f'<rect class="session" x="{x1 - 4:.1f}" y="34" width="{max(x2 - x1, 0) + 8:.1f}" height="12" rx="6"/>'
        )
        if labels:
            anchor = "start" if x1 < width / 2 else "end"
            parts.append(
                f'<text class="session-label" x="{x1:.1f}" y="{24 - (i % 2) * 12}" text-anchor="{anchor}">'
                f"{esc(name)}</text>"
            )
        parts.append("</a>")
    parts.append("</svg>")
    return "".join(parts)


def _message(page: _Page, message: Message) -> str:
    stage = message.stage or Stage.ACCEPTED
    compressed = (
        f'<div class="compressed" title="what the extractor saw after compression">{esc(message.compressed)}</div>'
        if message.compressed is not None and message.compressed != message.content
        else ""
    )
    repaired = '<span class="badge warn">repaired</span>' if message.extra.get("repaired") else ""
    return (
        f'<li class="msg role-{esc(message.role)} stage-{esc(stage)}" id="{page.msg_anchor[message.id]}" '
        f'data-message-id="{esc(message.id)}">'
        f'<div class="meta"><time>{esc(_when(message.timestamp))}</time> '
        f'<b class="speaker">{esc(message.display_speaker)}</b> '
        f'<span class="badge stage-{esc(stage)}" title="{esc(STAGE_LABELS.get(stage, stage))}">{esc(stage)}</span>'
        f'{repaired} {page.batch_link(message.batch_id)} <span class="id">{esc(message.id)}</span></div>'
        f'<div class="text">{esc(message.content)}</div>{compressed}</li>'
    )


def _made(page: _Page, entries: Sequence[MemoryEntry]) -> str:
    if not entries:
        return '<p class="made muted">No memory from these messages yet.</p>'
    items = "".join(
        f'<li class="status-{_status(e)}">{page.mem_link(e.id, e.text)} <span class="badge">{_status(e)}</span></li>'
        for e in entries
    )
    return f'<div class="made"><h5>Memories made from it</h5><ul>{items}</ul></div>'


def _timeline(page: _Page) -> str:
    if not page.threads:
        return '<section id="timeline"><h2>Timeline</h2><p class="muted">No messages.</p></section>'
    blocks = []
    for thread, messages in page.threads.items():
        name = thread if thread is not None else "(no thread)"
        segments = list(dict.fromkeys(m.segment_id for m in sorted(messages, key=lambda m: m.seq) if m.segment_id))
        open_messages = [m for m in messages if m.segment_id is None]
        strip = "".join(
            f'<a class="strip-seg status-{_segment_status(page.segments[s])}" href="#{page.seg_anchor[s]}" '
            f'style="flex-grow:{len(page.segments[s])}" title="{len(page.segments[s])} messages, '
            f'{esc(_segment_status(page.segments[s]))}"></a>'
            for s in segments
        )
        if open_messages:
            strip += (
                f'<span class="strip-seg status-open" style="flex-grow:{len(open_messages)}" '
                f'title="{len(open_messages)} messages not segmented yet"></span>'
            )
        parts = [
            f'<article class="thread" id="{page.thread_anchor[thread]}">',
            f"<h3>{esc(name)} <small>{esc(_when(messages[0].timestamp))} → {esc(_when(messages[-1].timestamp))}"
            f" · {len(messages)} messages · {len(segments)} segments</small></h3>",
            f'<div class="strip">{strip}</div>',
        ]
        for segment_id in segments:
            seg_messages = page.segments[segment_id]
            status = _segment_status(seg_messages)
            batches = " ".join(dict.fromkeys(page.batch_link(m.batch_id) for m in seg_messages if m.batch_id))
            parts.append(
                f'<section class="segment status-{esc(status)}" id="{page.seg_anchor[segment_id]}" '
                f'data-segment-id="{esc(segment_id)}">'
                f"<h4>Topic segment {esc(page.seg_anchor[segment_id].removeprefix('seg-'))} "
                f"<small>{len(seg_messages)} messages · {esc(STAGE_LABELS.get(status, status))} {batches}</small></h4>"
                f'<ol class="messages">{"".join(_message(page, m) for m in seg_messages)}</ol>'
                f"{_made(page, page.made_from.get((thread, segment_id), []))}</section>"
            )
        if open_messages:
            parts.append(
                '<section class="segment status-open"><h4>Not segmented yet <small>the sensory buffer: the topic '
                "segment is still open</small></h4>"
                f'<ol class="messages">{"".join(_message(page, m) for m in open_messages)}</ol>'
                f"{_made(page, page.made_from.get((thread, None), []))}</section>"
            )
        parts.append("</article>")
        blocks.append("".join(parts))
    saved = sum(1 for e in page.snapshot.entries if not e.source_ids)
    note = (
        f'<p class="muted">{saved} memories were saved directly (no source message): see Memories.</p>' if saved else ""
    )
    return f"""<section id="timeline">
<h2>Timeline: sessions and topic segments</h2>
{_overview(page)}
{note}
{"".join(blocks)}
</section>"""


# -- memories ------------------------------------------------------------------------------------------------


def _how_made(entry: MemoryEntry, batch_mode: str | None) -> str:
    label = METHOD_LABELS.get(entry.method, entry.method)
    if entry.method == "extractive" and not entry.source_ids:
        label = "saved directly (remember / an agent's save tool)"
    elif entry.method == "extractive" and batch_mode == "extractive":
        label = "kept as written: the salience gate found nothing worth an extraction call"
    model = f" · model {esc(entry.model)}" if entry.model else ""
    return f'<span class="badge method-{esc(entry.method)}">{esc(entry.method)}</span> {esc(label)}{model}'


def _memory(page: _Page, entry: MemoryEntry, decisions: dict[str, list[str]]) -> str:
    status = _status(entry)
    sources = [page.messages[s] for s in entry.source_ids if s in page.messages]
    provenance = (
        "from " + ", ".join(page.msg_link(s) for s in entry.source_ids) if entry.source_ids else "no source message"
    )
    quoted = "".join(
        f'<li><a href="#{page.msg_anchor[m.id]}">{esc(_when(m.timestamp))}</a> <b>{esc(m.display_speaker)}</b>: '
        f"{esc(m.content)}</li>"
        for m in sources
    )
    details = (
        f'<details class="sources"><summary>source messages ({len(sources)})</summary><ul>{quoted}</ul></details>'
        if sources
        else ""
    )
    history: list[str] = []
    if entry.superseded_by:
        history.append(f"superseded by {page.mem_link(entry.superseded_by)}")
        chain, seen, nxt = [], {entry.id}, page.entries.get(entry.superseded_by)
        while nxt is not None and nxt.superseded_by and nxt.superseded_by not in seen:
            seen.add(nxt.id)
            chain.append(page.mem_link(nxt.superseded_by))
            nxt = page.entries.get(nxt.superseded_by)
        if chain:
            history.append("then " + " → ".join(chain))
    if page.replaces.get(entry.id):
        history.append("replaces " + ", ".join(page.mem_link(e.id) for e in page.replaces[entry.id]))
    if entry.valid_from is not None and entry.valid_from != entry.event_time:
        history.append(f"valid since {esc(_when(entry.valid_from))}")
    if entry.valid_to is not None:
        history.append(f"valid until {esc(_when(entry.valid_to))}")
    history.extend(decisions.get(entry.id, []))
    history_html = f'<ul class="history">{"".join(f"<li>{h}</li>" for h in history)}</ul>' if history else ""
    where = " ".join(x for x in (page.seg_link(entry.segment_id), page.batch_link(entry.batch_id)) if x)
    return (
        f'<article class="memory status-{status}" id="{page.mem_anchor[entry.id]}" data-status="{status}" '
        f'data-entry-id="{esc(entry.id)}">'
        f'<p class="text">{esc(entry.text)}</p>'
        f'<div class="meta"><span class="badge status">{status}</span> '
        f"{_how_made(entry, page.batch_mode.get(entry.batch_id or ''))}"
        f" · v{entry.version} · event {esc(_when(entry.event_time))} · stored {esc(_when(entry.ingested_at))}"
        f"{f' · thread {esc(entry.thread_id)}' if entry.thread_id else ''}"
        f"{f' · {esc(entry.speaker)}' if entry.speaker else ''}</div>"
        f'<div class="provenance">{provenance} {where}</div>{details}{history_html}</article>'
    )


def _decision_notes(page: _Page) -> dict[str, list[str]]:
    notes: dict[str, list[str]] = {}
    for d in page.snapshot.decisions:
        state = "" if d.applied else " (not applied yet)"
        newer = ", ".join(page.mem_link(i) for i in d.newer_ids)
        notes.setdefault(d.target_id, []).append(f"consolidation: <b>{esc(d.action)}</b> with {newer}{state}")
        for i in d.newer_ids:
            notes.setdefault(i, []).append(
                f"consolidation: newer memory for {page.mem_link(d.target_id)} (<b>{esc(d.action)}</b>){state}"
            )
    return notes


def _memories(page: _Page) -> str:
    entries = sorted(page.snapshot.entries, key=lambda e: (e.event_time, e.id))
    counts = Counter(_status(e) for e in entries)
    notes = _decision_notes(page)
    buttons = "".join(
        f'<button type="button" class="filter" data-status="{s}">{s} ({counts[s] if s != "all" else len(entries)})'
        "</button>"
        for s in ("all", "current", "superseded", "pending")
    )
    cards = "".join(_memory(page, e, notes) for e in entries) or '<p class="muted">No memories.</p>'
    return f"""<section id="memories">
<h2>Memories</h2>
<div class="filters">{buttons}
<input id="memory-filter" type="search" placeholder="filter by text" aria-label="filter memories"></div>
<div id="memory-list">{cards}</div>
</section>"""


# -- pending, buffers, batches, consolidation ------------------------------------------------------------------


def _pending(page: _Page, now: datetime) -> str:
    snap = page.snapshot
    waiting = [m for m in snap.messages if (m.stage or Stage.ACCEPTED) != Stage.DONE]
    by_stage: dict[str, list[Message]] = {}
    for message in waiting:
        by_stage.setdefault(message.stage or Stage.ACCEPTED, []).append(message)
    if snap.next_idle_flush is not None:
        due = (
            f"Next idle flush due <b>{esc(_epoch(snap.next_idle_flush))}</b> "
            f'(<span class="relative" data-epoch="{snap.next_idle_flush:.0f}"></span>): by then every open thread '
            f"has been quiet for {esc(f'{snap.idle_flush_seconds:g}')} s, unless a message arrives. A running "
            "LightMem's background worker flushes it, or <code>lightmem flush --idle SECONDS</code> from cron."
        )
    elif snap.idle_flush_seconds is None:
        due = (
            "Idle flush is off (<code>background.idle_flush_seconds</code> is unset): buffers wait for a full "
            "batch or a flush."
        )
    else:
        due = "Nothing is open: no flush is due."
    rows = "".join(
        f'<tr><td><span class="badge stage-{esc(stage)}">{esc(stage)}</span></td>'
        f"<td>{esc(STAGE_LABELS.get(stage, stage))}</td>"
        f"<td>{len(by_stage[stage])}</td><td>{', '.join(page.msg_link(m.id) for m in by_stage[stage])}</td></tr>"
        for stage in STAGES
        if stage in by_stage
    )
    table = (
        f'<table class="buffers"><thead><tr><th>stage</th><th>where</th><th>messages</th><th>which</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
        if rows
        else '<p class="muted">Every message is extracted.</p>'
    )
    return f"""<section id="pending">
<h2>Pending messages and buffers</h2>
<p>{len(waiting)} of {len(snap.messages)} messages are not extracted yet; each is searchable as itself (a pending
memory) until its batch is written. {snap.stats.pending} pending memories.</p>
<p class="flush">{due}</p>
{table}
</section>"""


def _batches(page: _Page) -> str:
    snap = page.snapshot
    if not snap.batches:
        return '<section id="batches"><h2>Batches</h2><p class="muted">No batch yet.</p></section>'
    messages_in: Counter[str] = Counter(m.batch_id for m in snap.messages if m.batch_id)
    rows = []
    for b in snap.batches:
        mode = (
            "LLM extraction"
            if b.mode == "llm"
            else "salience gate: kept as written"
            if b.mode == "extractive"
            else b.mode
        )
        coverage = ", ".join(f"{esc(k)}: {esc(v)}" for k, v in (b.coverage or {}).items()) or "-"
        entries = ", ".join(
            page.mem_link(i, f"#{page.mem_anchor[i].removeprefix('mem-')}") for i in b.entry_ids if i in page.mem_anchor
        )
        rows.append(
            f'<tr id="{page.batch_anchor[b.id]}"><td>{b.seq}</td><td class="id">{esc(_short(b.id))}</td>'
            f"<td>{esc(b.status)}</td><td>{esc(mode)}</td><td>{b.attempts}</td><td>{messages_in[b.id]}</td>"
            f"<td>{len(b.entry_ids)} {entries}</td><td>{coverage}</td><td>{esc(b.error or '')}</td>"
            f"<td>{esc(_epoch(b.created))}</td></tr>"
        )
    return f"""<section id="batches">
<h2>Batches</h2>
<p class="muted">One extraction call per batch of whole topic segments.</p>
<table class="batches"><thead><tr><th>#</th><th>id</th><th>status</th><th>mode</th><th>attempts</th>
<th>messages</th><th>memories</th><th>coverage</th><th>error</th><th>created</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>
</section>"""


def _decisions(page: _Page) -> str:
    snap = page.snapshot
    if not snap.decisions:
        return (
            '<section id="consolidation"><h2>Consolidation</h2><p class="muted">No consolidation decision yet '
            "(<code>lightmem consolidate</code>).</p></section>"
        )
    counts = Counter(d.action for d in snap.decisions)
    rows = "".join(
        f'<tr class="action-{esc(d.action)}"><td>{page.mem_link(d.target_id)}</td><td><b>{esc(d.action)}</b></td>'
        f"<td>{', '.join(page.mem_link(i) for i in d.newer_ids)}</td><td>{esc(d.text or '')}</td>"
        f"<td>{'yes' if d.applied else 'not yet'}</td></tr>"
        for d in snap.decisions
    )
    summary = ", ".join(f"{n} {esc(a)}" for a, n in sorted(counts.items()))
    return f"""<section id="consolidation">
<h2>Consolidation</h2>
<p class="muted">{len(snap.decisions)} decisions ({summary}): an older memory is updated (merged with newer ones),
superseded, or kept.</p>
<table class="decisions"><thead><tr><th>target</th><th>action</th><th>newer memories</th><th>merged text</th>
<th>applied</th></tr></thead><tbody>{rows}</tbody></table>
</section>"""
