"""The per-call log (benchmarks/calls.py): what an answer holds, read as LightMem reads it, and the summary."""

from __future__ import annotations

import json
from pathlib import Path

from langchain_core.messages import AIMessage

from benchmarks.calls import CallLog, read_answer, summarise

FACTS = {"facts": [{"text": "A", "sources": [1, 2]}, {"text": "B", "sources": []}, {"text": "C", "source_id": "3"}]}


def test_a_tool_call_is_read_as_its_arguments():
    message = AIMessage("", tool_calls=[{"name": "MemoryFacts", "args": FACTS, "id": "1"}])
    read = read_answer(message)
    assert read["read_as"] == "tool_call"
    assert (read["facts"], read["citations"], read["uncited_facts"]) == (3, 3, 1)
    assert json.loads(read["answer"]) == FACTS


def test_json_in_text_and_code_fences_are_read_like_lightmem_reads_them():
    read = read_answer(AIMessage("Here you go:\n```json\n" + json.dumps(FACTS) + "\n```"))
    assert read["read_as"] == "json" and read["facts"] == 3


def test_answers_without_facts_count_none():
    assert read_answer(AIMessage("a sunrise")) | {"answer": ""} == {
        "read_as": "text",
        "facts": None,
        "citations": None,
        "uncited_facts": None,
        "answer": "",
    }
    assert read_answer(AIMessage('{"label": "CORRECT"}'))["facts"] is None
    decisions = read_answer(AIMessage('{"decisions": [{"target": 1, "action": "keep"}]}'))
    assert decisions["decisions"] == 1 and decisions["facts"] is None


def test_an_unparsable_tool_call_is_named():
    message = AIMessage(
        "", invalid_tool_calls=[{"name": "MemoryFacts", "args": '{"facts": [', "id": "1", "error": "bad JSON"}]
    )
    read = read_answer(message)
    assert read["read_as"] == "invalid_tool_call" and read["facts"] is None and read["answer"] == '{"facts": ['


def test_long_answers_are_cut_in_the_log():
    assert len(read_answer(AIMessage("x" * 5000))["answer"]) == 500


def test_the_log_is_written_as_calls_end_and_summarised_per_phase(tmp_path: Path):
    log = CallLog(tmp_path / "sub" / "calls.jsonl")
    log.write(
        {
            "phase": "ingest",
            "seconds": 2.0,
            "prompt_tokens": 900,
            "answer_tokens": 50,
            "method": "json_mode",
            "finish_reason": "length",
            "facts": 2,
            "citations": 3,
            "uncited_facts": 0,
            "read_as": "json",
        }
    )
    assert len((tmp_path / "sub" / "calls.jsonl").read_text().splitlines()) == 1  # on disk before close
    log.write({"phase": "ingest", "seconds": 4.0, "method": "function_calling", "error": "OpenAITimeoutError: x"})
    log.write({"phase": "judge", "seconds": 1.0, "prompt_tokens": 500, "answer_tokens": 9, "method": "plain"})
    log.close()
    summary = summarise(log.records)
    ingest = summary["ingest"]
    assert (ingest["calls"], ingest["failed"], ingest["errors"]) == (2, 1, {"OpenAITimeoutError": 1})
    assert (ingest["prompt_tokens"], ingest["answer_tokens"]) == (900, 50)  # a failed call reports no tokens
    assert ingest["seconds"]["total"] == 6.0 and ingest["seconds"]["max"] == 4.0
    assert ingest["methods"] == {"json_mode": 1, "function_calling": 1}
    assert ingest["finish_reasons"] == {"length": 1}
    assert (ingest["facts"], ingest["citations"], ingest["uncited_facts"]) == (2, 3, 0)
    assert summary["judge"]["facts"] is None and summary["judge"]["calls"] == 1


def test_without_a_path_records_stay_in_memory():
    log = CallLog()
    log.write({"phase": "query"})
    log.close()
    assert log.records == [{"phase": "query"}] and log.path is None
