"""Structured answers from any LangChain chat model, robust across providers and small local models.

Providers differ: OpenAI does tool calling and JSON schema; many local OpenAI-compatible servers reject
``json_schema`` and some reject tools; a 0.5B local model follows a plain line format far better than a JSON
schema. :class:`StructuredCaller` tries the configured methods in order (``function_calling``, ``json_mode``,
``prompt`` = JSON parsed from plain text, ``lines`` = one item per line in plain text, parsed by the caller),
remembers the one that worked, retries invalid answers, and backs off on transient errors (rate limits, timeouts,
5xx). Extraction and consolidation both call the model through it.

Every call has an output limit (``max_tokens``, scaled to the prompt by the caller) and every prompt one time
budget (``ExtractionConfig.timeout_seconds``) shared by our attempts *and* the client's own retries: the model is
copied with ``max_retries=0`` and a timeout equal to what is left of the budget, where it has those fields
(``ChatOpenAI``, ``ChatAnthropic``, ``ChatOllama``, ...). A call that never reached a model (connection refused) is
not counted as an LLM call: it is reported in ``CallStats.unreached`` and ``errors``.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel

from langchain_lightmem.accounting import CarriesUsage, Usage
from langchain_lightmem.config import ExtractionConfig
from langchain_lightmem.errors import LightMemError
from langchain_lightmem.tokens import TokenCounter

logger = logging.getLogger(__name__)

T = TypeVar("T")

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)
MIN_ATTEMPT_SECONDS = 1.0
"""An attempt is only started when at least this much of the time budget is left."""


class InvalidOutputError(ValueError):
    """The model answered, but not with something we can use."""


class LLMCallError(LightMemError):
    """Every attempt failed. ``stats`` carries what the attempts cost."""

    def __init__(self, message: str, stats: CallStats) -> None:
        super().__init__(message)
        self.stats = stats


@dataclass(slots=True)
class CallStats(CarriesUsage):
    """What answering one prompt cost: its :class:`~langchain_lightmem.accounting.Usage` (``stats.calls``,
    ``stats.input_tokens``... read it), the method that answered, and the errors of failed attempts.

    ``calls`` counts requests that reached a model (answered, or failed after reaching it: a timeout, a 5xx);
    ``unreached`` counts attempts that never did (connection refused, unknown host): they cost no tokens.
    """

    usage: Usage = field(default_factory=Usage)
    method: str = ""
    unreached: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TextAnswer:
    """A plain-text answer (method ``lines``), handed to the caller's parser as is.

    ``truncated`` is true when the model hit the output limit: its last line is then already removed (it may be
    cut in the middle).
    """

    text: str
    truncated: bool = False


PromptFor = Callable[[str], list[BaseMessage]]
"""Builds the prompt for one method: a line format needs other instructions than a JSON schema."""


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


def parse_partial_json(text: str) -> Any:
    """Like :func:`parse_json_text`, but an answer cut by the output limit (``{"facts": [{...}, {...}, {"te``)
    gives the list of its complete inner objects.

    Raises:
        InvalidOutputError: not even one complete object.
    """
    cleaned = _FENCE.sub("", text.strip())
    decoder = json.JSONDecoder()
    starts = [i for i in (cleaned.find("{"), cleaned.find("[")) if i >= 0]
    if not starts:
        raise InvalidOutputError(f"no JSON found in the model's answer: {text[:200]!r}")
    first = min(starts)
    try:
        return decoder.raw_decode(cleaned, first)[0]
    except json.JSONDecodeError:
        pass  # cut (or broken): keep the complete objects inside it
    items: list[Any] = []
    i = cleaned.find("{", first + 1)
    while 0 <= i < len(cleaned):
        try:
            value, end = decoder.raw_decode(cleaned, i)
        except json.JSONDecodeError:
            i = cleaned.find("{", i + 1)
            continue
        if isinstance(value, dict):
            items.append(value)
        i = cleaned.find("{", end)
    if not items:
        raise InvalidOutputError(f"no complete JSON object in the model's answer: {text[:200]!r}")
    if len(items) == 1 and any(isinstance(v, list) and v and isinstance(v[0], dict) for v in items[0].values()):
        return items[0]  # a whole answer after a stray bracket ("[see below] {"facts": [...]}")
    return items


def _cut_answer(exc: BaseException) -> AIMessage | None:
    """The answer inside an openai ``LengthFinishReasonError`` (JSON mode cut by the output limit), if any."""
    if "LengthFinishReasonError" not in _class_names(exc):
        return None
    completion = getattr(exc, "completion", None)
    try:
        message = completion.choices[0].message  # type: ignore[union-attr]
        usage = completion.usage  # type: ignore[union-attr]
    except (AttributeError, IndexError):
        return None
    text = message.content or ""
    if not text and message.tool_calls:
        text = message.tool_calls[0].function.arguments or ""
    raw = AIMessage(text, response_metadata={"finish_reason": "length"})
    if usage is not None:
        raw.usage_metadata = {
            "input_tokens": usage.prompt_tokens,
            "output_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
        }
    return raw


def _exception_chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _class_names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def never_reached(exc: BaseException) -> bool:
    """True when the request never reached a model: connection refused, unknown host, connect timeout.

    A read timeout or a dropped connection after the request was sent is not this: the model may have worked on it.
    """
    for link in _exception_chain(exc):
        names = _class_names(link)
        if isinstance(link, ConnectionRefusedError) or names & {"ConnectError", "ConnectTimeout", "gaierror"}:
            return True
        if names & {"ReadTimeout", "WriteTimeout", "RemoteProtocolError", "ReadError"}:
            return False
    return False


def is_transient(exc: BaseException) -> bool:
    """Errors worth waiting for: rate limits, timeouts, connection drops, 5xx."""
    if isinstance(exc, TimeoutError | ConnectionError):
        return True
    markers = (
        "RateLimit",
        "Timeout",
        "APIConnection",
        "ModelConnection",
        "ServiceUnavailable",
        "InternalServer",
        "Overloaded",
    )
    if any(m in name for name in _class_names(exc) for m in markers):
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


# Client fields by provider: the first one a model has is used.
_TIMEOUT_FIELDS = ("request_timeout", "timeout", "default_request_timeout")
_MAX_TOKENS_FIELDS = ("max_tokens", "max_output_tokens", "num_predict", "max_new_tokens")
# Built from the other fields by the model's validator: passing the old ones would keep the old settings.
_DERIVED_FIELDS = frozenset({"client", "async_client", "root_client", "root_async_client"})


def _first_field(model: BaseChatModel, names: Sequence[str]) -> str | None:
    fields = type(model).model_fields
    return next((n for n in names if n in fields), None)


def _legacy_max_tokens_server(model: BaseChatModel) -> bool:
    """True for an OpenAI-compatible client pointed at a server other than OpenAI's (llama.cpp, Ollama, vLLM)."""
    if "extra_body" not in type(model).model_fields:
        return False
    base = getattr(model, "openai_api_base", None) or getattr(model, "base_url", None)
    return isinstance(base, str) and bool(base) and "api.openai.com" not in base


def bounded_model(model: BaseChatModel, *, timeout: float | None, max_tokens: int | None) -> BaseChatModel:
    """``model`` with at most ``timeout`` seconds per request, no retries of its own, and at most ``max_tokens``
    output tokens, where its class has such fields; otherwise ``model`` itself (a generic chat model: our time
    budget is then checked between attempts only).

    The copy is built through the class's constructor, so providers whose client objects are created from these
    settings (``ChatOpenAI``) get new clients. Limits already stricter on ``model`` are kept. An OpenAI client
    pointed at another server also sends the limit as ``max_tokens`` (``extra_body``): ChatOpenAI sends only
    ``max_completion_tokens``, which llama-cpp-python's server ignores.

    Example:
        .. code-block:: python

            chat = ChatOpenAI(base_url="http://127.0.0.1:8765/v1", api_key="x", model="qwen", max_retries=2)
            quick = bounded_model(chat, timeout=30, max_tokens=400)  # quick.max_retries == 0
    """
    overrides: dict[str, Any] = {}
    timeout_field = _first_field(model, _TIMEOUT_FIELDS)
    if timeout is not None and timeout_field is not None:
        current = getattr(model, timeout_field, None)
        limit = min(float(current), timeout) if isinstance(current, int | float) and current > 0 else timeout
        overrides[timeout_field] = limit
    if "max_retries" in type(model).model_fields and timeout is not None:
        overrides["max_retries"] = 0
    tokens_field = _first_field(model, _MAX_TOKENS_FIELDS)
    if max_tokens is not None and tokens_field is not None:
        current = getattr(model, tokens_field, None)
        overrides[tokens_field] = (
            min(int(current), max_tokens) if isinstance(current, int) and current > 0 else max_tokens
        )
        limit = overrides[tokens_field]
        if _legacy_max_tokens_server(model):
            # ChatOpenAI sends only "max_completion_tokens", which llama-cpp-python's server ignores ("max_tokens:
            # defaults to inf"): 0.1's runaway 7,385-token answer. Local servers get the older field as well.
            overrides["extra_body"] = {**(getattr(model, "extra_body", None) or {}), "max_tokens": limit}
    if not overrides or all(getattr(model, k, None) == v for k, v in overrides.items()):
        return model
    fields = type(model).model_fields
    values = {name: getattr(model, name) for name in model.model_fields_set if name not in _DERIVED_FIELDS}
    values.update(overrides)

    def key(name: str) -> str:
        info = fields[name]
        alias = info.validation_alias if isinstance(info.validation_alias, str) else info.alias
        return alias or name

    try:
        return type(model)(**{key(name): value for name, value in values.items()})
    except Exception as exc:  # a class whose constructor needs more than its fields: keep the model as it is
        logger.debug("could not copy %s with %s: %s", type(model).__name__, overrides, exc)
        return model


def output_limit(prompt_tokens: int, config: ExtractionConfig) -> int:
    """The output limit for a prompt whose variable part (the batch, the targets) has ``prompt_tokens`` tokens:
    ``output_tokens_ratio`` times that, within [``min_output_tokens``, ``max_output_tokens``]."""
    scaled = round(config.output_tokens_ratio * prompt_tokens)
    return max(config.min_output_tokens, min(config.max_output_tokens, scaled))


def _finish_reason(message: AIMessage | None) -> str | None:
    if message is None:
        return None
    meta = message.response_metadata or {}
    reason = meta.get("finish_reason") or meta.get("stop_reason") or meta.get("done_reason")
    return str(reason) if reason else None


def _hit_limit(message: AIMessage | None) -> bool:
    return _finish_reason(message) in ("length", "max_tokens")


class StructuredCaller:
    """Ask a chat model for answers of one ``schema``.

    Args:
        model: any LangChain chat model.
        schema: the pydantic model describing the answer (used for tool calling and JSON mode).
        config: methods, attempts, backoff, time budget (``LightMemConfig.extraction``).
        counter: counts tokens when the provider reports no usage.
        sleep: how to wait between retries (injectable for tests).
        clock: a monotonic clock in seconds (injectable for tests).
    """

    def __init__(
        self,
        model: BaseChatModel,
        schema: type[BaseModel],
        config: ExtractionConfig,
        counter: TokenCounter,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.model = model
        self.schema = schema
        self.config = config
        self.counter = counter
        self.sleep = sleep
        self.clock = clock
        self.model_name = model_name(model)
        self._working_method: str | None = None  # remembered: no probing cost after the first success

    def methods(self, allowed: Sequence[str] | None = None) -> list[str]:
        """The methods this model will be asked with, in order (``allowed`` narrows the configured ones)."""
        methods: list[str] = [m for m in self.config.methods if allowed is None or m in allowed]
        if self._working_method in methods:
            methods.remove(self._working_method)
            methods.insert(0, self._working_method)
        if type(self.model).with_structured_output is BaseChatModel.with_structured_output:
            # The base implementation only does tool calling; asking it for JSON mode would repeat that.
            methods = [m for m in methods if m != "json_mode"]
        return methods or ["prompt"]

    def _ask(
        self, model: BaseChatModel, method: str, prompt: list[BaseMessage], config: RunnableConfig | None
    ) -> tuple[Any, AIMessage | None]:
        """One model call; returns (payload, raw message for usage)."""
        raw: AIMessage | None
        if method in ("prompt", "lines"):
            answer = model.invoke(prompt, config=config)
            raw = answer if isinstance(answer, AIMessage) else None
            text = answer.content if isinstance(answer.content, str) else answer.text
            if method == "lines":
                truncated = _hit_limit(raw)
                if truncated:
                    text = text.rsplit("\n", 1)[0] if "\n" in text else ""  # the last line may be cut
                return TextAnswer(text, truncated), raw
            try:
                return parse_partial_json(text), raw
            except InvalidOutputError as exc:
                raise _Answered(InvalidOutputError(f"{exc}{self._limit_note(raw)}"), raw) from exc
        structured = model.with_structured_output(self.schema, method=method, include_raw=True)
        try:
            result = structured.invoke(prompt, config=config)
        except Exception as exc:
            cut = _cut_answer(exc)
            if cut is None:
                raise
            result = {"raw": cut, "parsed": None}  # read below like any answer that failed strict parsing
        raw = result.get("raw") if isinstance(result, dict) else None
        parsed = result.get("parsed") if isinstance(result, dict) else result
        if parsed is not None:
            return parsed, raw
        if isinstance(raw, AIMessage):  # the strict parser failed; try a lenient reading of the same answer
            if raw.tool_calls:
                return raw.tool_calls[0].get("args", {}), raw
            texts = [raw.content] if isinstance(raw.content, str) and raw.content.strip() else []
            texts += [str(call.get("args") or "") for call in raw.invalid_tool_calls]  # e.g. cut tool arguments
            for text in texts:
                try:  # an answer cut by the output limit keeps its complete objects
                    return parse_partial_json(text), raw
                except InvalidOutputError as exc:
                    unusable = exc
            if texts:
                raise _Answered(InvalidOutputError(f"{unusable}{self._limit_note(raw)}"), raw)
        error = result.get("parsing_error") if isinstance(result, dict) else None
        raise _Answered(InvalidOutputError(f"no structured output ({error}){self._limit_note(raw)}"), raw)

    @staticmethod
    def _limit_note(raw: AIMessage | None) -> str:
        return " (the answer hit the output limit)" if _hit_limit(raw) else ""

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
        self,
        prompt: list[BaseMessage] | PromptFor,
        parse: Callable[[Any], T],
        config: RunnableConfig | None = None,
        *,
        max_tokens: int | None = None,
        methods: Sequence[str] | None = None,
    ) -> tuple[T, CallStats]:
        """Answer ``prompt`` (the messages, or a function of the method giving them); at most ``max_attempts``
        attempts within ``timeout_seconds``.

        ``parse`` turns the payload (a dict, list or pydantic object; a :class:`TextAnswer` for ``lines``) into
        the result and raises :class:`InvalidOutputError` to ask again. ``max_tokens`` limits each answer.
        ``methods`` narrows the configured methods (e.g. a schema that a line format cannot carry).

        Raises:
            LLMCallError: no attempt produced a usable answer (``.stats`` has the cost).
        """
        stats = CallStats()
        order = self.methods(methods)
        unsupported: set[str] = set()
        method_index = attempts = 0
        backoff = self.config.backoff_seconds
        budget = self.config.timeout_seconds
        started = self.clock()

        def remaining() -> float | None:
            return None if budget is None else budget - (self.clock() - started)

        while attempts < self.config.max_attempts and len(unsupported) < len(order):
            left = remaining()
            if left is not None and left < MIN_ATTEMPT_SECONDS:
                stats.errors.append(f"the time budget of {budget:g} s is spent")
                break
            method = order[method_index % len(order)]
            if method in unsupported:
                method_index += 1
                continue
            messages = prompt(method) if callable(prompt) else prompt
            model = bounded_model(self.model, timeout=left, max_tokens=max_tokens)
            raw: AIMessage | None = None
            attempts += 1
            try:
                payload, raw = self._ask(model, method, messages, config)
                result = parse(payload)
            except NotImplementedError as exc:  # the model cannot do this method: no call was made
                attempts -= 1
                stats.errors.append(f"{method}: {exc}")
                unsupported.add(method)
                method_index += 1
                continue
            except (InvalidOutputError, _Answered) as exc:
                if isinstance(exc, _Answered):
                    raw, exc = exc.raw, exc.error
                stats.usage.calls += 1
                stats.errors.append(f"{method}: {exc}")
                method_index += 1
                self._add_usage(stats, messages, raw)
                continue
            except Exception as exc:
                if never_reached(exc):
                    stats.unreached += 1
                    stats.errors.append(f"{method}: no model reached: {type(exc).__name__}: {exc}")
                else:
                    stats.usage.calls += 1
                    stats.errors.append(f"{method}: {type(exc).__name__}: {exc}")
                if is_transient(exc) or never_reached(exc):
                    wait = min(backoff, self.config.max_backoff_seconds)
                    left = remaining()
                    if left is not None:
                        wait = min(wait, max(0.0, left - MIN_ATTEMPT_SECONDS))
                    self.sleep(wait)
                    backoff *= 2
                else:
                    method_index += 1  # e.g. HTTP 400 "response_format not supported": try the next method
                continue
            stats.usage.calls += 1
            self._add_usage(stats, messages, raw)
            self._working_method = stats.method = method
            stats.usage.seconds = self.clock() - started
            return result, stats
        stats.usage.seconds = self.clock() - started
        tried = f"{stats.calls} call(s)" + (f" and {stats.unreached} unreached attempt(s)" if stats.unreached else "")
        raise LLMCallError(
            f"no usable answer from {self.model_name} after {tried}: " + "; ".join(stats.errors[-3:]), stats
        )

    def _add_usage(self, stats: CallStats, prompt: list[BaseMessage], raw: AIMessage | None) -> None:
        in_tokens, out_tokens = self._usage(prompt, raw)
        stats.usage.input_tokens += in_tokens
        stats.usage.output_tokens += out_tokens


class _Answered(Exception):
    """An invalid answer together with the raw message (its tokens are still counted)."""

    def __init__(self, error: InvalidOutputError, raw: AIMessage | None) -> None:
        super().__init__(str(error))
        self.error = error
        self.raw = raw
