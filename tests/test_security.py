"""Security hygiene: no telemetry, TLS verification never disabled, secrets never logged, failing endpoints
handled with bounded retries and the extractive fallback."""

from __future__ import annotations

import json
import logging
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from langchain_lightmem import LightMemStore

PACKAGE = Path(__file__).resolve().parents[1] / "langchain_lightmem"
SECRET = "sk-test-DO-NOT-LEAK-7f3a9c"


def test_chroma_telemetry_is_off_for_every_client_we_create(make_memory):
    memory = make_memory()
    assert memory.store.client.get_settings().anonymized_telemetry is False
    assert LightMemStore().client.get_settings().anonymized_telemetry is False  # its own in-memory client


def test_no_code_disables_tls_verification():
    pattern = re.compile(r"verify\s*=\s*False|CERT_NONE|_create_unverified_context|check_hostname\s*=\s*False")
    offenders = [str(p) for p in PACKAGE.rglob("*.py") if pattern.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


class _RateLimited(BaseHTTPRequestHandler):
    """An OpenAI-compatible endpoint that answers every chat completion with HTTP 429."""

    requests: ClassVar[list[dict[str, str]]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        self.rfile.read(length)
        type(self).requests.append({"path": self.path, "auth": self.headers.get("Authorization", "")})
        body = json.dumps({"error": {"message": "rate limited", "type": "rate_limit_exceeded"}}).encode()
        self.send_response(429)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def rate_limited_endpoint():
    _RateLimited.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RateLimited)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_rate_limited_endpoint_backs_off_falls_back_and_never_logs_the_key(
    make_memory, rate_limited_endpoint, caplog, capsys
):
    pytest.importorskip("langchain_openai")
    from langchain_openai import ChatOpenAI

    model = ChatOpenAI(model="gpt-4o-mini", base_url=rate_limited_endpoint, api_key=SECRET, max_retries=0)
    memory = make_memory(model, extraction={"max_attempts": 3, "backoff_seconds": 0.01})
    caplog.set_level(logging.DEBUG)
    memory.add(
        [{"id": "a", "role": "user", "content": "I keep bees."}, {"id": "b", "role": "user", "content": "Two hives."}],
        namespace="alice",
    )
    memory.flush("alice")

    entries = memory.entries("alice")
    assert sorted(e.source_ids[0] for e in entries) == ["a", "b"]  # nothing lost
    assert {e.method for e in entries} == {"extractive_fallback"}
    assert len(_RateLimited.requests) == 3  # bounded: max_attempts calls, then the fallback
    assert all(r["auth"] == f"Bearer {SECRET}" for r in _RateLimited.requests)  # the key did reach the endpoint
    out = capsys.readouterr()
    assert "rate" in caplog.text.lower()  # the failure was logged...
    for text in (caplog.text, out.out, out.err, repr(model), str(memory.journal.batches.counts(("alice",)))):
        assert SECRET not in text  # ...without the key
    errors = memory.journal.database.query("SELECT error FROM batches")
    assert errors and all(SECRET not in (row[0] or "") for row in errors)
