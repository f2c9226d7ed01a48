"""The agent protocol (benchmarks/agent.py): LoCoMo turn by turn through LightMemMiddleware, never flushed, each
question asked when it first can be. Static embeddings, so the whole protocol runs in seconds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmarks.agent import END, ask_schedule, turn_message
from benchmarks.data import Conversation, load_locomo
from benchmarks.report import markdown
from benchmarks.runner import RunSpec, check_protocol, run
from langchain_lightmem import LightMem
from langchain_lightmem.integrations.middleware import LightMemMiddleware

pytest.importorskip("langchain.agents")

SYSTEMS = ["lightmem_llm_free", "lightmem_scripted"]


@pytest.fixture
def conversation(data_dir: Path) -> Conversation:
    return load_locomo(data_dir).conversations[0]


def _spec(data: Path, tmp_path: Path, **overrides: Any) -> RunSpec:
    options: dict[str, Any] = {
        "systems": SYSTEMS,
        "data_path": str(data),
        "protocols": ("batch", "agent", "agent_flushed"),
        "embeddings": "static",
        "cache_dir": str(tmp_path / "cache"),
        "isolate": False,
        "progress": False,
        **overrides,
    }
    return RunSpec(**options)


@pytest.fixture
def flush_calls(monkeypatch) -> list[str]:
    """Every call of ``LightMem.flush`` or ``LightMemMiddleware.flush``/``aflush`` made while the test runs, except
    those of ``LightMemMiddleware.close`` (the app shutting down, after every question was asked)."""
    calls: list[str] = []
    closing: list[bool] = []
    for cls, name in ((LightMem, "flush"), (LightMemMiddleware, "flush"), (LightMemMiddleware, "aflush")):
        original = getattr(cls, name)

        def spy(
            self: Any, *args: Any, _original: Any = original, _name: str = f"{cls.__name__}.{name}", **kw: Any
        ) -> Any:
            if not closing:
                calls.append(_name)
            return _original(self, *args, **kw)

        monkeypatch.setattr(cls, name, spy)
    close = LightMemMiddleware.close

    def closing_spy(self: Any) -> None:
        closing.append(True)
        try:
            close(self)
        finally:
            closing.pop()

    monkeypatch.setattr(LightMemMiddleware, "close", closing_spy)
    return calls


def test_each_question_is_asked_before_the_session_after_its_last_evidence(conversation):
    schedule = ask_schedule(conversation)
    asked = {index: sorted(q.text for q in questions) for index, questions in schedule.items()}
    # Sessions D1 (index 0) and D2 (index 1); index 2 is "after the last session".
    assert asked == {
        1: ["What did Melanie paint?", "What flag did Caroline show?", "When did Caroline go to the support group?"],
        2: ["What will Caroline study?", "Where did Melanie camp?"],  # evidence in D2 (and D1)
    }


def test_a_turn_becomes_the_user_message_the_batch_protocol_sees(conversation):
    turn = conversation.sessions[0].turns[2]  # has a BLIP caption
    message = turn_message(turn)
    assert message.text == "Look at this. [image: a photo of a rainbow flag]" == turn.as_message()["content"]
    assert (message.name, message.id) == ("Caroline", "D1:3")
    assert message.additional_kwargs == {"timestamp": "2023-05-08T13:56:00+00:00"}


def test_only_lightmem_runs_under_the_agent_protocols():
    assert check_protocol("lightmem_scripted", "agent") is None
    assert check_protocol("lightmem_context", "agent_flushed") is None
    assert "no middleware" in (check_protocol("bm25", "agent") or "")
    assert "unknown protocol" in (check_protocol("bm25", "live") or "")


def test_agent_protocol_runs_beside_batch_without_any_flush(data_dir, tmp_path, flush_calls):
    doc = run(_spec(data_dir, tmp_path, protocols=("agent",)), command="pytest agent")
    assert flush_calls == []  # not the memory's, not the middleware's: a live agent calls neither
    results = {s["system"]: s for s in doc["systems"]}
    assert not [s.get("error") for s in doc["systems"] if "error" in s]
    for name in SYSTEMS:
        s = results[name]
        assert s["protocol_name"] == "agent"
        assert s["agent"]["asked"] == {"at_session_start": 3, "after_last_session": 2}
        assert s["agent"]["agent_replies"] == 7  # one invocation per turn
        assert {r["asked_before"] for r in s["records"]} == {"D2", END}
        points = s["conversations"][0]["asking_points"]
        assert [(p["before"], p["questions"], p["turns_fed"]) for p in points] == [("D2", 3, 4), (END, 2, 7)]
        assert 0.0 <= s["retrieval"]["recall@budget1000"] <= 1.0
        assert "recall@budget2000" not in s["retrieval"]  # beyond what the middleware injects
    assert results["lightmem_llm_free"]["cost"]["ingest"]["calls"] == 0


def test_the_three_protocols_side_by_side_in_one_report(data_dir, tmp_path, flush_calls):
    doc = run(_spec(data_dir, tmp_path), command="pytest agent")
    results = {(s["system"], s["protocol_name"]): s for s in doc["systems"]}
    assert len(results) == 6 and not [s for s in doc["systems"] if "error" in s or "skipped" in s]
    for name in SYSTEMS:
        flushed = results[name, "agent_flushed"]
        # The reference flushes after every session: everything fed is in long-term memory when asked.
        assert flushed["agent"]["written_when_asked"] == 1.0
        assert flushed["retrieval"]["recall@budget1000"] == 1.0
        assert results[name, "batch"]["retrieval"]["recall@budget1000"] == 1.0
    assert flush_calls.count("LightMem.flush") == 2 * (2 + 1)  # agent_flushed: per session; batch: once
    text = markdown(doc)
    assert "## Agent protocol beside the batch protocol" in text
    assert "| lightmem_scripted (agent) | 1.000 |" in text  # batch recall beside the agent row
    assert "### Goals (issue 16)" in text


def test_agent_protocol_is_deterministic(data_dir, tmp_path):
    def recalls(doc: dict[str, Any]) -> list[tuple[str, Any, Any]]:
        return [(r["id"], r["recall@budget1000"], r["hits@budget1000"]) for r in doc["systems"][0]["records"]]

    spec = _spec(data_dir, tmp_path, systems=["lightmem_scripted"], protocols=("agent",))
    first, second = run(spec), run(spec)
    assert recalls(first) == recalls(second)
    assert first["systems"][0]["cost"]["ingest"] == second["systems"][0]["cost"]["ingest"]


@pytest.mark.data
def test_agent_protocol_on_a_locomo_slice(shared_data, tmp_path, flush_calls):
    """The CI slice on real data: conv-26, 3 sessions, both LightMem variants, every protocol."""
    spec = _spec(shared_data, tmp_path, conversations=["conv-26"], max_sessions=3)
    doc = run(spec, command="pytest agent slice")
    assert not [s.get("error") for s in doc["systems"] if "error" in s]
    results = {(s["system"], s["protocol_name"]): s for s in doc["systems"]}
    assert flush_calls.count("LightMem.flush") == 2 * (3 + 1)
    for name in SYSTEMS:
        agent, batch = results[name, "agent"], results[name, "batch"]
        asked = agent["agent"]["asked"]
        assert asked["at_session_start"] + asked["after_last_session"] == batch["questions"] > 0
        assert agent["agent"]["agent_replies"] == doc["selection"]["turns"]
        assert results[name, "agent_flushed"]["agent"]["written_when_asked"] == 1.0
