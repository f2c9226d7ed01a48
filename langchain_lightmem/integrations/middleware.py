"""Agent middleware: memories in before each model call, finished turns out to the pipeline in the background.

``LightMemMiddleware`` plugs into ``langchain.agents.create_agent``:

* ``wrap_model_call``: searches the memories relevant to the latest user message and adds them to the system
  message, within a token budget. They are not written into the conversation state, so checkpoints do not grow.
* ``after_agent``: accepts the turn's new messages into the journal (``LightMem.add(..., background=True)``): from
  then on they are durable and searchable by every thread of the user. Compression, segmentation and extraction
  run on the memory's background worker, so the reply never waits for them; quiet threads are flushed by it.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, NotRequired

try:
    from langchain.agents.middleware.types import (
        AgentMiddleware,
        AgentState,
        ModelRequest,
        ModelResponse,
        PrivateStateAttr,
    )
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    from langchain_lightmem.errors import MissingDependencyError

    raise MissingDependencyError("langchain", "agents", "LightMemMiddleware (for create_agent)") from exc
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from langchain_lightmem.integrations.namespaces import NamespaceTemplate, current_config
from langchain_lightmem.tokens import TokenCounter
from langchain_lightmem.types import Namespace, SearchResult, normalize_namespace

if TYPE_CHECKING:
    from langgraph.runtime import Runtime

    from langchain_lightmem.memory import LightMem, MemoryContext

logger = logging.getLogger(__name__)

DEFAULT_HEADER = "Long-term memories about the user, most relevant first (dates are when it happened):"
PACKED_HEADER = "Long-term memories about the user, grouped by the day they happened:"
_ROLE_OF_TYPE = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}


def format_memories(
    hits: Sequence[SearchResult], counter: TokenCounter, *, max_tokens: int, header: str = DEFAULT_HEADER
) -> str:
    """The prompt block for retrieved memories: a header and one ``- <date> (<day>) <fact>`` line per memory, best
    first, cut to ``max_tokens`` (whole lines only). Empty string when nothing fits."""
    lines: list[str] = []
    used = counter.count(header)
    for hit in hits:
        line = f"- {hit.render()}"
        cost = counter.count(line) + 1
        if used + cost > max_tokens:
            break
        lines.append(line)
        used += cost
    return "\n".join([header, *lines]) if lines else ""


def _sent_at(message: BaseMessage) -> Any:
    """When a message was sent, if it says (``additional_kwargs["timestamp"]``) in a form LightMem accepts: the
    query's "now". Anything else means now: a bad timestamp must not break the agent's turn."""
    from langchain_lightmem.errors import InvalidInputError
    from langchain_lightmem.validation import validate_timestamp

    value = message.additional_kwargs.get("timestamp")
    try:
        return validate_timestamp(value, "timestamp") if value is not None else None
    except InvalidInputError:
        return None


def latest_user_text(messages: Sequence[BaseMessage]) -> BaseMessage | None:
    """The most recent human message with text, or ``None``."""
    for message in reversed(messages):
        if isinstance(message, HumanMessage) and message.text.strip():
            return message
    return None


class LightMemState(AgentState[Any]):
    """Agent state with the id of the last message handed to LightMem (private to the middleware)."""

    lightmem_last_id: NotRequired[Annotated[str | None, PrivateStateAttr]]


class LightMemMiddleware(AgentMiddleware[LightMemState, Any, Any]):
    """Long-term memory for ``create_agent``: relevant memories in each model call, every finished turn remembered.

    Before a model call, the memories of the user's namespace closest to the latest user message are appended to
    the system message (at most ``k``, within ``max_tokens``; searched once per user message, not once per tool
    round). After the agent finishes, the turn's new messages are accepted into the journal: from then on every
    thread of the user finds them (as *pending* memories until their batch is extracted), with no flush. The rest
    of the write path runs on the memory's background worker, so the reply never waits for extraction; a thread
    quiet for ``background.idle_flush_seconds`` is flushed by the worker, and :meth:`close` flushes the threads
    this middleware saw. Each message is handed over once even when the thread's state is checkpointed and
    replayed.

    The namespace is a template filled per run from ``context=`` or ``config["configurable"]``
    (:class:`~langchain_lightmem.integrations.NamespaceTemplate`).

    Setup:
        .. code-block:: bash

            pip install 'langchain-lightmem[all]' langchain

    Key init args:
        memory: the :class:`~langchain_lightmem.LightMem`.
        namespace: ``("{user_id}",)`` (default) or any template.
        k / max_tokens / min_score: how many memories, how many prompt tokens, and the lowest relevance kept
            (``"auto"``: 0.02, which drops clearly unrelated memories, where relevance is calibrated for the
            memory's embeddings, else none; ``None`` keeps all ``k``).
        packing: inject the packed context of :meth:`LightMem.context` (grouped by day, one date header per day,
            top hits with their topic-segment neighbours) instead of one dated line per ranked memory.
        retrieval: ``RetrievalConfig`` overrides for these searches (``{"mode": "dense"}``, ...).
        roles: which messages of a turn are remembered (``("user", "assistant")``; add ``"tool"`` for tool output).
        inject / ingest: switch either half off.

    Instantiate:
        .. code-block:: python

            from langchain.agents import create_agent

            memory_middleware = LightMemMiddleware(memory)
            agent = create_agent(model, tools=[...], middleware=[memory_middleware], checkpointer=InMemorySaver())

    Use:
        .. code-block:: python

            agent.invoke({"messages": [("user", "I'm vegetarian")]},
                         {"configurable": {"thread_id": "t1"}}, context={"user_id": "alice"})
            agent.invoke({"messages": [("user", "What should I cook?")]},   # another thread knows at once
                         {"configurable": {"thread_id": "t2"}}, context={"user_id": "alice"})
            memory_middleware.close()     # on shutdown: extract what the threads left open

    Async:
        .. code-block:: python

            await agent.ainvoke({"messages": [("user", "What should I cook?")]}, config, context={"user_id": "alice"})
    """

    state_schema = LightMemState

    def __init__(
        self,
        memory: LightMem,
        *,
        namespace: str | Sequence[str] | NamespaceTemplate = ("{user_id}",),
        k: int = 5,
        max_tokens: int = 512,
        min_score: float | Literal["auto"] | None = "auto",
        roles: Sequence[str] = ("user", "assistant"),
        inject: bool = True,
        ingest: bool = True,
        header: str = DEFAULT_HEADER,
        packing: bool = False,
        retrieval: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        unknown = set(roles) - set(_ROLE_OF_TYPE.values())
        if unknown:
            raise ValueError(f"unknown roles {sorted(unknown)}; use user, assistant, system or tool")
        if k < 1 or max_tokens < 1:
            raise ValueError("k and max_tokens must be >= 1")
        self.memory = memory
        self.namespace = NamespaceTemplate(namespace)
        self.k = k
        self.max_tokens = max_tokens
        self.min_score = memory.default_min_score if min_score == "auto" else min_score
        self.roles = frozenset(roles)
        self.inject = inject
        self.ingest = ingest
        self.header = header
        self.packing = packing
        self.retrieval = dict(retrieval or {})
        self.tools = []
        self._counter = memory.token_counter
        self._threads: set[tuple[Namespace, str | None]] = set()  # what close() flushes
        self._recent: collections.OrderedDict[tuple[Namespace, str], str] = collections.OrderedDict()
        self._recent_lock = threading.Lock()

    # -- memories into the model call -----------------------------------------------------------------------

    def _namespace(self, runtime: Any) -> Namespace:
        return normalize_namespace(self.namespace(getattr(runtime, "context", None), current_config()))

    def _cached(self, key: tuple[Namespace, str]) -> str | None:
        with self._recent_lock:
            return self._recent.get(key)

    def _remember_block(self, key: tuple[Namespace, str], block: str) -> str:
        with self._recent_lock:
            self._recent[key] = block
            while len(self._recent) > 256:
                self._recent.popitem(last=False)
        return block

    def _packed_block(self, context: MemoryContext) -> str:
        if self.min_score is not None:
            context.items = [i for i in context.items if i.hit.score >= self.min_score or i.rank is None]
        header = PACKED_HEADER if self.header == DEFAULT_HEADER else self.header
        return f"{header}\n{context.render()}" if context.items else ""

    def _context_budget(self) -> int:
        header = PACKED_HEADER if self.header == DEFAULT_HEADER else self.header
        return max(16, self.max_tokens - self._counter.count(header) - 1)

    @staticmethod
    def _cache_key(namespace: Namespace, message: BaseMessage) -> tuple[Namespace, str]:
        return namespace, message.id or message.text

    def _with_block(self, request: ModelRequest[Any], block: str) -> ModelRequest[Any]:
        if not block:
            return request
        system = request.system_message
        if system is None:
            return request.override(system_message=SystemMessage(block))
        if isinstance(system.content, str):
            return request.override(system_message=SystemMessage(f"{system.content}\n\n{block}".strip()))
        return request.override(system_message=SystemMessage([*system.content, {"type": "text", "text": block}]))

    def _compute_block(
        self, namespace: Namespace, text: str, reference_time: Any = None
    ) -> tuple[str, list[SearchResult]]:
        """The prompt block for ``text`` and the memories it holds, in the order shown."""
        from langchain_lightmem.normalize import clean_text

        text = clean_text(text)  # a user's lone surrogate must not break the turn
        options = {**self.retrieval, "reference_time": reference_time}
        if self.packing:
            context = self.memory.context(namespace, text, max_tokens=self._context_budget(), k=self.k, **options)
            block = self._packed_block(context)
            return block, (context.hits if block else [])
        hits = self.memory.search(namespace, text, k=self.k, **options)
        if self.min_score is not None:
            hits = [h for h in hits if h.score >= self.min_score]
        block = format_memories(hits, self._counter, max_tokens=self.max_tokens, header=self.header)
        return block, hits[: len(block.splitlines()) - 1] if block else []

    def recall(self, query: str, *, namespace: str | Sequence[str], reference_time: Any = None) -> list[SearchResult]:
        """The memories this middleware would inject for a user message ``query`` (what the model sees), in order.

        ``reference_time`` is when the message is sent (default now): "last week" in it is read against it.

        Example:
            .. code-block:: python

                [hit.entry.text for hit in memory_middleware.recall("Where do I live?", namespace="alice")]
        """
        return self._compute_block(normalize_namespace(namespace), query, reference_time)[1]

    async def arecall(
        self, query: str, *, namespace: str | Sequence[str], reference_time: Any = None
    ) -> list[SearchResult]:
        """Async :meth:`recall` (in a worker thread)."""
        return await asyncio.to_thread(self.recall, query, namespace=namespace, reference_time=reference_time)

    def wrap_model_call(
        self, request: ModelRequest[Any], handler: Callable[[ModelRequest[Any]], ModelResponse[Any]]
    ) -> ModelResponse[Any]:
        message = latest_user_text(request.messages) if self.inject else None
        if message is None:
            return handler(request)
        namespace = self._namespace(request.runtime)
        key = self._cache_key(namespace, message)
        block = self._cached(key)
        if block is None:
            block = self._remember_block(key, self._compute_block(namespace, message.text, _sent_at(message))[0])
        return handler(self._with_block(request, block))

    async def awrap_model_call(
        self, request: ModelRequest[Any], handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]]
    ) -> ModelResponse[Any]:
        message = latest_user_text(request.messages) if self.inject else None
        if message is None:
            return await handler(request)
        namespace = self._namespace(request.runtime)
        key = self._cache_key(namespace, message)
        block = self._cached(key)
        if block is None:
            computed = await asyncio.to_thread(self._compute_block, namespace, message.text, _sent_at(message))
            block = self._remember_block(key, computed[0])
        return await handler(self._with_block(request, block))

    # -- finished turns into the pipeline -------------------------------------------------------------------

    def _new_messages(self, state: LightMemState) -> tuple[list[BaseMessage], str | None]:
        messages: list[BaseMessage] = list(state.get("messages") or [])
        last_id = state.get("lightmem_last_id")
        start = 0
        if last_id is not None:
            ids = [m.id for m in messages]
            # Not found (trimmed or summarised away): hand over everything; the journal skips what it has.
            start = len(ids) - ids[::-1].index(last_id) if last_id in ids else 0
        stamp = datetime.now(UTC).isoformat()
        fresh = []
        for message in messages[start:]:
            role = _ROLE_OF_TYPE.get(message.type)
            if role not in self.roles:
                continue
            if isinstance(message, AIMessage) and not message.text.strip() and "tool" not in self.roles:
                continue  # a bare tool-call request
            if not message.text.strip() and not getattr(message, "tool_calls", None):
                continue
            if "timestamp" not in message.additional_kwargs:
                message = message.model_copy(
                    update={"additional_kwargs": {**message.additional_kwargs, "timestamp": stamp}}
                )
            fresh.append(message)
        return fresh, (messages[-1].id if messages else last_id)

    @staticmethod
    def _thread_id() -> str | None:
        config = current_config() or {}
        thread = (config.get("configurable") or {}).get("thread_id")
        return str(thread) if thread is not None else None

    def _hand_over(self, state: LightMemState, runtime: Runtime[Any]) -> tuple[dict[str, Any], tuple[Any, ...]]:
        fresh, last_id = self._new_messages(state)
        if not fresh:
            return {"lightmem_last_id": last_id}, ()
        namespace, thread = self._namespace(runtime), self._thread_id()
        with self._recent_lock:
            self._threads.add((namespace, thread))
        return {"lightmem_last_id": last_id}, (fresh, namespace, thread)

    def after_agent(self, state: LightMemState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        if not self.ingest:
            return None
        update, turn = self._hand_over(state, runtime)
        if turn:
            fresh, namespace, thread = turn
            self.memory.add(fresh, namespace=namespace, thread_id=thread, background=True, repair=True)
        return update

    async def aafter_agent(self, state: LightMemState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        if not self.ingest:
            return None
        update, turn = self._hand_over(state, runtime)
        if turn:
            fresh, namespace, thread = turn
            await self.memory.aadd(fresh, namespace=namespace, thread_id=thread, background=True, repair=True)
        return update

    # -- lifecycle ------------------------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until the background worker has processed every turn handed over so far (they are searchable
        before that). Returns False on timeout."""
        return self.memory.wait_for_background(timeout)

    async def aflush(self, timeout: float | None = None) -> bool:
        """Async :meth:`flush`."""
        return await asyncio.to_thread(self.flush, timeout)

    def close(self) -> None:
        """On agent shutdown: wait for the worker, then extract what the threads this middleware saw left open
        (their short tails would otherwise wait for the next idle flush). Call it before closing the ``LightMem``."""
        self.flush()
        with self._recent_lock:
            namespaces = sorted({namespace for namespace, _ in self._threads})
            self._threads = set()
        for namespace in namespaces:  # one flush per user: its threads' tails share full batches
            self.memory.flush(namespace)
