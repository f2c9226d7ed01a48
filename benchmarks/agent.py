"""The agent protocol: a conversation as a live agent sees it, turn by turn through ``LightMemMiddleware``.

Every number of the batch protocol comes from ``add → flush → search``, a path no agent takes. Here each
conversation runs through a ``create_agent`` agent whose only memory is a :class:`LightMemMiddleware`:

* **one invocation per turn**: ``HumanMessage(text, name=speaker, id=dia_id,
  additional_kwargs={"timestamp": <session date, ISO>})`` (BLIP captions folded in as in the batch protocol);
  a scripted reply model answers ``"OK."``. The middleware remembers only ``roles=("user",)``: the replies are
  not conversation content;
* **one thread per session** (``thread_id="<conversation>/<session>"``), **one user per conversation**
  (``context={"user_id": <conversation id>}``), an ``InMemorySaver`` checkpointer;
* **questions are asked when an agent could first be asked them**: at the start of session *s*, before its first
  turn, every question not yet asked whose evidence turns all lie in sessions before *s*; questions whose evidence
  reaches the last session are asked after it. A question is asked through ``middleware.recall(question,
  namespace=user)``: the memories the middleware would inject for that user message, in order, within its
  ``max_tokens``. They are scored by provenance (``hit.entry.source_ids``) with :func:`benchmarks.metrics
  .score_question`, like the batch protocol.
* **nothing forces extraction**: no ``flush`` of the memory or of the middleware. Between sessions the harness
  waits until the memory's background worker has run the stages of every finished turn the middleware accepted
  (``memory.wait_for_background()``): LoCoMo's sessions are days apart, and a live app's worker has long caught up by
  then. Waiting closes no segment and extracts no batch (turns are searchable, as pending memories, from the
  moment the middleware accepted them; the idle flush, driven by the wall clock, never fires in a run this fast).
  At the end of a conversation the middleware is closed
  (an app shutting down); only what was asked during the run is scored.

:class:`FlushedFeed` (protocol ``agent_flushed``) is the reference for the agent protocol: the same turns, users,
threads, schedule and ``recall``, over memory built by ``LightMem.add`` with ``flush`` after every session, i.e.
what the agent protocol would score if every finished turn were in long-term memory before the next session.

Example:
    .. code-block:: python

        schedule = ask_schedule(conversation)  # {session index: questions asked before it}
        feed = AgentFeed(memory, conversation, k=100, max_tokens=1000)
        for index, session in enumerate(conversation.sessions):
            feed.idle()
            hits = [feed.recall(q.text) for q in schedule.get(index, [])]
            feed.session(session, progress=lambda n: None)
        feed.idle()
        hits = [feed.recall(q.text) for q in schedule.get(len(conversation.sessions), [])]
        feed.close()
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from benchmarks.data import Conversation, Question, Session, Turn

if TYPE_CHECKING:
    from langchain_core.messages import HumanMessage
    from langchain_core.runnables import RunnableConfig

    from langchain_lightmem import LightMem
    from langchain_lightmem.integrations.middleware import LightMemMiddleware
    from langchain_lightmem.types import SearchResult

PROTOCOLS = ("batch", "agent", "agent_flushed")
"""``batch``: the systems' own ``ingest`` (LightMem: ``add`` per session, ``flush``, then every question);
``agent``: :class:`AgentFeed`; ``agent_flushed``: :class:`FlushedFeed`."""
AGENT_PROTOCOLS = ("agent", "agent_flushed")
REPLY = "OK."
END = "end"
"""``asked_before`` of the questions asked after the last session."""


def turn_message(turn: Turn) -> HumanMessage:
    """The user message one turn becomes: its speaker as ``name``, its turn id as ``id``, its session's date."""
    from langchain_core.messages import HumanMessage

    return HumanMessage(
        turn.text, name=turn.speaker, id=turn.id, additional_kwargs={"timestamp": turn.timestamp.isoformat()}
    )


def ask_schedule(conversation: Conversation) -> dict[int, list[Question]]:
    """When each question is first answerable: ``{session index: questions asked before that session}``.

    A question is due before the session following its last evidence session; index ``len(sessions)`` means after
    the last session (also where questions without evidence go: they are asked, never scored).
    """
    index = {t.id: i for i, s in enumerate(conversation.sessions) for t in s.turns}
    end = len(conversation.sessions)
    due: dict[int, list[Question]] = defaultdict(list)
    for question in conversation.questions:
        sessions = [index[e] for e in question.evidence if e in index]
        due[max(sessions) + 1 if sessions else end].append(question)
    return dict(due)


@dataclass(slots=True)
class AskingPoint:
    """What the memory held when questions were asked: turns fed so far, and how many are in long-term memory."""

    before: str
    questions: int
    turns_fed: int
    turns_written: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "before": self.before,
            "questions": self.questions,
            "turns_fed": self.turns_fed,
            "turns_written": self.turns_written,
        }


def _middleware(memory: LightMem, *, k: int, max_tokens: int, **options: Any) -> LightMemMiddleware:
    from langchain_lightmem.integrations.middleware import LightMemMiddleware

    # No relevance threshold: recall is compared with the batch protocol's, which has none (the default min_score
    # trades recall for precision; benchmarks.calibration measures that trade).
    options.setdefault("min_score", None)
    return LightMemMiddleware(memory, roles=("user",), k=k, max_tokens=max_tokens, **options)


