"""Turning a result document into files: ``results.json``, ``results.md`` (tables) and PNG plots.

Example:
    .. code-block:: python

        from benchmarks.report import write_report

        paths = write_report(doc, "benchmarks/results/locomo-dev8")
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.data import LOCOMO_CATEGORIES

GOAL_CALLS_RATIO = 1 / 50
GOAL_TOKENS_RATIO = 1 / 20
GOAL_MINUTES = 30.0


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 100:
            return f"{value:.0f}"
        return f"{value:.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _ran(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in doc["systems"] if "skipped" not in s and "error" not in s]


def protocol_of(s: dict[str, Any]) -> str:
    """``batch``, ``agent`` or ``agent_flushed`` (results written before the agent protocol are batch)."""
    return str(s.get("protocol_name", "batch"))


def label(s: dict[str, Any]) -> str:
    """A result's row name: the system, and its protocol unless batch."""
    protocol = protocol_of(s)
    return s["system"] if protocol == "batch" else f"{s['system']} ({protocol})"


def _batch(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in results if protocol_of(s) == "batch"]


def llm_of(s: dict[str, Any]) -> str:
    """What drove a result's LLM calls: ``none``, ``scripted`` or ``real model: <name> at <url>``."""
    return str(s.get("llm_label") or s["llm"])


def _cost(s: dict[str, Any], phase: str, key: str) -> Any:
    return s["cost"][phase][key]


def category_label(dataset: str, category: str) -> str:
    if dataset == "locomo":
        return f"{category} {LOCOMO_CATEGORIES.get(category, '')}".strip()
    return category


