"""A tiny OpenAI-compatible server on loopback, answering like the local llama.cpp server: canned chat
completions (tool calls when tools are bound, JSON in JSON mode, HTTP 500 for ``json_schema``, a judge label or a
short answer otherwise), ``/v1/models`` and ``/openapi.json``. Real ``ChatOpenAI`` clients talk to it over HTTP.

Model ``slow`` sleeps before answering (for timeouts); every request body is kept in ``requests``.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FACTS = {"facts": [{"text": "Melanie painted a sunrise over the lake.", "sources": [1], "date": None}]}


@dataclass
class FakeServer:
    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    models: tuple[str, ...] = ("qwen",)
    slow_seconds: float = 2.0


def _completion(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        return 500, {"error": {"message": "json_schema is not supported", "type": "server_error"}}
    message: dict[str, Any] = {"role": "assistant", "content": ""}
    finish = "stop"
    if body.get("tools"):
        name = body["tools"][0]["function"]["name"]
        arguments = json.dumps(FACTS)
        message["tool_calls"] = [
            {"id": "call_1", "type": "function", "function": {"name": name, "arguments": arguments}}
        ]
        finish = "tool_calls"
    elif response_format.get("type") == "json_object":
        message["content"] = json.dumps(FACTS)
    else:
        prompt = str(body["messages"][-1].get("content", ""))
        if "CORRECT" in prompt and "WRONG" in prompt:
            message["content"] = 'The answer matches. {"label": "CORRECT"}'
        elif "Answer:" in prompt:
            message["content"] = "a sunrise"
        else:
            message["content"] = json.dumps(FACTS)
    return 200, {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": body.get("model"),
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 321, "completion_tokens": 17, "total_tokens": 338},
    }


def _handler(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            return None

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/v1/models":
                self._send(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in server.models]})
            elif self.path == "/openapi.json":
                self._send(200, {"openapi": "3.1.0", "info": {"title": "\U0001f999 fake llama.cpp", "version": "9.9"}})
            else:
                self._send(404, {"detail": "Not Found"})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            server.requests.append(body)
            if body.get("model") == "slow":
                time.sleep(server.slow_seconds)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                self._send(*_completion(body))

    return Handler


@contextmanager
def fake_openai_server(models: tuple[str, ...] = ("qwen",)) -> Iterator[FakeServer]:
    """Serve on ``127.0.0.1`` (a free port) for the block; ``.url`` is the ``/v1`` base URL."""
    state = FakeServer(url="", models=models)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
