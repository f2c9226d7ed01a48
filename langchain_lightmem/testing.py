"""Deterministic chat models for tests, demos and benchmarks: no network, no key, counted calls and tokens.

``ScriptedChatModel`` is a real LangChain ``BaseChatModel``: it supports ``bind_tools`` (and therefore
``with_structured_output``), plain text answers, callbacks and ``usage_metadata``. What it says comes from a
script: a queue of canned answers (strings, dicts, ``AIMessage``s or exceptions to raise), then a responder
function. The default responder plays a LightMem extractor: it reads the numbered lines of our extraction prompt
and returns one fact per line, citing it. Its outputs are scripted: token counts of *outputs* are not a
measurement of any real model, input tokens and call counts are.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field, PrivateAttr

from langchain_lightmem.tokens import TokenCounter

Responder = Callable[[list[BaseMessage], list[dict[str, Any]]], Any]

_LINE = re.compile(r"^\[(\d+)\] (?:\d{2}:\d{2} )?([^:]+): (.*)$")
_DAY = re.compile(r"^(\d{4}-\d{2}-\d{2}) \(\w{3}\)$")


def extraction_responder(messages: list[BaseMessage], tools: list[dict[str, Any]]) -> dict[str, Any]:
    """One fact per numbered line of a LightMem extraction prompt: ``"<speaker>: <text>"``, citing the line."""
    facts: list[dict[str, Any]] = []
    day: str | None = None
    for line in str(messages[-1].content).splitlines():
        if m := _DAY.match(line):
            day = m[1]
        elif m := _LINE.match(line):
            facts.append({"text": f"{m[2]}: {m[3]}", "sources": [int(m[1])], "date": day})
    return {"facts": facts}


def schema_stub(schema: dict[str, Any]) -> Any:
    """A minimal value valid for a JSON schema (used for tools the script knows nothing about)."""
    if "anyOf" in schema:
        return schema_stub(schema["anyOf"][0])
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object" or "properties" in schema:
        required = schema.get("required", list(schema.get("properties", {})))
        return {k: schema_stub(v) for k, v in schema.get("properties", {}).items() if k in required}
    return {"array": [], "string": "", "integer": 0, "number": 0, "boolean": False}.get(str(kind))


class ScriptedChatModel(BaseChatModel):
    """A scripted, counting chat model.

    Args:
        script: answers returned in order before the responder is used: ``str`` (text), ``dict`` (tool-call
            arguments, or text JSON when no tool is bound), ``AIMessage``, or an exception instance (raised).
        responder: ``f(messages, tools) -> str | dict | AIMessage``; default :func:`extraction_responder`.
        model: the name reported as ``model_name``.

    Example:
        .. code-block:: python

            model = ScriptedChatModel()
            memory = LightMem(config, chat_model=model)
            ...
            model.calls, model.input_tokens
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    script: list[Any] = Field(default_factory=list)
    responder: Responder = extraction_responder
    model_name: str = "scripted"
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    prompts: list[list[BaseMessage]] = Field(default_factory=list)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _counter: TokenCounter = PrivateAttr(default_factory=TokenCounter)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any) -> Any:
        formatted = [convert_to_openai_tool(t) for t in tools]
        return self.bind(tools=formatted, tool_choice=tool_choice, **kwargs)

    def _next_answer(self, messages: list[BaseMessage], tools: list[dict[str, Any]]) -> Any:
        with self._lock:
            if self.script:
                return self.script.pop(0)
        return self.responder(messages, tools)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        tools: list[dict[str, Any]] = kwargs.get("tools") or []
        in_tokens = sum(
            self._counter.count(m.text if isinstance(m.content, list) else str(m.content)) for m in messages
        )
        with self._lock:
            self.calls += 1
            self.input_tokens += in_tokens
            self.prompts.append(list(messages))
        answer = self._next_answer(messages, tools)
        if isinstance(answer, BaseException):
            raise answer
        if isinstance(answer, AIMessage):
            message = answer
        elif isinstance(answer, dict) and tools:
            name = tools[0]["function"]["name"]
            message = AIMessage(
                content="", tool_calls=[{"name": name, "args": answer, "id": f"call_{uuid.uuid4().hex[:8]}"}]
            )
        elif isinstance(answer, dict):
            message = AIMessage(content=json.dumps(answer))
        else:
            message = AIMessage(content=str(answer))
        out_text = message.content if isinstance(message.content, str) else json.dumps(message.content)
        out_tokens = self._counter.count(out_text) + sum(
            self._counter.count(json.dumps(c["args"])) for c in message.tool_calls
        )
        with self._lock:
            self.output_tokens += out_tokens
        message.usage_metadata = {
            "input_tokens": in_tokens,
            "output_tokens": out_tokens,
            "total_tokens": in_tokens + out_tokens,
        }
        message.response_metadata = {**message.response_metadata, "model_name": self.model_name}
        return ChatResult(generations=[ChatGeneration(message=message)])
