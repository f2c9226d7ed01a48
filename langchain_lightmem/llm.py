"""Structured answers from any LangChain chat model, robust across providers.

Providers differ: OpenAI does tool calling and JSON schema; many local OpenAI-compatible servers reject
``json_schema`` and some reject tools. :class:`StructuredCaller` tries the configured methods in order
(``function_calling``, ``json_mode``, ``prompt`` = JSON parsed from plain text), remembers the one that worked,
retries invalid answers, and backs off on transient errors (rate limits, timeouts, 5xx). Extraction and
consolidation both call the model through it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel

from langchain_lightmem.config import ExtractionConfig
from langchain_lightmem.errors import LightMemError
from langchain_lightmem.tokens import TokenCounter

T = TypeVar("T")

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)


class InvalidOutputError(ValueError):
    """The model answered, but not with something we can use."""


class LLMCallError(LightMemError):
    """Every attempt failed. ``stats`` carries what the attempts cost."""

    def __init__(self, message: str, stats: CallStats) -> None:
        super().__init__(message)
        self.stats = stats


@dataclass(slots=True)
class CallStats:
    """What answering one prompt cost."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    seconds: float = 0.0
    method: str = ""
    errors: list[str] = field(default_factory=list)


def parse_json_text(text: str) -> Any:
    """The first JSON object or array in ``text`` (tolerates code fences and chatter around it)."""
    cleaned = _FENCE.sub("", text.strip())
    decoder = json.JSONDecoder()
    for i, ch in enumerate(cleaned):
        if ch in "{[":
            try:
                return decoder.raw_decode(cleaned[i:])[0]
            except json.JSONDecodeError:
                continue
    raise InvalidOutputError(f"no JSON found in the model's answer: {text[:200]!r}")


def is_transient(exc: BaseException) -> bool:
    """Errors worth waiting for: rate limits, timeouts, connection drops, 5xx."""
    if isinstance(exc, TimeoutError | ConnectionError):
        return True
    name = type(exc).__name__
    markers = ("RateLimit", "Timeout", "APIConnection", "ServiceUnavailable", "InternalServer", "Overloaded")
    if any(m in name for m in markers):
        return True
    status = getattr(exc, "status_code", None) or getattr(getattr(exc, "response", None), "status_code", None)
    return status in (408, 409, 429, 500, 502, 503, 504)


def model_name(model: BaseChatModel) -> str:
    """The model's name as providers report it (``gpt-4o-mini``), else its class name."""
    for attr in ("model_name", "model", "model_id"):
        value = getattr(model, attr, None)
        if isinstance(value, str) and value:
            return value
    return type(model).__name__


