"""Calibrating relevance: from ranking features to a score that means the same for every query.

``dump`` ingests LoCoMo conversations LLM-free (one add per session, a thread per conversation, then a flush: the
harness's batch protocol) and writes, for every scorable question of categories 1-4, every ranked candidate with
what its score was made of (:meth:`MemorySearcher.explain`): raw cosine, raw BM25, BM25 relative to the query's
best, the min-max scaled cosine, the time window, its segment neighbours, its rendered size, and whether it is
evidence. ``fit`` fits a logistic model of "this candidate is evidence" on those features, by conversation
(two folds: fitted on half the conversations, scored on the other half), and compares, per fold:

* recall within 1,000 tokens when candidates are ranked by the calibrated score vs the shipped fused score;
* what an agent would be shown: of the top ``k`` hits (the middleware's default 5), the share that is evidence,
  with no threshold (today) and with ``min_score`` thresholds on the calibrated score;
* how the calibrated score spreads: evidence vs non-evidence, and the best hit of each question.

    python -m benchmarks.calibration dump --out /tmp/calibration.jsonl
    python -m benchmarks.calibration fit /tmp/calibration.jsonl
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

FEATURES = ("cosine", "lexical", "bm25_saturated", "in_window")


def dump(out: Path, limit: int | None, embeddings: str) -> int:
    from benchmarks.data import DataNotFoundError, load_dataset
    from langchain_lightmem import LightMem, LightMemConfig
    from langchain_lightmem.tokens import TokenCounter

    try:
        data = load_dataset("locomo", categories={"1", "2", "3", "4"})
    except DataNotFoundError as exc:
        print(f"{exc}: nothing measured")
        return 2
    counter = TokenCounter()
    rows = 0
    with out.open("w") as f, tempfile.TemporaryDirectory(prefix="lightmem-calibration-") as tmp:
        for conv in data.conversations[:limit]:
            config = LightMemConfig(data_dir=Path(tmp) / conv.id, embeddings={"backend": embeddings})
            with LightMem(config) as memory:
                for session in conv.sessions:
                    if session.turns:
                        memory.add([t.as_message() for t in session.turns], namespace=conv.id, thread_id=conv.id)
                memory.flush(conv.id)
                window = memory.config.retrieval.neighbour_window
                for q in conv.questions:
                    if not q.scorable:
                        continue
                    ranked = memory.searcher.explain((conv.id,), q.text, reference_time=q.date)
                    sides = memory.store.segment_neighbours((conv.id,), [c.entry.id for c in ranked], window=window)
                    evidence = set(q.evidence)
                    record = {
                        "conversation": conv.id,
                        "question": q.id,
                        "category": q.category,
                        "evidence": sorted(evidence),
                        "candidates": [
                            {
                                "id": c.entry.id,
                                "sources": [s.split("#p")[0] for s in c.entry.source_ids],
                                "cosine": c.cosine,
                                "bm25": c.bm25,
                                "lexical": c.lexical,
                                "dense": c.dense,
                                "in_window": c.in_window,
                                "score": c.score,
                                "neighbours": sides.get(c.entry.id, []),
                                "tokens": counter.count(
                                    f"{c.entry.event_time:%Y-%m-%d} ({c.entry.event_time:%a}) {c.entry.text}"
                                ),
                                "evidence": bool(evidence & {s.split("#p")[0] for s in c.entry.source_ids}),
                            }
                            for c in ranked
                        ],
                    }
                    f.write(json.dumps(record) + "\n")
                    rows += 1
            print(f"{conv.id}: {sum(1 for q in conv.questions if q.scorable)} questions", flush=True)
    print(f"wrote {rows} questions to {out}")
    return 0 if rows else 2


def features(c: dict[str, Any], k_bm25: float) -> list[float]:
    cosine = c["cosine"] if c["cosine"] is not None else 0.0
    return [cosine, c["lexical"], c["bm25"] / (c["bm25"] + k_bm25), float(c["in_window"])]


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-3, steps: int = 50) -> np.ndarray:
    """Weights (intercept first) of a logistic regression by Newton's method."""
    design = np.hstack([np.ones((len(x), 1)), x])
    w = np.zeros(design.shape[1])
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-design @ w))
        grad = design.T @ (p - y) + l2 * w
        hess = (design * (p * (1 - p))[:, None]).T @ design + l2 * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def calibrated(c: dict[str, Any], w: Sequence[float], k_bm25: float) -> float:
    z = w[0] + sum(wi * xi for wi, xi in zip(w[1:], features(c, k_bm25), strict=True))
    return 1.0 / (1.0 + math.exp(-z))


