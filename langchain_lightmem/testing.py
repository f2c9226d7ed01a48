"""Deterministic chat models for tests, demos and benchmarks: no network, no key, counted calls and tokens.

``ScriptedChatModel`` is a real LangChain ``BaseChatModel``: it supports ``bind_tools`` (and therefore
``with_structured_output``), JSON mode (``response_format``), plain text answers, callbacks and
``usage_metadata``. What it says comes from a script: a queue of canned answers (strings, dicts, ``AIMessage``s
or exceptions to raise), then a responder function. The default responder, :func:`default_responder`,
recognises the callers the benchmarks drive and answers each one in its own schema:

* a LightMem extraction prompt (numbered ``[n] HH:MM Speaker: text`` lines): one fact per line, citing it;
* mem0's additive extraction prompt (``## New Messages``): ``{"memory": [...]}``, one memory per message;
* langmem's memory manager (trustcall tools ``Memory``/``PatchDoc``): one ``Memory`` insert per message;
* any other bound tool or JSON schema: a minimal schema-valid value.

Calls and tokens (tiktoken ``cl100k_base`` ids, counted offline) are kept per *phase* (``ingest``,
``consolidation``, ``query``; see :meth:`ScriptedChatModel.in_phase`). Its outputs are scripted: token counts of
*outputs* are not a measurement of any real model; input tokens and call counts are.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from operator import itemgetter
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable, RunnableMap, RunnablePassthrough
from langchain_core.utils.function_calling import convert_to_json_schema, convert_to_openai_tool
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from langchain_lightmem.accounting import CarriesUsage, Usage
from langchain_lightmem.tokens import TokenCounter

Responder = Callable[[list[BaseMessage], list[dict[str, Any]]], Any]

PHASES = ("ingest", "consolidation", "query")

_LINE = re.compile(r"^\[(\d+)\] (?:\d{2}:\d{2} )?([^:]+): (.*)$")
_DAY = re.compile(r"^(\d{4}-\d{2}-\d{2}) \(\w{3}\)$")
_MEM0_SECTION = re.compile(r"^## New Messages\n(.*?)(?=^## |\Z)", re.MULTILINE | re.DOTALL)
_MEM0_LINE = re.compile(r"^(user|assistant|system): (.*)$")
_LANGMEM_SESSION = re.compile(r"<session_[^>]*>\n(.*?)\n</session_[^>]*>", re.DOTALL)
_LANGMEM_BANNER = re.compile(r"^=+ [\w ]+ Message =+$", re.MULTILINE)
# trustcall's bookkeeping tools: never the tool a fact goes into.
_HELPER_TOOLS = {"PatchDoc", "PatchFunctionErrors", "PatchFunctionName", "RemoveDoc", "Done"}


def _text(message: BaseMessage) -> str:
    return message.text if isinstance(message.content, list) else str(message.content)


def _tool_names(tools: list[dict[str, Any]]) -> list[str]:
    return [str(t.get("function", t).get("name", "")) for t in tools]


def _tool_schema(tool: dict[str, Any]) -> dict[str, Any]:
    schema = tool.get("function", tool).get("parameters", {})
    return schema if isinstance(schema, dict) else {}


def extraction_responder(messages: list[BaseMessage], tools: list[dict[str, Any]]) -> dict[str, Any] | str:
    """One fact per numbered line of a LightMem extraction prompt: ``"<speaker>: <text>"``, citing the line.

    The answer is ``{"facts": [...]}``, or text lines ``"<fact> [n]"`` when the prompt asks for one fact per line
    and no tool is bound (the ``lines`` method).
    """
    facts: list[dict[str, Any]] = []
    day: str | None = None
    for line in _text(messages[-1]).splitlines():
        if m := _DAY.match(line):
            day = m[1]
        elif m := _LINE.match(line):
            facts.append({"text": f"{m[2]}: {m[3]}", "sources": [int(m[1])], "date": day})
    if not tools and "one fact per line" in _text(messages[0]).lower():
        return "\n".join(f"{f['text']} [{f['sources'][0]}]" for f in facts)
    return {"facts": facts}


def one_bad_fact_responder(messages: list[BaseMessage], tools: list[dict[str, Any]]) -> dict[str, Any] | str:
    """A weak model, as the real 0.5B one answered: one fact for the whole batch, the last line's first words,
    cited as line 1 (the wrong line, unless the batch has one line). For tests of the coverage guarantee."""
    lines = [m for line in _text(messages[-1]).splitlines() if (m := _LINE.match(line))]
    if not lines:
        return {"facts": []}
    last = lines[-1]
    fact = {"text": f"{last[2]} said " + " ".join(last[3].split()[:4]), "sources": [1], "date": None}
    if not tools and "one fact per line" in _text(messages[0]).lower():
        return f"{fact['text']} [1]"
    return {"facts": [fact]}


def mem0_responder(messages: list[BaseMessage], tools: list[dict[str, Any]]) -> dict[str, Any]:
    """mem0's additive extraction (``ADDITIVE_EXTRACTION_PROMPT``): one memory per new message.

    The answer is mem0's JSON: ``{"memory": [{"id": "0", "text": ..., "attributed_to": "user"}]}``.
    """
    said: list[tuple[str, list[str]]] = []  # (role, lines): a message may span several lines
    section = _MEM0_SECTION.search(_text(messages[-1]))
    for line in (section[1] if section else "").splitlines():
        if m := _MEM0_LINE.match(line):
            said.append((m[1], [m[2]]))
        elif said:
            said[-1][1].append(line)
    texts = [(role, "\n".join(lines).strip()) for role, lines in said if role != "system"]
    return {
        "memory": [{"id": str(i), "text": t, "attributed_to": r} for i, (r, t) in enumerate(t for t in texts if t[1])]
    }


def langmem_messages(prompt: str) -> list[str]:
    """The contents of the messages in a langmem session block (``<session_...>``, ``pretty_repr`` format)."""
    session = _LANGMEM_SESSION.search(prompt)
    if not session:
        return []
    contents = []
    for block in _LANGMEM_BANNER.split(session[1]):
        lines = block.strip("\n").splitlines()
        if lines and lines[0].startswith("Name: "):
            lines = lines[1:]
        content = "\n".join(lines).strip()
        if content:
            contents.append(content)
    return contents


def langmem_responder(messages: list[BaseMessage], tools: list[dict[str, Any]]) -> AIMessage:
    """langmem's memory manager (trustcall): insert one ``Memory`` per message of the session, in parallel calls."""
    target = next(name for name in _tool_names(tools) if name not in _HELPER_TOOLS)
    field = next(iter(_tool_schema(tools[_tool_names(tools).index(target)]).get("properties", {})), "content")
    prompt = "\n".join(_text(m) for m in messages)
    calls = [
        {"name": target, "args": {field: content}, "id": f"call_{uuid.uuid4().hex[:8]}"}
        for content in langmem_messages(prompt)
    ]
    return AIMessage(content="", tool_calls=calls)


