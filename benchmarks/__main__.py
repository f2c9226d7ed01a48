"""``python -m benchmarks``: run the benchmark harness from the repository root.

Commands:
    run         run systems over LoCoMo or LongMemEval; writes results.json, results.md and plots
    report      re-render the tables and plots of a results.json
    systems     list the systems and whether they can run here
    data        summarise a data set (turns, sessions, questions per category, evidence fixes)
    throughput  LightMem ingest throughput (LLM-free and scripted) on one conversation, cold embeddings
    scale       search latency per retrieval mode with 100k entries in one namespace (query embedding included)

Examples:
    python -m benchmarks run --dataset locomo                  # LoCoMo dev8, categories 1-4, every offline system
    python -m benchmarks run --conversations conv-26 --questions 20 --systems bm25,dense,lightmem_llm_free
    python -m benchmarks run --protocol batch,agent --systems lightmem_llm_free,lightmem_scripted
    python -m benchmarks throughput --conversation conv-26
    python -m benchmarks run --endpoint local --systems lightmem_endpoint --conversations conv-26 \
        --max-sessions 2 --questions 3 --qa                 # a real local model (llama.cpp server on :8765)

Exit codes: 0 when something was measured; 1 when nothing was (data missing, every system skipped, no question
scored), a system failed, or the endpoint a run needs does not answer, with ``error: ...`` on stderr; 2 for a
wrong command line.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks.agent import PROTOCOLS
from benchmarks.data import DATA_FILES, LOCOMO_CATEGORIES, load_dataset
from benchmarks.exits import NothingMeasured, command, positive_int
from benchmarks.llm import LOCAL_CONTEXT_WINDOW, LOCAL_ENDPOINT, resolve_endpoint
from benchmarks.runner import DEFAULT_CACHE_DIR, DEFAULT_RESULTS_DIR, OFFLINE_SYSTEMS, RunSpec, check_system, run
from benchmarks.systems import SYSTEMS, SystemOptions


def _csv(text: str | None) -> list[str] | None:
    return [p.strip() for p in text.split(",") if p.strip()] if text else None


def _systems(text: str) -> list[str]:
    if text == "all":
        return list(SYSTEMS)
    if text == "offline":
        return list(OFFLINE_SYSTEMS)
    names = _csv(text) or []
    unknown = [n for n in names if n not in SYSTEMS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown system(s) {', '.join(unknown)}; known: {', '.join(SYSTEMS)}")
    return names


def _protocols(text: str) -> tuple[str, ...]:
    names = _csv(text) or []
    unknown = [n for n in names if n not in PROTOCOLS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown protocol(s) {', '.join(unknown)}; known: {', '.join(PROTOCOLS)}")
    return tuple(dict.fromkeys(names))


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError('expected a JSON object, e.g. \'{"short_term": {"threshold_tokens": 768}}\'')
    return value


def _add_selection(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", choices=sorted(DATA_FILES), default="locomo", help="data set (default locomo)")
    p.add_argument("--data", metavar="PATH", help="data file, or its folder (default ../shared/data/)")
    p.add_argument(
        "--conversations", metavar="IDS", help="comma-separated conversation ids (LongMemEval: question ids)"
    )
    p.add_argument("--limit", type=int, metavar="N", help="only the first N conversations")
    p.add_argument("--max-sessions", type=int, metavar="N", help="only the first N sessions of each conversation")
    p.add_argument("--questions", type=int, metavar="N", help="at most N questions per conversation")
    p.add_argument(
        "--categories",
        metavar="LIST",
        help="question categories to keep (LoCoMo default 1,2,3,4; LongMemEval question types, default all)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark harness: LightMem and its peers, side by side, on the same data (offline).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Scripted systems' LLM outputs are scripted (call counts and input tokens are the measurements); "
        "endpoint systems use a real model (--endpoint), and reports name it.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("run", help="run systems and write results.json, results.md and plots")
    _add_selection(p)
    p.add_argument(
        "--systems",
        type=_systems,
        default=list(OFFLINE_SYSTEMS),
        help=f"comma-separated, 'offline' (default) or 'all'; known: {', '.join(SYSTEMS)}",
    )
    p.add_argument(
        "--protocol",
        type=_protocols,
        default=("batch",),
        metavar="LIST",
        help="how conversations are fed, comma-separated: batch (default: each system's ingest, then every "
        "question), agent (LightMem turn by turn through LightMemMiddleware in create_agent, no flush, questions "
        "at session starts), agent_flushed (agent's reference: flushed after every session); "
        "batch,agent compares them in one run",
    )
    p.add_argument(
        "--agent-max-tokens",
        type=positive_int,
        default=1000,
        help="agent protocols: LightMemMiddleware max_tokens, the context a question gets (default 1000)",
    )
    p.add_argument("--depth", type=positive_int, default=100, help="hits retrieved per question (default 100)")
    p.add_argument("--out", metavar="DIR", help="results folder (default benchmarks/results/<dataset>-<time>)")
    p.add_argument("--cache", metavar="DIR", default=str(DEFAULT_CACHE_DIR), help="cache folder (embeddings, mem0)")
    p.add_argument("--work", metavar="DIR", help="where systems keep their data folders (default: a temp folder)")
    p.add_argument("--keep-work", action="store_true", help="keep the systems' data folders after the run")
    p.add_argument("--no-embedding-cache", action="store_true", help="embed everything afresh (cold speeds)")
    p.add_argument(
        "--embeddings",
        choices=["minilm", "static"],
        default="minilm",
        help="minilm (default, every published number) or static (64-d test embedder: quick checks only)",
    )
    p.add_argument("--in-process", action="store_true", help="run systems in this process (peak RSS is shared)")
    p.add_argument("--lightmem-config", type=_json_object, default={}, help="LightMemConfig overrides as JSON")
    p.add_argument(
        "--lightmem-budget",
        type=int,
        default=1000,
        help="token budget lightmem_context packs its context to (default 1000; its hits come in packed order)",
    )
    p.add_argument(
        "--mem0-protocol",
        choices=["locomo", "pair"],
        default="locomo",
        help="locomo: each speaker's side, 2 messages per add (mem0's harness; default); pair: one add per 2 turns",
    )
    p.add_argument(
        "--langmem-protocol",
        choices=["pair", "session"],
        default="pair",
        help="pair: one invocation per 2 turns (default, its quick start); session: one per session",
    )
    p.add_argument("--qa", action="store_true", help="QA accuracy with an LLM judge (needs an endpoint)")
    p.add_argument("--qa-budget", type=int, default=2000, help="context tokens given to the answer model")
    p.add_argument(
        "--endpoint",
        metavar="local|URL",
        help=f"OpenAI-compatible server for lightmem_endpoint and --qa: 'local' ({LOCAL_ENDPOINT}) or a /v1 URL "
        "(default: OPENAI_BASE_URL, else OpenAI when OPENAI_API_KEY is set); the key is OPENAI_API_KEY (optional "
        "for local servers)",
    )
    p.add_argument(
        "--model",
        metavar="NAME",
        help="the endpoint's model (default LIGHTMEM_MODEL, else the only model the server lists, else gpt-4o-mini)",
    )
    p.add_argument("--judge-model", metavar="NAME", help="the QA judge (default LIGHTMEM_JUDGE_MODEL, else --model)")
    p.add_argument(
        "--call-timeout",
        type=float,
        default=120.0,
        metavar="S",
        help="seconds one endpoint call may take (default 120); LightMem's extraction makes at most "
        "extraction.max_attempts (3) calls per batch",
    )
    p.add_argument(
        "--call-retries", type=int, default=0, metavar="N", help="OpenAI client retries per call (default 0)"
    )
    p.add_argument(
        "--max-output-tokens",
        type=positive_int,
        default=1024,
        metavar="N",
        help="answer cap of the endpoint systems' calls (default 1024; QA answers 100, judge 200)",
    )
    p.add_argument(
        "--context-window",
        type=positive_int,
        metavar="N",
        help=f"the endpoint model's context in tokens: QA prompts are fitted to it (default {LOCAL_CONTEXT_WINDOW} "
        "with --endpoint local, else unknown)",
    )
    p.add_argument("--threads", type=int, default=1, help="torch threads per system process (default 1)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")

    p = commands.add_parser("report", help="re-render results.md and plots from a results.json")
    p.add_argument("results", help="a results.json or the folder holding it")
    p.add_argument("--no-plots", action="store_true")

    commands.add_parser("systems", help="list the systems and whether they can run here")

    p = commands.add_parser("data", help="summarise a data set")
    p.add_argument("--dataset", choices=sorted(DATA_FILES), default="locomo")
    p.add_argument("--data", metavar="PATH", help="data file, or its folder (default ../shared/data/)")

    p = commands.add_parser("throughput", help="LightMem ingest throughput on one conversation (cold embeddings)")
    p.add_argument("--dataset", choices=sorted(DATA_FILES), default="locomo")
    p.add_argument("--data", metavar="PATH", help="data file, or its folder (default ../shared/data/)")
    p.add_argument("--conversation", default="conv-26", help="conversation id (default conv-26)")
    p.add_argument("--lightmem-config", type=_json_object, default={}, help="LightMemConfig overrides as JSON")
    p.add_argument("--out", metavar="DIR", help="results folder (default benchmarks/results/throughput-<time>)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--no-progress", action="store_true")
    p = commands.add_parser("scale", help="search latency per retrieval mode at 100k entries in one namespace")
    p.add_argument("--data", metavar="PATH", help="data folder (default ../shared/data/)")
    p.add_argument("--entries", type=positive_int, default=100_000, help="entries in the namespace (default 100000)")
    p.add_argument("--queries", type=positive_int, default=200, help="questions timed per mode (default 200)")
    p.add_argument("--cache", metavar="DIR", default=str(DEFAULT_CACHE_DIR), help="cache folder (embeddings)")
    p.add_argument("--work", metavar="DIR", help="data folder of the namespace (kept; reused when it matches)")
    p.add_argument("--out", metavar="DIR", help="results folder (default benchmarks/results/scale-<time>)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--no-progress", action="store_true")
    return parser


def cmd_scale(args: argparse.Namespace, command: str) -> int:
    import torch

    from benchmarks.retrieval_scale import markdown, run_scale
    from langchain_lightmem.models import offline_environment

    offline_environment()
    torch.set_num_threads(args.threads)
    doc = run_scale(
        entries=args.entries,
        queries=args.queries,
        data=args.data,
        cache_dir=Path(args.cache),
        work_dir=args.work,
        progress=not args.no_progress,
    )
    doc["command"] = command
    out = Path(args.out) if args.out else DEFAULT_RESULTS_DIR / f"scale-{_stamp()}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(doc, indent=2))
    text = f"# Search latency at scale\n\n`{command}`\n\n{markdown(doc)}\n"
    (out / "results.md").write_text(text)
    print(text)
    print(f"wrote {out}")
    return 0


def _stamp() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S")


def cmd_run(args: argparse.Namespace, command: str) -> int:
    from benchmarks.report import markdown, write_report

    out = Path(args.out) if args.out else DEFAULT_RESULTS_DIR / f"{args.dataset}-{_stamp()}"
    endpoint = resolve_endpoint(
        args.endpoint,
        model=args.model,
        judge_model=args.judge_model,
        timeout=args.call_timeout,
        max_retries=args.call_retries,
        max_output_tokens=args.max_output_tokens,
        context_window=args.context_window,
    )
    spec = RunSpec(
        systems=args.systems,
        dataset=args.dataset,
        data_path=args.data,
        conversations=_csv(args.conversations),
        limit=args.limit,
        max_sessions=args.max_sessions,
        questions=args.questions,
        categories=_csv(args.categories),
        depth=args.depth,
        cache_dir=args.cache,
        work_dir=args.work,
        embedding_cache=not args.no_embedding_cache,
        isolate=not args.in_process,
        options=SystemOptions(
            lightmem_config=args.lightmem_config,
            lightmem_budget=args.lightmem_budget,
            mem0_protocol=args.mem0_protocol,
            langmem_protocol=args.langmem_protocol,
        ),
        qa=args.qa,
        qa_budget=args.qa_budget,
        keep_work=args.keep_work,
        progress=not args.no_progress,
        threads=args.threads,
        protocols=args.protocol,
        embeddings=args.embeddings,
        agent_max_tokens=args.agent_max_tokens,
        endpoint=endpoint,
        calls_dir=str(out),
    )
    doc = run(spec, command=command)
    paths = write_report(doc, out, plots=not args.no_plots)
    print(markdown(doc))
    print("wrote " + ", ".join(str(p) for p in paths))
    return _verdict(doc, questions=True)


def _verdict(doc: dict[str, Any], *, questions: bool) -> int:
    """1 (with the reason on stderr) when a system failed; :class:`NothingMeasured` when nothing ran, or, with
    ``questions``, when no question was scored; else 0."""
    ran = [s for s in doc["systems"] if "skipped" not in s and "error" not in s]
    if not ran:
        why = "; ".join(f"{s['system']}: {s.get('skipped') or s.get('error')}" for s in doc["systems"])
        raise NothingMeasured(f"nothing was measured: no system ran ({why or 'no system selected'})")
    if questions and not any(s["scored_questions"] for s in ran):
        raise NothingMeasured(
            "nothing was measured: no question with evidence was scored (the selection has none: check "
            "--questions, --categories and --max-sessions)"
        )
    failed = [s for s in doc["systems"] if "error" in s]
    for s in failed:
        print(f"error: {s['system']} ({s.get('protocol_name', 'batch')}) failed: {s['error']}", file=sys.stderr)
    return 1 if failed else 0


def cmd_report(args: argparse.Namespace) -> int:
    from benchmarks.report import load, markdown, write_report

    try:
        doc = load(args.results)
    except FileNotFoundError as exc:
        raise NothingMeasured(
            f"no results to report: {exc.filename} does not exist (give a results.json or its folder)"
        ) from None
    folder = Path(args.results)
    paths = write_report(doc, folder if folder.is_dir() else folder.parent, plots=not args.no_plots)
    print(markdown(doc))
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def cmd_systems() -> int:
    for name, cls in SYSTEMS.items():
        reason = check_system(name)
        print(f"{name:18} {'ok' if reason is None else 'unavailable'}  llm={cls.llm:8} {cls.summary}")
        if reason:
            print(f"{'':18} ↳ {reason}")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    data = load_dataset(
        args.dataset, args.data, categories=set(LOCOMO_CATEGORIES) if args.dataset == "locomo" else None
    )
    if not data.conversations:
        raise NothingMeasured(f"{data.path} holds no conversation")
    print(f"{data.name}: {data.path}")
    print(
        f"{len(data.conversations)} conversations, {sum(len(c.sessions) for c in data.conversations):,} sessions, "
        f"{data.turns:,} turns, {len(data.questions):,} questions "
        f"({sum(q.scorable for q in data.questions):,} with evidence)"
    )
    counts: dict[str, int] = {}
    for q in data.questions:
        counts[q.category] = counts.get(q.category, 0) + 1
    for category, n in sorted(counts.items()):
        label = LOCOMO_CATEGORIES.get(category, "") if data.name == "locomo" else ""
        print(f"  {category} {label}: {n}")
    if data.name == "locomo":
        print(f"evidence ids rewritten: {data.evidence_fixed}, dropped (name no turn): {data.evidence_dropped}")
    return 0


def cmd_throughput(args: argparse.Namespace, command: str) -> int:
    from benchmarks.report import write_report

    spec = RunSpec(
        systems=["lightmem_llm_free", "lightmem_scripted"],
        dataset=args.dataset,
        data_path=args.data,
        conversations=[args.conversation],
        questions=0,
        embedding_cache=False,
        options=SystemOptions(lightmem_config=args.lightmem_config),
        progress=not args.no_progress,
        threads=args.threads,
    )
    doc = run(spec, command=command)
    out = Path(args.out) if args.out else DEFAULT_RESULTS_DIR / f"throughput-{_stamp()}"
    write_report(doc, out, plots=False)
    print(f"LightMem ingest throughput, {args.conversation} ({doc['selection']['turns']} turns), cold embeddings:")
    for s in doc["systems"]:
        if "skipped" in s or "error" in s:
            print(f"  {s['system']}: {s.get('skipped') or s.get('error')}")
            continue
        speed = s["speed"]
        calls = s["cost"]["ingest"]["calls"]
        print(
            f"  {s['system']}: {speed['turns_per_second']:.2f} turns/s ({speed['ingest_seconds']:.1f} s, {calls} calls)"
        )
        for stage, row in speed["stages"].items():
            tps = f"{row['turns_per_second']:.1f} turns/s" if row["turns_per_second"] else "-"
            print(f"      {stage:11} {row['seconds']:8.2f} s  {tps}")
    print(f"wrote {out}")
    return _verdict(doc, questions=False)


@command
def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    command = "python -m benchmarks " + shlex.join(argv)
    try:
        if args.command == "run":
            return cmd_run(args, command)
        if args.command == "report":
            return cmd_report(args)
        if args.command == "systems":
            return cmd_systems()
        if args.command == "data":
            return cmd_data(args)
        if args.command == "scale":
            return cmd_scale(args, command)
        return cmd_throughput(args, command)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
