"""The chat model every system gets, and how its calls and tokens are counted per phase.

* ``scripted``: :class:`langchain_lightmem.testing.ScriptedChatModel`, one fresh instance per system. It counts
  calls and cl100k tokens per phase itself. Its outputs are scripted: input tokens and call counts are the
  measurements, output tokens are not.
* ``endpoint``: a ``ChatOpenAI`` for ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY`` (model ``LIGHTMEM_MODEL``), counted by
  a callback handler attached to the model (so callers that pass no callbacks, like mem0, are counted too).

Phases are ``ingest`` (building memory), ``consolidation`` (sleep-time work) and ``query`` (answering).

Example:
    .. code-block:: python

        model, meter = build_chat_model("scripted")
        with meter.phase("ingest"):
            model.invoke("hello")
        meter.usage()["ingest"].calls
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.outputs import LLMResult

from langchain_lightmem.models import chat_model_from_env
from langchain_lightmem.testing import PhaseUsage, ScriptedChatModel
from langchain_lightmem.tokens import TokenCounter


class Meter(Protocol):
    """Counts a chat model's calls and tokens per phase."""

    def phase(self, name: str) -> Any: ...

    def usage(self) -> dict[str, PhaseUsage]: ...


class ScriptedMeter:
    """The scripted model counts for itself; this only switches its phase."""

    def __init__(self, model: ScriptedChatModel) -> None:
        self.model = model

    def phase(self, name: str) -> Any:
        return self.model.in_phase(name)

    def usage(self) -> dict[str, PhaseUsage]:
        return {k: PhaseUsage(v.calls, v.input_tokens, v.output_tokens) for k, v in self.model.usage_by_phase.items()}


class CallbackMeter(BaseCallbackHandler):
    """Counts any chat model's calls and tokens per phase from its ``usage_metadata`` (cl100k when absent)."""

    def __init__(self) -> None:
        self.current = "ingest"
        self._usage: dict[str, PhaseUsage] = {}
        self._lock = threading.Lock()
        self._counter = TokenCounter()
        self._prompts: dict[Any, int] = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        previous, self.current = self.current, name
        try:
            yield
        finally:
            self.current = previous

    def usage(self) -> dict[str, PhaseUsage]:
        with self._lock:
            return {k: PhaseUsage(v.calls, v.input_tokens, v.output_tokens) for k, v in self._usage.items()}

    def on_chat_model_start(self, serialized: dict[str, Any], messages: list[list[Any]], **kwargs: Any) -> None:
        tokens = sum(self._counter.count(str(m.content)) for batch in messages for m in batch)
        with self._lock:
            self._prompts[kwargs.get("run_id")] = tokens

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        counted_in = self._prompts.pop(kwargs.get("run_id"), 0)
        in_tokens = out_tokens = 0
        for generations in response.generations:
            for gen in generations:
                usage = getattr(getattr(gen, "message", None), "usage_metadata", None) or {}
                in_tokens += int(usage.get("input_tokens", 0))
                out_tokens += int(usage.get("output_tokens", 0)) or self._counter.count(gen.text)
        with self._lock:
            row = self._usage.setdefault(self.current, PhaseUsage())
            row.calls += 1
            row.input_tokens += in_tokens or counted_in
            row.output_tokens += out_tokens


def endpoint_configured() -> bool:
    """True when an OpenAI-compatible endpoint is configured (``OPENAI_BASE_URL`` or ``OPENAI_API_KEY``)."""
    return bool(os.environ.get("OPENAI_BASE_URL") or os.environ.get("OPENAI_API_KEY"))


def build_chat_model(kind: str, *, model: str | None = None) -> tuple[BaseChatModel, Meter]:
    """A fresh chat model of ``kind`` (``scripted`` or ``endpoint``) and the meter that counts it.

    Raises:
        RuntimeError: ``endpoint`` was asked for but none is configured.
    """
    if kind == "scripted":
        scripted = ScriptedChatModel(keep_prompts=False)
        return scripted, ScriptedMeter(scripted)
    if kind == "endpoint":
        chat = chat_model_from_env(model)
        if chat is None:
            raise RuntimeError("no endpoint configured: set OPENAI_BASE_URL and/or OPENAI_API_KEY (and LIGHTMEM_MODEL)")
        meter = CallbackMeter()
        chat.callbacks = [meter]
        return chat, meter
    raise ValueError(f"unknown chat model kind {kind!r}; use 'scripted' or 'endpoint'")
