"""Running systems over a data set: ingest, consolidate, query, score; one result document per run.

Each system runs in its own process by default (``isolate``), so its peak RSS is its own and no library state
leaks from one system into the next. Within a system, every conversation gets a fresh working folder (deleted
afterwards unless ``keep_work``). LLM calls and tokens are counted per phase by the system's own chat model.

Endpoint systems (``lightmem_endpoint``) and the QA steps (``qa``) call the run's :class:`~benchmarks.llm.Endpoint`;
:func:`run` checks it answers first (:class:`~benchmarks.exits.EndpointUnreachable` otherwise) and, with
``calls_dir``, every such call is logged as one JSON line in ``calls-<system>[-<protocol>].jsonl`` there
(:mod:`benchmarks.calls`).

``protocols`` says how the conversations are fed: ``batch`` (each system's own ``ingest``, then every question),
and for LightMem also ``agent`` (turn by turn through ``LightMemMiddleware`` in a ``create_agent`` agent, no
flush, questions asked at session starts) and ``agent_flushed`` (its reference, flushed after every session);
see :mod:`benchmarks.agent`. Each (system, protocol) pair is one result.

Example:
    .. code-block:: python

        from benchmarks.runner import RunSpec, run

        doc = run(RunSpec(systems=["bm25", "lightmem_llm_free"], conversations=["conv-26"], questions=5))
        doc["systems"][0]["retrieval"]["recall@budget1000"]
"""

from __future__ import annotations

import contextlib
import functools
import json
import multiprocessing
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from tqdm import tqdm

from benchmarks.agent import AGENT_PROTOCOLS, END, PROTOCOLS, AskingPoint, ask_schedule, build_feed, describe
from benchmarks.calls import CallLog, summarise
from benchmarks.data import REPO_ROOT, Conversation, Dataset, Question, load_dataset, select
from benchmarks.embeddings import DiskCachedEmbeddings
from benchmarks.llm import PUBLISHED_MODEL, CallbackMeter, Endpoint, Meter, build_chat_model, probe, resolve_endpoint
from benchmarks.metrics import BUDGETS, KS, aggregate, by_category, latency_summary, per_thousand, score_question
from benchmarks.systems import SYSTEMS, MemorySystem, RunContext, SystemOptions, SystemUnavailable
from benchmarks.systems.base import Hit, Progress
from benchmarks.systems.lightmem import LightMemSystem, hit_from
from langchain_lightmem.tokens import TokenCounter

DEFAULT_RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
DEFAULT_CACHE_DIR = REPO_ROOT / "benchmarks" / ".cache"
OFFLINE_SYSTEMS = (
    "full_text",
    "bm25",
    "dense",
    "langgraph_store",
    "lightmem_dense",
    "lightmem_lexical",
    "lightmem_llm_free",
    "lightmem_context",
    "lightmem_scripted",
    "mem0",
    "langmem",
)
PHASES = ("ingest", "consolidation", "query")
SCRIPTED_NOTE = (
    "LLM outputs are scripted for {systems} (a deterministic ScriptedChatModel answering every caller in its "
    "schema): call counts and input tokens are real measurements of each system's behaviour; output tokens, and "
    "the content of LLM-made memories, are not."
)
_WARM_UP_QUERY = "What did they talk about?"


@dataclass(slots=True)
class RunSpec:
    """Everything one run needs; picklable, so a worker process can receive it."""

    systems: list[str] = field(default_factory=lambda: list(OFFLINE_SYSTEMS))
    dataset: str = "locomo"
    data_path: str | None = None
    conversations: list[str] | None = None
    limit: int | None = None
    max_sessions: int | None = None
    questions: int | None = None
    categories: list[str] | None = None
    depth: int = 100
    ks: tuple[int, ...] = KS
    budgets: tuple[int, ...] = BUDGETS
    cache_dir: str = str(DEFAULT_CACHE_DIR)
    work_dir: str | None = None
    embedding_cache: bool = True
    isolate: bool = True
    options: SystemOptions = field(default_factory=SystemOptions)
    qa: bool = False
    qa_budget: int = 2000
    keep_work: bool = False
    progress: bool = True
    threads: int = 1
    protocols: tuple[str, ...] = ("batch",)
    agent_max_tokens: int = 1000
    embeddings: str = "minilm"
    """``minilm`` (every published number) or ``static`` (the 64-d test embedder: quick checks only)."""
    endpoint: Endpoint | None = None
    """The server endpoint systems and QA call (``None``: ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY``, if set)."""
    calls_dir: str | None = None
    """Where the per-call logs of real-model calls go (the results folder); ``None``: kept in the result only."""


