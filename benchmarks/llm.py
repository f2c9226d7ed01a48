"""The chat model every system gets, and how its calls and tokens are counted per phase.

* ``scripted``: :class:`langchain_lightmem.testing.ScriptedChatModel`, one fresh instance per system. It counts
  calls and cl100k tokens per phase itself. Its outputs are scripted: input tokens and call counts are the
  measurements, output tokens are not.
* ``endpoint``: a ``ChatOpenAI`` for an OpenAI-compatible server (:class:`Endpoint`: ``--endpoint local``,
  ``--endpoint URL``, or ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY``), counted by a :class:`CallbackMeter` attached
  to the model (so callers that pass no callbacks, like mem0, are counted too), which also writes one record per
  call to the run's per-call log (:mod:`benchmarks.calls`).

Phases are ``ingest`` (building memory), ``consolidation`` (sleep-time work), ``query`` (answering) and
``judge`` (the QA judge).

Every endpoint call has a time budget: ``timeout`` seconds per HTTP request, ``max_retries`` retries by the
OpenAI client (0 by default: LightMem's extraction retries on its own, and client retries under it multiplied
into an 18-minute stall on a stuck local call), and ``max_output_tokens`` as the answer cap. The cap is also sent
as ``max_tokens``: ``ChatOpenAI`` sends only ``max_completion_tokens``, which llama.cpp's server ignores, so a
small model that loops would otherwise generate until its context is full.

Example:
    .. code-block:: python

        model, meter = build_chat_model("scripted")
        with meter.phase("ingest"):
            model.invoke("hello")
        meter.usage()["ingest"].calls

        endpoint = probe(resolve_endpoint("local"))  # EndpointUnreachable when no server answers
        model, meter = build_chat_model("endpoint", endpoint=endpoint, log=CallLog(Path("calls.jsonl")))
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Protocol
from urllib.parse import urlparse

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.outputs import LLMResult

from benchmarks.calls import CallLog, read_answer
from benchmarks.exits import EndpointUnreachable
from langchain_lightmem.testing import PhaseUsage, ScriptedChatModel
from langchain_lightmem.tokens import TokenCounter

LOCAL_ENDPOINT = "http://127.0.0.1:8765/v1"
"""``--endpoint local``: the llama.cpp server of ``../tools/local-llm/serve.sh``."""
LOCAL_CONTEXT_WINDOW = 8192
"""The context (tokens) assumed for ``--endpoint local`` unless ``--context-window`` says otherwise."""
OPENAI_ENDPOINT = "https://api.openai.com/v1"
PUBLISHED_MODEL = "gpt-4o-mini"
"""The answer and judge model of the published LoCoMo numbers (docs/benchmarks.md)."""
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


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
        return {k: v.copy() for k, v in self.model.usage_by_phase.items()}


@dataclass(slots=True)
class _Call:
    phase: str
    started: float
    counted_in: int
    method: str
    model: str | None
    fields: dict[str, Any]


def structured_method(options: Mapping[str, Any] | None, params: Mapping[str, Any] | None) -> str:
    """The structured-output method of one call, from what LangChain hands callbacks: ``with_structured_output``
    marks its calls with ``ls_structured_output_format``; tools or a ``response_format`` bound by hand are named
    by what was bound; nothing bound is ``plain``."""
    marked = (options or {}).get("ls_structured_output_format") or {}
    method = (marked.get("kwargs") or {}).get("method")
    if method:
        return str(method)
    params = params or {}
    if params.get("tools"):
        return "function_calling"
    response_format = params.get("response_format")
    if isinstance(response_format, Mapping):
        return "json_schema" if response_format.get("type") == "json_schema" else "json_mode"
    return "plain"


class CallbackMeter(BaseCallbackHandler):
    """Counts any chat model's calls and tokens per phase from its ``usage_metadata`` (cl100k when absent) and,
    with a :class:`~benchmarks.calls.CallLog`, writes one record per call (see :mod:`benchmarks.calls`).

    ``fields`` go into every record (``system``, ``protocol``); :meth:`tag` sets more for a block
    (``conversation``, ``question``). The phase is read when a call starts, so a call that ends after the block
    that made it is still counted where it began.
    """

    def __init__(self, *, log: CallLog | None = None, fields: Mapping[str, Any] | None = None) -> None:
        self.current = "ingest"
        self.log = log
        self.fields: dict[str, Any] = dict(fields or {})
        self._usage: dict[str, PhaseUsage] = {}
        self._lock = threading.Lock()
        self._counter = TokenCounter()
        self._calls: dict[Any, _Call] = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        previous, self.current = self.current, name
        try:
            yield
        finally:
            self.current = previous

    @contextmanager
    def tag(self, **fields: Any) -> Iterator[None]:
        """Add ``fields`` to the records of the calls started inside the block."""
        previous = dict(self.fields)
        self.fields.update(fields)
        try:
            yield
        finally:
            self.fields = previous

    def usage(self) -> dict[str, PhaseUsage]:
        with self._lock:
            return {k: v.copy() for k, v in self._usage.items()}

    def on_chat_model_start(self, serialized: dict[str, Any], messages: list[list[Any]], **kwargs: Any) -> None:
        tokens = sum(self._counter.count(str(m.content)) for batch in messages for m in batch)
        params = kwargs.get("invocation_params") or {}
        call = _Call(
            phase=self.current,
            started=time.perf_counter(),
            counted_in=tokens,
            method=structured_method(kwargs.get("options"), params),
            model=params.get("model") or params.get("model_name"),
            fields=dict(self.fields),
        )
        with self._lock:
            self._calls[kwargs.get("run_id")] = call

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        with self._lock:
            call = self._calls.pop(kwargs.get("run_id"), None)
        phase = call.phase if call else self.current
        in_tokens = out_tokens = 0
        counted_out = 0
        finish: str | None = None
        read: dict[str, Any] = {}
        for generations in response.generations:
            for gen in generations:
                message = getattr(gen, "message", None)
                usage = getattr(message, "usage_metadata", None) or {}
                in_tokens += int(usage.get("input_tokens", 0))
                out_tokens += int(usage.get("output_tokens", 0))
                counted_out += self._counter.count(gen.text)
                metadata = getattr(message, "response_metadata", None) or {}
                finish = finish or metadata.get("finish_reason") or (gen.generation_info or {}).get("finish_reason")
                if message is not None and not read:
                    read = read_answer(message)
        from_server = bool(in_tokens)
        in_tokens = in_tokens or (call.counted_in if call else 0)
        out_tokens = out_tokens or counted_out
        with self._lock:
            self._usage.setdefault(phase, PhaseUsage()).add(PhaseUsage(1, in_tokens, out_tokens))
        if self.log is not None:
            self.log.write(
                {
                    **self._head(call, phase),
                    "prompt_tokens": in_tokens,
                    "answer_tokens": out_tokens,
                    "tokens_from": "server" if from_server else "cl100k",
                    "finish_reason": finish,
                    **read,
                    "error": None,
                }
            )

    def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        with self._lock:
            call = self._calls.pop(kwargs.get("run_id"), None)
        if self.log is not None:
            phase = call.phase if call else self.current
            message = " ".join(str(error).split())[:300]
            self.log.write({**self._head(call, phase), "error": f"{type(error).__name__}: {message}"})

    def _head(self, call: _Call | None, phase: str) -> dict[str, Any]:
        return {
            **(call.fields if call else self.fields),
            "phase": phase,
            "model": call.model if call else None,
            "method": call.method if call else None,
            "seconds": round(time.perf_counter() - call.started, 3) if call else None,
        }


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An OpenAI-compatible server that endpoint systems and the QA steps call (no key here: the key is read
    from ``OPENAI_API_KEY`` when a model is built, so it never lands in ``results.json``).

    Attributes:
        base_url: the server's ``/v1`` URL.
        model: the model asked (``None`` until :func:`probe` resolves it: ``LIGHTMEM_MODEL``, else the only
            model the server lists, else ``gpt-4o-mini``).
        judge_model: the QA judge (``None``: ``LIGHTMEM_JUDGE_MODEL``, else ``model``).
        timeout: seconds one HTTP request may take.
        max_retries: retries of the OpenAI client per call.
        max_output_tokens: the answer cap of the systems' calls (``None``: the server's default).
        context_window: the model's context in tokens, when known: QA prompts are fitted to it.
        server: what the server says it is (from :func:`probe`).
    """

    base_url: str
    model: str | None = None
    judge_model: str | None = None
    timeout: float = 120.0
    max_retries: int = 0
    max_output_tokens: int | None = 1024
    context_window: int | None = None
    server: str = ""

    @property
    def local(self) -> bool:
        """The server runs on this machine (loopback): a small local model, for the labels."""
        return urlparse(self.base_url).hostname in _LOOPBACK

    @property
    def label(self) -> str:
        """``real model: <model> at <server URL> (<what the server says it is>)``."""
        text = f"real model: {self.model} at {self.base_url}"
        return text + (f" ({self.server})" if self.server else "")

    def chat_model(
        self, *, model: str | None = None, max_tokens: int | None = None, callbacks: list[Any] | None = None
    ) -> BaseChatModel:
        """A ``ChatOpenAI`` for this server with the run's time budget (``max_tokens`` overrides the cap)."""
        from langchain_openai import ChatOpenAI

        cap = max_tokens if max_tokens is not None else self.max_output_tokens
        kwargs: dict[str, Any] = {
            "model": model or self.model or PUBLISHED_MODEL,
            "base_url": self.base_url,
            "api_key": os.environ.get("OPENAI_API_KEY") or "not-needed",
            "temperature": 0,
            "timeout": self.timeout,
            "max_retries": self.max_retries,
            "callbacks": callbacks,
        }
        if cap:
            kwargs["max_tokens"] = cap
            if urlparse(self.base_url).hostname != urlparse(OPENAI_ENDPOINT).hostname:
                kwargs["extra_body"] = {"max_tokens": cap}  # llama.cpp reads only this one
        return ChatOpenAI(**kwargs)


