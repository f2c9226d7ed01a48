"""The ``lightmem`` command: ingest, search, flush, stats, forget, and a self-contained demo.

Without ``OPENAI_API_KEY``/``OPENAI_BASE_URL`` (or with ``--llm-free``) everything runs LLM-free, offline.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_lightmem.errors import LightMemError

if TYPE_CHECKING:
    from langchain_lightmem.memory import LightMem, NamespaceStats


def _namespace(text: str) -> tuple[str, ...]:
    """``org/alice`` on the command line is the namespace ``("org", "alice")``."""
    return tuple(text.split("/"))


def _build_memory(args: argparse.Namespace, data_dir: Path | None = None) -> LightMem:
    from langchain_lightmem.config import LightMemConfig, chroma_server, embeddings_named
    from langchain_lightmem.memory import LightMem
    from langchain_lightmem.models import chat_model_from_env

    overrides: dict[str, Any] = {"data_dir": data_dir or args.data_dir}
    if args.chroma_url:
        overrides["chroma"] = chroma_server(args.chroma_url)
    if args.embeddings:
        overrides["embeddings"] = embeddings_named(args.embeddings)
    config = LightMemConfig.from_env(**overrides)
    chat_model = None if args.llm_free else chat_model_from_env(args.model)
    return LightMem(config, chat_model=chat_model)


def _print_usage_table(stats: NamespaceStats, out: Any = None) -> None:
    out = out or sys.stdout
    headers = ("stage", "LLM calls", "input tokens", "output tokens", "seconds", "items")
    rows = [
        (u.stage, str(u.calls), f"{u.input_tokens:,}", f"{u.output_tokens:,}", f"{u.seconds:.3f}", f"{u.items:,}")
        for u in sorted(stats.usage.values(), key=lambda u: _stage_order(u.stage))
    ]
    total_calls = sum(u.calls for u in stats.usage.values())
    rows.append(
        (
            "total",
            str(total_calls),
            f"{sum(u.input_tokens for u in stats.usage.values()):,}",
            f"{sum(u.output_tokens for u in stats.usage.values()):,}",
            f"{sum(u.seconds for u in stats.usage.values()):.3f}",
            "",
        )
    )
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    line = "  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(headers, widths, strict=True)))
    print(line, file=out)
    print("-" * len(line), file=out)
    for row in rows:
        print(
            "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))),
            file=out,
        )


def _stage_order(stage: str) -> int:
    from langchain_lightmem.accounting import INGEST_STAGES

    return INGEST_STAGES.index(stage) if stage in INGEST_STAGES else len(INGEST_STAGES)


def _ingest_conversations(
    memory: LightMem, conversations: list[Any], namespace: tuple[str, ...] | None, *, flush: bool, chunk: int
) -> int:
    from tqdm import tqdm

    from langchain_lightmem.types import normalize_namespace

    total = sum(len(c.messages) for c in conversations)
    touched: set[tuple[str, ...]] = set()
    with tqdm(total=total, unit="msg", desc="ingest", file=sys.stderr, disable=None) as bar:
        for conv in conversations:
            ns = namespace or (_namespace(conv.namespace) if conv.namespace else None)
            if ns is None:
                raise LightMemError("the file names no namespace: pass --namespace (e.g. --namespace alice)")
            ns = normalize_namespace(ns)
            touched.add(ns)
            for start in range(0, len(conv.messages), chunk):
                part = conv.messages[start : start + chunk]
                memory.add(part, namespace=ns, thread_id=conv.thread_id)
                bar.update(len(part))
    if flush:
        for ns in sorted(touched):
            memory.flush(ns)
    return total


# -- commands ------------------------------------------------------------------------------------------------


def cmd_ingest(args: argparse.Namespace) -> int:
    from langchain_lightmem.conversations import load_conversations

    conversations = load_conversations(args.file)
    with _build_memory(args) as memory:
        started = time.perf_counter()
        n = _ingest_conversations(
            memory,
            conversations,
            _namespace(args.namespace) if args.namespace else None,
            flush=args.flush,
            chunk=args.chunk,
        )
        elapsed = time.perf_counter() - started
        print(
            f"ingested {n} messages in {elapsed:.1f} s ({n / max(elapsed, 1e-9):.1f} msg/s)"
            f"{'' if args.flush else '; buffered messages wait for lightmem flush'}"
        )
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from langchain_lightmem.normalize import parse_timestamp

    time_range = None
    if args.since or args.until:
        time_range = (
            parse_timestamp(args.since) if args.since else None,
            parse_timestamp(args.until) if args.until else None,
        )
    options: dict[str, Any] = {
        "time_range": time_range,
        "include_history": args.history,
        "reference_time": args.reference_time,
        "mode": args.mode,
        "time_mode": args.time_mode,
    }
    with _build_memory(args) as memory:
        namespace = _namespace(args.namespace)
        if args.max_tokens is not None:
            context = memory.context(namespace, args.query, max_tokens=args.max_tokens, **options)
            if args.json:
                items = [
                    {"score": i.hit.score, "neighbour_of": i.neighbour_of, **i.hit.entry.model_dump(mode="json")}
                    for i in context.items
                ]
                print(json.dumps({"tokens": context.tokens, "text": context.render(), "items": items}, indent=2))
            else:
                print(context.render(sources=args.sources) or "no memories found")
                print(f"({len(context.items)} memories, {context.tokens} of {args.max_tokens} tokens)")
            return 0
        hits = memory.search(namespace, args.query, k=args.k, **options)
        if args.json:
            print(json.dumps([{"score": h.score, **h.entry.model_dump(mode="json")} for h in hits], indent=2))
            return 0
        if not hits:
            print("no memories found")
        for i, h in enumerate(hits, start=1):
            print(f"{i:>2}. [{h.score:.3f}] {h.render()}")
            sources = ", ".join(h.entry.source_ids)
            print(f"     sources: {sources}  thread: {h.entry.thread_id or '-'}  via: {h.entry.method}")
    return 0


def cmd_flush(args: argparse.Namespace) -> int:
    with _build_memory(args) as memory:
        targets = memory.namespaces() if args.all else [_namespace(args.namespace)]
        for ns in targets:
            result = memory.flush(ns)
            name = "/".join(ns)
            print(f"{name}: {result.batches_extracted} batch(es) extracted, {result.entries_written} entries written")
    return 0


def cmd_consolidate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    with _build_memory(args) as memory:
        targets = memory.consolidation_backlog() if args.all else [_namespace(args.namespace)]
        mode = "LLM-free (near-duplicates only)" if memory.chat_model is None else "chat model"
        print(f"consolidating {len(targets)} namespace(s), {mode}", file=sys.stderr)
        failed = busy = 0
        for ns in tqdm(targets, unit="ns", desc="consolidate", file=sys.stderr, disable=None):
            (report,) = memory.consolidate(ns)
            name = "/".join(ns)
            if report.busy:
                busy += 1
                print(f"{name}: skipped, another runner holds its lease")
                continue
            failed += report.failed
            print(
                f"{name}: {report.new_entries} new entries, {report.targets} targets, {report.calls} LLM calls; "
                f"{report.updated} updated, {report.superseded} superseded, {report.kept} kept"
                f"{f', {report.failed} left queued after errors' if report.failed else ''} ({report.seconds:.2f} s)"
            )
    return 1 if failed or busy else 0


def cmd_stats(args: argparse.Namespace) -> int:
    with _build_memory(args) as memory:
        targets = [_namespace(args.namespace)] if args.namespace else memory.namespaces()
        if not targets:
            print(f"no namespaces in {args.data_dir}")
        report = []
        for ns in targets:
            stats = memory.stats(ns)
            if args.json:
                report.append(
                    {
                        "namespace": list(ns),
                        "messages": stats.messages,
                        "batches": stats.batches,
                        "entries": stats.entries,
                        "usage": {
                            k: vars(v) if hasattr(v, "__dict__") else _usage_dict(v) for k, v in stats.usage.items()
                        },
                    }
                )
                continue
            print(f"namespace {'/'.join(ns)}: {stats.entries} memories")
            print("  messages by stage: " + ", ".join(f"{k} {v}" for k, v in stats.messages.items()))
            if stats.batches:
                print("  batches: " + ", ".join(f"{k} {v}" for k, v in stats.batches.items()))
            _print_usage_table(stats)
        if args.json:
            print(json.dumps(report, indent=2))
    return 0


def _usage_dict(usage: Any) -> dict[str, Any]:
    return {k: getattr(usage, k) for k in ("calls", "input_tokens", "output_tokens", "seconds", "items")}


def cmd_forget(args: argparse.Namespace) -> int:
    ns = _namespace(args.namespace)
    if not args.yes:
        if not sys.stdin.isatty():
            print("refusing to forget without confirmation: pass --yes", file=sys.stderr)
            return 2
        answer = input(
            f"Delete every message and memory of namespace {'/'.join(ns)!r}? Type the namespace to confirm: "
        )
        if answer.strip() != "/".join(ns):
            print("cancelled")
            return 1
    with _build_memory(args) as memory:
        removed = memory.forget(ns)
        config = memory.config
    print(f"forgot {'/'.join(ns)}: {removed['messages']} messages, {removed['entries']} memories")
    if args.vacuum:
        from langchain_lightmem.maintenance import vacuum

        for path in vacuum(config):
            print(f"vacuumed {path}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from langchain_lightmem.conversations import load_conversations
    from langchain_lightmem.llm import model_name

    sample = files("langchain_lightmem") / "data" / "demo_conversation.json"
    with tempfile.TemporaryDirectory(prefix="lightmem-demo-") as tmp:
        data_dir = Path(args.data_dir) if args.keep else Path(tmp)
        path = Path(tmp) / "demo_conversation.json"
        path.write_text(sample.read_text(encoding="utf-8"), encoding="utf-8")
        questions = json.loads(path.read_text(encoding="utf-8"))["questions"]
        conversations = load_conversations(path)
        print("LightMem demo: a 4-session conversation (shipped with the package) -> memories -> answers")
        print(f"data folder: {data_dir}{' (kept)' if args.keep else ' (temporary)'}")
        started = time.perf_counter()
        memory = _build_memory(args, data_dir)
        with memory:
            mode = (
                f"chat model {model_name(memory.chat_model)}"
                if memory.chat_model is not None
                else "LLM-free (no chat model configured)"
            )
            loaded = time.perf_counter() - started
            print(f"extraction: {mode}; embeddings: {memory.store.model_id}; loaded in {loaded:.1f} s\n")
            t0 = time.perf_counter()
            n = _ingest_conversations(memory, conversations, ("maya",), flush=True, chunk=args.chunk)
            elapsed = time.perf_counter() - t0
            stats = memory.stats("maya")
            print(f"\ningested {n} messages in {elapsed:.2f} s ({n / elapsed:.1f} msg/s) -> {stats.entries} memories\n")
            sources = memory.journal.messages(("maya",))
            by_id = {m.id: m for m in sources}
            for question in questions:
                print(f"Q: {question}")
                for hit in memory.search("maya", question, k=args.k):
                    print(f"   [{hit.score:.3f}] {hit.render()}")
                    for sid in hit.entry.source_ids:
                        src = by_id.get(sid)
                        if src is not None:
                            when = f"{src.timestamp:%Y-%m-%d %H:%M}"
                            print(f"          from {sid} ({src.thread_id}, {when}, {src.display_speaker})")
                print()
            print("cost and time per stage (namespace maya):")
            _print_usage_table(memory.stats("maya"))
    return 0


# -- parser --------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lightmem",
        description="LightMem long-term memory for LangChain/LangGraph agents. Runs LLM-free unless "
        "OPENAI_API_KEY or OPENAI_BASE_URL is set.",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("LIGHTMEM_DATA_DIR", "lightmem_data")),
        help="journal and embedded Chroma folder (env LIGHTMEM_DATA_DIR; default ./lightmem_data)",
    )
    parser.add_argument(
        "--embeddings",
        help="minilm (default), static, or a sentence-transformers folder / hub id (env LIGHTMEM_EMBEDDINGS)",
    )
    parser.add_argument(
        "--chroma-url",
        help="use a Chroma server, e.g. http://127.0.0.1:8000, instead of the folder (env LIGHTMEM_CHROMA_URL)",
    )
    parser.add_argument("--model", help="chat model name (default env LIGHTMEM_MODEL or gpt-4o-mini)")
    parser.add_argument("--llm-free", action="store_true", help="never call a chat model, even if a key is set")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")

    p = sub.add_parser(
        "ingest",
        help="add a conversation file (JSON or JSONL)",
        description=(
            "Add messages from a .json or .jsonl file. JSON: a message list, {namespace, thread_id, messages}, "
            "{namespace, sessions: [{thread_id, messages}]}, or a list of those. JSONL: one message per line "
            "(optional namespace, thread_id fields). A message: role, content, optional timestamp, speaker, id."
        ),
    )
    p.add_argument("file", type=Path)
    p.add_argument("--namespace", help="namespace for every message (default: the file's); org/alice for nested")
    p.add_argument("--no-flush", dest="flush", action="store_false", help="leave the buffers open afterwards")
    p.add_argument("--chunk", type=int, default=16, help="messages per add() call (default 16)")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("search", help="search a namespace's memories")
    p.add_argument("query")
    p.add_argument("--namespace", required=True)
    p.add_argument("-k", type=int, default=5, help="how many memories (default 5)")
    p.add_argument("--since", help="only memories of events at or after this ISO date")
    p.add_argument("--until", help="only memories of events at or before this ISO date")
    p.add_argument("--history", action="store_true", help="include superseded memories")
    p.add_argument(
        "--mode", choices=["hybrid", "dense", "lexical"], help="ranking (default: the config's, normally hybrid)"
    )
    p.add_argument(
        "--reference-time",
        help="the date 'last month' or 'two weeks ago' is read against (ISO date or epoch seconds; default now)",
    )
    p.add_argument(
        "--time-mode",
        choices=["boost", "filter", "off"],
        help="what a time expression in the query does (default: the config's, normally boost)",
    )
    p.add_argument(
        "--max-tokens",
        type=int,
        help="print the packed context that fits this many tokens (grouped by day) instead of the top k",
    )
    p.add_argument("--sources", action="store_true", help="with --max-tokens: show each memory's message ids")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("flush", help="force buffered messages through extraction")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--namespace")
    g.add_argument("--all", action="store_true", help="every namespace in the data folder")
    p.set_defaults(func=cmd_flush)

    p = sub.add_parser(
        "consolidate",
        help="sleep-time update: merge and supersede outdated memories (run it from cron)",
        description="Newer memories update or supersede older similar ones (one chat-model call per batch of "
        "targets; LLM-free: near-duplicates are merged). Incremental and idempotent: run it on a schedule, e.g. "
        "crontab '17 3 * * * cd /srv/app && lightmem --data-dir /srv/memory consolidate --all'. Exit status 1 "
        "when a namespace was busy or some decisions failed (they are retried next run).",
    )
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--namespace")
    g.add_argument("--all", action="store_true", help="every namespace with entries written since its last run")
    p.set_defaults(func=cmd_consolidate)

    p = sub.add_parser("stats", help="messages, memories, LLM calls, tokens and time per stage")
    p.add_argument("--namespace", help="one namespace (default: all)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("forget", help="delete everything held for a namespace")
    p.add_argument("--namespace", required=True)
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument(
        "--vacuum",
        action="store_true",
        help="then compact the data folder so deleted text is gone from disk too (no other process may use it)",
    )
    p.set_defaults(func=cmd_forget)

    p = sub.add_parser("demo", help="ingest a bundled sample conversation and answer questions from memory")
    p.add_argument("-k", type=int, default=3, help="memories shown per question (default 3)")
    p.add_argument("--chunk", type=int, default=4, help="messages per add() call (default 4)")
    p.add_argument("--keep", action="store_true", help="keep the memory in --data-dir instead of a temp folder")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lightmem`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (LightMemError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: accepted messages are safe in the journal", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