def load_selection(spec: RunSpec) -> Dataset:
    """The data set, narrowed as the spec says."""
    data = load_dataset(spec.dataset, spec.data_path, categories=spec.categories)
    return select(
        data,
        conversations=spec.conversations,
        limit=spec.limit,
        max_sessions=spec.max_sessions,
        questions=spec.questions,
    )


def _rss_mb() -> float | None:
    """Current resident memory of this process (Linux ``/proc``), in MB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _set_threads(threads: int) -> None:
    """Torch threads for this process. One by default: on a small shared machine, two threads contending with
    other processes made single-text MiniLM calls 5-6x slower than one (measured while writing the harness)."""
    import torch

    torch.set_num_threads(threads)


def _phase(meter: Meter | None, name: str) -> Any:
    return meter.phase(name) if meter is not None else contextlib.nullcontext()


def _cost(meter: Meter | None, turns: int) -> dict[str, dict[str, float | int | None]]:
    usage = meter.usage() if meter is not None else {}
    out: dict[str, dict[str, float | int | None]] = {}
    for phase in PHASES:
        row = usage.get(phase)
        calls, tin, tout = (row.calls, row.input_tokens, row.output_tokens) if row else (0, 0, 0)
        out[phase] = {
            "calls": calls,
            "input_tokens": tin,
            "output_tokens": tout,
            "calls_per_1k_turns": per_thousand(calls, turns),
            "input_tokens_per_1k_turns": per_thousand(tin, turns),
            "output_tokens_per_1k_turns": per_thousand(tout, turns),
        }
    return out


def check_system(name: str, endpoint: Endpoint | None = None) -> str | None:
    """Why ``name`` cannot run here, or ``None`` when it can (``endpoint``: the run's; else the environment's)."""
    cls = SYSTEMS[name]
    try:
        cls.check_available()
    except SystemUnavailable as exc:
        return str(exc)
    if cls.llm == "endpoint" and (endpoint or resolve_endpoint()) is None:
        return "no endpoint configured (pass --endpoint local|URL, or set OPENAI_BASE_URL and/or OPENAI_API_KEY)"
    return None


def llm_label(cls: type[MemorySystem], endpoint: Endpoint | None) -> str:
    """What drives a system's LLM calls, for reports: ``none``, ``scripted`` or ``real model: <name> at <url>``."""
    if cls.llm == "endpoint":
        return f"real model: {endpoint.model} at {endpoint.base_url}" if endpoint else "real model (no endpoint)"
    return cls.llm


def _options_for(spec: RunSpec) -> SystemOptions:
    options = SystemOptions(**asdict(spec.options))
    if spec.dataset != "locomo" and options.mem0_protocol == "locomo":
        options.mem0_protocol = "pair"  # the speaker-side protocol needs two people
    return options


def check_protocol(name: str, protocol: str) -> str | None:
    """Why system ``name`` cannot run under ``protocol``, or ``None`` when it can."""
    if protocol not in PROTOCOLS:
        return f"unknown protocol {protocol!r}; use one of {', '.join(PROTOCOLS)}"
    if protocol in AGENT_PROTOCOLS and not issubclass(SYSTEMS[name], LightMemSystem):
        return f"the {protocol} protocol drives LightMem through LightMemMiddleware; {name} has no middleware"
    return None