def resolve_endpoint(
    where: str | None = None,
    *,
    model: str | None = None,
    judge_model: str | None = None,
    timeout: float = 120.0,
    max_retries: int = 0,
    max_output_tokens: int | None = 1024,
    context_window: int | None = None,
) -> Endpoint | None:
    """The endpoint of a run: ``local`` (:data:`LOCAL_ENDPOINT`, context :data:`LOCAL_CONTEXT_WINDOW` unless
    given), a URL, or (``None``) ``OPENAI_BASE_URL``, else OpenAI itself when ``OPENAI_API_KEY`` is set, else no
    endpoint (``None``)."""
    if where == "local":
        base_url = LOCAL_ENDPOINT
        context_window = context_window or LOCAL_CONTEXT_WINDOW
    elif where:
        base_url = where
    elif os.environ.get("OPENAI_BASE_URL"):
        base_url = os.environ["OPENAI_BASE_URL"]
    elif os.environ.get("OPENAI_API_KEY"):
        base_url = OPENAI_ENDPOINT
    else:
        return None
    return Endpoint(
        base_url=base_url.rstrip("/"),
        model=model,
        judge_model=judge_model,
        timeout=timeout,
        max_retries=max_retries,
        max_output_tokens=max_output_tokens,
        context_window=context_window,
    )


