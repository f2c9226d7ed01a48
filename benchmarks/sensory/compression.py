"""Compression on LoCoMo: do gold answers survive, how many tokens go, how long does it take?

For every question of categories 1-4, the answer's content words (lower-cased, stop words removed) that occur in
its evidence turns are looked up in the compressed evidence turns. Reported per backend and rate: the share of
those words that survive, the share of cl100k tokens removed from the evidence turns, and the compression time per
1,000 turns (model load excluded, reported apart).

``llmlingua2`` cannot be measured for quality offline (no package carries its weights): unless ``--llmlingua-model``
names real weights, it runs on a randomly initialised BERT-base-sized stand-in and only its *time* is reported.

Usage (from the repository root):

    python -m benchmarks.sensory.compression
    python -m benchmarks.sensory.compression --backends self_information --rates 0.6 --dtype bfloat16
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from benchmarks.data import load_locomo
from benchmarks.exits import command
from benchmarks.sensory import publish
from benchmarks.sensory.metrics import answer_survival
from langchain_lightmem.config import CompressionConfig
from langchain_lightmem.sensory.compression import Compressor, build_compressor
from langchain_lightmem.sensory.self_information import SelfInformationCompressor
from langchain_lightmem.tokens import TokenCounter

RATES = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def standin_llmlingua2(folder: Path) -> str:
    """A BERT-base-sized, randomly initialised LLMLingua-2 stand-in: real speed, meaningless output."""
    from langchain_lightmem.sensory.llmlingua2 import build_random_llmlingua2

    path = folder / "standin-bert-base-multilingual-cased"
    build_random_llmlingua2(path, layers=12, hidden=768, heads=12, intermediate=3072)
    return str(path)


def measure(compressor: Compressor, texts: list[str], batch: int) -> tuple[list[str], float]:
    """Compress ``texts`` in pipeline-sized calls (``batch`` messages each); returns outputs and seconds."""
    out: list[str] = []
    started = time.perf_counter()
    for start in tqdm(range(0, len(texts), batch), desc=f"  {compressor.name}", unit="call", file=sys.stderr):
        out += compressor.compress(texts[start : start + batch])
    return out, time.perf_counter() - started


class Rescorer:
    """Self-information scores do not depend on the rate: score every text once (timed, in pipeline-sized calls),
    then prune at each rate. The time reported for a rate is the scoring time plus that rate's pruning time, which
    is what ``compress()`` would take."""

    def __init__(self, compressor: SelfInformationCompressor, texts: list[str], batch: int) -> None:
        self.compressor, self.texts, self.plans = compressor, texts, []
        started = time.perf_counter()
        for start in tqdm(range(0, len(texts), batch), desc="  scoring", unit="call", file=sys.stderr):
            self.plans += compressor.score(texts[start : start + batch])
        self.seconds = time.perf_counter() - started

    def measure(self) -> tuple[list[str], float]:
        started = time.perf_counter()
        out = self.compressor.prune(self.texts, self.plans)
        return out, self.seconds + time.perf_counter() - started


def run(args: argparse.Namespace) -> dict[str, Any]:
    conversations = load_locomo(args.data).conversations[: args.conversations]  # missing data: exit 1 (command)
    by_id = {(c.id, t.id): t.text for c in conversations for t in c.turns}
    questions = [q for c in conversations for q in c.questions if q.evidence]
    evidence_ids = sorted({(q.conversation_id, e) for q in questions for e in q.evidence})
    if args.max_turns:
        evidence_ids = evidence_ids[: args.max_turns]
        kept = set(evidence_ids)
        questions = [q for q in questions if all((q.conversation_id, e) in kept for e in q.evidence)]
    originals = [by_id[i] for i in evidence_ids]
    counter = TokenCounter()
    before_tokens = sum(counter.count_many(originals))
    rows: list[dict[str, Any]] = []
    scratch = tempfile.TemporaryDirectory()
    for backend in args.backends.split(","):
        model = args.model or None
        standin = False
        if backend == "llmlingua2" and not args.llmlingua_model:
            model, standin = standin_llmlingua2(Path(scratch.name)), True
        elif backend == "llmlingua2":
            model = args.llmlingua_model
        base = {"backend": backend, "dtype": args.dtype, "force_digits": args.force_digits, "model": model}
        started = time.perf_counter()
        compressor = build_compressor(CompressionConfig(**base))
        load_seconds = time.perf_counter() - started
        scored = (
            Rescorer(compressor, originals, args.call_size)
            if isinstance(compressor, SelfInformationCompressor)
            else None
        )
        for rate in [1.0] if backend == "none" else args.rates:
            if backend != "none":
                compressor.config.rate = rate  # type: ignore[attr-defined]
            print(f"{backend} rate {rate}", file=sys.stderr)
            compressed, seconds = scored.measure() if scored else measure(compressor, originals, args.call_size)
            after = dict(zip(evidence_ids, compressed, strict=True))
            survived = present = 0
            for q in questions:
                s, p = answer_survival(
                    q.answer,
                    [by_id[(q.conversation_id, e)] for e in q.evidence],
                    [after[(q.conversation_id, e)] for e in q.evidence],
                )
                survived, present = survived + s, present + p
            rows.append(
                {
                    "backend": backend,
                    "rate": rate,
                    "standin": standin,
                    "answer_words_kept": survived / present if present else 0.0,
                    "answer_words": present,
                    "tokens_removed": 1 - sum(counter.count_many(compressed)) / before_tokens,
                    "seconds_per_1000_turns": 1000 * seconds / len(originals),
                    "load_seconds": load_seconds,
                }
            )
    scratch.cleanup()
    return {
        "turns": len(originals),
        "questions": len(questions),
        "tokens": before_tokens,
        "settings": {k: str(v) for k, v in vars(args).items()},
        "rows": rows,
    }


def report(result: dict[str, Any]) -> str:
    lines = [
        f"{result['turns']} evidence turns ({result['tokens']} cl100k tokens), {result['questions']} questions",
        "",
        "| backend | rate | gold-answer words kept | tokens removed | s / 1,000 turns | load s |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        kept = "n/a (stand-in)" if r["standin"] else f"{r['answer_words_kept']:.3f}"
        removed = "n/a (stand-in)" if r["standin"] else f"{r['tokens_removed']:.3f}"
        lines.append(
            f"| {r['backend']}{' (random stand-in)' if r['standin'] else ''} | {r['rate']} | {kept} | {removed} | "
            f"{r['seconds_per_1000_turns']:.1f} | {r['load_seconds']:.1f} |"
        )
    return "\n".join(lines)


@command
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.sensory.compression", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--data", type=Path, help="LoCoMo json or its folder (default ../shared/data)")
    parser.add_argument("--conversations", type=int, help="only the first N conversations")
    parser.add_argument("--max-turns", type=int, help="only the first N evidence turns (quick runs)")
    parser.add_argument("--backends", default="none,self_information,llmlingua2")
    parser.add_argument("--rates", type=lambda s: [float(x) for x in s.split(",")], default=list(RATES))
    parser.add_argument("--model", default="", help="compression.model for self_information (default: packaged)")
    parser.add_argument("--llmlingua-model", default="", help="real LLMLingua-2 weights (folder); else a stand-in")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    parser.add_argument("--force-digits", action="store_true", help="always keep words with digits")
    parser.add_argument("--call-size", type=int, default=64, help="messages per compress() call (default 64)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    publish(run(args), report, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