def _head(name: str, protocol: str, endpoint: Endpoint | None = None) -> dict[str, Any]:
    cls = SYSTEMS[name]
    return {
        "system": name,
        "protocol_name": protocol,
        "summary": cls.summary,
        "llm": cls.llm,
        "llm_label": llm_label(cls, endpoint),
    }


def calls_log_name(name: str, protocol: str) -> str:
    """``calls-<system>.jsonl`` (batch) or ``calls-<system>-<protocol>.jsonl``: one per result."""
    return f"calls-{name}.jsonl" if protocol == "batch" else f"calls-{name}-{protocol}.jsonl"


def run_system(spec: RunSpec, name: str, protocol: str = "batch") -> dict[str, Any]:
    """Run one system over the selection under ``protocol`` and return its result (``skipped`` / ``error`` when it
    did not run)."""
    reason = check_protocol(name, protocol) or check_system(name, spec.endpoint)
    if reason:
        return {**_head(name, protocol, spec.endpoint), "skipped": reason}
    try:
        return _run_system(spec, SYSTEMS[name], protocol)
    except Exception as exc:  # one broken system must not sink the run: the report shows it
        return {
            **_head(name, protocol, spec.endpoint),
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(limit=8),
        }


def _run_system(spec: RunSpec, cls: type[MemorySystem], protocol: str) -> dict[str, Any]:
    from langchain_lightmem.models import offline_environment

    offline_environment()
    _set_threads(spec.threads)
    data = load_selection(spec)
    run = _SystemRun(spec, cls, protocol)
    label = cls.name if protocol == "batch" else f"{cls.name} {protocol}"
    bar_ingest = tqdm(total=data.turns, desc=f"{label} ingest", unit="turn", disable=not spec.progress)
    bar_query = tqdm(total=len(data.questions), desc=f"{label} query", unit="q", disable=not spec.progress)
    try:
        with bar_ingest, bar_query:
            for conv in data.conversations:
                run.conversation(conv, bar_ingest.update, bar_query.update)
        return run.result()
    finally:
        if run.calls is not None:
            run.calls.close()


