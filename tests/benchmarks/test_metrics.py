from __future__ import annotations

import pytest

from benchmarks.metrics import (
    aggregate,
    answer_in_context,
    by_category,
    latency_summary,
    normalize_text,
    score_question,
)
from benchmarks.systems.base import Hit


def hits() -> list[Hit]:
    return [
        Hit("2023-05-08 (Mon) Caroline: hello", ("D1:1",)),
        Hit("2023-05-08 (Mon) Melanie: I painted a sunrise", ("D1:4", "D1:2")),
        Hit("2023-06-27 (Tue) Caroline: counseling in psychology", ("D2:1",)),
    ]


def test_recall_all_any_and_mrr_at_k():
    r = score_question(hits(), {"D1:4", "D2:1"}, token_counts=[10, 10, 10], ks=(1, 2, 3), budgets=())
    assert r["recall@1"] == 0 and r["any@1"] == 0
    assert r["recall@2"] == 0.5 and r["all@2"] == 0 and r["any@2"] == 1
    assert r["recall@3"] == 1 and r["all@3"] == 1
    assert r["mrr"] == 0.5 and r["first_rank"] == 2


def test_budget_takes_hits_in_rank_order_while_they_fit():
    r = score_question(
        hits(), {"D1:4", "D2:1"}, token_counts=[10, 30, 5], answer="sunrise", ks=(), budgets=(15, 40, 45)
    )
    assert r["hits@budget15"] == 1 and r["recall@budget15"] == 0 and r["answer@budget15"] == 0
    # the third hit would fit in 40 on its own, but ranks come first: the prefix stops at the first that overflows
    assert r["hits@budget40"] == 2 and r["tokens@budget40"] == 40 and r["recall@budget40"] == 0.5
    assert r["answer@budget40"] == 1
    assert r["hits@budget45"] == 3 and r["all@budget45"] == 1


def test_session_level_metrics_and_no_evidence():
    session_of = {"D1:1": "D1", "D1:2": "D1", "D1:4": "D1", "D2:1": "D2"}
    r = score_question(
        hits(), {"D2:1"}, token_counts=[1, 1, 1], evidence_sessions={"D2"}, session_of=session_of, ks=(1, 3), budgets=()
    )
    assert r["session_any@1"] == 0 and r["session_any@3"] == 1 and r["session_all@3"] == 1
    empty = score_question(hits(), set(), token_counts=[1, 1, 1], ks=(5,), budgets=(10,))
    assert empty["recall@5"] is None and empty["mrr"] == 0 and empty["recall@budget10"] is None


def test_answer_normalisation():
    assert normalize_text("The  Rainbow-Flag!") == "rainbow flag"
    assert answer_in_context("a rainbow flag", "She waved the rainbow flag.") is True
    assert answer_in_context("2022", "in 20223") is False  # whole words only
    assert answer_in_context("", "anything") is None


def test_aggregate_skips_none_and_groups_by_category():
    rows = [
        {"category": "1", "recall@5": 1.0, "x": None},
        {"category": "1", "recall@5": 0.0},
        {"category": "2", "recall@5": 0.5},
    ]
    assert aggregate(rows) == {"recall@5": 0.5, "n": 3}
    groups = by_category(rows)
    assert groups["1"]["recall@5"] == 0.5 and groups["2"]["n"] == 1


def test_latency_percentiles_in_ms():
    summary = latency_summary([0.001] * 19 + [0.1])
    assert summary["p50"] == pytest.approx(1.0) and summary["p95"] > 1.0 and summary["n"] == 20
    assert latency_summary([])["p50"] is None
