"""Which direction of the attention signal marks topic shifts, and in which layers? Measured, not assumed.

On synthetic topic-switch streams (``benchmarks/sensory/data.py``, the ``dev`` half by default), each stream is cut
into sensory windows of ``--window-tokens`` cl100k tokens; for every gap between neighbouring turns we read the
neighbour attention ``a[k]`` of :class:`~langchain_lightmem.sensory.attention.AttentionEncoder` (per layer, and
for layer groups) and the embedding similarity across the gap. The table gives the ROC AUC of each signal for
"this gap is a true topic boundary": above 0.5, high values mark boundaries (use local maxima); below 0.5, low
values do (use minima); 0.5 is no signal.

Usage (from the repository root):

    python -m benchmarks.sensory.attention_signal --streams 100
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
from tqdm import tqdm

from benchmarks.exits import command, positive_int
from benchmarks.sensory.data import topic_streams
from langchain_lightmem.models import embed_in_batches, load_attention_encoder, load_embeddings
from langchain_lightmem.sensory.attention import AttentionEncoder, default_layers
from langchain_lightmem.sensory.segmentation import gap_similarities
from langchain_lightmem.tokens import TokenCounter


def auc(labels: Sequence[int], scores: Sequence[float]) -> float:
    """ROC AUC (probability that a random boundary gap scores higher than a random other gap; ties count half)."""
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    keep = ~np.isnan(s)
    y, s = y[keep], s[keep]
    pos, neg = s[y], s[~y]
    if not len(pos) or not len(neg):
        return float("nan")
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    ranks = np.empty(len(order))
    values = np.concatenate([pos, neg])[order]
    i = 0
    while i < len(values):  # average ranks over ties
        j = i
        while j + 1 < len(values) and values[j + 1] == values[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def windows(tokens: Sequence[int], budget: int) -> list[tuple[int, int]]:
    """Consecutive turn ranges of at most ``budget`` tokens (at least two turns each)."""
    out, start = [], 0
    while start < len(tokens) - 1:
        end, used = start, 0
        while end < len(tokens) and (end - start < 2 or used + tokens[end] <= budget):
            used += tokens[end]
            end += 1
        out.append((start, end))
        start = end
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    model, tokenizer, name = load_attention_encoder(args.model or None)
    encoder = AttentionEncoder(model, tokenizer, name=name)
    embeddings = load_embeddings()
    groups: dict[str, list[int]] = {f"layer {i}": [i] for i in range(encoder.depth)}
    groups[f"default {default_layers(encoder.depth)}"] = default_layers(encoder.depth)
    upper = list(range(encoder.depth - max(1, round(encoder.depth / 3)), encoder.depth))
    groups[f"upper third {upper} (reference)"] = upper
    groups["all layers"] = list(range(encoder.depth))
    labels: list[int] = []
    scores: dict[str, list[float]] = {g: [] for g in groups}
    for w in (1, 2, 3):
        scores[f"similarity, window {w} (negated)"] = []
    counter = TokenCounter()
    streams = topic_streams(args.streams, split=args.split, seed=args.seed)
    for stream in tqdm(streams, desc="streams", unit="stream", file=sys.stderr):
        for a, b in windows(counter.count_many(stream.turns), args.window_tokens):
            texts = stream.turns[a:b]
            labels += [1 if a + k + 1 in stream.boundaries else 0 for k in range(len(texts) - 1)]
            for group, layers in groups.items():
                scores[group] += list(encoder.neighbour_attention(texts, layers=layers, edge_mask=args.edge_mask))
            vectors = embed_in_batches(embeddings, [f"{r}: {t}" for r, t in zip(stream.roles[a:b], texts, strict=True)])
            for w in (1, 2, 3):
                scores[f"similarity, window {w} (negated)"] += list(-gap_similarities(vectors, w))
    return {
        "encoder": name,
        "gaps": len(labels),
        "boundaries": sum(labels),
        "auc": {k: auc(labels, v) for k, v in scores.items()},
    }


def report(result: dict[str, Any]) -> str:
    lines = [
        f"encoder {result['encoder']}: {result['gaps']} gaps, {result['boundaries']} true boundaries",
        "",
        "| signal | AUC (high = boundary) | boundaries are |",
        "|---|---|---|",
    ]
    for name, value in result["auc"].items():
        where = "maxima" if value > 0.52 else "minima" if value < 0.48 else "no signal"
        lines.append(f"| {name} | {value:.3f} | {where} |")
    return "\n".join(lines)


@command
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.sensory.attention_signal", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--streams", type=positive_int, default=100)
    parser.add_argument("--split", choices=["dev", "test"], default="dev")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--window-tokens", type=int, default=512)
    parser.add_argument("--edge-mask", type=int, default=3)
    parser.add_argument("--model", default="", help="encoder folder or hub id (default: packaged all-MiniLM-L6-v2)")
    args = parser.parse_args(argv)
    print(report(run(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