class _SystemRun:
    """One system over the selected conversations: the work per conversation, and the running totals."""

    def __init__(self, spec: RunSpec, cls: type[MemorySystem], protocol: str = "batch") -> None:
        from langchain_lightmem.models import load_embeddings

        self.spec, self.cls, self.protocol_name = spec, cls, protocol
        cache_dir = Path(spec.cache_dir)
        self.embeddings: Any = None
        if cls.needs_embeddings:
            from langchain_lightmem.config import EmbeddingConfig

            self.embeddings = load_embeddings(EmbeddingConfig(backend=spec.embeddings))
            if spec.embedding_cache:
                self.embeddings = DiskCachedEmbeddings(self.embeddings, cache_dir / "embeddings")
        # Real-model calls (the system's, QA's) are logged one per line; scripted ones are not worth a line each.
        self.calls: CallLog | None = None
        endpoint = spec.endpoint
        if cls.llm == "endpoint" or (spec.qa and endpoint is not None):
            path = Path(spec.calls_dir) / calls_log_name(cls.name, protocol) if spec.calls_dir else None
            self.calls = CallLog(path)
        fields = {"system": cls.name, "protocol": protocol}
        model: BaseChatModel | None = None
        self.meter: Meter | None = None
        if cls.llm != "none":
            model, self.meter = build_chat_model(cls.llm, endpoint=endpoint, log=self.calls, fields=fields)
        self.counter = TokenCounter()
        self.ctx = RunContext(self.embeddings, model, self.counter, _options_for(spec), cache_dir)
        self.qa: Any = None
        if spec.qa and endpoint is not None:
            from benchmarks.qa import QAEvaluator

            self.qa = QAEvaluator(spec.dataset, endpoint, log=self.calls, fields=fields)
        self.usage_records: list[dict[str, Any]] = []
        # One folder per (system, protocol): Chroma keeps a client per path for the life of the process, so a
        # folder deleted and made again in the same process would be written through a stale, read-only handle.
        folder = cls.name if protocol == "batch" else f"{cls.name}-{protocol}"
        self.work_root = Path(spec.work_dir or tempfile.mkdtemp(prefix="lightmem-bench-")) / folder
        self.baseline_rss = _rss_mb()
        self.records: list[dict[str, Any]] = []
        self.conversations: list[dict[str, Any]] = []
        self.latencies: list[float] = []
        self.stages: Counter[str] = Counter()
        self.turns = 0
        self.ingest_seconds = self.consolidation_seconds = 0.0
        self.consolidation_available = False
        self.memories = self.memory_tokens = 0
        self.disk: int | None = 0
        self.protocol = ""
        self.replies = 0
        self.asked: Counter[str] = Counter()

    def _meters(self) -> list[CallbackMeter]:
        meters = [self.meter] if isinstance(self.meter, CallbackMeter) else []
        return meters + (self.qa.meters if self.qa is not None else [])

    def conversation(self, conv: Conversation, ingested: Progress, answered: Callable[[int], Any]) -> None:
        """Feed ``conv`` to a fresh system under this run's protocol, measure it, ask every question."""
        for meter in self._meters():
            meter.fields["conversation"] = conv.id
        if self.protocol_name == "batch":
            self._batch(conv, ingested, answered)
        else:
            self._agent(conv, ingested, answered)

    def _batch(self, conv: Conversation, ingested: Progress, answered: Callable[[int], Any]) -> None:
        """Build the system for ``conv`` in a fresh folder, ingest, consolidate, measure, ask every question."""
        workdir = self.work_root / conv.id
        shutil.rmtree(workdir, ignore_errors=True)
        system = self.cls(self.ctx, conv, workdir)
        self.protocol = system.protocol
        try:
            started = time.perf_counter()
            with _phase(self.meter, "ingest"):
                system.ingest(ingested)
            seconds = time.perf_counter() - started
            self.turns += len(conv.turns)
            self.ingest_seconds += seconds
            self.stages.update(system.stage_seconds())
            started = time.perf_counter()
            with _phase(self.meter, "consolidation"):
                if system.consolidate():
                    self.consolidation_available = True
                    self.consolidation_seconds += time.perf_counter() - started
            texts = system.memories()
            self.memories += len(texts)
            self.memory_tokens += sum(self.counter.count_many(texts))
            size = system.disk_bytes()
            self.disk = None if size is None or self.disk is None else self.disk + size
            self.usage_records.append(system.usage_records())
            session_of = {t.id: t.session for t in conv.turns}
            # Questions are asked after the conversation: LongMemEval gives their date, LoCoMo's last session's.
            last_date = conv.sessions[-1].date if conv.sessions else None
            with _phase(self.meter, "query"):
                system.search(_WARM_UP_QUERY, self.spec.depth)  # first-query costs (caches, lazy loads) excluded
                for question in conv.questions:
                    self.records.append(self._ask(system, question, session_of, question.date or last_date))
                    answered(1)
            self.conversations.append(
                {"id": conv.id, "turns": len(conv.turns), "questions": len(conv.questions), "ingest_seconds": seconds}
            )
        finally:
            with contextlib.suppress(Exception):
                system.close()
            if not self.spec.keep_work:
                shutil.rmtree(workdir, ignore_errors=True)

    def _agent(self, conv: Conversation, ingested: Progress, answered: Callable[[int], Any]) -> None:
        """Feed ``conv`` turn by turn (:mod:`benchmarks.agent`), asking each question when it first can be."""
        spec = self.spec
        workdir = self.work_root / conv.id
        shutil.rmtree(workdir, ignore_errors=True)
        system = self.cls(self.ctx, conv, workdir)
        assert isinstance(system, LightMemSystem)  # check_protocol let only LightMem through
        memory = system.open_memory()
        feed = build_feed(
            self.protocol_name,
            memory,
            conv,
            k=spec.depth,
            max_tokens=spec.agent_max_tokens,
            middleware_options=system.middleware_options(),
        )
        packing = ", packed context" if system.middleware_options().get("packing") else ""
        self.protocol = (
            f"{describe(self.protocol_name, spec.agent_max_tokens)}; search: retrieval "
            f"{memory.config.retrieval.mode}{packing}"
        )
        schedule = ask_schedule(conv)
        session_of = {t.id: t.session for t in conv.turns}
        points: list[AskingPoint] = []
        seconds = 0.0
        try:
            for index in range(len(conv.sessions) + 1):
                started = time.perf_counter()
                with _phase(self.meter, "ingest"):
                    feed.idle()
                seconds += time.perf_counter() - started
                due = schedule.get(index, [])
                before = conv.sessions[index].id if index < len(conv.sessions) else END
                # Asked as the first message of the session (or after the last one): "now" is that session's date.
                asked_at = conv.sessions[min(index, len(conv.sessions) - 1)].date
                if due:
                    fed = sum(len(s.turns) for s in conv.sessions[:index])
                    points.append(AskingPoint(before, len(due), fed, feed.turns_written()))
                    ask = functools.partial(_recall_at, feed, asked_at)
                    with _phase(self.meter, "query"):
                        for question in due:
                            record = self._score(question, session_of, ask)
                            record["asked_before"] = before
                            self.records.append(record)
                            self.asked["after_last_session" if before == END else "at_session_start"] += 1
                            answered(1)
                if index < len(conv.sessions):
                    started = time.perf_counter()
                    with _phase(self.meter, "ingest"):
                        feed.session(conv.sessions[index], ingested)
                    seconds += time.perf_counter() - started
            with _phase(self.meter, "ingest"):
                feed.close()  # the app shuts down: the middleware extracts what its threads left open
            self.turns += len(conv.turns)
            self.ingest_seconds += seconds
            self.stages.update(system.stage_seconds())
            self.replies += feed.replies
            self.usage_records.append(system.usage_records())
            texts = system.memories()
            self.memories += len(texts)
            self.memory_tokens += sum(self.counter.count_many(texts))
            size = system.disk_bytes()
            self.disk = None if size is None or self.disk is None else self.disk + size
            self.conversations.append(
                {
                    "id": conv.id,
                    "turns": len(conv.turns),
                    "questions": len(conv.questions),
                    "ingest_seconds": seconds,
                    "asking_points": [p.as_dict() for p in points],
                }
            )
        finally:
            with contextlib.suppress(Exception):
                feed.close()
            with contextlib.suppress(Exception):
                system.close()
            if not spec.keep_work:
                shutil.rmtree(workdir, ignore_errors=True)

    def _ask(
        self, system: MemorySystem, question: Question, session_of: dict[str, str], asked: datetime | None
    ) -> dict[str, Any]:
        return self._score(
            question,
            session_of,
            lambda text: system.search_at(text, self.spec.depth, reference_time=asked),
            everything=getattr(system, "all_hits", None),
        )

    def _score(
        self,
        question: Question,
        session_of: dict[str, str],
        search: Callable[[str], list[Hit]],
        *,
        everything: Any = None,
    ) -> dict[str, Any]:
        """Ask ``question`` through ``search``, time it, score the hits by provenance (and QA with an endpoint)."""
        spec = self.spec
        started = time.perf_counter()
        hits = search(question.text)
        self.latencies.append(time.perf_counter() - started)
        # The agent protocols' hits are what the middleware injects (within its max_tokens): larger budgets do
        # not apply to them.
        budgets = spec.budgets
        if self.protocol_name in AGENT_PROTOCOLS:
            budgets = tuple(b for b in spec.budgets if b <= spec.agent_max_tokens)
        record = score_question(
            hits,
            question.evidence,
            token_counts=self.counter.count_many([h.text for h in hits]),
            answer=question.answer,
            evidence_sessions=question.evidence_sessions,
            session_of=session_of,
            ks=spec.ks,
            budgets=budgets,
        )
        record.update(id=question.id, category=question.category, scorable=question.scorable)
        if self.qa is not None:
            if callable(everything):  # full text: the whole conversation, in order
                context = "\n".join(h.text for h in reversed(everything()))
            elif self.protocol_name in AGENT_PROTOCOLS:  # what the middleware injects
                context = "\n".join(h.text for h in hits)
            else:
                fit = score_question(
                    hits,
                    (),
                    token_counts=self.counter.count_many([h.text for h in hits]),
                    ks=(),
                    budgets=(spec.qa_budget,),
                )[f"hits@budget{spec.qa_budget}"]
                context = "\n".join(h.text for h in hits[:fit])
            # Full text is in conversation order: if it must be cut to the model's window, its oldest lines go.
            verdict = self.qa.evaluate(question, context, keep="end" if callable(everything) else "start")
            record.update(
                qa_correct=None if verdict.correct is None else float(verdict.correct),
                qa_answer=verdict.answer,
                qa_error=verdict.error,
                qa_context_lines_dropped=verdict.dropped_lines,
            )
        return record

    def result(self) -> dict[str, Any]:
        cls, spec, turns = self.cls, self.spec, self.turns
        scored = [r for r in self.records if r["scorable"]]
        cache = self.embeddings if isinstance(self.embeddings, DiskCachedEmbeddings) else None
        result: dict[str, Any] = {
            **_head(cls.name, self.protocol_name, spec.endpoint),
            "protocol": self.protocol,
            "conversations": self.conversations,
            "turns": turns,
            "questions": len(self.records),
            "scored_questions": len(scored),
            "cost": _cost(self.meter, turns),
            "retrieval": aggregate(_metrics_only(r) for r in scored),
            "by_category": by_category(_metrics_only(r) | {"category": r["category"]} for r in scored),
            "speed": {
                "ingest_seconds": self.ingest_seconds,
                "turns_per_second": turns / self.ingest_seconds if self.ingest_seconds else None,
                "stages": {
                    stage: {"seconds": s, "turns_per_second": turns / s if s else None}
                    for stage, s in sorted(self.stages.items())
                },
                "search_ms": latency_summary(self.latencies),
                "consolidation": {
                    "available": self.consolidation_available,
                    "seconds": self.consolidation_seconds if self.consolidation_available else None,
                },
            },
            "footprint": {
                "memories": self.memories,
                "memory_tokens": self.memory_tokens,
                "disk_bytes": self.disk,
                "baseline_rss_mb": self.baseline_rss,
                "peak_rss_mb": _peak_rss_mb(),
                "rss_scope": "process of this system" if spec.isolate else "whole harness process (not isolated)",
            },
            "embedding_cache": {"hits": cache.hits, "misses": cache.misses} if cache else None,
            "qa": self._qa_result(),
            "records": self.records,
        }
        if self.calls is not None:
            result["calls"] = {
                "log": str(self.calls.path) if self.calls.path else None,
                "by_phase": summarise(self.calls.records),
            }
        if any(self.usage_records):
            result["usage_records"] = _sum_usage(self.usage_records)
        if self.protocol_name in AGENT_PROTOCOLS:
            points = [p for c in self.conversations for p in c["asking_points"]]
            result["agent"] = {
                "max_tokens": spec.agent_max_tokens,
                "asked": {
                    "at_session_start": self.asked["at_session_start"],
                    "after_last_session": self.asked["after_last_session"],
                },
                "written_when_asked": _written_share(points),
                "agent_replies": self.replies,
            }
        if cache:
            cache.close()
        return result

    def _qa_result(self) -> dict[str, Any] | None:
        if self.qa is None:
            return None
        judged = [r["qa_correct"] for r in self.records if r.get("qa_correct") is not None]
        return {
            "accuracy": sum(judged) / len(judged) if judged else None,
            "judged": len(judged),
            "correct": int(sum(judged)),
            **self.qa.usage(),
        }


