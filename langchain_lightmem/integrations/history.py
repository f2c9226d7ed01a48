"""``LightMemChatMessageHistory``: a chat session whose messages also become long-term memory."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    message_chunk_to_message,
)

from langchain_lightmem.types import Message, Namespace, NamespaceLike, normalize_namespace

if TYPE_CHECKING:
    from langchain_lightmem.memory import LightMem


def to_langchain_message(message: Message) -> BaseMessage:
    """A journal message as a LangChain message (text as remembered; tool calls appear as text)."""
    text, ids = message.content, {"id": message.id, "name": message.speaker}
    if message.role == "user":
        return HumanMessage(text, **ids)
    if message.role == "assistant":
        return AIMessage(text, **ids)
    if message.role == "system":
        return SystemMessage(text, **ids)
    return ToolMessage(text, tool_call_id=str(message.extra.get("tool_call_id", "")), **ids)


def _join_parts(messages: list[Message]) -> list[Message]:
    """Long messages are stored as parts (``id#p1``, ...): give them back whole."""
    out: list[Message] = []
    for msg in messages:
        if msg.part_of is not None and out and out[-1].id == msg.part_of:
            out[-1].content += " " + msg.content
        elif msg.part_of is not None:
            msg.id = msg.part_of
            out.append(msg)
        else:
            out.append(msg)
    return out


class LightMemChatMessageHistory(BaseChatMessageHistory):
    """A chat session backed by LightMem: ``add_messages`` routes messages into the memory pipeline, ``messages``
    returns the session's recent window from the journal.

    Adding is durable and searchable when it returns (the journal commits first; until extraction each message is
    found as a pending memory) and feeds sensory → short-term → long-term memory on the memory's background worker,
    so what was said in one session is found by searches in every later one, and the chain never waits for
    extraction. Nothing is dropped: streamed replies (``AIMessageChunk``) are stored as the assistant's turn, and a
    message the pipeline would refuse (an unknown role, empty content) is stored repaired and marked
    (``extra["repaired"]``), because ``RunnableWithMessageHistory`` writes history from a callback whose errors
    nobody sees. ``clear`` starts a new window for the session; nothing is deleted (``LightMem.forget`` deletes a
    namespace).

    ``BaseChatMessageHistory`` is deprecated upstream (langchain-core ≥ 1.6.4) in favour of LangGraph
    persistence; it still works, and so does this class with ``RunnableWithMessageHistory``.

    Setup:
        .. code-block:: bash

            pip install 'langchain-lightmem[all]'

    Key init args:
        memory: the :class:`~langchain_lightmem.LightMem` to feed.
        namespace: whose memory (``"alice"`` or ``("org", "alice")``).
        session_id: the conversation; stored as the messages' ``thread_id``.
        window: how many recent messages ``messages`` returns (``None``: the whole session since ``clear``).

    Instantiate:
        .. code-block:: python

            history = LightMemChatMessageHistory(memory, namespace="alice", session_id="chat-1")

    Add:
        .. code-block:: python

            history.add_messages([HumanMessage("I moved to Lisbon."), AIMessage("Welcome to Lisbon!")])

    Delete:
        .. code-block:: python

            history.clear()   # the session's window starts afresh; memories stay

    Search:
        .. code-block:: python

            history.messages                                   # the recent window
            memory.search("alice", "Where does Alice live?")   # what the pipeline made of it

    Async:
        .. code-block:: python

            await history.aadd_messages([HumanMessage("hi")])
            messages = await history.aget_messages()

    Use with ``RunnableWithMessageHistory``:
        .. code-block:: python

            chain = RunnableWithMessageHistory(
                prompt | model,
                lambda session_id: LightMemChatMessageHistory(memory, namespace="alice", session_id=session_id),
                input_messages_key="question",
                history_messages_key="history",
            )
    """

    def __init__(
        self,
        memory: LightMem,
        *,
        namespace: NamespaceLike,
        session_id: str,
        window: int | None = 50,
    ) -> None:
        if window is not None and window < 1:
            raise ValueError(f"window must be >= 1 or None, got {window}")
        self.memory = memory
        self.namespace: Namespace = normalize_namespace(namespace)
        self.session_id = str(session_id)
        self.window = window

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        """The session's most recent messages (at most ``window``), oldest first."""
        start = self.memory.chat_window_start(self.namespace, self.session_id)
        recent = self.memory.recent_messages(
            self.namespace, thread_id=self.session_id, limit=self.window, after_seq=start
        )
        if recent and recent[0].part_of is not None:  # the window cut a long message: fetch all of its parts
            first = recent[0].part_of
            earlier = self.memory.recent_messages(self.namespace, thread_id=self.session_id, after_seq=start)
            recent = [m for m in earlier if m.part_of == first and m.seq < recent[0].seq] + recent
        return [to_langchain_message(m) for m in _join_parts(recent)]

    async def aget_messages(self) -> list[BaseMessage]:
        """Async :attr:`messages` (in a worker thread; SQLite is synchronous)."""
        return await asyncio.to_thread(lambda: self.messages)

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Store messages as this session's next turns (``LightMem.add(..., background=True, repair=True)``).

        Raises:
            LightMemError: only when nothing could be stored at all (a closed memory, a failing embedder).
        """
        if messages:
            self.memory.add(
                [message_chunk_to_message(m) for m in messages],
                namespace=self.namespace,
                thread_id=self.session_id,
                background=True,
                repair=True,
            )

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Async :meth:`add_messages` (in a worker thread)."""
        await asyncio.to_thread(self.add_messages, messages)

    def clear(self) -> None:
        """Start the session's window afresh. The messages stay in the journal and in long-term memory."""
        self.memory.start_chat_window(self.namespace, self.session_id)

    async def aclear(self) -> None:
        """Async :meth:`clear`."""
        await asyncio.to_thread(self.clear)
