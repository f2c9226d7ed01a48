"""Real MiniLM embeddings, on-disk Chroma and journal, separate processes: what survives a restart or a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

DEMO = Path(__file__).resolve().parents[2] / "langchain_lightmem" / "data" / "demo_conversation.json"


def run_python(code: str, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ.copy(),
        check=False,
    )


INGEST = """
import json, sys
from langchain_lightmem import LightMem, LightMemConfig
from langchain_lightmem.conversations import load_conversations

data_dir, flush = sys.argv[1], sys.argv[2] == "flush"
memory = LightMem(LightMemConfig(data_dir=data_dir))
for conv in load_conversations(sys.argv[3]):
    for i in range(0, len(conv.messages), 3):
        memory.add(conv.messages[i:i + 3], namespace="maya", thread_id=conv.thread_id)
if flush:
    memory.flush("maya")
print(json.dumps(memory.stats("maya").messages))
"""

QUERY = """
import json, sys
from langchain_lightmem import LightMem, LightMemConfig

memory = LightMem(LightMemConfig(data_dir=sys.argv[1]))
if sys.argv[2] == "flush":
    memory.flush("maya")
out = {"stats": memory.stats("maya").messages, "entries": len(memory.entries("maya")), "hits": {}}
for q in ["What is Maya allergic to?", "What is the name of Maya's dog?", "Where does Maya live now?"]:
    hits = memory.search("maya", q, k=3)
    out["hits"][q] = [{"text": h.entry.text, "sources": h.entry.source_ids, "thread": h.entry.thread_id,
                       "time": h.entry.event_time.isoformat()} for h in hits]
print(json.dumps(out))
"""


def test_memories_survive_a_restart_with_provenance(tmp_path):
    first = run_python(INGEST, str(tmp_path), "flush", str(DEMO))
    assert first.returncode == 0, first.stderr
    second = run_python(QUERY, str(tmp_path), "no-flush")
    assert second.returncode == 0, second.stderr
    out = json.loads(second.stdout.splitlines()[-1])
    assert out["stats"]["done"] == 38 and out["entries"] == 38
    allergy = out["hits"]["What is Maya allergic to?"][0]
    assert "shellfish" in allergy["text"] and allergy["sources"] == ["s1-09"] and allergy["thread"] == "session-1"
    assert allergy["time"].startswith("2024-03-04T09:17")
    assert any("Pixel" in h["text"] for h in out["hits"]["What is the name of Maya's dog?"])
    assert any(h["sources"] == ["s4-01"] for h in out["hits"]["Where does Maya live now?"])


def test_a_flush_after_restart_loses_nothing(tmp_path):
    first = run_python(INGEST, str(tmp_path), "no-flush", str(DEMO))
    assert first.returncode == 0, first.stderr
    before = json.loads(first.stdout.splitlines()[-1])
    assert before["done"] < 38 and sum(before.values()) == 38  # some messages still buffered at exit
    second = run_python(QUERY, str(tmp_path), "flush")
    assert second.returncode == 0, second.stderr
    out = json.loads(second.stdout.splitlines()[-1])
    assert out["stats"]["done"] == 38 and out["entries"] == 38


KILLED_INGEST = """
import sys
from langchain_lightmem import LightMem, LightMemConfig

memory = LightMem(LightMemConfig(data_dir=sys.argv[1], embeddings={"backend": "static"}))
i = 0
while True:
    memory.add([{"id": f"m{i}", "role": "user" if i % 2 == 0 else "assistant",
                 "content": f"message number {i} about topic {i // 7}"}], namespace="k", thread_id="t")
    print(f"accepted m{i}", flush=True)
    i += 1
"""


def test_sigkill_during_ingestion_loses_no_accepted_message_and_duplicates_nothing(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(KILLED_INGEST), str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    accepted: list[str] = []
    deadline = time.monotonic() + 120
    assert proc.stdout is not None
    while len(accepted) < 150 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        accepted.append(line.split()[-1])
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert len(accepted) >= 150, proc.stderr.read() if proc.stderr else ""

    from langchain_lightmem import LightMem, LightMemConfig

    with LightMem(LightMemConfig(data_dir=tmp_path, embeddings={"backend": "static"})) as memory:
        stored = {m.id for m in memory.journal.messages.read(("k",))}
        assert set(accepted) <= stored  # every message add() returned for is there
        memory.flush("k")
        entries = memory.entries("k")
        sources = [s for e in entries for s in e.source_ids]
        assert sorted(sources) == sorted(stored)  # each message in exactly one entry: nothing lost, nothing twice
        assert memory.stats("k").messages["done"] == len(stored)