def default_responder(messages: list[BaseMessage], tools: list[dict[str, Any]]) -> Any:
    """Answer whichever known caller this is (see the module docstring), else a minimal schema-valid value."""
    prompt = "\n".join(_text(m) for m in messages)
    names = _tool_names(tools)
    if "## New Messages" in prompt and "memory" in prompt.lower():
        return mem0_responder(messages, tools)
    if "<session_" in prompt and any(n not in _HELPER_TOOLS for n in names):
        return langmem_responder(messages, tools)
    if any(_LINE.match(line) for line in _text(messages[-1]).splitlines()):
        answer = extraction_responder(messages, tools)
        if not tools or "facts" in _tool_schema(tools[0]).get("properties", {}):
            return answer
    if tools:
        usable = next((i for i, n in enumerate(names) if n not in _HELPER_TOOLS), 0)
        stub = schema_stub(_tool_schema(tools[usable]))
        if usable == 0:
            return stub  # a dict: a call of the first tool, or JSON text in JSON mode
        return AIMessage(content="", tool_calls=[{"name": names[usable], "args": stub, "id": f"call_{usable}"}])
    return extraction_responder(messages, tools)


def schema_stub(schema: dict[str, Any], defs: dict[str, Any] | None = None) -> Any:
    """A minimal value valid for a JSON schema (used for tools the script knows nothing about)."""
    defs = defs if defs is not None else schema.get("$defs", schema.get("definitions", {}))
    if "$ref" in schema:
        return schema_stub(defs.get(str(schema["$ref"]).rsplit("/", 1)[-1], {}), defs)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return schema_stub(schema[key][0], defs)
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    if kind == "object" or "properties" in schema:
        required = schema.get("required", list(schema.get("properties", {})))
        return {k: schema_stub(v, defs) for k, v in schema.get("properties", {}).items() if k in required}
    return {"array": [], "string": "", "integer": 0, "number": 0, "boolean": False}.get(str(kind))


