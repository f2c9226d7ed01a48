"""Resident memory of MiniLM encoding over many varied texts: sentence-transformers' ``encode`` as is, against
LightMem's shape-bucketed encoder (``langchain_lightmem/models.py``).

Each encoder runs in its own fresh process over the same joined ``chitchat-dataset`` turns, in random batches of
1-40 (seeded), the embedding cache off, and reports RSS every ``--every`` texts. PyTorch's CPU kernels keep
native memory per input shape, so an encoder that lets every batch have a new shape grows without end.

Usage (from the repository root):

    python -m benchmarks.embedding_memory --texts 9000
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from typing import Any

from benchmarks.exits import NothingMeasured, chitchat, command, positive_int

ENCODERS = ("plain", "shipped")


def _texts(n: int) -> list[str]:
    chitchat_dataset = chitchat()
    texts: list[str] = []
    for conv in chitchat_dataset.Dataset().values():
        texts += [" ".join(part["text"] for part in message) for message in conv["messages"]]
        if len(texts) >= n:
            break
    return texts[:n]


def measure(encoder: str, n: int, every: int) -> dict[str, Any]:
    """RSS after every ``every`` texts while ``encoder`` embeds ``n`` texts, and texts/s (in a fresh process)."""
    import psutil

    from langchain_lightmem.config import EmbeddingConfig
    from langchain_lightmem.models import load_embeddings

    embeddings = load_embeddings(EmbeddingConfig(cache_size=0))
    model = embeddings.encoder

    def plain(batch: list[str]) -> Any:
        return model.encode(batch, batch_size=32, show_progress_bar=False)

    encode = plain if encoder == "plain" else embeddings.embed_documents
    texts = _texts(n)
    rng = random.Random(0)
    process = psutil.Process()
    samples, done = [], 0
    started = time.perf_counter()
    while done < n:
        size = rng.randint(1, 40)
        encode(texts[done : done + size])
        if (done + size) // every != done // every:
            samples.append({"texts": min(done + size, n), "rss_mb": round(process.memory_info().rss / 2**20)})
        done += size
    return {"samples": samples, "texts_per_s": round(n / (time.perf_counter() - started), 1)}


@command
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.embedding_memory", description=__doc__.split("\n")[0])
    parser.add_argument("--texts", type=positive_int, default=9000, help="texts per encoder (default 9000)")
    parser.add_argument("--every", type=positive_int, default=1500, help="RSS sample interval in texts (default 1500)")
    parser.add_argument("--encoder", choices=ENCODERS, help=argparse.SUPPRESS)  # the child process's job
    args = parser.parse_args(argv)
    if args.encoder:
        print(json.dumps(measure(args.encoder, args.texts, args.every)))
        return 0
    results = {}
    for encoder in ENCODERS:
        print(f"encoding {args.texts:,} texts with the {encoder} encoder ...", file=sys.stderr, flush=True)
        child = [sys.executable, "-m", "benchmarks.embedding_memory", "--encoder", encoder]
        out = subprocess.run(
            [*child, "--texts", str(args.texts), "--every", str(args.every)],
            check=False,
            capture_output=True,
            text=True,
        )
        if out.returncode != 0 or not out.stdout.strip():
            tail = (out.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise NothingMeasured(f"the {encoder} encoder's process exited with code {out.returncode}: {tail}")
        results[encoder] = json.loads(out.stdout.strip().splitlines()[-1])
    points = [s["texts"] for s in results["plain"]["samples"]]
    print(f"`python -m benchmarks.embedding_memory --texts {args.texts} --every {args.every}`\n")
    print("| encoder | texts/s | RSS after " + " | ".join(f"{p:,} texts" for p in points) + " |")
    print("|---|---|" + "---|" * len(points))
    for encoder, result in results.items():
        rss = " | ".join(f"{s['rss_mb']:,} MB" for s in result["samples"])
        print(f"| {encoder} | {result['texts_per_s']} | {rss} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
