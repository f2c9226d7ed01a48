"""Topic segmentation on synthetic topic-switch streams: hybrid vs similarity vs fixed, in one run.

Each stream is 3-6 whole chitchat conversations back to back (``benchmarks/sensory/data.py``); the true boundaries
are where a conversation ends. Every segmenter runs through the real sensory-buffer rule
(:func:`langchain_lightmem.sensory.buffer.cut_segments`, window ``--window-tokens``) over the whole stream, as the
pipeline would on a flush, so window cuts count as predicted boundaries too. Timestamps are one minute apart and
speakers are ``user``/``assistant``: nothing but the text tells where topics change.

Usage (from the repository root):

    python -m benchmarks.sensory.segmentation --streams 200
    python -m benchmarks.sensory.segmentation --split dev --streams 100 --attention-peaks minima   # tuning
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from benchmarks.exits import command, positive_int
from benchmarks.sensory import publish
from benchmarks.sensory.data import Stream, stream_messages, topic_streams
from benchmarks.sensory.metrics import boundary_matches, pk, window_diff
from langchain_lightmem.config import SegmentationConfig
from langchain_lightmem.models import load_embeddings
from langchain_lightmem.sensory.buffer import cut_segments
from langchain_lightmem.sensory.segmentation import HybridSegmenter, Segmenter, build_segmenter
from langchain_lightmem.tokens import TokenCounter
from langchain_lightmem.types import Message

COUNTED = frozenset({"user", "assistant"})


class CoarseOnly:
    """Ablation: hybrid's attention candidates alone (no similarity stage)."""

    name = "attention-only"

    def __init__(self, hybrid: HybridSegmenter) -> None:
        self.hybrid = hybrid

    def boundaries(self, turns: Sequence[Message]) -> list[int]:
        return self.hybrid.coarse_boundaries(turns)


@dataclass
class Score:
    """Totals over streams for one segmenter."""

    matched: int = 0
    predicted: int = 0
    true: int = 0
    pk: list[float] = field(default_factory=list)
    window_diff: list[float] = field(default_factory=list)
    seconds: float = 0.0
    turns: int = 0

    def add(self, n: int, predicted: set[int], truth: frozenset[int], tolerance: int) -> None:
        self.matched += boundary_matches(predicted, truth, tolerance)
        self.predicted += len(predicted)
        self.true += len(truth)
        self.pk.append(pk(n, predicted, truth))
        self.window_diff.append(window_diff(n, predicted, truth))
        self.turns += n

    def row(self) -> dict[str, float]:
        precision = self.matched / self.predicted if self.predicted else 0.0
        recall = self.matched / self.true if self.true else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "pk": sum(self.pk) / len(self.pk),
            "window_diff": sum(self.window_diff) / len(self.window_diff),
            "boundaries_per_100_turns": 100 * self.predicted / self.turns,
            "turns_per_second": self.turns / self.seconds if self.seconds else 0.0,
        }


def predicted_boundaries(turns: list[Message], segmenter: Segmenter, window_tokens: int) -> set[int]:
    """Where segments start when the whole stream goes through the sensory buffer and is flushed."""
    segments, tail = cut_segments(turns, segmenter, window_tokens=window_tokens, counted_roles=COUNTED, force=True)
    assert not tail
    starts, at = set(), 0
    for segment in segments[:-1]:
        at += len(segment)
        starts.add(at)
    return starts


def build(args: argparse.Namespace) -> dict[str, Segmenter]:
    overrides: dict[str, Any] = {
        "window_tokens": args.window_tokens,
        "fixed_turns": args.fixed_turns,
        "similarity_window": args.similarity_window,
        "attention_peaks": args.attention_peaks,
        "attention_above_mean": args.attention_above_mean,
        "tolerance": args.hybrid_tolerance,
    }
    if args.attention_layers:
        overrides["attention_layers"] = [int(x) for x in args.attention_layers.split(",")]
    segmenters: dict[str, Segmenter] = {}
    # One embedder, as in the pipeline: each turn is embedded once (so the turns/s column shows each segmenter's
    # own work only for the first one that embeds; benchmarks.sensory.throughput measures speed properly).
    embeddings = load_embeddings()
    for backend in args.backends.split(","):
        config = SegmentationConfig(backend=backend, **overrides)
        segmenters[backend] = build_segmenter(config, embeddings)
    if args.ablation and isinstance(segmenters.get("hybrid"), HybridSegmenter):
        hybrid = segmenters["hybrid"]
        assert isinstance(hybrid, HybridSegmenter)
        segmenters["attention-only"] = CoarseOnly(hybrid)
    return segmenters


