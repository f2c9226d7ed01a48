"""How consolidation scales: queue-build (planning) and decision time for 10k / 100k synthetic entries.

Entries are real chat messages from the ``chitchat-dataset`` package (with repeats, so near-duplicates exist),
stored directly in one namespace's long-term memory and queued for consolidation, as if ingestion had written
them. Two situations per size: the first run (every entry is new) and an incremental run (1% new). Decisions
are made LLM-free (near-duplicates) and with a scripted chat model that answers ``keep`` (its latency is ~0, so
the figures are LightMem's own overhead: prompt building, LangGraph fan-out, parsing, applying).

    python -m benchmarks.consolidation --entries 10000 100000

Timing is wall time on this machine; compare runs as ratios measured in one run.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tqdm import tqdm

from benchmarks.exits import NothingMeasured, chitchat, command, positive_int
from langchain_lightmem import LightMem, LightMemConfig, MemoryEntry
from langchain_lightmem.testing import ScriptedChatModel


def chat_texts(n: int, repeat: float, seed: int) -> list[str]:
    """``n`` chitchat messages; a ``repeat`` fraction are copies of earlier ones (near-duplicates to find)."""
    chitchat_dataset = chitchat()
    rng = random.Random(seed)
    texts: list[str] = []
    for conversation in chitchat_dataset.ConversationDataset():
        for message in conversation:
            if len(message.split()) >= 4:
                texts.append(message)
        if len(texts) >= n:
            break
    texts = texts[:n]
    for i in range(1, n):
        if rng.random() < repeat:
            texts[i] = texts[rng.randrange(i)]
    return texts


def keep_everything(messages: list[Any], tools: list[dict[str, Any]]) -> dict[str, Any]:
    """A scripted decider: every target stays as it is (valid output, no change)."""
    return {"decisions": []}


def load_entries(memory: LightMem, texts: list[str], start: int, end: int, t0: datetime) -> None:
    """Store entries ``start..end`` and queue them for consolidation, as the write path would."""
    ns = ("bench",)
    batch = f"synthetic-{start}"
    for lo in tqdm(range(start, end, 1000), desc=f"store {start:,}-{end:,}", unit="k", file=sys.stderr):
        hi = min(lo + 1000, end)
        entries = [
            MemoryEntry(
                id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench:{i}")),
                namespace=ns,
                text=texts[i],
                source_ids=[f"m{i}"],
                event_time=t0 + timedelta(minutes=i),
                batch_id=batch,
                method="extractive",
            )
            for i in range(lo, hi)
        ]
        memory.store.add(entries)
        memory.journal.batches.mark_written(ns, batch, [e.id for e in entries])


def run_size(n: int, *, new_fraction: float, repeat: float, embeddings: str, seed: int) -> list[dict[str, Any]]:
    texts = chat_texts(n, repeat, seed)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    rows = []
    for mode in ("llm_free", "scripted"):
        with tempfile.TemporaryDirectory(prefix="lightmem-consolidation-") as tmp:
            model = ScriptedChatModel(responder=keep_everything) if mode == "scripted" else None
            config = LightMemConfig(data_dir=Path(tmp), embeddings={"backend": embeddings})
            with LightMem(config, chat_model=model) as memory:
                old = int(n * (1 - new_fraction)) if new_fraction < 1 else 0
                load_entries(memory, texts, 0, old or n, t0)
                if old:
                    memory.consolidate("bench")  # the state before the incremental run
                    load_entries(memory, texts, old, n, t0)
                started = time.perf_counter()
                (report,) = memory.consolidate("bench")
                wall = time.perf_counter() - started
                rows.append(
                    {
                        "entries": n,
                        "new": report.new_entries,
                        "mode": mode,
                        "targets": report.targets,
                        "llm_calls": report.calls,
                        "superseded": report.superseded,
                        "plan_s": round(report.plan_seconds, 3),
                        "decide_s": round(report.seconds - report.plan_seconds - report.apply_seconds, 3),
                        "apply_s": round(report.apply_seconds, 3),
                        "total_s": round(wall, 3),
                    }
                )
                print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1] (got {value}): 0 would measure nothing")
    return value


@command
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.consolidation",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--entries", type=positive_int, nargs="+", default=[10_000, 100_000], help="sizes (default 10k 100k)"
    )
    parser.add_argument(
        "--new",
        type=_fraction,
        nargs="+",
        default=[1.0, 0.01],
        help="fractions of entries new in the measured run (default 1.0 = first run, 0.01)",
    )
    parser.add_argument("--repeat", type=float, default=0.05, help="share of entries that repeat an earlier one")
    parser.add_argument("--embeddings", default="static", help="static (default, 64-d) or minilm (384-d, slower)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, help="write the rows as JSON here")
    args = parser.parse_args(argv)
    rows = []
    for n in args.entries:
        for fraction in args.new:
            rows += run_size(n, new_fraction=fraction, repeat=args.repeat, embeddings=args.embeddings, seed=args.seed)
    if not rows:
        raise NothingMeasured("no consolidation run was measured (no entries were loaded)")
    header = list(rows[0])
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(f"{row[h]:,}" if isinstance(row[h], int) else str(row[h]) for h in header) + " |")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
