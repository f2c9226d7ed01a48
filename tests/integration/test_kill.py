"""SIGKILL in the middle of extraction and of consolidation: after a restart nothing is lost or duplicated."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

COMMON = """
import json, re, sys, time
from datetime import datetime, timedelta, UTC
from langchain_lightmem import LightMem, LightMemConfig
from langchain_lightmem.long_term.consolidation import DECISION_PROMPT
from langchain_lightmem.testing import ScriptedChatModel, extraction_responder

T0 = datetime(2024, 1, 1, tzinfo=UTC)
TOPICS = ["I live in a flat in Paris", "I moved to a flat in Berlin", "My dog Rex likes the park",
          "My dog Rex now likes swimming", "I work as a nurse", "My favourite food is ramen"]


def messages(start, n):
    return [{"id": f"m{i}", "role": "user", "speaker": "Ana", "content": f"{TOPICS[i % 6]} (note {i})",
             "timestamp": (T0 + timedelta(days=i)).isoformat()} for i in range(start, start + n)]


def responder(hang_on_call):
    calls = {"n": 0}

    def respond(prompt, tools):
        calls["n"] += 1
        if calls["n"] == hang_on_call:
            print("HANGING", flush=True)
            time.sleep(600)  # the test kills us here
        if prompt[0].content == DECISION_PROMPT:
            n = len(re.findall(r"^\\[\\d+\\]", prompt[-1].content, re.M))
            return {"decisions": [{"target": i, "action": "supersede"} for i in range(1, n + 1)]}
        return extraction_responder(prompt, tools)

    return respond


def open_memory(hang_on_call=0):
    config = LightMemConfig(data_dir=sys.argv[1], embeddings={"backend": "static"},
                            short_term={"threshold_tokens": 64}, consolidation={"threshold": 0.5, "batch_size": 1})
    return LightMem(config, chat_model=ScriptedChatModel(responder=responder(hang_on_call)))
"""

EXTRACT_AND_HANG = (
    COMMON
    + """
memory = open_memory(hang_on_call=3)
memory.add(messages(0, 40), namespace="ana", thread_id="t")   # accepted, then batches extract; call 3 hangs
"""
)

CONSOLIDATE_AND_HANG = (
    COMMON
    + """
memory = open_memory()
memory.add(messages(0, 40), namespace="ana", thread_id="t")
memory.flush("ana")
memory.close()
memory = open_memory(hang_on_call=3)   # decisions 1 and 2 are saved; the third call hangs
print("CONSOLIDATING", flush=True)
memory.consolidate("ana")
"""
)

FINISH = (
    COMMON
    + """
memory = open_memory()
memory.flush("ana")
reports = memory.consolidate("ana")
current = memory.entries("ana")
everything = memory.entries("ana", include_history=True)
print(json.dumps({
    "messages": len(memory.journal.messages.read(("ana",))),
    "done": memory.stats("ana").messages["done"],
    "current_sources": sorted(s for e in current for s in e.source_ids),
    "all_sources": sorted(s for e in everything for s in e.source_ids),
    "ids": [e.id for e in everything],
    "history": sum(1 for e in everything if e.superseded_by),
    "queue": len(memory.journal.consolidation.queue(("ana",))),
    "unapplied": len(memory.journal.consolidation.unapplied(("ana",))),
    "extract_calls": memory.stats("ana").usage["extract"].calls,
}))
"""
)


def start(code: str, data: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )


def kill_when(proc: subprocess.Popen[str], marker: str, timeout: float = 180) -> None:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if marker in line:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            return
    proc.kill()
    raise AssertionError(f"never saw {marker!r}: {proc.stderr.read() if proc.stderr else ''}")


def finish(data: Path) -> dict:
    import json

    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(FINISH), str(data)],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_kill_during_extraction(tmp_path: Path) -> None:
    kill_when(start(EXTRACT_AND_HANG, tmp_path), "HANGING")
    state = finish(tmp_path)
    assert state["messages"] == 40 and state["done"] == 40  # every accepted message made it through
    assert len(state["ids"]) == len(set(state["ids"]))  # no entry twice
    # each message is cited once among current and superseded entries together: nothing lost, nothing doubled
    assert state["all_sources"] == sorted(f"m{i}" for i in range(40))
    assert state["queue"] == 0 and state["unapplied"] == 0
    assert state["extract_calls"] >= 1


def test_kill_during_consolidation(tmp_path: Path) -> None:
    kill_when(start(CONSOLIDATE_AND_HANG, tmp_path), "HANGING")
    state = finish(tmp_path)
    assert state["messages"] == 40 and state["done"] == 40
    assert len(state["ids"]) == len(set(state["ids"])) == 40  # no duplicate, no loss (supersede never deletes)
    assert state["all_sources"] == sorted(f"m{i}" for i in range(40))
    assert state["history"] > 0 and state["queue"] == 0 and state["unapplied"] == 0
    assert len(state["current_sources"]) == len(set(state["current_sources"]))
