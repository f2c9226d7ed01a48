"""The endpoint (benchmarks/llm.py): resolving and probing the server, the per-call time budget, and the meter's
per-call records, against a fake OpenAI-compatible server on loopback driven by a real ``ChatOpenAI``."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage

from benchmarks.calls import CallLog
from benchmarks.exits import EndpointUnreachable
from benchmarks.llm import (
    LOCAL_CONTEXT_WINDOW,
    LOCAL_ENDPOINT,
    CallbackMeter,
    Endpoint,
    build_chat_model,
    probe,
    resolve_endpoint,
    structured_method,
)
from langchain_lightmem.short_term.extraction import MemoryFacts


def test_local_means_the_local_server_with_its_context(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    endpoint = resolve_endpoint("local", model="qwen")
    assert endpoint is not None
    assert endpoint.base_url == LOCAL_ENDPOINT and endpoint.context_window == LOCAL_CONTEXT_WINDOW
    assert endpoint.local and endpoint.max_retries == 0


def test_environment_still_configures_the_endpoint(monkeypatch):
    assert resolve_endpoint() is None  # tests run with neither variable set
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1/")
    endpoint = resolve_endpoint()
    assert endpoint is not None and endpoint.base_url == "http://127.0.0.1:9/v1" and endpoint.context_window is None
    monkeypatch.delenv("OPENAI_BASE_URL")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    endpoint = resolve_endpoint()
    assert endpoint is not None and endpoint.base_url == "https://api.openai.com/v1" and not endpoint.local


def test_an_unreachable_server_is_one_line_that_says_what_to_do(closed_port):
    url = f"http://127.0.0.1:{closed_port}/v1"
    with pytest.raises(EndpointUnreachable) as info:
        probe(Endpoint(url), timeout=2)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"the endpoint {url} is not reachable (") and "start the server" in message


def test_probe_names_the_model_and_the_server(fake_server, monkeypatch):
    monkeypatch.delenv("LIGHTMEM_MODEL", raising=False)
    endpoint = probe(Endpoint(fake_server.url))
    assert endpoint.model == "qwen" and endpoint.judge_model == "qwen"  # the only model the server lists
    assert endpoint.server == "fake llama.cpp 9.9"
    assert endpoint.label == f"real model: qwen at {fake_server.url} (fake llama.cpp 9.9)"


def test_probe_refuses_a_model_the_server_does_not_serve(fake_server):
    with pytest.raises(EndpointUnreachable, match=r"does not serve model 'gpt-4o-mini' \(it lists: qwen\)"):
        probe(Endpoint(fake_server.url, model="gpt-4o-mini"))
    with pytest.raises(EndpointUnreachable, match="pass --judge-model NAME"):
        probe(Endpoint(fake_server.url, model="qwen", judge_model="judge"))


def test_the_answer_cap_reaches_llama_cpp_as_max_tokens(fake_server):
    model, _ = build_chat_model("endpoint", endpoint=Endpoint(fake_server.url, model="qwen", max_output_tokens=77))
    model.invoke("hello")
    body = fake_server.requests[-1]
    # ChatOpenAI sends max_completion_tokens only; llama.cpp's server reads max_tokens.
    assert body["max_tokens"] == 77 and body["max_completion_tokens"] == 77
    assert body["temperature"] == 0


def _log(tmp_path: Path) -> CallLog:
    return CallLog(tmp_path / "calls.jsonl")


def test_each_call_is_one_record_with_tokens_method_and_facts(fake_server, tmp_path: Path):
    log = _log(tmp_path)
    model, meter = build_chat_model(
        "endpoint", endpoint=Endpoint(fake_server.url, model="qwen"), log=log, fields={"system": "s"}
    )
    assert isinstance(meter, CallbackMeter)
    prompt = [HumanMessage("[1] 10:00 Melanie: I painted a sunrise over the lake.")]
    with meter.phase("ingest"), meter.tag(conversation="conv-1"):
        model.with_structured_output(MemoryFacts, method="function_calling", include_raw=True).invoke(prompt)
        model.with_structured_output(MemoryFacts, method="json_mode", include_raw=True).invoke(prompt)
        model.invoke(prompt)
    with meter.phase("consolidation"), pytest.raises(Exception, match="500"):
        model.with_structured_output(MemoryFacts, method="json_schema").invoke(prompt)
    log.close()
    lines = [line for line in (tmp_path / "calls.jsonl").read_text().splitlines() if line]
    assert len(lines) == 4 == len(log.records)
    tools, json_mode, plain, failed = log.records
    assert [r["method"] for r in log.records] == ["function_calling", "json_mode", "plain", "json_schema"]
    for record in (tools, json_mode, plain):
        assert record["system"] == "s" and record["conversation"] == "conv-1" and record["phase"] == "ingest"
        assert record["model"] == "qwen" and record["error"] is None
        assert (record["prompt_tokens"], record["answer_tokens"], record["tokens_from"]) == (321, 17, "server")
        assert record["facts"] == 1 and record["citations"] == 1 and record["uncited_facts"] == 0
        assert record["seconds"] >= 0
    assert tools["read_as"] == "tool_call" and tools["finish_reason"] == "tool_calls"
    assert json_mode["read_as"] == plain["read_as"] == "json"
    assert failed["phase"] == "consolidation" and "Error code: 500" in failed["error"]
    assert "conversation" not in failed  # the tag ended with its block
    usage = meter.usage()
    assert usage["ingest"].calls == 3 and usage["ingest"].input_tokens == 3 * 321
    assert "consolidation" not in usage  # a failed call spent no tokens the server reported


def test_a_stuck_call_is_cut_at_the_timeout_and_logged(fake_server, tmp_path: Path):
    log = _log(tmp_path)
    endpoint = Endpoint(fake_server.url, model="slow", timeout=0.5)
    model, _ = build_chat_model("endpoint", endpoint=endpoint, log=log)
    started = time.perf_counter()
    with pytest.raises(Exception, match="timed out"):
        model.invoke("hello")
    assert time.perf_counter() - started < 1.8  # no client retry behind the timeout (the server takes 2 s)
    (record,) = log.records
    assert "TimeoutError: " in record["error"] and 0.4 < record["seconds"] < 1.8


def test_structured_method_reads_what_langchain_hands_callbacks():
    marked = {"ls_structured_output_format": {"kwargs": {"method": "json_mode"}}}
    assert structured_method(marked, {}) == "json_mode"
    assert structured_method({}, {"tools": [{}]}) == "function_calling"
    assert structured_method({}, {"response_format": {"type": "json_object"}}) == "json_mode"
    assert structured_method(None, None) == "plain"
