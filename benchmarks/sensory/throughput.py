"""Sensory-stage throughput on one LoCoMo conversation: turns per second through compression + segmentation
(which embeds every turn), measured inside the real write path.

Each configuration gets a fresh :class:`~langchain_lightmem.LightMem` (LLM-free, ephemeral Chroma, packaged
MiniLM embeddings); the conversation is added one session per call, as an application would, then flushed. The
per-stage seconds come from the memory's own accounting (``memory.stats(namespace).usage``). Model loading happens
before the clock starts. All configurations run in one process, one after another: compare them as ratios.

Usage (from the repository root):

    python -m benchmarks.sensory.throughput
    python -m benchmarks.sensory.throughput --configs none+similarity,self_information+hybrid
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from benchmarks.data import load_locomo
from benchmarks.exits import command
from benchmarks.sensory import publish
from benchmarks.sensory.compression import standin_llmlingua2
from langchain_lightmem import LightMem, LightMemConfig
from langchain_lightmem.models import load_embeddings

DEFAULT_CONFIGS = (
    "none+fixed,none+similarity,none+hybrid,self_information+hybrid,self_information/bfloat16+hybrid,llmlingua2+hybrid"
)


def sessions(path: Path | None, conversation: int) -> list[list[dict[str, Any]]]:
    """The sessions of one LoCoMo conversation as the message dicts ``LightMem.add`` takes (turn ids kept)."""
    conv = load_locomo(path).conversations[conversation]  # missing data: exit 1 (command)
    return [[turn.as_message() for turn in session.turns] for session in conv.sessions]


def config_for(name: str, folder: Path, standin: str | None) -> LightMemConfig:
    """``<compressor>[/<dtype>]+<segmenter>`` as a LightMem configuration."""
    compressor, segmenter = name.split("+")
    backend, _, dtype = compressor.partition("/")
    compression: dict[str, Any] = {"backend": backend, "rate": 0.6, "dtype": dtype or "float32"}
    if backend == "llmlingua2":
        compression["model"] = standin
    return LightMemConfig(
        data_dir=folder / name.replace("/", "-"),
        chroma={"mode": "ephemeral", "collection": f"bench_{abs(hash(name))}"},
        compression=compression,
        segmentation={"backend": segmenter},
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(args.threads)
    data = sessions(args.data, args.conversation)
    turns = sum(len(s) for s in data)
    scratch = tempfile.TemporaryDirectory()
    folder = Path(scratch.name)
    names = args.configs.split(",")
    standin = standin_llmlingua2(folder) if any(n.startswith("llmlingua2") for n in names) else None
    rows = []
    for name in names:
        started = time.perf_counter()
        embeddings = load_embeddings()  # its own cache: no turn is embedded for free because another run saw it
        memory = LightMem(config_for(name, folder, standin), embeddings=embeddings)
        embeddings.embed_query("warm-up")
        load = time.perf_counter() - started
        wall = time.perf_counter()
        for session in tqdm(data, desc=name, unit="session", file=sys.stderr):
            memory.add(session, namespace="bench", thread_id="locomo")
        memory.flush("bench")
        wall = time.perf_counter() - wall
        usage = memory.stats("bench").usage
        sensory = sum(usage[s].seconds for s in ("compress", "segment") if s in usage)
        rows.append(
            {
                "config": name,
                "turns": turns,
                "load_seconds": load,
                "compress_seconds": usage["compress"].seconds if "compress" in usage else 0.0,
                "segment_seconds": usage["segment"].seconds if "segment" in usage else 0.0,
                "sensory_turns_per_second": turns / sensory if sensory else float("inf"),
                "ingest_turns_per_second": turns / wall,
            }
        )
        memory.close()
    scratch.cleanup()
    return {"turns": turns, "threads": args.threads, "conversation": args.conversation, "rows": rows}


def report(result: dict[str, Any]) -> str:
    lines = [
        f"LoCoMo conversation {result['conversation']}: {result['turns']} turns, torch threads {result['threads']}",
        "",
        "| compressor + segmenter | compress s | segment s | sensory turns/s | whole ingest turns/s | load s |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['config']} | {r['compress_seconds']:.1f} | {r['segment_seconds']:.1f} | "
            f"{r['sensory_turns_per_second']:.1f} | {r['ingest_turns_per_second']:.1f} | {r['load_seconds']:.1f} |"
        )
    return "\n".join(lines)


@command
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sensory.throughput", description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, help="LoCoMo json or its folder (default ../shared/data)")
    parser.add_argument("--conversation", type=int, default=0, help="which conversation (index, default 0)")
    parser.add_argument("--configs", default=DEFAULT_CONFIGS, help="comma-separated <compressor>[/<dtype>]+<segmenter>")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    publish(run(args), report, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
