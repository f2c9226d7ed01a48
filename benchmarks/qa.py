"""QA accuracy with an LLM judge: only when an OpenAI-compatible endpoint is configured (skipped otherwise).

A system's retrieved context is given to the answer model with one answer prompt for every system (short
answers, dates resolved from the memory timestamps, as in mem0's LoCoMo harness). The judge is:

* **LoCoMo**: mem0's CORRECT/WRONG judge (``ACCURACY_PROMPT`` of mem0's evaluation, Apache-2.0), categories 1-4;
* **LongMemEval**: the official per-question-type yes/no judge prompts (``get_anscheck_prompt`` of LongMemEval's
  ``evaluate_qa.py``, MIT), including the abstention prompt.

The answer model is the endpoint's model (``--model``, ``LIGHTMEM_MODEL``, default ``gpt-4o-mini``); the judge
is ``--judge-model`` / ``LIGHTMEM_JUDGE_MODEL`` (default: the answer model). Answers are capped at
:data:`ANSWER_MAX_TOKENS` tokens, the judge's at :data:`JUDGE_MAX_TOKENS`. When the endpoint's context window is
known (``--context-window``; 8,192 for ``--endpoint local``), the answer prompt is fitted to it: context lines
that do not fit are dropped (the ranked systems' last, full text's oldest) and counted. A question whose answer
or judge call fails (timeout, server error) is not judged: it counts as a QA failure, not as wrong.

Example:
    .. code-block:: python

        qa = QAEvaluator("locomo", probe(resolve_endpoint("local")))
        result = qa.evaluate(question, "2023-05-08 (Mon) Caroline went to a support group.")
        result.correct, result.answer, qa.usage()
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage

from benchmarks.calls import CallLog
from benchmarks.data import Question
from benchmarks.llm import CallbackMeter, Endpoint, build_chat_model, resolve_endpoint
from langchain_lightmem.tokens import TokenCounter

ANSWER_MAX_TOKENS = 100
"""The answer prompt asks for at most 5-6 words: a cap far above that changes nothing for a model that complies,
and bounds one that does not."""
JUDGE_MAX_TOKENS = 200
"""The LoCoMo judge writes one sentence and a JSON label."""
TOKENIZER_MARGIN = 1.25
"""Prompts are counted in cl100k; the server's tokenizer may need more tokens for the same text."""

ANSWER_PROMPT = """You answer questions about a conversation between people, using only the memories below.

# INSTRUCTIONS
1. Read every memory; each starts with the date it was recorded or refers to.
2. Use the dates: resolve relative references ("last year", "two months ago") against the memory's date and
   answer with a specific date, month or year.
3. If memories contradict each other, prefer the most recent one.
4. Do not confuse people mentioned in a memory with the speakers.
5. Answer in at most 5-6 words.

# MEMORIES
{context}

Question: {question}
Answer:"""

# mem0 evaluation/metrics/llm_judge.py ACCURACY_PROMPT (Apache-2.0), kept verbatim so scores are comparable.
LOCOMO_JUDGE_PROMPT = """
Your task is to label an answer to a question as ’CORRECT’ or ’WRONG’. You will be given the following data:
    (1) a question (posed by one user to another user), 
    (2) a ’gold’ (ground truth) answer, 
    (3) a generated answer
which you will score as CORRECT/WRONG.

The point of the question is to ask about something one user should know about the other user based on their prior conversations.
The gold answer will usually be a concise and short answer that includes the referenced topic, for example:
Question: Do you remember what I got the last time I went to Hawaii?
Gold answer: A shell necklace
The generated answer might be much longer, but you should be generous with your grading - as long as it touches on the same topic as the gold answer, it should be counted as CORRECT. 

For time related questions, the gold answer will be a specific date, month, year, etc. The generated answer might be much longer or use relative time references (like "last Tuesday" or "next month"), but you should be generous with your grading - as long as it refers to the same date or time period as the gold answer, it should be counted as CORRECT. Even if the format differs (e.g., "May 7th" vs "7 May"), consider it CORRECT if it's the same date.

Now it's time for the real question:
Question: {question}
Gold answer: {gold_answer}
Generated answer: {generated_answer}

First, provide a short (one sentence) explanation of your reasoning, then finish with CORRECT or WRONG. 
Do NOT include both CORRECT and WRONG in your response, or it will break the evaluation script.

Just return the label CORRECT or WRONG in a json format with the key as "label".
"""  # noqa: E501

