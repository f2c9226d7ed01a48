"""Calibrating relevance: a search score that means the same for every query.

The ranking score (BM25 fused with min-max scaled cosines, time boost, neighbour lift) is relative to the query's
candidates: a lone memory scores 0.5 for any query. The shipped relevance maps it, with two facts about the query
(the best raw cosine and the best raw BM25 among its candidates), to the probability that a hit is evidence
(a logistic model). Within a query it is monotone in the ranking score, so the order, and recall, do not change.

``dump`` ingests LoCoMo conversations LLM-free (one add per session, a thread per conversation, then a flush: the
harness's batch protocol) and writes, for every scorable question of categories 1-4, every ranked candidate with
what its score was made of (:meth:`MemorySearcher.explain`). It also asks each conversation ``--negatives``
questions about the people of the next conversation: every LoCoMo question has its answer in its own conversation,
so without them nothing shows the model what an unrelated query looks like. ``fit`` fits the model by conversation
(two folds: fitted on half the conversations, scored on the other half) and reports, per fold, what an agent shown
the top ``k`` hits would get with no threshold (today) and with ``min_score`` thresholds: the share of what is shown
that is evidence, how much is shown, how much evidence is still shown, and how much is shown for a question about
someone else.

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

# The shipped model keeps today's ranking: it maps the fused score and two per-query facts (how close the best
# vector match is, how strong the best word match is) to a probability, so within a query it is monotone in the
# fused score and the order cannot change.
MONOTONE = ("score", "best_cosine", "best_bm25_saturated")


def dump(out: Path, limit: int | None, embeddings: str, negatives: int = 60) -> int:
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
    conversations = data.conversations[:limit]
    with out.open("w") as f, tempfile.TemporaryDirectory(prefix="lightmem-calibration-") as tmp:
        for index, conv in enumerate(conversations):
            config = LightMemConfig(data_dir=Path(tmp) / conv.id, embeddings={"backend": embeddings})
            # Questions about other people (the next conversation's) make the negatives: every LoCoMo question has
            # its answer in its own conversation, so without them nothing teaches the score what "unrelated" is.
            strangers = conversations[(index + 1) % len(conversations)].questions if len(conversations) > 1 else []
            asked = [(q, False) for q in conv.questions if q.scorable] + [(q, True) for q in strangers if q.scorable][
                :negatives
            ]
            with LightMem(config) as memory:
                for session in conv.sessions:
                    if session.turns:
                        memory.add([t.as_message() for t in session.turns], namespace=conv.id, thread_id=conv.id)
                memory.flush(conv.id)
                window = memory.config.retrieval.neighbour_window
                for q, negative in asked:
                    ranked = memory.searcher.explain((conv.id,), q.text, reference_time=q.date)
                    sides = memory.store.segment_neighbours((conv.id,), [c.entry.id for c in ranked], window=window)
                    evidence = set() if negative else set(q.evidence)
                    record = {
                        "conversation": conv.id,
                        "question": q.id,
                        "category": q.category,
                        "negative": negative,
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
            print(f"{conv.id}: {len(asked)} questions ({sum(n for _, n in asked)} about other people)", flush=True)
    print(f"wrote {rows} questions to {out}")
    return 0 if rows else 2


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


def query_features(q: dict[str, Any], k_bm25: float) -> tuple[float, float]:
    best_cosine = max((c["cosine"] for c in q["candidates"] if c["cosine"] is not None), default=0.0)
    best_bm25 = max((c["bm25"] for c in q["candidates"]), default=0.0)
    return best_cosine, best_bm25 / (best_bm25 + k_bm25)


def monotone_features(q: dict[str, Any], k_bm25: float) -> list[list[float]]:
    best_cosine, best_bm25 = query_features(q, k_bm25)
    return [[c["score"], best_cosine, best_bm25] for c in q["candidates"]]


def monotone(x: Sequence[float], w: Sequence[float]) -> float:
    z = w[0] + sum(wi * xi for wi, xi in zip(w[1:], x, strict=True))
    return 1.0 / (1.0 + math.exp(-z))


def recall_within(ranked: list[dict[str, Any]], evidence: set[str], budget: int) -> float:
    used, found = 0, set()
    for c in ranked:
        if used + c["tokens"] > budget:
            break
        used += c["tokens"]
        found |= evidence & set(c["sources"])
    return len(found) / len(evidence)


def fit(path: Path, budget: int, k: int, k_bm25: float, neighbour_weight: float) -> int:
    """Fit the shipped (monotone) calibration by conversation folds; report what an agent would be shown."""
    questions = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not questions:
        print(f"no questions in {path}: nothing measured")
        return 2
    conversations = sorted({q["conversation"] for q in questions})
    folds = [set(conversations[0::2]), set(conversations[1::2])]
    thresholds = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3)
    report: dict[str, Any] = {
        "questions": sum(not q.get("negative") for q in questions),
        "questions about other people": sum(bool(q.get("negative")) for q in questions),
        "k_bm25": k_bm25,
        "folds": [],
    }
    for held_out in folds:
        train = [q for q in questions if q["conversation"] not in held_out]
        test = [q for q in questions if q["conversation"] in held_out]
        x = np.array([row for q in train for row in monotone_features(q, k_bm25)])
        y = np.array([float(c["evidence"]) for q in train for c in q["candidates"]])
        w = [float(v) for v in fit_logistic(x, y)]
        positives = [q for q in test if not q.get("negative")]
        negatives = [q for q in test if q.get("negative")]
        shown: dict[float | None, list[float]] = {t: [0, 0, 0.0, 0] for t in (None, *thresholds)}
        best: dict[bool, list[float]] = {True: [], False: []}
        recall = []
        for q in test:
            evidence = set(q["evidence"])
            fused = sorted(q["candidates"], key=lambda c: -c["score"])
            rows = dict(zip((c["id"] for c in q["candidates"]), monotone_features(q, k_bm25), strict=True))
            scored = [(c, monotone(rows[c["id"]], w)) for c in fused[:k]]
            best[bool(q.get("negative"))].append(scored[0][1] if scored else 0.0)
            if evidence:
                recall.append(recall_within(fused, evidence, budget))
            for threshold, counts in shown.items():
                kept = [c for c, p in scored if threshold is None or p >= threshold]
                if q.get("negative"):
                    counts[3] += len(kept)
                    continue
                counts[0] += sum(c["evidence"] for c in kept)
                counts[1] += len(kept)
                counts[2] += len(evidence & {s for c in kept for s in c["sources"]}) / len(evidence)
        report["folds"].append(
            {
                "held_out": sorted(held_out),
                "weights": dict(zip(("intercept", *MONOTONE), (round(v, 3) for v in w), strict=True)),
                f"recall@budget{budget} (ranking unchanged)": round(float(np.mean(recall)), 3),
                f"top{k}: evidence share of what is shown / shown per question / evidence recall / shown per "
                "question about someone else": {
                    ("no threshold (today)" if t is None else f"min_score {t}"): (
                        round(a / b, 3) if b else None,
                        round(b / max(1, len(positives)), 2),
                        round(r / max(1, len(positives)), 3),
                        round(n / max(1, len(negatives)), 2),
                    )
                    for t, (a, b, r, n) in shown.items()
                },
                "best hit's score, median: own questions / questions about someone else": (
                    round(float(np.median(best[False])), 3),
                    round(float(np.median(best[True])), 3) if best[True] else None,
                ),
            }
        )
    x = np.array([row for q in questions for row in monotone_features(q, k_bm25)])
    y = np.array([float(c["evidence"]) for q in questions for c in q["candidates"]])
    report["weights, all conversations"] = dict(
        zip(("intercept", *MONOTONE), (round(float(v), 3) for v in fit_logistic(x, y)), strict=True)
    )
    # Dense mode and store items are ranked by the cosine alone: (intercept, cosine, the query's best cosine).
    dense_rows: list[list[float]] = []
    dense_labels: list[float] = []
    for q in questions:
        with_vectors = [c for c in q["candidates"] if c["cosine"] is not None]
        top = max((c["cosine"] for c in with_vectors), default=0.0)
        dense_rows += [[c["cosine"], top] for c in with_vectors]
        dense_labels += [float(c["evidence"]) for c in with_vectors]
    report["dense weights, all conversations"] = dict(
        zip(
            ("intercept", "cosine", "best_cosine"),
            (round(float(v), 3) for v in fit_logistic(np.array(dense_rows), np.array(dense_labels))),
            strict=True,
        )
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
    d.add_argument("--negatives", type=int, default=60, help="questions about other people asked per conversation")
    f = sub.add_parser("fit", help="fit the calibration by conversation folds and compare it with today's ranking")
    f.add_argument("path", type=Path)
    f.add_argument("--budget", type=int, default=1000)
    f.add_argument("--k", type=int, default=5, help="hits an agent is shown (the middleware's default k)")
    f.add_argument("--k-bm25", type=float, default=5.0, help="BM25 saturation: bm25 / (bm25 + k)")
    f.add_argument("--neighbour-weight", type=float, default=0.4)
    args = parser.parse_args(argv)
    if args.command == "dump":
        return dump(args.out, args.limit, args.embeddings, args.negatives)
    return fit(args.path, args.budget, args.k, args.k_bm25, args.neighbour_weight)


if __name__ == "__main__":
    sys.exit(main())
