"""The ``lightmem`` command: ingest, search, flush, consolidate, stats, forget, migrate, and a self-contained demo.

Without ``OPENAI_API_KEY``/``OPENAI_BASE_URL`` (or with ``--llm-free``) everything runs LLM-free, offline.

The global options (``--data-dir``, ``--embeddings``, ``--chroma-url``, ``--model``, ``--llm-free``, ``--json``)
go before or after the command. ``--json`` prints one JSON document on stdout instead of text. Progress goes to
stderr: a bar on a terminal, a plain line every few seconds elsewhere (CI logs, pipes).

Exit status: 0 done; 1 ``consolidate`` left work for the next run (a namespace was busy or decisions failed), or
``forget`` was not confirmed; 2 the command line or the input was refused (one line on stderr says what and where;
``ingest`` stored nothing of the file); 130 interrupted.

Example:
    .. code-block:: bash

        lightmem ingest chat.jsonl --namespace alice --data-dir ./memory
        lightmem search "Where does Alice live?" --namespace alice --data-dir ./memory --json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime
from datetime import time as day_time
from importlib.resources import files
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from langchain_lightmem.errors import InvalidMessageError, LightMemError

if TYPE_CHECKING:
    from langchain_lightmem.config import LightMemConfig
    from langchain_lightmem.conversations import Conversation
    from langchain_lightmem.memory import Coverage, LightMem, NamespaceStats
    from langchain_lightmem.types import Namespace


class CommandLineError(LightMemError):
    """The command cannot run as given (a missing data folder, a file without a namespace, ...)."""


def _namespace(text: str) -> tuple[str, ...]:
    """``org/alice`` on the command line is the namespace ``("org", "alice")``."""
    return tuple(text.split("/"))


def _config(args: argparse.Namespace, data_dir: Path | None = None) -> LightMemConfig:
    from langchain_lightmem.config import LightMemConfig, chroma_server, embeddings_named

    overrides: dict[str, Any] = {"data_dir": data_dir or args.data_dir}
    if args.chroma_url:
        overrides["chroma"] = chroma_server(args.chroma_url)
    if args.embeddings:
        overrides["embeddings"] = embeddings_named(args.embeddings)
    return LightMemConfig.from_env(**overrides)


def _build_memory(args: argparse.Namespace, config: LightMemConfig) -> LightMem:
    from langchain_lightmem.memory import LightMem
    from langchain_lightmem.models import chat_model_from_env

    chat_model = None if args.llm_free else chat_model_from_env(args.model)
    return LightMem(config, chat_model=chat_model)


def _existing_data(args: argparse.Namespace) -> LightMemConfig:
    """The config of a data folder that holds LightMem data; commands that only read never create one."""
    config = _config(args)
    folder = config.data_dir
    if config.backend == "postgres":  # the journal is on the server; the folder may hold nothing yet
        return config
    if not folder.is_dir():
        raise CommandLineError(
            f"no data folder at {folder}: nothing was ingested there (pass --data-dir or set LIGHTMEM_DATA_DIR)"
        )
    if not config.journal_path.is_file():
        raise CommandLineError(
            f"{folder} holds no LightMem data (no {config.journal_path.name}): pass the folder you ingested into"
        )
    return config


def _emit(document: Any) -> None:
    print(json.dumps(document, indent=2, ensure_ascii=False))


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


def _usage_dict(usage: Any) -> dict[str, Any]:
    return {k: getattr(usage, k) for k in ("calls", "input_tokens", "output_tokens", "seconds", "items")}


def _stats_dict(stats: NamespaceStats) -> dict[str, Any]:
    return {
        "namespace": list(stats.namespace),
        "messages": stats.messages,
        "batches": stats.batches,
        "entries": stats.entries,
        "usage": {k: _usage_dict(v) for k, v in stats.usage.items()},
        "coverage": stats.coverage.as_dict(),
        "batch_coverage": {k: v.as_dict() for k, v in stats.batch_coverage.items()},
    }


def _coverage_line(c: Coverage) -> str:
    precision = f"{c.precise / c.citations:.2f}" if c.citations else "-"
    return (
        f"facts came from {c.covered} of {c.messages} messages; {c.kept} kept as themselves; "
        f"{c.facts} facts, citation precision {precision}"
    )


# -- progress ------------------------------------------------------------------------------------------------


class Progress:
    """Progress of a long command on stderr: a tqdm bar on a terminal; elsewhere (CI logs, pipes) a plain line
    when it starts, every ``interval`` seconds, when a phase starts and when it ends.

    A long step after the counted work (the final flush of ``ingest``) is a :meth:`phase` of the same display,
    not a silent pause: the bar names it and keeps its clock running; plain lines keep coming.

    Example:
        .. code-block:: python

            with Progress(len(messages), desc="ingest", unit="msg") as progress:
                for chunk in chunks:
                    memory.add(chunk, namespace="alice")
                    progress.update(len(chunk))
                progress.phase("flush alice (1/1)")
                memory.flush("alice")
    """

    def __init__(
        self, total: int, *, desc: str, unit: str, stream: TextIO | None = None, interval: float = 5.0
    ) -> None:
        self.stream = stream or sys.stderr
        self.total, self.desc, self.unit = total, desc, unit
        self.done = 0
        self.current_phase = ""
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._bar: Any = None
        isatty = getattr(self.stream, "isatty", None)
        if callable(isatty) and isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit=unit, desc=desc, file=self.stream)
        else:
            self._line()
        # a ticker, so that a single long call (a big add, the flush) still shows the clock moving
        every = min(interval, 1.0) if self._bar is not None else interval
        self._ticker = threading.Thread(target=self._tick, args=(every,), name="lightmem-progress", daemon=True)
        self._ticker.start()

    def _tick(self, every: float) -> None:
        while not self._stop.wait(every):
            if self._bar is not None:
                self._bar.refresh()
            else:
                self._line()

    def _line(self, *, final: bool = False) -> None:
        with self._lock:
            done, phase, elapsed = self.done, self.current_phase, time.monotonic() - self.started
        counted = f"{done}/{self.total} {self.unit}"
        if final:
            text = f"{self.desc}: done, {counted} in {elapsed:.1f} s"
        else:
            share = 100 * done // self.total if self.total else 100
            pace = phase or f"{done / elapsed if elapsed > 0 else 0.0:.1f} {self.unit}/s"
            text = f"{self.desc}: {counted} ({share}%), {pace}, {elapsed:.0f} s elapsed"
        print(text, file=self.stream, flush=True)

    def update(self, n: int) -> None:
        with self._lock:
            self.done += n
        if self._bar is not None:
            self._bar.update(n)

    def resize(self, total: int) -> None:
        """Set the total once it is known (the work was counted after the display started)."""
        with self._lock:
            self.total = total
        if self._bar is not None:
            self._bar.total = total
            self._bar.refresh()

    def phase(self, text: str, *, announce: bool = True) -> None:
        """Name the step running now (e.g. ``"flush alice (1/2)"``). Off a terminal, ``announce`` prints a line
        at once; without it the step shows in the next periodic line (for many short steps)."""
        with self._lock:
            self.current_phase = text
        if self._bar is not None:
            self._bar.set_description_str(f"{self.desc}: {text}")
        elif announce:
            self._line()

    def close(self) -> None:
        self._stop.set()
        self._ticker.join()
        if self._bar is not None:
            self._bar.set_description_str(f"{self.desc}: done", refresh=False)
            self._bar.close()
        else:
            self._line(final=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, trace: TracebackType | None
    ) -> None:
        if kind is None:
            self.close()
            return
        self._stop.set()  # a failed run ends without a "done" line
        self._ticker.join()
        if self._bar is not None:
            self._bar.close()


# -- ingest --------------------------------------------------------------------------------------------------


def _reason(exc: InvalidMessageError) -> str:
    """The message of an error without its ``message <i>:`` prefix (an index within one ``add`` call)."""
    text = str(exc)
    prefix = f"message {exc.index}: " if exc.index is not None else ""
    return text.removeprefix(prefix)


Planned = list[tuple["Namespace", "Conversation"]]


def _validate(
    conversations: list[Conversation], namespace: str | None, config: LightMemConfig, file: Path
) -> tuple[Planned, dict[tuple[Namespace, str], tuple[str, str]]]:
    """Check every message of the file as ``add`` would, before any of it is stored.

    Returns the namespace of each conversation, and the content and origin of every message id per namespace.
    """
    from langchain_lightmem.normalize import normalize_messages
    from langchain_lightmem.tokens import TokenCounter
    from langchain_lightmem.types import normalize_namespace

    counter = TokenCounter(config.token_encoding)
    planned: Planned = []
    ids: dict[tuple[Namespace, str], tuple[str, str]] = {}
    for conv in conversations:
        given = namespace or conv.namespace
        if not given:
            raise CommandLineError(f"{file} names no namespace: pass --namespace (e.g. --namespace alice)")
        ns = normalize_namespace(_namespace(given))
        for raw, origin in zip(conv.messages, conv.origins, strict=True):
            try:
                normalised = normalize_messages(
                    [raw], ns, thread_id=conv.thread_id, config=config.input, counter=counter
                )
            except InvalidMessageError as exc:
                raise InvalidMessageError(f"{origin}: {_reason(exc)}") from None
            for msg in normalised:
                content, first = ids.setdefault((ns, msg.id), (msg.content, origin))
                if content != msg.content:
                    raise InvalidMessageError(
                        f"{origin}: id {msg.part_of or msg.id!r} is also used by {first} with different content; "
                        "give each message its own id"
                    )
        planned.append((ns, conv))
    return planned, ids


def _check_stored(memory: LightMem, ids: dict[tuple[Namespace, str], tuple[str, str]]) -> None:
    """Refuse a file whose ids were ingested before with different content (re-sending the same is fine)."""
    by_namespace: dict[Namespace, list[str]] = {}
    for ns, msg_id in ids:
        by_namespace.setdefault(ns, []).append(msg_id)
    for ns, wanted in by_namespace.items():
        for msg_id, stored in memory.messages_by_id(ns, wanted).items():
            content, origin = ids[(ns, msg_id)]
            if stored.content != content:
                raise InvalidMessageError(
                    f"{origin}: id {stored.part_of or msg_id!r} was ingested into {'/'.join(ns)} before with "
                    "different content; give the message a new id (or none: one is derived from its line)"
                )


def _chunks(planned: Planned, size: int) -> Iterator[tuple[Namespace, list[Any], list[str]]]:
    """``(namespace, messages, origins)`` of at most ``size`` messages, across the threads of a namespace (each
    message carries its thread): bigger calls embed in bigger batches and write the store less often."""
    by_namespace: dict[Namespace, list[tuple[Any, str]]] = {}
    for ns, conv in planned:
        rows = by_namespace.setdefault(ns, [])
        for message, origin in zip(conv.messages, conv.origins, strict=True):
            if conv.thread_id is not None and isinstance(message, dict) and message.get("thread_id") is None:
                message = {**message, "thread_id": conv.thread_id}
            rows.append((message, origin))
    for ns, rows in by_namespace.items():
        for start in range(0, len(rows), size):
            part = rows[start : start + size]
            yield ns, [m for m, _ in part], [o for _, o in part]


def _ingest(memory: LightMem, planned: Planned, *, flush: bool, chunk: int) -> dict[str, Any]:
    """Add the validated conversations in chunks, then flush, inside one progress display."""
    total = sum(len(conv.messages) for _, conv in planned)
    accepted: set[str] = set()
    duplicates: set[str] = set()
    touched: list[Namespace] = []
    written = batches = 0
    with Progress(total, desc="ingest", unit="msg") as progress:
        for ns, part, origins in _chunks(planned, chunk):
            if ns not in touched:
                touched.append(ns)
            try:
                result = memory.add(part, namespace=ns)
            except InvalidMessageError as exc:  # another writer got there between validation and now
                where = origins[exc.index or 0] if (exc.index or 0) < len(origins) else origins[0]
                raise InvalidMessageError(
                    f"{where}: {_reason(exc)} (messages before it are stored; once fixed, run the same "
                    "command again: nothing is stored twice)"
                ) from None
            # a long message is stored in parts <id>#p1, #p2, ...: count the message once
            accepted.update(f"{'/'.join(ns)}\0{i.split('#p')[0]}" for i in result.accepted)
            duplicates.update(f"{'/'.join(ns)}\0{i.split('#p')[0]}" for i in result.duplicates)
            written += result.entries_written
            batches += result.batches_extracted
            progress.update(len(part))
        if flush:
            for i, ns in enumerate(touched, start=1):
                progress.phase(f"flush {'/'.join(ns)} ({i}/{len(touched)})")
                result = memory.flush(ns)
                written += result.entries_written
                batches += result.batches_extracted
    return {
        "messages": total,
        "accepted": len(accepted),
        "duplicates": len(duplicates),
        "namespaces": [list(ns) for ns in touched],
        "flushed": flush,
        "batches_extracted": batches,
        "entries_written": written,
    }


# -- commands ------------------------------------------------------------------------------------------------


def cmd_ingest(args: argparse.Namespace) -> int:
    from langchain_lightmem.conversations import load_conversations

    conversations = load_conversations(args.file)
    config = _config(args)
    planned, ids = _validate(conversations, args.namespace, config, args.file)
    with _build_memory(args, config) as memory:
        _check_stored(memory, ids)
        started = time.perf_counter()
        report = _ingest(memory, planned, flush=args.flush, chunk=args.chunk)
        elapsed = time.perf_counter() - started
    n, again = report["messages"], report["duplicates"]
    if args.json:
        _emit({"file": str(args.file), **report, "seconds": round(elapsed, 3)})
        return 0
    print(
        f"ingested {n} messages in {elapsed:.1f} s ({n / max(elapsed, 1e-9):.1f} msg/s)"
        f"{f'; {again} were already stored' if again else ''}"
        f"{'' if args.flush else '; buffered messages wait for lightmem flush'}"
    )
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    config = _existing_data(args)
    options: dict[str, Any] = {
        "time_range": (args.since, args.until) if args.since or args.until else None,
        "include_history": args.history,
        "reference_time": args.reference_time,
        "mode": args.mode,
        "time_mode": args.time_mode,
    }
    with _build_memory(args, config) as memory:
        namespace = _namespace(args.namespace)
        if args.max_tokens is not None:
            context = memory.context(namespace, args.query, max_tokens=args.max_tokens, **options)
            if args.json:
                items = [
                    {"score": i.hit.score, "neighbour_of": i.neighbour_of, **i.hit.entry.model_dump(mode="json")}
                    for i in context.items
                ]
                _emit({"tokens": context.tokens, "text": context.render(), "items": items})
            else:
                print(context.render(sources=args.sources) or "no memories found")
                print(f"({len(context.items)} memories, {context.tokens} of {args.max_tokens} tokens)")
            return 0
        hits = memory.search(namespace, args.query, k=args.k, **options)
        if args.json:
            _emit([{"score": h.score, **h.entry.model_dump(mode="json")} for h in hits])
            return 0
        if not hits:
            print("no memories found")
        for i, h in enumerate(hits, start=1):
            print(f"{i:>2}. [{h.score:.3f}] {h.render()}")
            sources = ", ".join(h.entry.source_ids)
            print(f"     sources: {sources}  thread: {h.entry.thread_id or '-'}  via: {h.entry.method}")
    return 0


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of seconds >= 0")
    return value


def cmd_flush(args: argparse.Namespace) -> int:
    config = _existing_data(args)
    report = []
    with _build_memory(args, config) as memory:
        if args.idle is not None:
            results = memory.flush_idle(args.idle)
        else:
            targets = memory.namespaces() if args.all else [_namespace(args.namespace)]
            results = {ns: memory.flush(ns) for ns in targets}
        if args.idle is not None and not results and not args.json:
            print(f"no thread has been quiet for {args.idle:g} s with open messages: nothing to flush")
        for ns, result in results.items():
            report.append(
                {
                    "namespace": list(ns),
                    "batches_extracted": result.batches_extracted,
                    "entries_written": result.entries_written,
                }
            )
            if not args.json:
                name = "/".join(ns)
                print(
                    f"{name}: {result.batches_extracted} batch(es) extracted, {result.entries_written} entries written"
                )
    if args.json:
        _emit(report)
    return 0


def cmd_rebuild(args: argparse.Namespace) -> int:
    config = _existing_data(args)
    with _build_memory(args, config) as memory:
        print("rebuilding long-term memory from the journal (re-embedding; no LLM call)", file=sys.stderr)
        rebuilt = memory.rebuild(None if args.all else _namespace(args.namespace))
    if args.json:
        _emit([{"namespace": list(ns), "entries": n} for ns, n in rebuilt.items()])
    else:
        for ns, n in rebuilt.items():
            print(f"{'/'.join(ns)}: {n} entries")
    return 0


def cmd_reextract(args: argparse.Namespace) -> int:
    config = _existing_data(args)
    with _build_memory(args, config) as memory:
        if memory.chat_model is None:
            raise CommandLineError(
                "reextract needs a chat model: set OPENAI_BASE_URL/OPENAI_API_KEY or pass --model (not --llm-free)"
            )
        targets = memory.namespaces() if args.all else [_namespace(args.namespace)]
        results = []
        with Progress(len(targets), desc="reextract", unit="ns") as progress:
            for ns in targets:
                progress.phase("/".join(ns), announce=False)
                results.append((ns, memory.reextract(ns)))
                progress.update(1)
    if args.json:
        _emit([{"namespace": list(ns), **counts} for ns, counts in results])
    else:
        for ns, counts in results:
            busy = " (busy: a consolidation run holds it; try again later)" if counts["busy"] else ""
            done, failed = counts["reextracted"], counts["failed"]
            print(f"{'/'.join(ns)}: {done} batch(es) re-extracted, {failed} still failing{busy}")
    return 1 if any(counts["failed"] or counts["busy"] for _, counts in results) else 0


def cmd_consolidate(args: argparse.Namespace) -> int:
    config = _existing_data(args)
    reports = []
    with _build_memory(args, config) as memory:
        targets = memory.consolidation_backlog() if args.all else [_namespace(args.namespace)]
        mode = "LLM-free (near-duplicates only)" if memory.chat_model is None else "chat model"
        print(f"consolidating {len(targets)} namespace(s), {mode}", file=sys.stderr)
        failed = busy = 0
        with Progress(len(targets), desc="consolidate", unit="ns") as progress:
            for ns in targets:
                progress.phase("/".join(ns), announce=False)
                (report,) = memory.consolidate(ns)
                progress.update(1)
                reports.append(report.as_dict())
                name = "/".join(ns)
                if report.busy:
                    busy += 1
                    if not args.json:
                        print(f"{name}: skipped, another runner holds its lease")
                    continue
                failed += report.failed
                if not args.json:
                    print(
                        f"{name}: {report.new_entries} new entries, {report.targets} targets, {report.calls} LLM "
                        f"calls; {report.updated} updated, {report.superseded} superseded, {report.kept} kept"
                        f"{f', {report.failed} left queued after errors' if report.failed else ''}"
                        f" ({report.seconds:.2f} s)"
                    )
    if args.json:
        _emit(reports)
    return 1 if failed or busy else 0


def cmd_warm_up(args: argparse.Namespace) -> int:
    config = _existing_data(args)
    # this command warms in the foreground; a background warm-up from the config would do it twice
    config = config.model_copy(update={"chroma": config.chroma.model_copy(update={"warm_up": False})})
    started = time.monotonic()
    with _build_memory(args, config) as memory, Progress(0, desc="warm-up", unit="collection") as progress:

        def advance(done: int, total: int) -> None:
            if progress.total != total:
                progress.resize(total)
            progress.update(1)

        warmed = memory.warm_up(on_progress=advance)
    seconds = time.monotonic() - started
    if args.json:
        _emit({"collections": warmed, "seconds": round(seconds, 3)})
    else:
        print(f"warmed {warmed} memory collections in {seconds:.1f} s")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    config = _existing_data(args)
    with _build_memory(args, config) as memory:
        targets = [_namespace(args.namespace)] if args.namespace else memory.namespaces()
        report = [memory.stats(ns) for ns in targets]
    if args.json:
        _emit([_stats_dict(stats) for stats in report])
        return 0
    if not targets:
        print(f"no namespaces in {args.data_dir}")
    for stats in report:
        print(f"namespace {'/'.join(stats.namespace)}: {stats.entries} memories")
        print("  messages by stage: " + ", ".join(f"{k} {v}" for k, v in stats.messages.items()))
        if stats.batches:
            print("  batches: " + ", ".join(f"{k} {v}" for k, v in stats.batches.items()))
        if stats.batch_coverage:
            print("  coverage: " + _coverage_line(stats.coverage))
            if args.batches:
                for batch_id, coverage in stats.batch_coverage.items():
                    print(f"    batch {batch_id[:12]}: " + _coverage_line(coverage))
        _print_usage_table(stats)
    return 0


def cmd_forget(args: argparse.Namespace) -> int:
    config = _existing_data(args)
    ns = _namespace(args.namespace)
    if not args.yes:
        if not sys.stdin.isatty():
            print("lightmem forget: refusing to forget without confirmation: pass --yes", file=sys.stderr)
            return 2
        # the question goes to stderr: stdout may be a --json document
        print(
            f"Delete every message and memory of namespace {'/'.join(ns)!r}? Type the namespace to confirm: ",
            end="",
            file=sys.stderr,
            flush=True,
        )
        if sys.stdin.readline().strip() != "/".join(ns):
            print("cancelled", file=sys.stderr)
            return 1
    vacuumed: list[str] = []
    with _build_memory(args, config) as memory:
        if args.vacuum:
            # the folder alone first: refused ("folder is in use") before anything is deleted
            with memory.exclusive():
                removed = memory.forget(ns)
                vacuumed = memory.vacuum()
        else:
            removed = memory.forget(ns)
    if args.json:
        _emit(
            {
                "namespace": list(ns),
                "messages": removed["messages"],
                "memories": removed["entries"],
                "vacuumed": vacuumed,
            },
        )
        return 0
    print(f"forgot {'/'.join(ns)}: {removed['messages']} messages, {removed['entries']} memories")
    for path in vacuumed:
        print(f"vacuumed {path}")
    return 0


def _target_config(args: argparse.Namespace, source: LightMemConfig) -> LightMemConfig:
    """The target of ``migrate``: the ``--to`` file (JSON or TOML), then the ``--to-*`` options over it; its
    embeddings are the source's unless it names some (vectors are copied, so they must match)."""
    from langchain_lightmem.config import LightMemConfig, chroma_server

    values: dict[str, Any] = {}
    if args.to is not None:
        text = Path(args.to).read_text(encoding="utf-8")
        try:
            if Path(args.to).suffix.lower() == ".toml":
                import tomllib

                values = tomllib.loads(text)
            else:
                values = json.loads(text)
        except ValueError as exc:
            raise CommandLineError(f"{args.to}: not a JSON (or .toml) LightMem configuration: {exc}") from exc
        if not isinstance(values, dict):
            raise CommandLineError(f"{args.to}: a configuration is an object of LightMemConfig's fields")
    chroma: dict[str, Any] = dict(values.get("chroma") or {})
    postgres: dict[str, Any] = dict(values.get("postgres") or {})
    if args.to_data_dir is not None:
        values["data_dir"] = args.to_data_dir
    if args.to_chroma_url:
        chroma.update(chroma_server(args.to_chroma_url))
    for option, name in (("to_layout", "layout"), ("to_buckets", "buckets"), ("to_collection", "collection")):
        if getattr(args, option) is not None:
            chroma[name] = getattr(args, option)
    if args.to_postgres_url:
        postgres["url"] = args.to_postgres_url
    if args.to_postgres_schema:
        postgres["schema_name"] = args.to_postgres_schema
    if chroma:
        values["chroma"] = chroma
    if postgres:
        values["postgres"] = postgres
    # the layout, buckets, prefix or schema only describe a target: without a place it would be ./lightmem_data
    if "data_dir" not in values and not postgres.get("url") and chroma.get("mode") != "http":
        raise CommandLineError(
            "say where to migrate: --to CONFIG_FILE, or --to-data-dir / --to-postgres-url / --to-chroma-url "
            "(--to-layout, --to-buckets, --to-collection and --to-postgres-schema only describe the target)"
        )
    if postgres and not postgres.get("url"):
        raise CommandLineError(
            "the target's PostgreSQL schema needs its server: add --to-postgres-url (or postgres.url in --to), "
            "else the target's journal would be SQLite"
        )
    values.setdefault("embeddings", source.embeddings.model_dump())
    return LightMemConfig.model_validate(values)


