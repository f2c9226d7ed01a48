"""The QA judge prompts and verdict parsing (the QA run itself needs an endpoint and is skipped offline)."""

from __future__ import annotations

import pytest

from benchmarks.data import Question
from benchmarks.qa import LONGMEMEVAL_JUDGE_PROMPTS, judge_prompt, parse_verdict


def question(category: str, qid: str = "q") -> Question:
    return Question(qid, "c", "When did she move?", "May 2023", category, ("D1:1",), ("D1",), qid.endswith("_abs"))


def test_locomo_uses_the_correct_wrong_judge():
    prompt = judge_prompt("locomo", question("2"), "in May 2023")
    assert "Gold answer: May 2023" in prompt and "Generated answer: in May 2023" in prompt
    assert 'json format with the key as "label"' in prompt
    assert parse_verdict("locomo", 'Same month. {"label": "CORRECT"}') is True
    assert parse_verdict("locomo", '{"label": "WRONG"}') is False
    assert parse_verdict("locomo", "CORRECT") is True


@pytest.mark.parametrize("category", sorted(LONGMEMEVAL_JUDGE_PROMPTS))
def test_longmemeval_has_one_official_prompt_per_type(category):
    prompt = judge_prompt("longmemeval", question(category), "May")
    assert "When did she move?" in prompt and "May 2023" in prompt and prompt.endswith("Answer yes or no only.")
    if category == "temporal-reasoning":
        assert "off-by-one" in prompt
    if category == "single-session-preference":
        assert "Rubric: May 2023" in prompt


def test_longmemeval_abstention_prompt_and_yes_no():
    prompt = judge_prompt("longmemeval", question("multi-session", "q_abs"), "I don't know")
    assert "unanswerable" in prompt
    assert parse_verdict("longmemeval", "Yes.") is True and parse_verdict("longmemeval", "no") is False