class StructuredCaller:
    """Ask a chat model for answers of one ``schema``.

    Args:
        model: any LangChain chat model.
        schema: the pydantic model describing the answer (used for tool calling and JSON mode).
        config: methods, attempts and backoff (``LightMemConfig.extraction``).
        counter: counts tokens when the provider reports no usage.
        sleep: how to wait between retries (injectable for tests).
    """

    def __init__(
        self,
        model: BaseChatModel,
        schema: type[BaseModel],
        config: ExtractionConfig,
        counter: TokenCounter,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.model = model
        self.schema = schema
        self.config = config
        self.counter = counter
        self.sleep = sleep
        self.model_name = model_name(model)
        self._working_method: str | None = None  # remembered: no probing cost after the first success

    def _methods(self) -> list[str]:
        methods: list[str] = list(self.config.methods)
        if self._working_method in methods:
            methods.remove(self._working_method)
            methods.insert(0, self._working_method)
        if type(self.model).with_structured_output is BaseChatModel.with_structured_output:
            # The base implementation only does tool calling; asking it for JSON mode would repeat that.
            methods = [m for m in methods if m != "json_mode"] or ["prompt"]
        return methods

    def _ask(
        self, method: str, prompt: list[BaseMessage], config: RunnableConfig | None
    ) -> tuple[Any, AIMessage | None]:
        """One model call; returns (payload, raw message for usage)."""
        if method == "prompt":
            answer = self.model.invoke(prompt, config=config)
            text = answer.content if isinstance(answer.content, str) else json.dumps(answer.content)
            return parse_json_text(text), answer if isinstance(answer, AIMessage) else None
        structured = self.model.with_structured_output(self.schema, method=method, include_raw=True)
        result = structured.invoke(prompt, config=config)
        raw = result.get("raw") if isinstance(result, dict) else None
        parsed = result.get("parsed") if isinstance(result, dict) else result
        if parsed is not None:
            return parsed, raw
        if isinstance(raw, AIMessage):  # the strict parser failed; try a lenient reading of the same answer
            if raw.tool_calls:
                return raw.tool_calls[0].get("args", {}), raw
            if isinstance(raw.content, str) and raw.content.strip():
                return parse_json_text(raw.content), raw
        error = result.get("parsing_error") if isinstance(result, dict) else None
        raise InvalidOutputError(f"no structured output ({error})")

    def _usage(self, prompt: list[BaseMessage], raw: AIMessage | None) -> tuple[int, int]:
        usage = getattr(raw, "usage_metadata", None) if raw is not None else None
        if usage and usage.get("input_tokens"):
            return int(usage["input_tokens"]), int(usage.get("output_tokens", 0))
        in_tokens = sum(self.counter.count(str(m.content)) for m in prompt)
        out_tokens = 0
        if raw is not None:
            out_tokens = self.counter.count(raw.content if isinstance(raw.content, str) else json.dumps(raw.content))
            for call in raw.tool_calls:
                out_tokens += self.counter.count(json.dumps(call.get("args", {})))
        return in_tokens, out_tokens

    def call(
        self, prompt: list[BaseMessage], parse: Callable[[Any], T], config: RunnableConfig | None = None
    ) -> tuple[T, CallStats]:
        """Answer ``prompt``; at most ``max_attempts`` model calls.

        ``parse`` turns the payload (a dict, list or pydantic object) into the result and raises
        :class:`InvalidOutputError` to ask again.

        Raises:
            LLMCallError: no attempt produced a usable answer (``.stats`` has the cost).
        """
        stats = CallStats()
        methods = self._methods()
        unsupported: set[str] = set()
        method_index = 0
        backoff = self.config.backoff_seconds
        started = time.perf_counter()
        while stats.calls < self.config.max_attempts and len(unsupported) < len(methods):
            method = methods[method_index % len(methods)]
            if method in unsupported:
                method_index += 1
                continue
            raw: AIMessage | None = None
            try:
                stats.calls += 1
                payload, raw = self._ask(method, prompt, config)
                result = parse(payload)
            except NotImplementedError as exc:  # the model cannot do this method: no call was made
                stats.calls -= 1
                stats.errors.append(f"{method}: {exc}")
                unsupported.add(method)
                method_index += 1
                continue
            except InvalidOutputError as exc:
                stats.errors.append(f"{method}: {exc}")
                method_index += 1
                self._add_usage(stats, prompt, raw)
                continue
            except Exception as exc:
                stats.errors.append(f"{method}: {type(exc).__name__}: {exc}")
                if is_transient(exc):
                    self.sleep(min(backoff, self.config.max_backoff_seconds))
                    backoff *= 2
                else:
                    method_index += 1  # e.g. HTTP 400 "response_format not supported": try the next method
                continue
            self._add_usage(stats, prompt, raw)
            self._working_method = stats.method = method
            stats.seconds = time.perf_counter() - started
            return result, stats
        stats.seconds = time.perf_counter() - started
        raise LLMCallError(
            f"no usable answer from {self.model_name} after {stats.calls} call(s): " + "; ".join(stats.errors[-3:]),
            stats,
        )

    def _add_usage(self, stats: CallStats, prompt: list[BaseMessage], raw: AIMessage | None) -> None:
        in_tokens, out_tokens = self._usage(prompt, raw)
        stats.input_tokens += in_tokens
        stats.output_tokens += out_tokens
