"""The examples in examples/ run as scripts, offline, with stand-in chat models (each in its own process)."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(script: str, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True, timeout=300, check=False
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_agent_remembers_the_user_in_a_new_thread(tmp_path: Path) -> None:
    out = run("agent_memory.py", "--embeddings", "static", "--data-dir", str(tmp_path))
    answers = [line.split("agent: ", 1)[1] for line in out.splitlines() if " agent: " in line]
    assert len(answers) == 3
    assert "Lisbon" in answers[1] and "Maya is vegetarian." in answers[1]  # thread 2 knows thread 1
    assert answers[2] == "Nice to meet you! Tell me about yourself."  # another user knows nothing
    assert "Maya is vegetarian.  (extractive)" in out  # saved by the agent's tool


def _conversation_texts() -> set[str]:
    sample = json.loads((files("langchain_lightmem") / "data" / "demo_conversation.json").read_text("utf-8"))
    return {m["content"] for s in sample["sessions"] for m in s["messages"]}


def test_rag_chain_answers_from_retrieved_memories(tmp_path: Path) -> None:
    out = run("rag_chain.py", "--embeddings", "static", "--data-dir", str(tmp_path), "-k", "2")
    answers = [line[3:] for line in out.splitlines() if line.startswith("A: ")]
    assert len(answers) == 5
    texts = _conversation_texts()
    for answer in answers:
        quoted = answer.removeprefix("According to my memories: ")[12:]  # after "YYYY-MM-DD: "
        assert quoted.split(": ", 1)[1] in texts  # a memory of the conversation, via retriever and prompt


@pytest.mark.integration
def test_rag_chain_with_minilm_finds_the_right_memories(tmp_path: Path) -> None:
    out = run("rag_chain.py", "--data-dir", str(tmp_path))
    answers = [line[3:] for line in out.splitlines() if line.startswith("A: ")]
    assert "Campo de Ourique" in answers[0]
    assert "Pixel" in answers[1]
    assert "shellfish" in answers[2]


@pytest.mark.integration
def test_consolidation_on_a_schedule_supersedes_the_old_flat(tmp_path: Path) -> None:
    out = run("consolidation_schedule.py", "--data-dir", str(tmp_path))
    runs = [line for line in out.splitlines() if line.startswith("after session-")]
    assert len(runs) == 4 and runs[0].startswith("after session-1: 6 new, 0 targets, 0 calls")
    now = [line for line in out.splitlines() if line.strip().startswith("now:")]
    history = [line for line in out.splitlines() if line.strip().startswith("history:")]
    assert "Campo de Ourique" in now[0]
    assert any("My flat is in Alfama" in line and "superseded" in line for line in history)
    assert not any("My flat is in Alfama" in line for line in now)