PhaseUsage = Usage
"""Calls and tokens spent in one phase (``ingest``, ``consolidation``, ``query``): the one cost record,
:class:`~langchain_lightmem.accounting.Usage` (a scripted model does not time its answers: ``seconds`` stays 0)."""


class ScriptedChatModel(BaseChatModel, CarriesUsage):
    """A scripted, counting chat model.

    Args:
        script: answers returned in order before the responder is used: ``str`` (text), ``dict`` (tool-call
            arguments, or text JSON when no tool is bound), ``AIMessage``, or an exception instance (raised).
        responder: ``f(messages, tools) -> str | dict | AIMessage``; default :func:`default_responder`.
        model_name: the name reported as ``model_name``.
        phase: the phase calls are counted under until changed (see :meth:`in_phase`).
        json_mode: also serve ``with_structured_output(method="json_mode" | "json_schema")``. Off by default so
            callers that probe for JSON mode see the tool-calling-only model they always saw.
        keep_prompts: keep every prompt in ``prompts`` (turn off for long benchmark runs).

    Example:
        .. code-block:: python

            model = ScriptedChatModel()
            memory = LightMem(config, chat_model=model)
            with model.in_phase("ingest"):
                memory.add(messages, namespace="maya")
            model.calls, model.input_tokens, model.usage_by_phase["ingest"]
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    script: list[Any] = Field(default_factory=list)
    responder: Responder = default_responder
    model_name: str = "scripted"
    phase: str = "ingest"
    json_mode: bool = False
    keep_prompts: bool = True
    usage: Usage = Field(default_factory=Usage)
    """Every call counted (``model.calls``, ``model.input_tokens``, ``model.output_tokens`` read it)."""
    usage_by_phase: dict[str, Usage] = Field(default_factory=dict)
    prompts: list[list[BaseMessage]] = Field(default_factory=list)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _counter: TokenCounter = PrivateAttr(default_factory=TokenCounter)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> ScriptedChatModel:
        # Callers that deep-copy their config (mem0 does) must keep counting into this instance.
        return self

    @contextmanager
    def in_phase(self, phase: str) -> Iterator[None]:
        """Count the calls made inside the block under ``phase`` (then restore the previous phase)."""
        previous = self.phase
        self.phase = phase
        try:
            yield
        finally:
            self.phase = previous

    def reset_usage(self) -> None:
        """Forget every count (the script and responder are kept)."""
        with self._lock:
            self.usage = Usage()
            self.usage_by_phase = {}
            self.prompts = []

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any) -> Any:
        formatted = [convert_to_openai_tool(t) for t in tools]
        return self.bind(tools=formatted, tool_choice=tool_choice, **kwargs)

    def with_structured_output(self, schema: Any, *, include_raw: bool = False, **kwargs: Any) -> Runnable[Any, Any]:
        """Tool calling (the base behaviour), and with ``json_mode=True`` also JSON mode / JSON schema."""
        method = kwargs.get("method", "function_calling")
        if method == "function_calling":
            return super().with_structured_output(schema, include_raw=include_raw, **kwargs)
        if not self.json_mode or method not in ("json_mode", "json_schema"):
            raise NotImplementedError(f"ScriptedChatModel does not do method={method!r} (json_mode={self.json_mode})")
        pydantic_schema = isinstance(schema, type) and issubclass(schema, BaseModel)
        json_schema = convert_to_json_schema(schema)
        name = str(json_schema.get("title", "answer"))
        response_format: dict[str, Any] = {"type": "json_object"}
        if method == "json_schema":
            response_format = {"type": "json_schema", "json_schema": {"name": name, "schema": json_schema}}
        # JSON mode sends no schema to a real model; the script still needs it to answer validly.
        llm = self.bind(response_format=response_format, answer_schema={"name": name, "schema": json_schema})
        parser: Runnable[Any, Any] = (
            PydanticOutputParser(pydantic_object=schema) if pydantic_schema else JsonOutputParser()
        )
        if not include_raw:
            return llm | parser
        parse = RunnablePassthrough.assign(parsed=itemgetter("raw") | parser, parsing_error=lambda _: None)
        fallback = RunnablePassthrough.assign(parsed=lambda _: None)
        return RunnableMap(raw=llm) | parse.with_fallbacks([fallback], exception_key="parsing_error")

    def _next_answer(self, messages: list[BaseMessage], tools: list[dict[str, Any]]) -> Any:
        with self._lock:
            if self.script:
                return self.script.pop(0)
        return self.responder(messages, tools)

    def _count(self, in_tokens: int, out_tokens: int, *, call: bool) -> None:
        with self._lock:
            spent = Usage(calls=int(call), input_tokens=in_tokens, output_tokens=out_tokens)
            self.usage.add(spent)
            self.usage_by_phase.setdefault(self.phase, Usage()).add(spent)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        tools: list[dict[str, Any]] = list(kwargs.get("tools") or [])
        response_format = kwargs.get("response_format") or {}
        spec = kwargs.get("answer_schema") or response_format.get("json_schema")
        if response_format and spec:
            # A JSON schema is a tool the answer must fit, delivered as text.
            tools = [
                {"type": "function", "function": {"name": spec.get("name", "answer"), "parameters": spec["schema"]}}
            ]
        in_tokens = sum(self._counter.count(_text(m)) for m in messages)
        self._count(in_tokens, 0, call=True)
        if self.keep_prompts:
            with self._lock:
                self.prompts.append(list(messages))
        answer = self._next_answer(messages, tools)
        if isinstance(answer, BaseException):
            raise answer
        as_text = bool(response_format) or not kwargs.get("tools")
        if isinstance(answer, AIMessage):
            message = answer
        elif isinstance(answer, dict) and not as_text:
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
        self._count(0, out_tokens, call=False)
        message.usage_metadata = {
            "input_tokens": in_tokens,
            "output_tokens": out_tokens,
            "total_tokens": in_tokens + out_tokens,
        }
        message.response_metadata = {**message.response_metadata, "model_name": self.model_name}
        return ChatResult(generations=[ChatGeneration(message=message)])


class FakeClock:
    """A monotonic clock that moves only when told (``advance``) or when a :class:`ScriptedClientChatModel` waits.

    Pass it as ``clock=`` to what measures time budgets, and to the model, so both see the same simulated time.
    """

    def __init__(self, start: float = 0.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class ScriptedClientChatModel(ScriptedChatModel):
    """A :class:`ScriptedChatModel` with the client settings of an API model, like ``ChatOpenAI``: ``max_tokens``,
    ``timeout`` (per request) and ``max_retries`` (the client's own retries after a timeout), and a simulated
    latency on a :class:`FakeClock`.

    Every request appends its settings to ``requests`` (``{"max_tokens", "timeout", "max_retries"}``). A request
    whose ``latency_seconds`` exceeds ``timeout`` waits ``timeout`` on the clock and times out; the client then
    retries it ``max_retries`` times, as real clients do, and finally raises ``TimeoutError``. ``requests``,
    ``script`` and ``clock`` are shared with the copies a caller makes to change these settings.

    Example:
        .. code-block:: python

            clock = FakeClock()
            slow = ScriptedClientChatModel(timeout=120, max_retries=2, latency_seconds=1000, clock=clock)
            # one invoke: 3 requests of 120 s each on the clock, then TimeoutError
    """

    max_tokens: int | None = None
    timeout: float | None = None
    max_retries: int = 2
    latency_seconds: float = 0.0
    clock: Any = None
    # Typed Any so validation keeps the very objects (a list field would be copied): copies share them.
    requests: Any = Field(default_factory=list)
    script: Any = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _share_state(cls, data: Any) -> Any:
        # Fields given at construction are carried into copies; the mutable ones must be the same objects.
        if isinstance(data, dict):
            data.setdefault("requests", [])
            data.setdefault("script", [])
            data.setdefault("clock", FakeClock())
        return data

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        for _ in range(self.max_retries + 1):
            self.requests.append(
                {"max_tokens": self.max_tokens, "timeout": self.timeout, "max_retries": self.max_retries}
            )
            if self.timeout is not None and self.latency_seconds > self.timeout:
                self.clock.advance(self.timeout)
                continue
            self.clock.advance(self.latency_seconds)
            return super()._generate(messages, stop, run_manager, **kwargs)
        raise TimeoutError(f"request timed out after {self.timeout} s ({self.max_retries} client retries)")
