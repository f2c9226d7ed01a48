"""LightMemChatMessageHistory: messages feed the pipeline, the window comes from the journal, clear hides."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder

from langchain_lightmem import LightMem
from langchain_lightmem.integrations import LightMemChatMessageHistory
from langchain_lightmem.testing import ScriptedChatModel


@pytest.fixture
def memory(make_memory: Callable[..., LightMem]) -> LightMem:
    return make_memory(input={"part_tokens": 32})


def test_messages_round_trip_and_reach_long_term_memory(memory: LightMem) -> None:
    history = LightMemChatMessageHistory(memory, namespace="alice", session_id="s1")
    assert history.messages == []
    history.add_messages(
        [
            SystemMessage("Be brief."),
            HumanMessage("I moved to Lisbon last week.", id="h1"),
            AIMessage("Welcome to Lisbon!", id="a1"),
            AIMessage(""),  # nothing to remember, but not dropped silently: a marked placeholder
            ToolMessage("42", tool_call_id="c1"),
        ]
    )
    got = history.messages
    assert [type(m) for m in got] == [SystemMessage, HumanMessage, AIMessage, AIMessage, ToolMessage]
    assert [m.text for m in got] == [
        "Be brief.",
        "I moved to Lisbon last week.",
        "Welcome to Lisbon!",
        "[empty assistant message]",
        "42",
    ]
    assert got[1].id == "h1"
    history.add_messages([HumanMessage("I moved to Lisbon last week.", id="h1")])  # redelivery: no duplicate
    assert len(history.messages) == 5
    assert "repaired" in memory.recent_messages("alice")[3].extra
    memory.flush("alice")
    assert "Lisbon" in memory.search("alice", "Where does Alice live?", k=1)[0].entry.text


def test_window_sessions_parts_and_clear(memory: LightMem) -> None:
    one = LightMemChatMessageHistory(memory, namespace="alice", session_id="s1", window=3)
    other = LightMemChatMessageHistory(memory, namespace="alice", session_id="s2")
    bob = LightMemChatMessageHistory(memory, namespace="bob", session_id="s1")
    for i in range(5):
        one.add_user_message(f"message {i}")
    other.add_ai_message("another session")
    bob.add_user_message("bob's own")
    assert [m.text for m in one.messages] == ["message 2", "message 3", "message 4"]
    assert [m.text for m in other.messages] == ["another session"]
    assert [m.text for m in bob.messages] == ["bob's own"]
    long = " ".join(f"word{i}" for i in range(80))  # stored as several parts, returned whole
    one.add_user_message(long)
    assert one.messages[-1].text.split() == long.split()
    assert len([m for m in memory.recent_messages("alice", thread_id="s1") if m.part_of]) > 1
    one.clear()
    assert one.messages == []
    assert [m.text for m in other.messages] == ["another session"]  # other sessions keep their window
    again = LightMemChatMessageHistory(memory, namespace="alice", session_id="s1")
    assert again.messages == []  # clear is durable, not per object
    again.add_user_message("after the clear")
    assert [m.text for m in one.messages] == ["after the clear"]
    assert len(memory.recent_messages("alice", thread_id="s1")) > 6  # nothing was deleted


async def test_async_variants(memory: LightMem) -> None:
    history = LightMemChatMessageHistory(memory, namespace="alice", session_id="s1")
    await history.aadd_messages([HumanMessage("hello"), AIMessage("hi there")])
    assert [m.text for m in await history.aget_messages()] == ["hello", "hi there"]
    await history.aclear()
    assert await history.aget_messages() == []


def test_with_runnable_with_message_history(memory: LightMem) -> None:
    from langchain_core.runnables.history import RunnableWithMessageHistory

    model = ScriptedChatModel(responder=lambda messages, tools: f"I have seen {len(messages)} messages.")
    prompt = ChatPromptTemplate.from_messages([MessagesPlaceholder("history"), ("human", "{question}")])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        chain = RunnableWithMessageHistory(
            prompt | model,
            lambda session_id: LightMemChatMessageHistory(memory, namespace="alice", session_id=session_id),
            input_messages_key="question",
            history_messages_key="history",
        )
    config = {"configurable": {"session_id": "chat-1"}}
    assert chain.invoke({"question": "My name is Alice."}, config).content == "I have seen 1 messages."
    assert chain.invoke({"question": "What is my name?"}, config).content == "I have seen 3 messages."
    history = LightMemChatMessageHistory(memory, namespace="alice", session_id="chat-1")
    assert [m.text for m in history.messages] == [
        "My name is Alice.",
        "I have seen 1 messages.",
        "What is my name?",
        "I have seen 3 messages.",
    ]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="window"):
        LightMemChatMessageHistory(None, namespace="a", session_id="s", window=0)  # type: ignore[arg-type]


def test_a_streamed_turn_is_stored_whole(memory: LightMem) -> None:
    """RunnableWithMessageHistory(...).stream(): the reply arrives as AIMessageChunks; the user message and the
    merged reply must both be stored (0.1 refused the chunk's role and dropped the whole turn, logging only)."""
    from langchain_core.language_models import GenericFakeChatModel
    from langchain_core.runnables.history import RunnableWithMessageHistory

    model = GenericFakeChatModel(messages=iter([AIMessage("Lisbon is lovely in spring.")]))
    prompt = ChatPromptTemplate.from_messages([MessagesPlaceholder("history"), ("human", "{question}")])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        chain = RunnableWithMessageHistory(
            prompt | model,
            lambda session_id: LightMemChatMessageHistory(memory, namespace="alice", session_id=session_id),
            input_messages_key="question",
            history_messages_key="history",
        )
        chunks = list(chain.stream({"question": "I moved to Lisbon."}, {"configurable": {"session_id": "s9"}}))
    assert len(chunks) > 1  # really streamed, word by word
    stored = memory.recent_messages("alice", thread_id="s9")
    assert [(m.role, m.content) for m in stored] == [
        ("user", "I moved to Lisbon."),
        ("assistant", "Lisbon is lovely in spring."),
    ]
    assert {h.entry.source_ids[0] for h in memory.search("alice", "Lisbon spring", k=5)} == {m.id for m in stored}


def test_messages_the_pipeline_would_refuse_are_stored_repaired(memory: LightMem) -> None:
    from langchain_core.messages import AIMessageChunk, ChatMessage

    history = LightMemChatMessageHistory(memory, namespace="alice", session_id="s3")
    history.add_messages(
        [ChatMessage("Too vague.", role="critic"), AIMessageChunk("Streamed "), HumanMessage("ok", id="x" * 300)]
    )
    stored = memory.recent_messages("alice", thread_id="s3")
    assert [(m.role, m.speaker, m.content) for m in stored] == [
        ("system", "critic", "Too vague."),
        ("assistant", None, "Streamed"),
        ("user", None, "ok"),
    ]
    assert "unknown role" in stored[0].extra["repaired"] and "id" in stored[2].extra["repaired"]
