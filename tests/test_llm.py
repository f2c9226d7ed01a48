"""StructuredCaller's limits with a real client: ChatOpenAI against loopback servers (no model needed)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from langchain_core.messages import HumanMessage
from langchain_openai import ChatOpenAI

from langchain_lightmem.config import ExtractionConfig
from langchain_lightmem.llm import (
    LLMCallError,
    StructuredCaller,
    bounded_model,
    never_reached,
    output_limit,
    parse_partial_json,
)
from langchain_lightmem.short_term.extraction import MemoryFacts
from langchain_lightmem.testing import ScriptedChatModel
from langchain_lightmem.tokens import TokenCounter


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A loopback port that accepts connections and never answers (a model stuck generating)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def chat(port: int) -> ChatOpenAI:
    # What chat_model_from_env builds: 120 s timeout, 2 client retries (362 s per attempt in 0.1).
    return ChatOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", model="qwen", max_retries=2, timeout=120)


def test_bounded_model_copies_limits_into_a_new_client():
    model = chat(closed_port())
    model.callbacks = []
    bounded = bounded_model(model, timeout=7.5, max_tokens=300)
    assert isinstance(bounded, ChatOpenAI) and bounded is not model
    assert bounded.max_retries == 0 and bounded.request_timeout == 7.5 and bounded.max_tokens == 300
    assert bounded.root_client.max_retries == 0  # the client object itself, not only the field
    assert model.max_retries == 2 and model.max_tokens is None  # the original is untouched
    assert bounded.callbacks == [] and bounded.openai_api_base == model.openai_api_base
    assert bounded_model(bounded, timeout=60, max_tokens=900).request_timeout == 7.5  # stricter limits kept
    plain = ScriptedChatModel()
    assert bounded_model(plain, timeout=5, max_tokens=10) is plain  # no such fields: unchanged


def test_a_silent_server_costs_one_budget_not_three_client_timeouts(silent_server):
    config = ExtractionConfig(timeout_seconds=3, max_attempts=3, backoff_seconds=0.1)
    caller = StructuredCaller(chat(silent_server), MemoryFacts, config, TokenCounter())
    started = time.monotonic()
    with pytest.raises(LLMCallError, match=r"time budget|Timeout") as info:
        caller.call([HumanMessage("hello")], lambda payload: payload, methods=["lines"])
    assert time.monotonic() - started < 6
    assert info.value.stats.calls >= 1 and info.value.stats.unreached == 0  # it reached the server


def test_connection_refused_is_unreached_not_a_call():
    config = ExtractionConfig(max_attempts=2, backoff_seconds=0.0)
    caller = StructuredCaller(chat(closed_port()), MemoryFacts, config, TokenCounter())
    with pytest.raises(LLMCallError, match="0 call") as info:
        caller.call([HumanMessage("hello")], lambda payload: payload, methods=["lines"])
    assert info.value.stats.calls == 0 and info.value.stats.unreached == 2
    assert not never_reached(TimeoutError("read timed out"))


def test_output_limit_is_a_bounded_multiple_of_the_batch():
    config = ExtractionConfig(output_tokens_ratio=2.0, min_output_tokens=100, max_output_tokens=1000)
    assert [output_limit(n, config) for n in (10, 300, 5000)] == [100, 600, 1000]
    with pytest.raises(ValueError, match="min_output_tokens"):
        ExtractionConfig(min_output_tokens=500, max_output_tokens=100)


@pytest.fixture
def recording_server() -> Iterator[tuple[int, list[dict]]]:
    """A loopback OpenAI-compatible server that records request bodies and answers one fact line (or, when a
    request body's last message says "cut", a JSON answer cut by the output limit)."""
    bodies: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            content, finish = "Ana has a cat. [1]", "stop"
            if bodies[-1]["messages"][-1]["content"] == "cut":
                content, finish = '{"facts": [{"text": "Ana has a cat.", "sources": [1]}, {"text": "Ben ru', "length"
            answer = {
                "id": "c1",
                "object": "chat.completion",
                "created": 0,
                "model": "qwen",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": finish,
                    }
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
            }
            data = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], bodies
    server.shutdown()
    thread.join()


def test_the_output_limit_reaches_a_local_server_as_max_tokens(recording_server):
    # ChatOpenAI sends "max_completion_tokens", which llama-cpp-python's server ignores (no limit: 0.1's 7,385
    # tokens); a local server must also get "max_tokens".
    port, bodies = recording_server
    caller = StructuredCaller(chat(port), MemoryFacts, ExtractionConfig(), TokenCounter())
    answer, stats = caller.call([HumanMessage("hello")], lambda payload: payload, max_tokens=321, methods=["lines"])
    assert answer.text == "Ana has a cat. [1]" and stats.calls == 1 and stats.output_tokens == 5
    (body,) = bodies
    assert body["max_tokens"] == 321 and body["max_completion_tokens"] == 321
    openai = ChatOpenAI(api_key="x", model="gpt-4o-mini")
    assert bounded_model(openai, timeout=None, max_tokens=321).extra_body is None  # OpenAI itself: one field


def test_a_json_answer_cut_by_the_output_limit_keeps_its_complete_facts(recording_server):
    port, _ = recording_server
    caller = StructuredCaller(chat(port), MemoryFacts, ExtractionConfig(), TokenCounter())
    payload, stats = caller.call([HumanMessage("cut")], lambda payload: payload, max_tokens=50, methods=["json_mode"])
    assert payload == [{"text": "Ana has a cat.", "sources": [1]}]
    assert stats.calls == 1 and stats.output_tokens == 5


def test_parse_partial_json():
    assert parse_partial_json('{"a": 1}') == {"a": 1}
    assert parse_partial_json('{"facts": [{"text": "x", "sources": [1]}, {"text": "y"}, {"te') == [
        {"text": "x", "sources": [1]},
        {"text": "y"},
    ]
    assert parse_partial_json('Sure [see below]: {"facts": [{"text": "x"}]}') == {"facts": [{"text": "x"}]}
    with pytest.raises(ValueError, match="no complete JSON object"):
        parse_partial_json('{"facts": [{"te')
