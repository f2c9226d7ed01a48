"""The facade end to end on a real on-disk Chroma and journal (static embeddings, scripted chat model)."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from langchain_lightmem import DuplicateMessageError, InvalidMessageError, InvalidNamespaceError
from langchain_lightmem.testing import ScriptedChatModel

T0 = datetime(2024, 5, 8, 9, 0, tzinfo=UTC)
TOPICS = [
    "I go hiking in the Alps every summer with my dog Rex.",
    "My sister Anna works as a nurse at the Munich hospital.",
    "I am learning the cello and practice scales every morning.",
    "We adopted a grey cat named Miso from the shelter.",
]


def conversation(n: int = 40, start: datetime = T0, prefix: str = "m") -> list[dict]:
    out = []
    for i in range(n):
        user = i % 2 == 0
        out.append(
            {
                "id": f"{prefix}{i}",
                "role": "user" if user else "assistant",
                "speaker": "Maya" if user else "Assistant",
                "content": f"{TOPICS[(i // 10) % len(TOPICS)]} (note {i})",
                "timestamp": (start + timedelta(minutes=i)).isoformat(),
            }
        )
    return out


def test_llm_free_round_trip_with_provenance(make_memory):
    memory = make_memory()
    assert memory.llm_free
    for m in conversation():
        memory.add([m], namespace="maya", thread_id="s1")
    memory.flush("maya")
    stats = memory.stats("maya")
    assert stats.messages["done"] == 40 and stats.entries == 40 and stats.llm_calls == 0
    hit = memory.search("maya", "Which instrument is Maya learning?", k=1)[0]
    assert "cello" in hit.entry.text and hit.entry.method == "extractive"
    assert hit.entry.source_ids[0].startswith("m") and hit.entry.thread_id == "s1"
    source = memory.journal.messages.get(("maya",), hit.entry.source_ids)[hit.entry.source_ids[0]]
    assert source.content in hit.entry.text
    assert hit.entry.event_time == source.timestamp


def test_one_extraction_call_per_batch_and_usage_accounting(make_memory):
    model = ScriptedChatModel()
    memory = make_memory(model, short_term={"threshold_tokens": 128}, segmentation={"window_tokens": 64})
    memory.add(conversation(60), namespace="maya", thread_id="s1")
    memory.flush("maya")
    stats = memory.stats("maya")
    assert stats.batches == {"written": model.calls}
    assert model.calls >= 3  # 60 messages of ~15 tokens over a 128-token threshold
    assert stats.usage["extract"].calls == model.calls
    assert stats.usage["extract"].input_tokens == model.input_tokens
    assert stats.usage["extract"].output_tokens == model.output_tokens
    assert stats.entries == 60 and stats.messages["done"] == 60
    # every counted message is cited by exactly one entry
    cited = sorted(s for e in memory.entries("maya") for s in e.source_ids)
    assert cited == sorted(m["id"] for m in conversation(60))


def test_user_only_never_turns_assistant_messages_into_memories(make_memory):
    memory = make_memory(ScriptedChatModel(), short_term={"roles": "user_only"})
    memory.add(conversation(20), namespace="maya")
    memory.flush("maya")
    assert {e.role for e in memory.entries("maya")} == {"user"}
    assert memory.stats("maya").messages["done"] == 20  # the assistant's messages were context, not lost


def test_bad_message_rejects_the_whole_call_and_stores_nothing(make_memory):
    memory = make_memory()
    batch = conversation(3)
    batch[1]["content"] = "   "
    with pytest.raises(InvalidMessageError, match="message 1"):
        memory.add(batch, namespace="maya")
    assert memory.journal.messages.read(("maya",)) == []
    with pytest.raises(InvalidNamespaceError):
        memory.add(conversation(1), namespace="a/b")


def test_duplicate_ids_are_idempotent_but_conflicts_refused(make_memory):
    memory = make_memory()
    first = memory.add(conversation(2), namespace="maya")
    again = memory.add(conversation(2), namespace="maya")
    assert first.accepted == ["m0", "m1"] and again.accepted == [] and again.duplicates == ["m0", "m1"]
    changed = conversation(1)
    changed[0]["content"] = "something else"
    with pytest.raises(DuplicateMessageError):
        memory.add(changed, namespace="maya")
    assert len(memory.journal.messages.read(("maya",))) == 2


def test_langchain_messages_and_mixed_roles(make_memory):
    memory = make_memory(ScriptedChatModel())
    memory.add(
        [
            HumanMessage("I'm allergic to peanuts.", name="Maya"),
            HumanMessage("And to shellfish."),
            AIMessage("", tool_calls=[{"name": "note", "args": {"x": 1}, "id": "c"}]),
            {"role": "tool", "content": "noted"},
            {"role": "system", "content": "be brief"},
        ],
        namespace="maya",
    )
    memory.flush("maya")
    texts = [e.text for e in memory.entries("maya")]
    assert any("peanuts" in t for t in texts) and any("shellfish" in t for t in texts)
    assert not any("noted" in t or "be brief" in t for t in texts)


def test_failed_extraction_falls_back_and_loses_nothing(make_memory):
    model = ScriptedChatModel(script=["garbage"] * 10)
    memory = make_memory(model, extraction={"max_attempts": 2})
    memory.add(conversation(6), namespace="maya")
    memory.flush("maya")
    entries = memory.entries("maya")
    assert model.calls == 2
    assert len(entries) == 6 and {e.method for e in entries} == {"extractive_fallback"}


def test_crash_during_extraction_resumes_without_duplicates(make_memory, tmp_path):
    class Boom(BaseException):
        """Stands in for a kill: not an Exception, so nothing inside catches it."""

    model = ScriptedChatModel(script=[Boom()])
    memory = make_memory(model)
    memory.add(conversation(10), namespace="maya")
    with pytest.raises(Boom):
        memory.flush("maya")
    assert memory.journal.batches.counts(("maya",)) == {"pending": 1}
    memory.close()

    reopened = make_memory(ScriptedChatModel())
    reopened.flush("maya")
    assert reopened.stats("maya").messages["done"] == 10
    assert len(reopened.entries("maya")) == 10


def test_crash_between_extraction_and_write_does_not_call_the_model_again(make_memory, monkeypatch):
    model = ScriptedChatModel()
    memory = make_memory(model)
    memory.add(conversation(10), namespace="maya")
    calls = []

    def failing_add(entries, **kwargs):
        calls.append(len(entries))
        raise RuntimeError("chroma went away")

    monkeypatch.setattr(memory.store, "add", failing_add)
    result = memory.flush("maya")  # a later-stage failure is the pipeline's to retry, not the caller's
    assert result.deferred_error is not None and "chroma went away" in result.deferred_error
    assert memory.journal.batches.counts(("maya",)) == {"extracted": 1}
    monkeypatch.undo()
    memory.flush("maya")
    assert model.calls == 1 and len(memory.entries("maya")) == 10


def test_namespaces_are_isolated_even_against_hostile_filters(make_memory):
    memory = make_memory()
    memory.add(conversation(8, prefix="a"), namespace="alice")
    memory.add([{"role": "user", "content": "Bob's secret code is 1234", "id": "b0"}], namespace=("org", "bob"))
    memory.flush("alice")
    memory.flush(("org", "bob"))
    for filters in (None, {"namespace": "org/bob"}, {"ns_0": "org"}, {"speaker": {"$ne": "nobody"}}):
        hits = memory.search("alice", "secret code", k=50, filters=filters)
        assert all(h.entry.namespace == ("alice",) for h in hits)
    assert [h.entry.namespace for h in memory.search(("org", "bob"), "secret code", k=50)] == [("org", "bob")]


def test_time_range_and_filters(make_memory):
    memory = make_memory()
    memory.add(conversation(4, start=T0), namespace="maya", thread_id="old")
    memory.add(conversation(4, start=T0 + timedelta(days=30), prefix="n"), namespace="maya", thread_id="new")
    memory.flush("maya")
    recent = memory.search("maya", "hiking", k=10, time_range=(T0 + timedelta(days=1), None))
    assert recent and all(h.entry.thread_id == "new" for h in recent)
    old = memory.search("maya", "hiking", k=10, filters={"thread_id": "old"})
    assert old and all(h.entry.thread_id == "old" for h in old)


def test_forget_removes_everything(make_memory):
    memory = make_memory()
    memory.add(conversation(10), namespace="maya")
    memory.add(conversation(4, prefix="o"), namespace="other")
    memory.flush("maya")
    removed = memory.forget("maya")
    assert removed == {"messages": 10, "entries": 10}
    assert memory.journal.messages.read(("maya",)) == [] and memory.stats("maya").usage == {}
    assert memory.search("maya", "cello", k=10) == []
    assert len(memory.journal.messages.read(("other",))) == 4


def test_delete_entries_only_within_namespace(make_memory):
    memory = make_memory()
    memory.add(conversation(4), namespace="maya")
    memory.add(conversation(4, prefix="o"), namespace="other")
    memory.flush("maya")
    memory.flush("other")
    other_ids = [e.id for e in memory.entries("other")]
    assert memory.delete("maya", other_ids) == 0
    mine = [e.id for e in memory.entries("maya")]
    assert memory.delete("maya", mine[:2]) == 2 and len(memory.entries("maya")) == 2


def test_retriever_documents_and_k_per_call(make_memory):
    memory = make_memory()
    memory.add(conversation(10), namespace="maya")
    memory.flush("maya")
    retriever = memory.as_retriever(namespace="maya", k=4)
    docs = retriever.invoke("dog Rex hiking")
    assert len(docs) == 4 and "hiking" in docs[0].page_content
    assert docs[0].metadata["source_ids"] and docs[0].metadata["event_time"].startswith("2024-05-08")
    assert len(retriever.invoke("dog", k=2)) == 2


async def test_async_variants(make_memory):
    memory = make_memory()
    await memory.aadd(conversation(6), namespace="maya")
    await memory.aflush("maya")
    hits = await memory.asearch("maya", "cat", k=3)
    assert len(hits) == 3
    docs = await memory.as_retriever(namespace="maya").ainvoke("cat")
    assert docs


def test_messages_below_the_thresholds_wait_until_flush(make_memory):
    model = ScriptedChatModel()
    memory = make_memory(model)
    result = memory.add(conversation(3), namespace="maya")
    assert result.accepted == ["m0", "m1", "m2"] and result.entries_written == 0 and model.calls == 0
    assert memory.stats("maya").messages["sensory"] == 3
    assert memory.flush("maya").entries_written == 3 and model.calls == 1


def test_threads_buffer_separately(make_memory):
    memory = make_memory()
    memory.add(conversation(2, prefix="a"), namespace="maya", thread_id="A")
    memory.add(conversation(2, prefix="b"), namespace="maya", thread_id="B")
    buffers = memory.journal.buffers.sensory(("maya",))
    assert {k: [m.id for m in v] for k, v in buffers.items()} == {"A": ["a0", "a1"], "B": ["b0", "b1"]}


def test_what_the_surfaces_ask_of_the_facade(make_memory):
    """The public methods the surfaces use instead of the journal, the store or the pipeline."""
    memory = make_memory()
    memory.add(conversation(4), namespace="maya", thread_id="t1")
    memory.remember("ana", "Ana prefers tea.", key="drink")  # memories, no message
    assert set(memory.messages_by_id("maya", ["m0", "m3", "nope"])) == {"m0", "m3"}
    assert memory.messages_by_id("ana", ["m0"]) == {}
    assert memory.namespaces() == [("maya",)]
    assert memory.memory_namespaces() == [("ana",), ("maya",)]  # maya's pending entries live in long-term memory

    assert memory.chat_window_start("maya", "t1") == 0
    memory.start_chat_window("maya", "t1")
    start = memory.chat_window_start("maya", "t1")
    assert start > 0 and memory.recent_messages("maya", thread_id="t1", after_seq=start) == []
    assert memory.chat_window_start("maya", "t2") == 0  # per thread

    assert memory.embeddings_model_id == memory.store.model_id
    assert memory.default_min_score is None  # static embeddings: relevance is not calibrated for them
    assert memory.token_counter.count("hello world") == 2
    assert memory.chroma_client is memory.store.client
    memory.add(conversation(2, prefix="b"), namespace="maya", background=True)
    assert memory.wait_for_background(30) and memory.background_errors() == []
    with memory.exclusive():  # re-entrant: forget then vacuum under one hold
        memory.forget("ana")
        assert memory.vacuum()
    assert memory.memory_namespaces() == [("maya",)]


def test_chroma_warm_up_searches_every_namespace_in_the_background_as_it_opens(make_memory, tmp_path, caplog):
    data = tmp_path / "warm"
    with make_memory(data_dir=data) as memory:
        memory.remember("alice", "Alice keeps bees")
        memory.remember("bob", "Bob grows tulips")
    caplog.set_level(logging.INFO, logger="langchain_lightmem.memory")
    memory = make_memory(data_dir=data, chroma={"warm_up": True})
    deadline = time.monotonic() + 30
    while "chroma.warm_up: 2 collections" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "chroma.warm_up: 2 collections" in caplog.text
    assert [r.entry.text for r in memory.search("alice", "bees", k=1)] == ["Alice keeps bees"]