def rescore(q: dict[str, Any], w: Sequence[float], k_bm25: float, neighbour_weight: float) -> list[dict[str, Any]]:
    """The question's candidates ranked by the calibrated score, with the shipped neighbour lift on top."""
    base = {c["id"]: calibrated(c, w, k_bm25) for c in q["candidates"]}
    best: dict[str, float] = {}
    for c in q["candidates"]:
        for n in c["neighbours"]:
            best[n] = max(best.get(n, 0.0), base[c["id"]])
    out = []
    for c in q["candidates"]:
        lift = neighbour_weight * best.get(c["id"], 0.0)
        out.append({**c, "calibrated": 1.0 - (1.0 - base[c["id"]]) * (1.0 - lift)})
    return sorted(out, key=lambda c: -c["calibrated"])


def recall_within(ranked: list[dict[str, Any]], evidence: set[str], budget: int) -> float:
    used, found = 0, set()
    for c in ranked:
        if used + c["tokens"] > budget:
            break
        used += c["tokens"]
        found |= evidence & set(c["sources"])
    return len(found) / len(evidence)


def fit(path: Path, budget: int, k: int, k_bm25: float, neighbour_weight: float) -> int:
    questions = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not questions:
        print(f"no questions in {path}: nothing measured")
        return 2
    conversations = sorted({q["conversation"] for q in questions})
    folds = [set(conversations[0::2]), set(conversations[1::2])]
    report: dict[str, Any] = {"questions": len(questions), "k_bm25": k_bm25, "folds": []}
    for held_out in folds:
        train = [q for q in questions if q["conversation"] not in held_out]
        test = [q for q in questions if q["conversation"] in held_out]
        x = np.array([features(c, k_bm25) for q in train for c in q["candidates"]])
        y = np.array([float(c["evidence"]) for q in train for c in q["candidates"]])
        w = [float(v) for v in fit_logistic(x, y)]
        fused_recall, cal_recall, shown = [], [], {t: [0, 0] for t in (None, 0.05, 0.1, 0.2, 0.3, 0.5)}
        best_scores: list[float] = []
        evidence_scores: list[float] = []
        other_scores: list[float] = []
        for q in test:
            evidence = set(q["evidence"])
            fused = sorted(q["candidates"], key=lambda c: -c["score"])
            fused_recall.append(recall_within(fused, evidence, budget))
            ranked = rescore(q, w, k_bm25, neighbour_weight)
            cal_recall.append(recall_within(ranked, evidence, budget))
            best_scores.append(ranked[0]["calibrated"] if ranked else 0.0)
            for c in ranked:
                (evidence_scores if c["evidence"] else other_scores).append(c["calibrated"])
            for threshold, counts in shown.items():
                top = fused[:k] if threshold is None else [c for c in ranked[:k] if c["calibrated"] >= threshold]
                counts[0] += sum(c["evidence"] for c in top)
                counts[1] += len(top)
        report["folds"].append(
            {
                "held_out": sorted(held_out),
                "weights": dict(zip(("intercept", *FEATURES), (round(float(v), 3) for v in w), strict=True)),
                "questions": len(test),
                f"recall@budget{budget} fused (today)": round(float(np.mean(fused_recall)), 3),
                f"recall@budget{budget} calibrated": round(float(np.mean(cal_recall)), 3),
                f"top{k} evidence share / hits per question": {
                    ("today, no threshold" if t is None else f"min_score {t}"): (
                        round(a / b, 3) if b else None,
                        round(b / len(test), 2),
                    )
                    for t, (a, b) in shown.items()
                },
                "calibrated score, median: evidence / other / best hit": (
                    round(float(np.median(evidence_scores)), 3),
                    round(float(np.median(other_scores)), 3),
                    round(float(np.median(best_scores)), 3),
                ),
            }
        )
    x = np.array([features(c, k_bm25) for q in questions for c in q["candidates"]])
    y = np.array([float(c["evidence"]) for q in questions for c in q["candidates"]])
    report["weights, all conversations"] = dict(
        zip(("intercept", *FEATURES), (round(float(v), 3) for v in fit_logistic(x, y)), strict=True)
    )
    print(json.dumps(report, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.calibration",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dump", help="ingest LoCoMo LLM-free and write every question's ranked candidates")
    d.add_argument("--out", type=Path, required=True)
    d.add_argument("--limit", type=int, help="only the first N conversations")
    d.add_argument("--embeddings", default="minilm")
    f = sub.add_parser("fit", help="fit the calibration by conversation folds and compare it with today's ranking")
    f.add_argument("path", type=Path)
    f.add_argument("--budget", type=int, default=1000)
    f.add_argument("--k", type=int, default=5, help="hits an agent is shown (the middleware's default k)")
    f.add_argument("--k-bm25", type=float, default=5.0, help="BM25 saturation: bm25 / (bm25 + k)")
    f.add_argument("--neighbour-weight", type=float, default=0.4)
    args = parser.parse_args(argv)
    if args.command == "dump":
        return dump(args.out, args.limit, args.embeddings)
    return fit(args.path, args.budget, args.k, args.k_bm25, args.neighbour_weight)


if __name__ == "__main__":
    sys.exit(main())