# LongMemEval src/evaluation/evaluate_qa.py get_anscheck_prompt (MIT), kept verbatim.
_LME_BASE = (
    "I will give you a question, a correct answer, and a response from a model. Please answer yes if the response "
    "contains the correct answer. Otherwise, answer no. If the response is equivalent to the correct answer or "
    "contains all the intermediate steps to get the correct answer, you should also answer yes. If the response only "
    "contains a subset of the information required by the answer, answer no. "
)
_LME_TAIL = (
    "\n\nQuestion: {}\n\nCorrect Answer: {}\n\nModel Response: {}\n\n"
    "Is the model response correct? Answer yes or no only."
)
LONGMEMEVAL_JUDGE_PROMPTS = {
    "single-session-user": _LME_BASE + _LME_TAIL,
    "single-session-assistant": _LME_BASE + _LME_TAIL,
    "multi-session": _LME_BASE + _LME_TAIL,
    "temporal-reasoning": _LME_BASE
    + "In addition, do not penalize off-by-one errors for the number of days. If the question asks for the number of "
    "days/weeks/months, etc., and the model makes off-by-one errors (e.g., predicting 19 days when the answer is 18), "
    "the model's response is still correct. " + _LME_TAIL,
    "knowledge-update": "I will give you a question, a correct answer, and a response from a model. Please answer yes "
    "if the response contains the correct answer. Otherwise, answer no. If the response contains some previous "
    "information along with an updated answer, the response should be considered as correct as long as the updated "
    "answer is the required answer." + _LME_TAIL,
    "single-session-preference": "I will give you a question, a rubric for desired personalized response, and a "
    "response from a model. Please answer yes if the response satisfies the desired response. Otherwise, answer no. "
    "The model does not need to reflect all the points in the rubric. The response is correct as long as it recalls "
    "and utilizes the user's personal information correctly.\n\nQuestion: {}\n\nRubric: {}\n\nModel Response: {}\n\n"
    "Is the model response correct? Answer yes or no only.",
}
LONGMEMEVAL_ABSTENTION_PROMPT = (
    "I will give you an unanswerable question, an explanation, and a response from a model. Please answer yes if the "
    "model correctly identifies the question as unanswerable. The model could say that the information is "
    "incomplete, or some other information is given but the asked information is not.\n\nQuestion: {}\n\n"
    "Explanation: {}\n\nModel Response: {}\n\nDoes the model correctly identify the question as unanswerable? Answer "
    "yes or no only."
)


def judge_prompt(dataset: str, question: Question, response: str) -> str:
    """The judge prompt for one answer (LoCoMo: mem0's; LongMemEval: the official one for the question type)."""
    if dataset == "locomo":
        return LOCOMO_JUDGE_PROMPT.format(
            question=question.text, gold_answer=question.answer, generated_answer=response
        )
    template = LONGMEMEVAL_ABSTENTION_PROMPT if question.abstention else LONGMEMEVAL_JUDGE_PROMPTS[question.category]
    return template.format(question.text, question.answer, response)


def parse_verdict(dataset: str, text: str) -> bool:
    """LoCoMo: ``{"label": "CORRECT"}`` (or the bare word); LongMemEval: ``yes`` anywhere in the reply."""
    if dataset != "locomo":
        return "yes" in text.lower()
    match = re.search(r"\{.*\}", text, re.DOTALL)
    if match:
        try:
            return str(json.loads(match[0]).get("label", "")).strip().upper() == "CORRECT"
        except (json.JSONDecodeError, AttributeError):
            pass
    return "CORRECT" in text.upper() and "WRONG" not in text.upper()


@dataclass(slots=True)
class QAResult:
    """One judged answer; ``correct`` is ``None`` when a call failed (``error`` says why)."""

    answer: str
    correct: bool | None
    error: str | None = None
    dropped_lines: int = 0