def _written(memory: LightMem, user: str) -> int:
    return int(memory.stats(user).messages.get("done", 0))


class AgentFeed:
    """A conversation through a ``create_agent`` agent with :class:`LightMemMiddleware` (see the module docstring).

    ``k`` caps how many memories the middleware considers (the harness passes its retrieval depth, so the token
    budget ``max_tokens`` is what binds, as in the batch protocol's recall within a budget); ``middleware_options``
    go to :class:`LightMemMiddleware` (``packing=True`` for the packed context).
    """

    def __init__(
        self,
        memory: LightMem,
        conversation: Conversation,
        *,
        k: int,
        max_tokens: int,
        middleware_options: Mapping[str, Any] | None = None,
    ) -> None:
        from langchain.agents import create_agent
        from langgraph.checkpoint.memory import InMemorySaver

        from langchain_lightmem.testing import ScriptedChatModel

        self.memory = memory
        self.user = conversation.id
        self.middleware = _middleware(memory, k=k, max_tokens=max_tokens, **dict(middleware_options or {}))
        # The agent's own model: a fixed short reply, counted apart from LightMem's extraction model.
        self.reply_model = ScriptedChatModel(responder=lambda *_: REPLY, keep_prompts=False, model_name="agent-reply")
        self.agent = create_agent(
            self.reply_model, tools=[], middleware=[self.middleware], checkpointer=InMemorySaver()
        )

    def session(self, session: Session, progress: Callable[[int], Any]) -> None:
        """One invocation per turn, on the session's own thread."""
        config: RunnableConfig = {"configurable": {"thread_id": f"{self.user}/{session.id}"}}
        for turn in session.turns:
            state: Any = {"messages": [turn_message(turn)]}
            self.agent.invoke(state, config, context={"user_id": self.user})
            progress(1)

    def idle(self) -> None:
        """Time passes between sessions: wait until the background worker has run the stages of every turn.

        Forces nothing (no segment closed, no batch extracted). A stage the worker failed fails the run.
        """
        self.memory.wait_for_background()
        if errors := self.memory.background_errors():
            error = errors[0][1]
            raise RuntimeError(f"the memory's background worker failed: {error!r}") from error

    def recall(self, question: str, reference_time: Any = None) -> list[SearchResult]:
        """What the middleware would inject for ``question`` as the user's next message (sent at
        ``reference_time``: time expressions in the question are read against it)."""
        return self.middleware.recall(question, namespace=self.user, reference_time=reference_time)

    def turns_written(self) -> int:
        return _written(self.memory, self.user)

    @property
    def replies(self) -> int:
        """Calls of the agent's reply model (one per turn: one invocation per turn)."""
        return self.reply_model.calls

    def close(self) -> None:
        """Shut the app down: the middleware extracts what its threads left open."""
        self.middleware.close()


class FlushedFeed:
    """The agent protocol's reference: the same messages, users, threads and recall, memory built by ``add`` and
    ``flush`` after every session (so every finished turn is in long-term memory before the next session)."""

    def __init__(
        self,
        memory: LightMem,
        conversation: Conversation,
        *,
        k: int,
        max_tokens: int,
        middleware_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.memory = memory
        self.user = conversation.id
        options = dict(middleware_options or {})
        self.middleware = _middleware(memory, k=k, max_tokens=max_tokens, ingest=False, **options)
        self.replies = 0

    def session(self, session: Session, progress: Callable[[int], Any]) -> None:
        if session.turns:
            thread = f"{self.user}/{session.id}"
            self.memory.add([turn_message(t) for t in session.turns], namespace=self.user, thread_id=thread)
        self.memory.flush(self.user)
        progress(len(session.turns))

    def idle(self) -> None:
        return None

    def recall(self, question: str, reference_time: Any = None) -> list[SearchResult]:
        return self.middleware.recall(question, namespace=self.user, reference_time=reference_time)

    def turns_written(self) -> int:
        return _written(self.memory, self.user)

    def close(self) -> None:
        self.middleware.close()


def build_feed(
    protocol: str,
    memory: LightMem,
    conversation: Conversation,
    *,
    k: int,
    max_tokens: int,
    middleware_options: Mapping[str, Any] | None = None,
) -> AgentFeed | FlushedFeed:
    """The feed of an agent protocol (``agent`` or ``agent_flushed``)."""
    if protocol == "agent":
        return AgentFeed(memory, conversation, k=k, max_tokens=max_tokens, middleware_options=middleware_options)
    if protocol == "agent_flushed":
        return FlushedFeed(memory, conversation, k=k, max_tokens=max_tokens, middleware_options=middleware_options)
    raise ValueError(f"unknown agent protocol {protocol!r}; use one of {', '.join(AGENT_PROTOCOLS)}")


def describe(protocol: str, max_tokens: int) -> str:
    """One line for reports: how the protocol feeds and asks."""
    asked = f"asked at session starts via middleware.recall within {max_tokens} tokens"
    if protocol == "agent":
        return "create_agent + LightMemMiddleware, one invocation per turn, thread per session, no flush; " + asked
    return f"add per session + flush after every session (agent protocol's reference); {asked}"