def _metrics_only(record: dict[str, Any]) -> dict[str, Any]:
    """A record's retrieval metrics (QA fields are summarised apart: see ``_qa_result``)."""
    skip = ("id", "category", "scorable", "asked_before")
    return {k: v for k, v in record.items() if k not in skip and not k.startswith("qa_")}


def _sum_usage(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A system's own usage records, summed over conversations."""
    stages: dict[str, Counter[str]] = {}
    batches: Counter[str] = Counter()
    methods: Counter[str] = Counter()
    for row in rows:
        for stage, usage in row.get("stages", {}).items():
            stages.setdefault(stage, Counter()).update(usage)
        batches.update(row.get("batches", {}))
        methods.update(row.get("memories_by_method", {}))
    return {
        "stages": {stage: dict(values) for stage, values in stages.items()},
        "batches": dict(batches),
        "memories_by_method": dict(methods),
    }


def _written_share(points: list[dict[str, Any]]) -> float | None:
    """The share of the turns fed so far that were in long-term memory when questions were asked, weighted by the
    questions asked at each point (``None`` when none was asked)."""
    asked = sum(p["questions"] for p in points)
    if not asked:
        return None
    return sum(p["questions"] * p["turns_written"] / max(p["turns_fed"], 1) for p in points) / asked


def _recalled(results: list[Any]) -> list[Hit]:
    return [hit_from(r) for r in results]


def _worker(spec: RunSpec, name: str, protocol: str, out: str) -> None:
    Path(out).write_text(json.dumps(run_system(spec, name, protocol)))


def _run_isolated(spec: RunSpec, name: str, protocol: str) -> dict[str, Any]:
    if reason := check_protocol(name, protocol):  # no process for a pair that cannot run
        return {**_head(name, protocol, spec.endpoint), "skipped": reason}
    with tempfile.TemporaryDirectory(prefix="lightmem-bench-") as tmp:
        out = Path(tmp) / "result.json"
        process = multiprocessing.get_context("spawn").Process(target=_worker, args=(spec, name, protocol, str(out)))
        process.start()
        process.join()
        if out.exists():
            return dict(json.loads(out.read_text()))
        return {
            **_head(name, protocol, spec.endpoint),
            "error": f"worker process exited with code {process.exitcode} before writing a result",
        }


def machine(threads: int) -> dict[str, Any]:
    """What the numbers were measured on."""
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "torch_threads": threads,
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
    }


