"""Soak run: ingest a long stream of real chat turns and watch throughput and memory (RSS) stay flat.

Turns come from the ``chitchat-dataset`` package (7,168 conversations, 258k messages). Each conversation goes to
one of ``--users`` namespaces as its own thread, in arrival order, through the full LightMem write path
(LLM-free unless ``--scripted``), with a consolidation pass every ``--consolidate-every`` turns. Every
``--sample-every`` turns a line reports turns/s over the last window and the process RSS.

    python -m benchmarks.soak --turns 100000 --users 50

The verdict line compares the RSS of the last quarter of samples with the first quarter after warm-up.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
from tqdm import tqdm

from benchmarks.exits import NothingMeasured, chitchat, command, positive_int
from langchain_lightmem import LightMem, LightMemConfig
from langchain_lightmem.testing import ScriptedChatModel


def conversations(limit_turns: int) -> list[list[dict[str, Any]]]:
    """Chitchat conversations as message dicts (two alternating speakers), up to ``limit_turns`` turns in all."""
    data = chitchat().Dataset()
    out: list[list[dict[str, Any]]] = []
    total = 0
    t0 = datetime(2020, 1, 1, tzinfo=UTC)
    for conv_index, (conv_id, conv) in enumerate(data.items()):
        turns = []
        for turn_index, group in enumerate(conv["messages"]):
            text = " ".join(u["text"] for u in group).strip()
            if not text:
                continue
            turns.append(
                {
                    "id": f"{conv_id}:{turn_index}",
                    "role": "user" if turn_index % 2 == 0 else "assistant",
                    "speaker": group[0].get("sender"),
                    "content": text,
                    "timestamp": t0 + timedelta(hours=conv_index, minutes=turn_index),
                }
            )
        out.append(turns)
        total += len(turns)
        if total >= limit_turns:
            break
    return out


@command
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.soak", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--turns", type=positive_int, default=100_000)
    parser.add_argument("--users", type=positive_int, default=50, help="namespaces the conversations are spread over")
    parser.add_argument("--embeddings", default="minilm", help="minilm (default) or static")
    parser.add_argument("--scripted", action="store_true", help="extract with the scripted chat model")
    parser.add_argument("--sample-every", type=positive_int, default=5_000)
    parser.add_argument("--consolidate-every", type=int, default=25_000, help="0 disables")
    parser.add_argument("--data-dir", type=Path, help="keep the data here (default: a temporary folder)")
    parser.add_argument("--out", type=Path, help="write samples as JSON here")
    args = parser.parse_args(argv)

    convs = conversations(args.turns)
    process = psutil.Process()
    samples: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="lightmem-soak-") as tmp:
        config = LightMemConfig(data_dir=args.data_dir or Path(tmp), embeddings={"backend": args.embeddings})
        model = ScriptedChatModel() if args.scripted else None
        with LightMem(config, chat_model=model) as memory:
            done = window_turns = 0
            started = window_start = time.perf_counter()
            peak = process.memory_info().rss
            bar = tqdm(total=args.turns, unit="turn", file=sys.stderr, desc="soak")
            for index, turns in enumerate(convs):
                namespace = f"user-{index % args.users}"
                turns = turns[: args.turns - done]
                memory.add(turns, namespace=namespace, thread_id=f"c{index}")
                done += len(turns)
                window_turns += len(turns)
                bar.update(len(turns))
                peak = max(peak, process.memory_info().rss)
                if (
                    args.consolidate_every
                    and done // args.consolidate_every != (done - len(turns)) // args.consolidate_every
                ):
                    memory.consolidate()
                if window_turns >= args.sample_every or done >= args.turns:
                    now = time.perf_counter()
                    samples.append(
                        {
                            "turns": done,
                            "turns_per_s": round(window_turns / (now - window_start), 1),
                            "rss_mb": round(process.memory_info().rss / 2**20, 1),
                            "peak_rss_mb": round(peak / 2**20, 1),
                        }
                    )
                    bar.write(json.dumps(samples[-1]))
                    window_turns, window_start = 0, now
                if done >= args.turns:
                    break
            bar.close()
            flush_start = time.perf_counter()
            for n in range(args.users):
                memory.flush(f"user-{n}")
            elapsed = time.perf_counter() - started
            entries = sum(memory.stats(f"user-{n}").entries for n in range(args.users))
    if not samples:
        raise NothingMeasured("no turn was ingested: the chitchat data yielded no conversation")
    quarter = max(1, len(samples) // 4)
    early = [s["rss_mb"] for s in samples[1 : 1 + quarter]] or [samples[0]["rss_mb"]]
    late = [s["rss_mb"] for s in samples[-quarter:]]
    summary = {
        "turns": done,
        "users": args.users,
        "embeddings": args.embeddings,
        "llm": "scripted" if args.scripted else "none",
        "seconds": round(elapsed, 1),
        "turns_per_s": round(done / elapsed, 1),
        "final_flush_s": round(time.perf_counter() - flush_start, 1),
        "entries": entries,
        "peak_rss_mb": max(s["peak_rss_mb"] for s in samples),
        "rss_early_mb": round(sum(early) / len(early), 1),
        "rss_late_mb": round(sum(late) / len(late), 1),
    }
    print(json.dumps(summary, indent=2))
    if args.out:
        args.out.write_text(json.dumps({"summary": summary, "samples": samples}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
