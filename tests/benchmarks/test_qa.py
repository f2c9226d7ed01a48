"""The QA judge prompts, verdict parsing, fitting the context to the model's window, and the answer and judge
steps against a fake OpenAI-compatible server on loopback."""

from __future__ import annotations

import pytest

from benchmarks.calls import CallLog
from benchmarks.data import Question
from benchmarks.llm import Endpoint
from benchmarks.qa import (
    ANSWER_MAX_TOKENS,
    ANSWER_PROMPT,
    JUDGE_MAX_TOKENS,
    LONGMEMEVAL_JUDGE_PROMPTS,
    TOKENIZER_MARGIN,
    QAEvaluator,
    fit_context,
    judge_prompt,
    parse_verdict,
)
from langchain_lightmem.tokens import TokenCounter


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


def _locomo_question() -> Question:
    return Question("conv-1/q1", "conv-1", "What did Melanie paint?", "a sunrise", "4", ("D1:4",), ("D1",), False)


def test_context_is_cut_to_the_models_window_by_whole_lines():
    counter = TokenCounter()
    lines = [f"2023-05-{i % 28 + 1:02d} (Mon) memory number {i} about painting a sunrise" for i in range(2000)]
    context = "\n".join(lines)
    assert fit_context(context, "q?", None, counter) == (context, 0)  # window unknown: no cut
    kept, dropped = fit_context(context, "q?", 8192, counter, keep="start")
    assert 0 < dropped < 2000 and kept.split("\n") == lines[: 2000 - dropped]
    prompt = ANSWER_PROMPT.format(context=kept, question="q?")
    assert counter.count(prompt) * TOKENIZER_MARGIN + ANSWER_MAX_TOKENS <= 8192 + 16  # newline counting slack
    tail, dropped_tail = fit_context(context, "q?", 8192, counter, keep="end")
    assert 0 < dropped_tail < 2000 and tail.split("\n") == lines[dropped_tail:]  # full text keeps the newest
    assert counter.count(ANSWER_PROMPT.format(context=tail, question="q?")) * TOKENIZER_MARGIN <= 8192
    assert fit_context("short", "q?", 8192, counter) == ("short", 0)


def test_answer_and_judge_run_against_the_server_and_are_logged(fake_server, tmp_path):
    log = CallLog(tmp_path / "calls.jsonl")
    endpoint = Endpoint(fake_server.url, model="qwen", judge_model="qwen", context_window=8192)
    qa = QAEvaluator("locomo", endpoint, log=log, fields={"system": "bm25"})
    result = qa.evaluate(_locomo_question(), "2023-05-08 (Mon) Melanie: I painted a sunrise.")
    assert (result.answer, result.correct, result.error) == ("a sunrise", True, None)
    answer, judge = fake_server.requests
    assert answer["max_tokens"] == ANSWER_MAX_TOKENS and judge["max_tokens"] == JUDGE_MAX_TOKENS
    assert "Generated answer: a sunrise" in judge["messages"][-1]["content"]
    assert [(r["phase"], r["question"], r["system"]) for r in log.records] == [
        ("query", "conv-1/q1", "bm25"),
        ("judge", "conv-1/q1", "bm25"),
    ]
    usage = qa.usage()
    assert (usage["answer_calls"], usage["judge_calls"], usage["failures"]) == (1, 1, 0)
    assert usage["answer_model"] == usage["judge_model"] == "qwen"


def test_a_failed_call_leaves_the_question_unjudged(fake_server, tmp_path):
    fake_server.slow_seconds = 1.5
    log = CallLog()
    qa = QAEvaluator("locomo", Endpoint(fake_server.url, model="slow", timeout=0.3), log=log)
    result = qa.evaluate(_locomo_question(), "context")
    assert result.correct is None and "Timeout" in (result.error or "")
    assert qa.usage()["failures"] == 1 and log.records[0]["error"]