def _get(url: str, timeout: float) -> Any:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {os.environ.get('OPENAI_API_KEY', 'x')}"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read().decode("utf-8"))


def probe(endpoint: Endpoint, *, timeout: float = 10.0) -> Endpoint:
    """Check that ``endpoint`` answers and serves its models; return it with ``model``, ``judge_model`` and
    ``server`` resolved.

    Raises:
        EndpointUnreachable: no answer, the key was refused, or a model is not among those the server lists.
    """
    url = endpoint.base_url
    listed: list[str] | None = None
    try:
        listed = [str(m.get("id")) for m in _get(f"{url}/models", timeout).get("data", [])]
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise EndpointUnreachable(
                f"the endpoint {url} refused the API key (HTTP {exc.code}): set OPENAI_API_KEY"
            ) from None
        # Reachable, but it lists no models (some servers have no /models): the names stay as configured.
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise EndpointUnreachable(
            f"the endpoint {url} is not reachable ({reason}): start the server, or pass --endpoint URL "
            "(or set OPENAI_BASE_URL)"
        ) from None
    model = endpoint.model or os.environ.get("LIGHTMEM_MODEL")
    if not model:
        model = listed[0] if listed and len(listed) == 1 else PUBLISHED_MODEL
    judge = endpoint.judge_model or os.environ.get("LIGHTMEM_JUDGE_MODEL") or model
    for name, flag in ((model, "--model"), (judge, "--judge-model")):
        if listed and name not in listed:
            served = ", ".join(listed[:10])
            raise EndpointUnreachable(
                f"the endpoint {url} does not serve model {name!r} (it lists: {served}): pass {flag} NAME"
            )
    return replace(endpoint, model=model, judge_model=judge, server=_server_name(url))


def _server_name(url: str) -> str:
    """What the server says it is (its OpenAPI title and version, as llama.cpp's Python server publishes them);
    empty when it does not say."""
    root = url[: -len("/v1")] if url.endswith("/v1") else url
    try:
        info = _get(f"{root}/openapi.json", 5.0).get("info", {})
    except (urllib.error.URLError, OSError, ValueError, AttributeError):
        return ""
    title = "".join(ch for ch in str(info.get("title", "")) if ch.isascii()).strip()
    return " ".join(p for p in (title, str(info.get("version", ""))) if p).strip()


def build_chat_model(
    kind: str,
    *,
    endpoint: Endpoint | None = None,
    model: str | None = None,
    max_tokens: int | None = None,
    log: CallLog | None = None,
    fields: Mapping[str, Any] | None = None,
) -> tuple[BaseChatModel, Meter]:
    """A fresh chat model of ``kind`` (``scripted`` or ``endpoint``) and the meter that counts it.

    ``endpoint`` defaults to the environment's (:func:`resolve_endpoint`); ``model`` and ``max_tokens`` override
    its model and answer cap; ``log`` and ``fields`` give the meter its per-call log.

    Raises:
        RuntimeError: ``endpoint`` was asked for but none is configured.
    """
    if kind == "scripted":
        scripted = ScriptedChatModel(keep_prompts=False)
        return scripted, ScriptedMeter(scripted)
    if kind == "endpoint":
        endpoint = endpoint or resolve_endpoint()
        if endpoint is None:
            raise RuntimeError(
                "no endpoint configured: pass --endpoint local|URL, or set OPENAI_BASE_URL and/or OPENAI_API_KEY"
            )
        meter = CallbackMeter(log=log, fields=fields)
        chat = endpoint.chat_model(model=model, max_tokens=max_tokens, callbacks=[meter])
        return chat, meter
    raise ValueError(f"unknown chat model kind {kind!r}; use 'scripted' or 'endpoint'")