def run(args: argparse.Namespace) -> dict[str, Any]:
    streams: list[Stream] = topic_streams(args.streams, split=args.split, seed=args.seed)
    if len(streams) < args.streams:
        print(f"only {len(streams)} streams could be built", file=sys.stderr)
    segmenters = build(args)
    counter = TokenCounter()
    scores = {name: Score() for name in segmenters}
    for stream in tqdm(streams, desc="streams", unit="stream", file=sys.stderr):
        turns = stream_messages(stream, counter.count_many(stream.turns))
        for name, segmenter in segmenters.items():
            started = time.perf_counter()
            predicted = predicted_boundaries(turns, segmenter, args.window_tokens)
            scores[name].seconds += time.perf_counter() - started
            scores[name].add(len(turns), predicted, stream.boundaries, args.tolerance)
    return {
        "streams": len(streams),
        "turns": sum(len(s.turns) for s in streams),
        "true_boundaries": sum(len(s.boundaries) for s in streams),
        "split": args.split,
        "seed": args.seed,
        "settings": {k: v for k, v in vars(args).items() if k not in ("json",)},
        "results": {name: score.row() for name, score in scores.items()},
    }


def report(result: dict[str, Any]) -> str:
    lines = [
        f"{result['streams']} streams, {result['turns']} turns, {result['true_boundaries']} true boundaries "
        f"(split {result['split']}, seed {result['seed']})",
        "",
        "| segmenter | precision | recall | F1 (±1) | Pk ↓ | WindowDiff ↓ | boundaries / 100 turns | turns/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in result["results"].items():
        lines.append(
            f"| {name} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | {r['pk']:.3f} | "
            f"{r['window_diff']:.3f} | {r['boundaries_per_100_turns']:.1f} | {r['turns_per_second']:.0f} |"
        )
    res = result["results"]
    if "hybrid" in res:
        for base in ("similarity", "fixed"):
            if base in res:
                lines.append(
                    f"\nhybrid vs {base}: F1 {res['hybrid']['f1'] - res[base]['f1']:+.3f}, "
                    f"Pk {res['hybrid']['pk'] - res[base]['pk']:+.3f} (negative is better)"
                )
    return "\n".join(lines)


@command
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.sensory.segmentation", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--streams", type=positive_int, default=200, help="number of synthetic streams (default 200)")
    parser.add_argument("--split", choices=["dev", "test"], default="test", help="conversation half (tune on dev)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backends", default="hybrid,similarity,fixed", help="comma-separated segmenters")
    parser.add_argument("--no-ablation", dest="ablation", action="store_false", help="skip the attention-only row")
    parser.add_argument("--tolerance", type=int, default=1, help="turns a boundary may be off and still match")
    parser.add_argument("--window-tokens", type=int, default=SegmentationConfig().window_tokens)
    parser.add_argument("--fixed-turns", type=int, default=SegmentationConfig().fixed_turns)
    parser.add_argument("--similarity-window", type=int, default=SegmentationConfig().similarity_window)
    parser.add_argument("--attention-layers", default="", help="e.g. 0,1 (default: by encoder depth)")
    parser.add_argument("--attention-peaks", choices=["maxima", "minima"], default=SegmentationConfig().attention_peaks)
    parser.add_argument(
        "--attention-above-mean",
        action=argparse.BooleanOptionalAction,
        default=SegmentationConfig().attention_above_mean,
    )
    parser.add_argument("--hybrid-tolerance", type=int, default=SegmentationConfig().tolerance)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    publish(run(args), report, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