def fit_context(
    context: str,
    question: str,
    window: int | None,
    counter: TokenCounter,
    *,
    keep: Literal["start", "end"] = "start",
) -> tuple[str, int]:
    """``context`` cut to whole lines so the answer prompt and :data:`ANSWER_MAX_TOKENS` fit in ``window``
    tokens (with :data:`TOKENIZER_MARGIN`); ``keep`` says which end survives. Returns the text and how many
    lines were dropped (no cut without a ``window``)."""
    if window is None or not context:
        return context, 0
    fixed = counter.count(ANSWER_PROMPT.format(context="", question=question))
    budget = int((window - ANSWER_MAX_TOKENS) / TOKENIZER_MARGIN) - fixed
    lines = context.split("\n")
    counts = counter.count_many(lines)
    order = range(len(lines)) if keep == "start" else range(len(lines) - 1, -1, -1)
    kept: list[int] = []
    used = 0
    for i in order:
        used += counts[i] + 1  # the newline
        if used > budget:
            break
        kept.append(i)
    kept.sort()
    return "\n".join(lines[i] for i in kept), len(lines) - len(kept)


class QAEvaluator:
    """Answers with the endpoint's model and judges with the judge model; both counted by their own meters
    (phases ``query`` and ``judge``), both writing to the run's per-call ``log`` with ``fields``.

    Raises:
        RuntimeError: no endpoint is given or configured.
    """

    def __init__(
        self,
        dataset: str,
        endpoint: Endpoint | None = None,
        *,
        log: CallLog | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> None:
        endpoint = endpoint or resolve_endpoint()
        if endpoint is None:
            raise RuntimeError("QA needs an endpoint: pass --endpoint local|URL, or set OPENAI_BASE_URL/API_KEY")
        self.dataset = dataset
        self.endpoint = endpoint
        answer_model, answer_meter = build_chat_model(
            "endpoint", endpoint=endpoint, max_tokens=ANSWER_MAX_TOKENS, log=log, fields=fields
        )
        judge_model, judge_meter = build_chat_model(
            "endpoint",
            endpoint=endpoint,
            model=endpoint.judge_model,
            max_tokens=JUDGE_MAX_TOKENS,
            log=log,
            fields=fields,
        )
        self.answer_model: BaseChatModel = answer_model
        self.judge_model: BaseChatModel = judge_model
        self.answer_meter = answer_meter
        self.judge_meter = judge_meter
        self.counter = TokenCounter()
        self.failures = 0
        self.trimmed = 0

    @property
    def meters(self) -> list[CallbackMeter]:
        return [m for m in (self.answer_meter, self.judge_meter) if isinstance(m, CallbackMeter)]

    def evaluate(self, question: Question, context: str, *, keep: Literal["start", "end"] = "start") -> QAResult:
        """Answer ``question`` over ``context`` and judge the answer (``keep``: which end of a context too long
        for the model's window survives)."""
        import openai

        context, dropped = fit_context(context, question.text, self.endpoint.context_window, self.counter, keep=keep)
        self.trimmed += bool(dropped)
        prompt = ANSWER_PROMPT.format(context=context or "(no memories)", question=question.text)
        try:
            with self.answer_meter.phase("query"), self._tag(question):
                answer = str(self.answer_model.invoke([HumanMessage(prompt)]).content).strip()
            judged = judge_prompt(self.dataset, question, answer)
            with self.judge_meter.phase("judge"), self._tag(question):
                verdict = str(self.judge_model.invoke([HumanMessage(judged)]).content)
        except openai.APIError as exc:  # timeout, connection, HTTP error: logged per call; the run goes on
            self.failures += 1
            return QAResult(answer="", correct=None, error=f"{type(exc).__name__}: {exc}", dropped_lines=dropped)
        return QAResult(answer=answer, correct=parse_verdict(self.dataset, verdict), dropped_lines=dropped)

    def _tag(self, question: Question) -> ExitStack:
        stack = ExitStack()
        for meter in self.meters:
            stack.enter_context(meter.tag(question=question.id))
        return stack

    def usage(self) -> dict[str, Any]:
        answer = self.answer_meter.usage().get("query")
        judge = self.judge_meter.usage().get("judge")
        return {
            "answer_model": self.endpoint.model,
            "judge_model": self.endpoint.judge_model,
            "answer_calls": answer.calls if answer else 0,
            "answer_input_tokens": answer.input_tokens if answer else 0,
            "answer_output_tokens": answer.output_tokens if answer else 0,
            "judge_calls": judge.calls if judge else 0,
            "judge_input_tokens": judge.input_tokens if judge else 0,
            "failures": self.failures,
            "contexts_trimmed": self.trimmed,
        }