def run(spec: RunSpec, *, command: str = "") -> dict[str, Any]:
    """Run every system of ``spec`` (each in its own process when ``isolate``) and return the result document.

    Raises:
        DataNotFoundError: the data file is missing.
        ValueError: an unknown system or conversation.
        EndpointUnreachable: an endpoint system or QA needs the endpoint, and it does not answer.
    """
    unknown = [s for s in spec.systems if s not in SYSTEMS]
    if unknown:
        raise ValueError(f"unknown system(s) {', '.join(unknown)}; known: {', '.join(SYSTEMS)}")
    unknown = [p for p in spec.protocols if p not in PROTOCOLS]
    if unknown or not spec.protocols:
        raise ValueError(f"unknown protocol(s) {', '.join(unknown) or '(none given)'}; use {', '.join(PROTOCOLS)}")
    data = load_selection(spec)  # fail early on missing data or bad ids
    endpoint = spec.endpoint or resolve_endpoint()
    if endpoint is not None and (spec.qa or any(SYSTEMS[n].llm == "endpoint" for n in spec.systems)):
        endpoint = probe(endpoint)  # fail early, in one line, when the server does not answer
    if not spec.isolate:
        _set_threads(spec.threads)
    started = time.perf_counter()
    work_dir = spec.work_dir or tempfile.mkdtemp(prefix="lightmem-bench-")
    spec_run = replace(spec, work_dir=work_dir, endpoint=endpoint)
    results = []
    try:
        for name in spec.systems:
            for protocol in spec.protocols:
                system_started = time.perf_counter()
                if spec.isolate:
                    result = _run_isolated(spec_run, name, protocol)
                else:
                    result = run_system(spec_run, name, protocol)
                result["wall_seconds"] = time.perf_counter() - system_started
                results.append(result)
                status = result.get("skipped") or result.get("error") or f"done in {result['wall_seconds']:.0f} s"
                label = name if protocol == "batch" else f"{name} ({protocol})"
                print(f"[benchmarks] {label}: {status}", file=sys.stderr, flush=True)
    finally:
        if spec.work_dir is None and not spec.keep_work:
            shutil.rmtree(work_dir, ignore_errors=True)
    notes = llm_notes(spec_run)
    if spec.embedding_cache:
        notes.append(
            "Embeddings came from the on-disk cache where present (see embedding_cache hits): ingestion speeds of "
            "systems with cache hits are warm-cache speeds. Run with --no-embedding-cache for cold speeds."
        )
    return {
        "dataset": spec.dataset,
        "data_path": str(data.path),
        "command": command,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "wall_seconds": time.perf_counter() - started,
        "machine": machine(spec.threads),
        "spec": asdict(spec_run),
        "selection": {
            "conversations": [c.id for c in data.conversations],
            "turns": data.turns,
            "sessions": sum(len(c.sessions) for c in data.conversations),
            "questions": len(data.questions),
            "scorable_questions": sum(q.scorable for q in data.questions),
            "evidence_fixed": data.evidence_fixed,
            "evidence_dropped": data.evidence_dropped,
        },
        "notes": notes,
        "systems": results,
    }