def goals(doc: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """The issue's goals checked on this run: (goal, target, measured, verdict). Empty when they do not apply."""
    by_name = {s["system"]: s for s in _batch(_ran(doc))}
    rows: list[tuple[str, str, str, str]] = []
    light, mem0 = by_name.get("lightmem_scripted"), by_name.get("mem0")
    if light and mem0:
        for label, key, target in (
            ("construction calls, LightMem / mem0", "calls", GOAL_CALLS_RATIO),
            ("construction input tokens, LightMem / mem0", "input_tokens", GOAL_TOKENS_RATIO),
        ):
            ours, theirs = _cost(light, "ingest", key), _cost(mem0, "ingest", key)
            if theirs:
                ratio = ours / theirs
                verdict = "met" if ratio <= target else "not met"
                rows.append((label, f"≤ 1/{round(1 / target)}", f"{ours:,} / {theirs:,} = 1/{1 / ratio:.1f}", verdict))
    floors = [by_name[n]["retrieval"].get("recall@budget1000") for n in ("bm25", "dense") if n in by_name]
    floors = [f for f in floors if f is not None]
    if floors:
        best = max(floors)
        for name in ("lightmem_llm_free", "lightmem_scripted"):
            if name in by_name:
                ours = by_name[name]["retrieval"].get("recall@budget1000")
                verdict = "met" if ours is not None and ours >= best else "not met"
                rows.append(
                    (
                        f"{name} recall within 1,000 tokens",
                        f"≥ best raw-turn baseline ({best:.3f})",
                        _fmt(ours),
                        verdict,
                    )
                )
    timed = [s.get("wall_seconds", 0.0) for s in _batch(doc["systems"]) if s["system"] != "lightmem_endpoint"]
    if timed:
        minutes = sum(timed) / 60
        rows.append(
            (
                "run time, all systems but the endpoint (batch protocol)",
                f"< {GOAL_MINUTES:.0f} min",
                f"{minutes:.1f} min",
                "met" if minutes < GOAL_MINUTES else "not met",
            )
        )
    return rows


def agent_section(doc: dict[str, Any]) -> list[str]:
    """The agent protocols beside the batch protocol, per system: recall within the middleware's budget, the
    construction calls, when questions were asked and how much of the conversation was in long-term memory then.
    Empty when no agent protocol ran."""
    ran = _ran(doc)
    agents = [s for s in ran if protocol_of(s) != "batch"]
    if not agents:
        return []
    batch = {s["system"]: s for s in _batch(ran)}
    budget = agents[0]["agent"]["max_tokens"]
    described = next((s.get("protocol", "") for s in agents if protocol_of(s) == "agent"), "not run")
    key = f"recall@budget{budget}"
    rows = []
    for s in agents:
        base = batch.get(s["system"])
        asked = s["agent"]["asked"]
        rows.append(
            [
                label(s),
                base["retrieval"].get(key) if base else None,
                s["retrieval"].get(key),
                s["retrieval"].get(f"all@budget{budget}"),
                s["retrieval"].get(f"answer@budget{budget}"),
                s["retrieval"].get(f"hits@budget{budget}"),
                s["agent"]["written_when_asked"],
                f"{asked['at_session_start']:,} / {asked['after_last_session']:,}",
                _cost(base, "ingest", "calls_per_1k_turns") if base else None,
                _cost(s, "ingest", "calls_per_1k_turns"),
            ]
        )
    out = [
        "",
        "## Agent protocol beside the batch protocol",
        "",
        f"Agent protocol: {described}. Recall within {budget:,} tokens is scored on what "
        "LightMemMiddleware would inject (`middleware.recall`) when each question is first answerable; the batch "
        "protocol asks every question after the whole conversation, flushed. `agent_flushed` is the agent "
        "protocol's reference: the same schedule and recall, over memory flushed after every session.",
        "",
        _table(
            [
                "system",
                f"batch recall ≤{budget}",
                f"recall ≤{budget}",
                f"all ≤{budget}",
                f"answer in ≤{budget}",
                f"hits in ≤{budget}",
                "turns in long-term memory when asked",
                "asked at session starts / after the last",
                "batch construction calls / 1k turns",
                "construction calls / 1k turns",
            ],
            rows,
        ),
    ]
    checks = []
    for s in (a for a in agents if protocol_of(a) == "agent"):
        base = batch.get(s["system"])
        if base is None:
            continue
        ours, theirs = s["retrieval"].get(key), base["retrieval"].get(key)
        if ours is not None and theirs is not None:
            verdict = "met" if ours >= theirs else "not met"
            checks.append((f"{s['system']}: agent recall ≤{budget}", f"≥ batch ({theirs:.3f})", f"{ours:.3f}", verdict))
        ours, theirs = _cost(s, "ingest", "calls_per_1k_turns"), _cost(base, "ingest", "calls_per_1k_turns")
        if ours is not None and theirs is not None:
            verdict = "met" if ours <= theirs else "not met"
            checks.append(
                (
                    f"{s['system']}: agent construction calls / 1k turns",
                    f"≤ batch ({theirs:.1f})",
                    f"{ours:.1f}",
                    verdict,
                )
            )
    if checks:
        out += ["", "### Goals (issue 16)", "", _table(["goal", "target", "measured", "verdict"], checks)]
    return out


def qa_section(doc: dict[str, Any]) -> list[str]:
    """QA accuracy per system with how many questions were judged, failed, or had their context cut to the
    model's window, and the answer/judge calls; the run's QA note (model, judge, comparability) above it. Empty
    without QA."""
    ran = [s for s in _ran(doc) if s.get("qa")]
    if not ran:
        return []
    note = next((n for n in doc["notes"] if n.startswith("QA accuracy")), "")
    rows = [
        [
            label(s),
            s["qa"].get("accuracy"),
            f"{s['qa'].get('correct', 0):,} / {s['qa'].get('judged', 0):,}",
            s["qa"].get("failures"),
            s["qa"].get("contexts_trimmed"),
            s["qa"].get("answer_calls"),
            s["qa"].get("judge_calls"),
        ]
        for s in ran
    ]
    return [
        "",
        "## QA accuracy",
        "",
        note,
        "",
        _table(
            [
                "system",
                "accuracy",
                "correct / judged",
                "failed calls",
                "contexts cut to the window",
                "answer calls",
                "judge calls",
            ],
            rows,
        ),
    ]


def calls_section(doc: dict[str, Any]) -> list[str]:
    """The real-model calls per system and phase, from the per-call log, and what LightMem's own usage records
    say beside them. Empty when no result has a call log."""
    ran = [s for s in _ran(doc) if s.get("calls")]
    if not ran:
        return []
    rows = []
    for s in ran:
        for phase, row in s["calls"]["by_phase"].items():
            secs = row["seconds"]
            rows.append(
                [
                    label(s),
                    phase,
                    row["calls"],
                    row["failed"],
                    row["prompt_tokens"],
                    row["answer_tokens"],
                    secs["total"],
                    secs["p50"],
                    secs["p95"],
                    secs["max"],
                    ", ".join(f"{k} {v}" for k, v in sorted(row["methods"].items())),
                    row["finish_reasons"].get("length", 0),
                    row["facts"],
                    row["citations"],
                    row["uncited_facts"],
                ]
            )
    out = [
        "",
        "## Real-model calls",
        "",
        "One line per call in each system's `calls-*.jsonl` (phase, prompt and answer tokens, seconds, method, "
        "facts and citations read from the answer). Failed calls (timeouts, server errors) count in `calls` and "
        "`failed`, not in tokens; `cut at cap` counts answers that hit the output cap.",
        "",
        _table(
            [
                "system",
                "phase",
                "calls",
                "failed",
                "prompt tok",
                "answer tok",
                "seconds",
                "p50 s",
                "p95 s",
                "max s",
                "methods",
                "cut at cap",
                "facts",
                "citations",
                "uncited facts",
            ],
            rows,
        ),
    ]
    for s in ran:
        records = s.get("usage_records")
        if not records:
            continue
        stages = "; ".join(
            f"{stage} {u['calls']:,} calls, {u['input_tokens']:,} in / {u['output_tokens']:,} out tokens, "
            f"{u['seconds']:.1f} s"
            for stage, u in sorted(records["stages"].items())
        )
        made = ", ".join(f"{k} {v:,}" for k, v in sorted(records["memories_by_method"].items()))
        batches = ", ".join(f"{k} {v:,}" for k, v in sorted(records["batches"].items()))
        out += [
            "",
            f"{label(s)}, LightMem's own usage records: {stages or 'no LLM calls'}; batches: {batches or '–'}; "
            f"memories by method: {made or '–'}.",
        ]
    return out


def markdown(doc: dict[str, Any]) -> str:
    """The result document as markdown tables (cost, retrieval, speed and footprint, categories, stages, goals)."""
    sel = doc["selection"]
    ran = _ran(doc)
    dataset = doc["dataset"]
    out = [
        f"# {dataset}: {len(sel['conversations'])} conversation(s), {sel['turns']:,} turns, "
        f"{sel['scorable_questions']:,} scored questions",
        "",
        f"Command: `{doc['command']}`" if doc.get("command") else "",
        f"Machine: {doc['machine']['platform']}, {doc['machine']['cpus']} CPUs, {doc['machine']['memory_gb']} GB, "
        f"Python {doc['machine']['python']}, torch threads {doc['machine']['torch_threads']}. "
        f"Wall time {doc['wall_seconds'] / 60:.1f} min.",
        "",
        *[f"> {note}" for note in doc["notes"]],
        "",
        "## Cost per 1,000 ingested turns",
        "",
        _table(
            [
                "system",
                "LLM",
                "protocol",
                "ingest calls",
                "ingest input tok",
                "ingest output tok",
                "consolidation calls",
                "consolidation input tok",
                "query calls",
            ],
            [
                [
                    label(s),
                    llm_of(s),
                    s.get("protocol") or "",
                    _cost(s, "ingest", "calls_per_1k_turns"),
                    _cost(s, "ingest", "input_tokens_per_1k_turns"),
                    _cost(s, "ingest", "output_tokens_per_1k_turns"),
                    _cost(s, "consolidation", "calls_per_1k_turns"),
                    _cost(s, "consolidation", "input_tokens_per_1k_turns"),
                    _cost(s, "query", "calls_per_1k_turns"),
                ]
                for s in ran
            ],
        ),
        "",
        "## Retrieval against evidence",
        "",
    ]
    if dataset == "longmemeval":
        metric_cols = ["any@5", "any@10", "all@10", "session_any@10", "session_all@10", "mrr"]
    else:
        metric_cols = ["recall@5", "recall@10", "all@10", "mrr"]
    budget_cols = [f"recall@budget{b}" for b in doc["spec"]["budgets"]]
    out.append(
        _table(
            [
                "system",
                *metric_cols,
                *[f"recall ≤{b}" for b in doc["spec"]["budgets"]],
                "all ≤1000",
                "answer in ≤1000",
                "hits in ≤1000",
                "turns cited per hit",
                "QA accuracy",
            ],
            [
                [
                    label(s),
                    *[s["retrieval"].get(c) for c in metric_cols],
                    *[s["retrieval"].get(c) for c in budget_cols],
                    s["retrieval"].get("all@budget1000"),
                    s["retrieval"].get("answer@budget1000"),
                    s["retrieval"].get("hits@budget1000"),
                    s["retrieval"].get("sources_per_hit"),
                    (s.get("qa") or {}).get("accuracy"),
                ]
                for s in ran
            ],
        )
    )
    categories = sorted({c for s in ran for c in s["by_category"]})
    if categories:
        counts = {c: max(int(s["by_category"].get(c, {}).get("n", 0)) for s in ran) for c in categories}
        out += [
            "",
            "## Recall within 1,000 tokens, per category",
            "",
            _table(
                ["system", *[f"{category_label(dataset, c)} (n={counts[c]})" for c in categories]],
                [[label(s), *[s["by_category"].get(c, {}).get("recall@budget1000") for c in categories]] for s in ran],
            ),
        ]
    out += [
        "",
        "## Speed and footprint",
        "",
        _table(
            [
                "system",
                "ingest turns/s",
                "search p50 ms",
                "search p95 ms",
                "consolidation s",
                "memories",
                "memory tokens",
                "disk MB",
                "peak RSS MB",
                "embedding cache hits / misses",
            ],
            [
                [
                    label(s),
                    s["speed"]["turns_per_second"],
                    s["speed"]["search_ms"]["p50"],
                    s["speed"]["search_ms"]["p95"],
                    s["speed"]["consolidation"]["seconds"]
                    if s["speed"]["consolidation"]["available"]
                    else "not available",
                    s["footprint"]["memories"],
                    s["footprint"]["memory_tokens"],
                    None if s["footprint"]["disk_bytes"] is None else s["footprint"]["disk_bytes"] / 2**20,
                    s["footprint"]["peak_rss_mb"],
                    f"{s['embedding_cache']['hits']:,} / {s['embedding_cache']['misses']:,}"
                    if s.get("embedding_cache")
                    else "off",
                ]
                for s in ran
            ],
        ),
    ]
    staged = [s for s in ran if s["speed"]["stages"]]
    if staged:
        out += [
            "",
            "## Ingestion stages (LightMem)",
            "",
            _table(
                ["system", "stage", "seconds", "turns/s"],
                [
                    [label(s), stage, row["seconds"], row["turns_per_second"]]
                    for s in staged
                    for stage, row in s["speed"]["stages"].items()
                ],
            ),
        ]
    out += qa_section(doc)
    out += calls_section(doc)
    out += agent_section(doc)
    goal_rows = goals(doc) if dataset == "locomo" else []
    if goal_rows:
        out += ["", "## Goals (issue 6)", "", _table(["goal", "target", "measured", "verdict"], goal_rows)]
    others = [s for s in doc["systems"] if "skipped" in s or "error" in s]
    if others:
        out += ["", "## Not run", ""]
        out += [f"- **{label(s)}**: {s.get('skipped') or 'error: ' + s['error']}" for s in others]
    return "\n".join(out).replace("\n\n\n", "\n\n") + "\n"


def plot(doc: dict[str, Any], folder: Path) -> list[Path]:
    """``cost_vs_recall.png`` and ``recall_by_category.png`` (matplotlib, no display needed; none without it)."""
    try:
        import matplotlib
    except ImportError:
        print("plots skipped: matplotlib is not installed (pip install -e '.[bench]')", file=sys.stderr)
        return []

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ran = [s for s in _ran(doc) if s["retrieval"].get("recall@budget1000") is not None]
    if not ran:
        return []
    paths = []
    fig, ax = plt.subplots(figsize=(8, 4.8))
    markers = "osD^v<>Pp*hX"
    for i, s in enumerate(ran):
        x = _cost(s, "ingest", "input_tokens_per_1k_turns") or 0.0
        y = s["retrieval"]["recall@budget1000"]
        ax.scatter([x], [y], s=50, marker=markers[i % len(markers)], label=label(s))
    ax.set_xscale("symlog", linthresh=10_000)
    ax.legend(fontsize=8, loc="best")
    ax.set_xlabel("construction input tokens per 1,000 turns (0 = no LLM)")
    ax.set_ylabel("evidence recall within 1,000 context tokens")
    ax.set_title(f"{doc['dataset']}: cost vs recall")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    paths.append(folder / "cost_vs_recall.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    categories = sorted({c for s in ran for c in s["by_category"]})
    fig, ax = plt.subplots(figsize=(max(7, 1.2 * len(categories) * len(ran) / 3), 4.5))
    width = 0.8 / len(ran)
    for i, s in enumerate(ran):
        values = [s["by_category"].get(c, {}).get("recall@budget1000") or 0.0 for c in categories]
        ax.bar([j + i * width for j in range(len(categories))], values, width, label=label(s))
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(categories))])
    ax.set_xticklabels([category_label(doc["dataset"], c) for c in categories], fontsize=8)
    ax.set_ylabel("evidence recall within 1,000 context tokens")
    ax.set_title(f"{doc['dataset']}: recall per category")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    paths.append(folder / "recall_by_category.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    return paths


def write_report(doc: dict[str, Any], folder: str | Path, *, plots: bool = True) -> list[Path]:
    """Write ``results.json``, ``results.md`` and (with ``plots``) the PNGs into ``folder``; returns the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "results.json", folder / "results.md"]
    paths[0].write_text(json.dumps(doc, indent=1, default=str))
    paths[1].write_text(markdown(doc))
    paths += sorted(folder.glob("calls-*.jsonl"))  # written by the run as calls were made
    if plots:
        paths += plot(doc, folder)
    return paths


def load(path: str | Path) -> dict[str, Any]:
    """A result document written by :func:`write_report` (``results.json`` or its folder)."""
    path = Path(path)
    return dict(json.loads((path / "results.json" if path.is_dir() else path).read_text()))
