"""The scripted chat model: per-phase counting, JSON mode, and schema-valid answers for each caller."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from pydantic import BaseModel

from langchain_lightmem.testing import (
    ScriptedChatModel,
    default_responder,
    langmem_messages,
    mem0_responder,
    schema_stub,
)


class Answer(BaseModel):
    """An answer."""

    value: str
    score: int


LIGHTMEM_PROMPT = "2023-05-08 (Mon)\n[1] 13:56 Caroline: I went to a support group.\n[2] 14:00 Melanie: Nice!"
MEM0_PROMPT = (
    "## Summary\n\n\n## Last k Messages\n\n\n## Existing Memories\n[]\n\n"
    "## New Messages\nuser: Caroline: I went to a support group.\nassistant: Melanie: Nice!\nTell me more.\n\n\n"
    "## Observation Date\n2026-01-01\n\n# Output:"
)
LANGMEM_PROMPT = (
    "Extract memories. <session_abc>\n"
    "================================ Human Message =================================\nName: Caroline\n\n"
    "Caroline: I went to a support group.\n\n"
    "================================== Ai Message ==================================\nName: Melanie\n\n"
    "Melanie: Nice!\nSee you.\n</session_abc>"
)


def test_calls_and_tokens_are_counted_per_phase():
    model = ScriptedChatModel(script=["one", "two", "three"])
    model.invoke("hello there")
    with model.in_phase("query"):
        model.invoke("a question")
        assert model.phase == "query"
    assert model.phase == "ingest"
    with model.in_phase("consolidation"):
        model.invoke("x")
    assert {k: v.calls for k, v in model.usage_by_phase.items()} == {"ingest": 1, "query": 1, "consolidation": 1}
    assert model.calls == 3
    assert model.input_tokens == sum(u.input_tokens for u in model.usage_by_phase.values()) > 0
    assert model.output_tokens == sum(u.output_tokens for u in model.usage_by_phase.values()) > 0
    model.reset_usage()
    assert model.calls == 0 and model.usage_by_phase == {} and model.prompts == []


def test_keep_prompts_off_keeps_counting_without_storing():
    model = ScriptedChatModel(keep_prompts=False)
    model.invoke("hello")
    assert model.calls == 1 and model.prompts == []


def test_lightmem_extraction_by_tool_calling_and_plain_json():
    model = ScriptedChatModel()
    structured = model.with_structured_output(
        {"title": "MemoryFacts", "description": "facts", "type": "object", "properties": {"facts": {"type": "array"}}}
    )
    facts = structured.invoke([HumanMessage(LIGHTMEM_PROMPT)])["facts"]
    assert facts[0] == {"text": "Caroline: I went to a support group.", "sources": [1], "date": "2023-05-08"}
    assert len(facts) == 2
    plain = json.loads(str(model.invoke([HumanMessage(LIGHTMEM_PROMPT)]).content))
    assert [f["sources"] for f in plain["facts"]] == [[1], [2]]


def test_json_mode_is_opt_in_and_schema_valid():
    with pytest.raises(NotImplementedError):
        ScriptedChatModel().with_structured_output(Answer, method="json_mode")
    model = ScriptedChatModel(json_mode=True)
    assert model.with_structured_output(Answer, method="json_mode").invoke("hi") == Answer(value="", score=0)
    result = model.with_structured_output(Answer, method="json_schema", include_raw=True).invoke("hi")
    assert result["parsed"] == Answer(value="", score=0) and result["parsing_error"] is None
    bound = model.bind(response_format={"type": "json_object"})
    assert json.loads(str(bound.invoke([HumanMessage(LIGHTMEM_PROMPT)]).content))["facts"]
    bad = ScriptedChatModel(json_mode=True, script=["not json"])
    result = bad.with_structured_output(Answer, method="json_mode", include_raw=True).invoke("hi")
    assert result["parsed"] is None and result["parsing_error"] is not None


def test_mem0_prompt_gets_mem0_json():
    answer = default_responder([SystemMessage("You are a Memory Extractor"), HumanMessage(MEM0_PROMPT)], [])
    assert answer == mem0_responder([HumanMessage(MEM0_PROMPT)], [])
    assert answer["memory"] == [
        {"id": "0", "text": "Caroline: I went to a support group.", "attributed_to": "user"},
        {"id": "1", "text": "Melanie: Nice!\nTell me more.", "attributed_to": "assistant"},
    ]


def test_langmem_prompt_gets_one_memory_insert_per_message():
    assert langmem_messages(LANGMEM_PROMPT) == ["Caroline: I went to a support group.", "Melanie: Nice!\nSee you."]
    tools = [
        {"type": "function", "function": {"name": "PatchDoc", "parameters": {"properties": {"json_doc_id": {}}}}},
        {
            "type": "function",
            "function": {"name": "Memory", "parameters": {"properties": {"content": {"type": "string"}}}},
        },
    ]
    answer = default_responder([HumanMessage(LANGMEM_PROMPT)], tools)
    assert isinstance(answer, AIMessage)
    assert [c["name"] for c in answer.tool_calls] == ["Memory", "Memory"]
    assert answer.tool_calls[1]["args"] == {"content": "Melanie: Nice!\nSee you."}


def test_unknown_tools_get_a_minimal_valid_value():
    schema = {
        "type": "object",
        "properties": {"items": {"type": "array"}, "kind": {"$ref": "#/$defs/Kind"}, "note": {"type": "string"}},
        "required": ["items", "kind"],
        "$defs": {"Kind": {"enum": ["a", "b"]}},
    }
    assert schema_stub(schema) == {"items": [], "kind": "a"}
    model = ScriptedChatModel()
    out = model.with_structured_output(Answer).invoke("anything")
    assert out == Answer(value="", score=0)
    # trustcall's helper tools are skipped: the stub goes to the first real tool
    helper = {"type": "function", "function": {"name": "PatchDoc", "parameters": {"properties": {}}}}
    real = {"type": "function", "function": {"name": "Profile", "parameters": schema}}
    answer = default_responder([HumanMessage("no session here")], [helper, real])
    assert answer.tool_calls[0]["name"] == "Profile" and answer.tool_calls[0]["args"] == {"items": [], "kind": "a"}


def test_deepcopy_keeps_counting_into_the_same_instance():
    import copy

    model = ScriptedChatModel()
    assert copy.deepcopy({"model": model})["model"] is model


@pytest.mark.integration
def test_real_langmem_and_mem0_prompts_are_answered_in_their_schemas(tmp_path: Path, monkeypatch):
    """The real libraries build the prompts and parse the answers (no network: scripted model, local stores)."""
    langmem = pytest.importorskip("langmem")
    model = ScriptedChatModel(keep_prompts=False)
    manager = langmem.create_memory_manager(model)
    memories = manager.invoke({"messages": [HumanMessage("Caroline: I adopted a cat."), AIMessage("Melanie: Cute!")]})
    assert sorted(m.content.content for m in memories) == ["Caroline: I adopted a cat.", "Melanie: Cute!"]
    assert model.calls == 1

    monkeypatch.setitem(os.environ, "MEM0_TELEMETRY", "False")
    monkeypatch.setitem(os.environ, "MEM0_DIR", str(tmp_path / "mem0"))
    prompts = pytest.importorskip("mem0.configs.prompts")
    text = prompts.generate_additive_extraction_prompt(
        existing_memories=[], new_messages="user: Caroline: I adopted a cat.\nassistant: Melanie: Cute!\n"
    )
    reply = model.invoke([SystemMessage(prompts.ADDITIVE_EXTRACTION_PROMPT), HumanMessage(text)])
    assert [m["text"] for m in json.loads(str(reply.content))["memory"]] == [
        "Caroline: I adopted a cat.",
        "Melanie: Cute!",
    ]