def cmd_migrate(args: argparse.Namespace) -> int:
    from langchain_lightmem.migration import MigrationProgress, migrate

    source = _existing_data(args)
    target = _target_config(args, source)
    with contextlib.ExitStack() as stack:
        shown: list[Progress] = []

        def progress(step: MigrationProgress) -> None:
            if not shown:
                shown.append(stack.enter_context(Progress(step.total, desc="migrate", unit="item")))
            bar = shown[0]
            bar.phase(step.phase, announce=False)
            bar.update(step.done - bar.done)

        report = migrate(source, target, progress=progress)
    if args.json:
        _emit(report.as_dict())
        return 0
    removed = report.removed + report.store_removed
    left = f"; {removed} left by an earlier run removed" if removed else ""
    items = f", {report.store_items} LangGraph store items" if report.store_items else ""
    print(
        f"migrated {report.namespaces} namespace(s): {report.messages} messages and "
        f"{sum(report.journal_rows.values())} journal rows, {report.entries} memories and {report.history} "
        f"superseded ones with their vectors{items}{left} ({report.seconds:.1f} s)"
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from langchain_lightmem.conversations import load_conversations
    from langchain_lightmem.llm import model_name

    say: Callable[..., None] = (lambda *a, **k: None) if args.json else print
    sample = files("langchain_lightmem") / "data" / "demo_conversation.json"
    with tempfile.TemporaryDirectory(prefix="lightmem-demo-") as tmp:
        data_dir = Path(args.data_dir) if args.keep else Path(tmp)
        path = Path(tmp) / "demo_conversation.json"
        path.write_text(sample.read_text(encoding="utf-8"), encoding="utf-8")
        questions = json.loads(path.read_text(encoding="utf-8"))["questions"]
        config = _config(args, data_dir)
        planned, _ = _validate(load_conversations(path), "maya", config, path)
        say("LightMem demo: a 4-session conversation (shipped with the package) -> memories -> answers")
        say(f"data folder: {data_dir}{' (kept)' if args.keep else ' (temporary)'}")
        started = time.perf_counter()
        with _build_memory(args, config) as memory:
            mode = (
                f"chat model {model_name(memory.chat_model)}"
                if memory.chat_model is not None
                else "LLM-free (no chat model configured)"
            )
            loaded = time.perf_counter() - started
            say(f"extraction: {mode}; embeddings: {memory.embeddings_model_id}; loaded in {loaded:.1f} s\n")
            t0 = time.perf_counter()
            ingested = _ingest(memory, planned, flush=True, chunk=args.chunk)
            elapsed = time.perf_counter() - t0
            n = ingested["messages"]
            stats = memory.stats("maya")
            say(f"\ningested {n} messages in {elapsed:.2f} s ({n / elapsed:.1f} msg/s) -> {stats.entries} memories\n")
            by_id = {m.id: m for m in memory.recent_messages("maya")}
            answers = []
            for question in questions:
                say(f"Q: {question}")
                hits = memory.search("maya", question, k=args.k)
                answers.append(
                    {
                        "question": question,
                        "hits": [{"score": h.score, **h.entry.model_dump(mode="json")} for h in hits],
                    }
                )
                for hit in hits:
                    say(f"   [{hit.score:.3f}] {hit.render()}")
                    for sid in hit.entry.source_ids:
                        src = by_id.get(sid)
                        if src is not None:
                            when = f"{src.timestamp:%Y-%m-%d %H:%M}"
                            say(f"          from {sid} ({src.thread_id}, {when}, {src.display_speaker})")
                say()
            if args.json:
                _emit(
                    {
                        "data_dir": str(data_dir) if args.keep else None,
                        "extraction": mode,
                        "embeddings": memory.embeddings_model_id,
                        "messages": n,
                        "entries": stats.entries,
                        "seconds": round(elapsed, 3),
                        "questions": answers,
                        "stats": _stats_dict(memory.stats("maya")),
                    },
                )
                return 0
            print("cost and time per stage (namespace maya):")
            _print_usage_table(memory.stats("maya"))
    return 0


# -- inspect, serve, mcp -------------------------------------------------------------------------------------


def _namespace_with_data(memory: LightMem, namespace: Namespace, config: LightMemConfig) -> None:
    """Refuse a namespace that holds nothing (a typo would otherwise give an empty report)."""
    stats = memory.stats(namespace)
    if not any(stats.messages.values()) and not stats.entries and not stats.pending:
        raise CommandLineError(
            f"namespace {'/'.join(namespace)!r} holds no messages or memories in {config.data_dir} "
            "(lightmem stats lists the namespaces there)"
        )


def cmd_inspect(args: argparse.Namespace) -> int:
    from langchain_lightmem.inspect import write_report

    config = _existing_data(args)
    ns = _namespace(args.namespace)
    with _build_memory(args, config) as memory:
        _namespace_with_data(memory, ns, config)
        path = write_report(memory, ns, args.out, queries=args.query, k=args.k)
    if args.json:
        _emit({"namespace": list(ns), "report": str(path), "bytes": path.stat().st_size})
    else:
        print(f"wrote {path} ({path.stat().st_size:,} bytes): open it in a browser (it works offline)")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from langchain_lightmem.inspect import make_server

    config = _existing_data(args)
    ns = _namespace(args.namespace)
    with _build_memory(args, config) as memory:
        _namespace_with_data(memory, ns, config)
        server = make_server(memory, ns, host=args.host, port=args.port, queries=args.query, k=args.k)
        host = f"[{args.host.strip('[]')}]" if ":" in args.host else args.host
        print(
            f"serving the report of {'/'.join(ns)} on http://{host}:{server.server_port}/ (Ctrl-C stops)",
            file=sys.stderr,
            flush=True,
        )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
    return 0


def cmd_mcp(args: argparse.Namespace) -> int:
    import contextlib

    from langchain_lightmem.integrations.mcp import create_mcp_server, serve

    config = _config(args)  # a new user's server may start on an empty folder
    with contextlib.redirect_stdout(sys.stderr):  # over stdio, stdout is the protocol: nothing else may print there
        memory = _build_memory(args, config)
    with memory:
        server = create_mcp_server(memory, _namespace(args.namespace), allow_forget=args.forget)
        if args.http:
            print(
                f"MCP server for {args.namespace}: http://{args.host}:{args.port}/mcp (streamable HTTP, Ctrl-C stops)",
                file=sys.stderr,
                flush=True,
            )
        with contextlib.suppress(KeyboardInterrupt):
            serve(server, transport="streamable-http" if args.http else "stdio", host=args.host, port=args.port)
    return 0


# -- parser --------------------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """Refusals are one line on stderr (exit 2): what was wrong, and where to read more."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


_UNDECODABLE = re.compile(r"[\udc80-\udcff]")  # how Python keeps bytes of argv that are not UTF-8
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _text(value: str) -> str:
    bad = _UNDECODABLE.search(value) or _SURROGATE.search(value)
    if bad:
        byte = f" (byte 0x{ord(bad.group()) - 0xDC00:02x})" if _UNDECODABLE.match(bad.group()) else ""
        raise argparse.ArgumentTypeError(f"is not valid UTF-8 text{byte}; check the terminal's or script's encoding")
    return value


def _count(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of 1 or more, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {number}")
    return number


_ISO_EXAMPLES = "an ISO date such as 2024-05-01 or 2024-05-01T09:30:00+02:00"


def _iso(value: str, *, end_of_day: bool = False) -> datetime:
    """An ISO-8601 date or date-time (naive: UTC); a date alone is its first moment, or with ``end_of_day`` its
    last (``--until 2024-05-01`` includes that day)."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        why = "" if str(exc).startswith("Invalid isoformat") else f" ({exc})"
        raise argparse.ArgumentTypeError(f"{value!r} is not {_ISO_EXAMPLES}{why}") from None
    try:
        date.fromisoformat(text)
        if end_of_day:
            parsed = datetime.combine(parsed.date(), day_time.max)
    except ValueError:
        pass  # it has a time of day
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _port(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {value!r}") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, got {number}")
    return number


def _since(value: str) -> datetime:
    return _iso(value)


def _until(value: str) -> datetime:
    return _iso(value, end_of_day=True)


def _moment(value: str) -> datetime:
    """An ISO date or date-time, or epoch seconds."""
    try:
        seconds = float(value)
    except ValueError:
        try:
            return _iso(value)
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(f"{value!r} is not {_ISO_EXAMPLES}, nor epoch seconds") from None
    from langchain_lightmem.normalize import parse_timestamp

    try:
        return parse_timestamp(seconds)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _global_options(parser: argparse.ArgumentParser, *, given_after_command: bool) -> None:
    """The options every command takes, before the command or after it.

    After the command they default to "not given" (``SUPPRESS``) so they do not overwrite one given before it.
    """

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if given_after_command else value

    group = parser.add_argument_group("global options (before or after the command)")
    group.add_argument(
        "--data-dir",
        type=Path,
        default=default(Path(os.environ.get("LIGHTMEM_DATA_DIR", "lightmem_data"))),
        help="journal and embedded Chroma folder (env LIGHTMEM_DATA_DIR; default ./lightmem_data)",
    )
    group.add_argument(
        "--embeddings",
        type=_text,
        default=default(None),
        help="minilm (default), static, or a sentence-transformers folder / hub id (env LIGHTMEM_EMBEDDINGS)",
    )
    group.add_argument(
        "--chroma-url",
        type=_text,
        default=default(None),
        help="use a Chroma server, e.g. http://127.0.0.1:8000, instead of the folder (env LIGHTMEM_CHROMA_URL)",
    )
    group.add_argument(
        "--model", type=_text, default=default(None), help="chat model name (default env LIGHTMEM_MODEL or gpt-4o-mini)"
    )
    group.add_argument(
        "--llm-free", action="store_true", default=default(False), help="never call a chat model, even if a key is set"
    )
    group.add_argument(
        "--json", action="store_true", default=default(False), help="print one JSON document on stdout instead of text"
    )


def build_parser() -> argparse.ArgumentParser:
    from langchain_lightmem import __version__

    parser = _Parser(
        prog="lightmem",
        description="LightMem long-term memory for LangChain/LangGraph agents. Runs LLM-free unless "
        "OPENAI_API_KEY or OPENAI_BASE_URL is set. Exit status 2: the command line or the input was refused "
        "(one line on stderr says why).",
    )
    parser.add_argument("--version", action="version", version=f"lightmem {__version__}")
    _global_options(parser, given_after_command=False)
    common = _Parser(add_help=False)
    _global_options(common, given_after_command=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")

    def command(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], **kwargs)

    p = command(
        "ingest",
        help="add a conversation file (JSON or JSONL)",
        description=(
            "Add messages from a .json or .jsonl file (UTF-8). JSON: a message list, {namespace, thread_id, "
            "messages}, {namespace, sessions: [{thread_id, messages}]}, or a list of those. JSONL: one message per "
            "line (optional namespace, thread_id fields). A message: role, content, optional timestamp, speaker, "
            "id. The whole file is checked before any of it is stored; an error names the line (JSONL) or the "
            "position (JSON). A message without an id gets one from the file name, its line or position and its "
            "content, so running the same file again stores nothing twice."
        ),
    )
    p.add_argument("file", type=Path)
    p.add_argument(
        "--namespace", type=_text, help="namespace for every message (default: the file's); org/alice for nested"
    )
    p.add_argument("--no-flush", dest="flush", action="store_false", help="leave the buffers open afterwards")
    p.add_argument(
        "--chunk", type=_count, default=64, help="messages per add() call, across the threads of a namespace (64)"
    )
    p.set_defaults(func=cmd_ingest)

    p = command("search", help="search a namespace's memories")
    p.add_argument("query", type=_text)
    p.add_argument("--namespace", type=_text, required=True)
    p.add_argument("-k", type=_count, default=5, help="how many memories (default 5)")
    p.add_argument(
        "--since",
        type=_since,
        help="only memories of events at or after this ISO date or date-time (2024-05-01, 2024-05-01T09:30+02:00; "
        "no timezone: UTC)",
    )
    p.add_argument(
        "--until",
        type=_until,
        help="only memories of events at or before this ISO date or date-time (a date alone includes that day)",
    )
    p.add_argument("--history", action="store_true", help="include superseded memories")
    p.add_argument(
        "--mode", choices=["hybrid", "dense", "lexical"], help="ranking (default: the config's, normally hybrid)"
    )
    p.add_argument(
        "--reference-time",
        type=_moment,
        help="the date 'last month' or 'two weeks ago' is read against (ISO date or epoch seconds; default now)",
    )
    p.add_argument(
        "--time-mode",
        choices=["boost", "filter", "off"],
        help="what a time expression in the query does (default: the config's, normally boost)",
    )
    p.add_argument(
        "--max-tokens",
        type=_count,
        help="print the packed context that fits this many tokens (grouped by day) instead of the top k",
    )
    p.add_argument("--sources", action="store_true", help="with --max-tokens: show each memory's message ids")
    p.set_defaults(func=cmd_search)

    p = command(
        "flush",
        help="force buffered messages through extraction",
        description="Buffered messages are searchable (as pending memories) from the moment they are accepted; a "
        "flush extracts them now instead of when their batch is full or their thread goes quiet. --idle flushes "
        "only threads quiet for that many seconds (what the background worker does; run it from cron when no "
        "LightMem process stays up).",
    )
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--namespace", type=_text)
    g.add_argument("--all", action="store_true", help="every namespace in the data folder")
    g.add_argument(
        "--idle",
        type=_seconds,
        metavar="SECONDS",
        help="only threads that received no message for this long (e.g. 600), in every namespace",
    )
    p.set_defaults(func=cmd_flush)

    p = command(
        "consolidate",
        help="sleep-time update: merge and supersede outdated memories (run it from cron)",
        description="Newer memories update or supersede older similar ones (one chat-model call per batch of "
        "targets; LLM-free: near-duplicates are merged). Incremental and idempotent: run it on a schedule, e.g. "
        "crontab '17 3 * * * cd /srv/app && lightmem --data-dir /srv/memory consolidate --all'. Exit status 1 "
        "when a namespace was busy or some decisions failed (they are retried next run).",
    )
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--namespace", type=_text)
    g.add_argument("--all", action="store_true", help="every namespace with entries written since its last run")
    p.set_defaults(func=cmd_consolidate)

    p = command(
        "reextract",
        help="extract again the batches that fell back to extractive entries when the model failed",
        description="A batch whose extraction failed (model server down, no usable answer) was stored as its "
        "messages. Once the model answers, this extracts those batches again; their facts replace the fallback "
        "entries. Exit status 1 when a batch still fails (it keeps its entries).",
    )
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--namespace", type=_text)
    g.add_argument("--all", action="store_true", help="every namespace")
    p.set_defaults(func=cmd_reextract)

    p = command(
        "rebuild",
        help="re-create long-term memory from the journal (a lost chroma folder; no LLM call)",
        description="Long-term memory (Chroma and the BM25 index) is rebuilt from what the journal keeps: the "
        "extracted memories of every written batch, memories saved or edited by hand, consolidation decisions and "
        "the messages not extracted yet. Texts are re-embedded; no chat model is called.",
    )
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--namespace", type=_text)
    g.add_argument("--all", action="store_true", help="every namespace in the journal")
    p.set_defaults(func=cmd_rebuild)

    p = command(
        "warm-up",
        help="search every memory collection once, so Chroma loads their indexes before users search",
        description="A Chroma server loads a collection's index on the first search after it starts (~80-100 ms a "
        "bucket at 10,000 namespaces, against ~7 ms warm). Run this after the server restarts, or set "
        "chroma.warm_up / LIGHTMEM_CHROMA_WARM_UP=1 to have each process do it in the background as it opens. "
        "Reads only: one query per current-memory collection of this data's chroma.collection prefix.",
    )
    p.set_defaults(func=cmd_warm_up)

    p = command("stats", help="messages, memories, coverage, LLM calls, tokens and time per stage")
    p.add_argument("--namespace", type=_text, help="one namespace (default: all)")
    p.add_argument("--batches", action="store_true", help="also how many messages each batch's facts covered")
    p.set_defaults(func=cmd_stats)

    p = command("forget", help="delete everything held for a namespace")
    p.add_argument("--namespace", type=_text, required=True)
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument(
        "--vacuum",
        action="store_true",
        help="then compact the data folder so deleted text is gone from disk too (no other process may use it)",
    )
    p.set_defaults(func=cmd_forget)

    p = command(
        "migrate",
        help="copy everything (journal, memories and LangGraph store items with their vectors) to other backends or "
        "another Chroma layout",
        description="Copies the deployment the global options and LIGHTMEM_* variables name (the source, as for "
        "every other command) into an empty target: every journal row, every namespace's memories (current, "
        "pending and superseded) with their stored vectors (nothing is embedded again, so both use the same "
        "embeddings), the target's BM25 index, and the items of every LangGraph store (LightMemStore) in the source's "
        "Chroma with their vectors. The target is --to CONFIG_FILE (a JSON or .toml object of "
        'LightMemConfig\'s fields, e.g. {"data_dir": "/srv/worker", "postgres": {"url": "postgresql://..."}, '
        '"chroma": {"mode": "http", "host": "chroma", "port": 8000, "layout": "buckets"}}) and/or '
        "the --to-* options, which override it; its embeddings default to the source's. The target's journal must be "
        "empty (exit status 2 otherwise); the source is only read. Stop every process that uses the source or the "
        "target first. A run that fails or is interrupted leaves the target's journal empty: run it again. "
        "See docs/deployment.md.",
    )
    p.add_argument("--to", type=Path, metavar="CONFIG_FILE", help="the target's configuration (JSON or .toml)")
    p.add_argument("--to-data-dir", type=Path, metavar="DIR", help="the target's data folder")
    p.add_argument("--to-postgres-url", type=_text, metavar="URL", help="the target's journal on this PostgreSQL")
    p.add_argument("--to-postgres-schema", type=_text, metavar="NAME", help="its schema (default lightmem)")
    p.add_argument("--to-chroma-url", type=_text, metavar="URL", help="the target's Chroma server, http://host:port")
    p.add_argument("--to-layout", choices=["collections", "buckets"], help="the target's chroma.layout")
    p.add_argument("--to-buckets", type=_count, metavar="N", help="the target's chroma.buckets (buckets layout)")
    p.add_argument("--to-collection", type=_text, metavar="PREFIX", help="the target's chroma.collection")
    p.set_defaults(
        func=cmd_migrate,
        interrupted="interrupted: the target's journal was left empty and the source untouched; run the migration "
        "again",
    )

    p = command("demo", help="ingest a bundled sample conversation and answer questions from memory")
    p.add_argument("-k", type=_count, default=3, help="memories shown per question (default 3)")
    p.add_argument("--chunk", type=_count, default=4, help="messages per add() call (default 4)")
    p.add_argument("--keep", action="store_true", help="keep the memory in --data-dir instead of a temp folder")
    p.set_defaults(func=cmd_demo)

    p = command(
        "inspect",
        help="write an HTML report of a namespace (timeline, memories and provenance, buffers, cost, search)",
        description="One self-contained HTML file (no network: open it anywhere): sessions and topic segments with "
        "their messages and the memories made from each; every memory with its source messages, how it was made "
        "and its consolidation history; pending messages, buffers and the next idle flush; batches; cost per stage; "
        "and search results for a few example queries (--query, or the namespace's most frequent words). "
        "See docs/inspect.md.",
    )
    p.add_argument("--namespace", type=_text, required=True)
    p.add_argument("--out", type=Path, default=Path("lightmem-report.html"), help="default ./lightmem-report.html")
    p.add_argument("--query", type=_text, action="append", help="an example search to precompute (repeatable)")
    p.add_argument("-k", type=_count, default=5, help="memories per example search (default 5)")
    p.set_defaults(func=cmd_inspect)

    p = command(
        "serve",
        help="serve the HTML report of a namespace on 127.0.0.1, with live search",
        description="The report of lightmem inspect, rendered afresh on every load, with a search box that asks this "
        "server (GET /search?q=...). Loopback only and no authentication: anyone on this machine can read it.",
    )
    p.add_argument("--namespace", type=_text, required=True)
    p.add_argument("--host", type=_text, default="127.0.0.1", help="a loopback address (default 127.0.0.1)")
    p.add_argument("--port", type=_port, default=8765, help="default 8765; 0 picks a free port")
    p.add_argument("--query", type=_text, action="append", help="an example search shown as a button (repeatable)")
    p.add_argument("-k", type=_count, default=5, help="memories per search (default 5)")
    p.set_defaults(func=cmd_serve)

    p = command(
        "mcp",
        help="run an MCP server over one namespace (stdio, or streamable HTTP on loopback)",
        description="Tools add_memory, add_messages, search_memory, get_context and forget (two-step confirmation), "
        "and resources lightmem://memories, for MCP hosts. The namespace is fixed here: no tool call can choose "
        "another one. One process per embedded data folder. See docs/mcp.md.",
    )
    p.add_argument("--namespace", type=_text, required=True, help="the user this server serves (org/alice for nested)")
    p.add_argument("--http", action="store_true", help="streamable HTTP on --host:--port instead of stdio")
    p.add_argument(
        "--host", type=_text, default="127.0.0.1", help="with --http: a loopback address (default 127.0.0.1)"
    )
    p.add_argument("--port", type=_port, default=8931, help="with --http: the port (default 8931)")
    p.add_argument(
        "--no-forget", dest="forget", action="store_false", help="do not offer the forget tool (no deletion over MCP)"
    )
    p.set_defaults(func=cmd_mcp)
    return parser


def _one_line(text: str) -> str:
    return " ".join(text.split())


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lightmem`` console script."""
    from pydantic import ValidationError

    args = build_parser().parse_args(argv)
    prog = f"lightmem {args.command}"
    try:
        return int(args.func(args))
    except (LightMemError, ValidationError) as exc:
        print(f"{prog}: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:
        print(f"{prog}: error: {exc.strerror}: {exc.filename}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        default = "interrupted: accepted messages are safe in the journal"
        print(getattr(args, "interrupted", default), file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