def _recall_at(feed: Any, when: Any, question: str) -> list[Hit]:
    """What the agent's middleware would inject for ``question`` sent at ``when``, as harness hits."""
    return _recalled(feed.recall(question, reference_time=when))


def llm_notes(spec: RunSpec) -> list[str]:
    """What drove the LLM calls of this run, for the report: which systems had scripted outputs, which a real
    model (name, server), and what the QA accuracy is (and is not) comparable with."""
    notes = []
    scripted = [n for n in spec.systems if SYSTEMS[n].llm == "scripted"]
    real = [n for n in spec.systems if SYSTEMS[n].llm == "endpoint"]
    endpoint = spec.endpoint
    if scripted:
        notes.append(SCRIPTED_NOTE.format(systems=", ".join(scripted)))
    if real and endpoint is not None:
        notes.append(
            f"{', '.join(real)}: {endpoint.label}. Its outputs, output tokens and memories are the model's own; "
            f"every call is logged ({', '.join(calls_log_name(n, p) for n in real for p in spec.protocols)}); "
            f"per call: {endpoint.timeout:g} s timeout, {endpoint.max_retries} client retries, at most "
            f"{endpoint.max_output_tokens or 'unlimited'} answer tokens."
        )
    if any(p != "batch" for p in spec.protocols):
        notes.append('Agent protocols: the agent\'s own replies are a scripted "OK." (never memory content).')
    if spec.qa and endpoint is None:
        notes.append("QA accuracy was requested but no endpoint is configured: skipped.")
    elif spec.qa and endpoint is not None:
        text = f"QA accuracy: answers by {endpoint.model}, judged by {endpoint.judge_model}, at {endpoint.base_url}"
        text += f" ({endpoint.server})" if endpoint.server else ""
        if endpoint.context_window:
            text += f"; prompts fitted to a {endpoint.context_window:,}-token context"
        if endpoint.local:
            text += (
                ". A small-model plumbing number, not comparable to published accuracy (published numbers use "
                f"{PUBLISHED_MODEL} to answer and to judge)."
            )
        elif endpoint.model != PUBLISHED_MODEL or endpoint.judge_model != PUBLISHED_MODEL:
            text += f". Not comparable to published accuracy (published numbers use {PUBLISHED_MODEL})."
        else:
            text += "."
        notes.append(text)
    return notes
