"""The per-call log of real-model runs: one JSON line per chat-model call, and its summary for the report.

Every call of an endpoint system (and of the QA answer and judge steps) becomes one record, written to
``calls-<system>[-<protocol>].jsonl`` in the results folder as the call ends (so a long run can be followed with
``tail -f``, and a crash leaves what was done):

``system``, ``protocol``, ``conversation``, ``question`` (QA steps)
    where in the run the call was made;
``phase``
    ``ingest`` (extraction while building memory), ``consolidation`` (sleep-time decisions), ``query`` (the QA
    answer, or a system's own query-time calls), ``judge`` (the QA judge);
``model``, ``method``
    the model asked and the structured-output method of the call: ``function_calling``, ``json_mode``,
    ``json_schema`` (from LangChain's ``ls_structured_output_format``), or ``plain`` (no structured output:
    LightMem's ``prompt`` method and the QA steps);
``prompt_tokens``, ``answer_tokens``, ``tokens_from``
    the server's usage report (``server``), else cl100k counts (``cl100k``);
``seconds``, ``finish_reason``
    wall time of the call; ``length`` means the answer hit the output cap;
``read_as``, ``facts``, ``citations``, ``uncited_facts``, ``decisions``
    what the answer holds, read the way LightMem reads it: a tool call's arguments (``tool_call``), an
    unparsable tool call (``invalid_tool_call``), JSON in the text (``json``) or plain ``text``; the facts it
    returned and the source numbers they cite (extraction), the decisions (consolidation);
``answer``
    the answer's first 500 characters (tool-call arguments as JSON);
``error``
    set when the call failed (timeout, connection, HTTP error): the run went on without it.

Example:
    .. code-block:: python

        log = CallLog(Path("results/calls-lightmem_endpoint.jsonl"))
        log.write({"phase": "ingest", "seconds": 12.5, "prompt_tokens": 900, "answer_tokens": 60})
        summarise(log.records)["ingest"]["calls"]
        log.close()
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TextIO

import numpy as np

ANSWER_CHARS = 500


class CallLog:
    """Where the per-call records go: kept in memory (for the summary) and, with a ``path``, appended to a JSONL
    file as they come (the file is started afresh). Thread-safe: calls may end in worker threads."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.records: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._file: TextIO | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("w", encoding="utf-8")

    def write(self, record: Mapping[str, Any]) -> None:
        line = json.dumps(record, default=str)
        with self._lock:
            self.records.append(dict(record))
            if self._file is not None:
                self._file.write(line + "\n")
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def read_answer(message: Any) -> dict[str, Any]:
    """What an answer holds, read as LightMem reads it (``read_as``, ``facts``, ``citations``, ``uncited_facts``,
    ``decisions``, ``answer``); counts are ``None`` when the answer holds no such list."""
    from langchain_lightmem.llm import InvalidOutputError, parse_json_text
    from langchain_lightmem.short_term.extraction import coerce_facts

    out: dict[str, Any] = {"read_as": "text", "facts": None, "citations": None, "uncited_facts": None}
    payload: Any = None
    tool_calls = getattr(message, "tool_calls", None) or []
    invalid = getattr(message, "invalid_tool_calls", None) or []
    content = getattr(message, "content", "")
    text = content if isinstance(content, str) else json.dumps(content)
    if tool_calls:
        payload = tool_calls[0].get("args", {})
        out["read_as"] = "tool_call"
        text = json.dumps(payload)
    elif invalid:
        out["read_as"] = "invalid_tool_call"
        text = str(invalid[0].get("args") or "")
    elif text.strip():
        try:
            payload = parse_json_text(text)
            out["read_as"] = "json"
        except InvalidOutputError:
            payload = None
    out["answer"] = text[:ANSWER_CHARS]
    if isinstance(payload, dict) and isinstance(payload.get("decisions"), list):
        out["decisions"] = len(payload["decisions"])
        return out
    if _looks_like_facts(payload):
        try:
            facts = coerce_facts(payload)
        except InvalidOutputError:
            return out
        out["facts"] = len(facts)
        out["citations"] = sum(len(f["sources"]) for f in facts)
        out["uncited_facts"] = sum(not f["sources"] for f in facts)
    return out


def _looks_like_facts(payload: Any) -> bool:
    if isinstance(payload, list):
        return True
    if isinstance(payload, dict):
        return any(k in payload for k in ("facts", "data", "memories", "items", "text", "fact"))
    return False


def _seconds(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"total": 0.0, "p50": None, "p95": None, "max": None}
    arr = np.asarray(values, dtype=np.float64)
    return {
        "total": float(arr.sum()),
        "p50": float(np.percentile(arr, 50)),
        "p95": float(np.percentile(arr, 95)),
        "max": float(arr.max()),
    }


def _total(rows: list[dict[str, Any]], key: str) -> int | None:
    values = [r[key] for r in rows if isinstance(r.get(key), int)]
    return sum(values) if values else None


def summarise(records: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per phase: calls, failed calls, prompt and answer tokens, seconds (total, p50, p95, max), the methods used,
    finish reasons, how answers were read, facts, citations and uncited facts (``None`` when no answer held
    facts)."""
    phases: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        phases.setdefault(str(record.get("phase", "?")), []).append(dict(record))
    out: dict[str, dict[str, Any]] = {}
    for phase, rows in phases.items():
        done = [r for r in rows if not r.get("error")]
        out[phase] = {
            "calls": len(rows),
            "failed": len(rows) - len(done),
            "errors": dict(Counter(str(r["error"]).split(":")[0] for r in rows if r.get("error"))),
            "prompt_tokens": sum(int(r.get("prompt_tokens") or 0) for r in done),
            "answer_tokens": sum(int(r.get("answer_tokens") or 0) for r in done),
            "tokens_from": dict(Counter(str(r.get("tokens_from")) for r in done)),
            "seconds": _seconds([float(r.get("seconds") or 0.0) for r in rows]),
            "methods": dict(Counter(str(r.get("method")) for r in rows)),
            "finish_reasons": dict(Counter(str(r.get("finish_reason")) for r in done)),
            "read_as": dict(Counter(str(r.get("read_as")) for r in done)),
            "facts": _total(done, "facts"),
            "citations": _total(done, "citations"),
            "uncited_facts": _total(done, "uncited_facts"),
            "decisions": _total(done, "decisions"),
        }
    return out
