"""Trust under races and partial failures (issue 12): forget wins every race, a failed call leaves nothing or says
what it kept, a retry never duplicates, a lost store folder fails loudly and is rebuilt from the journal."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import BaseMessage, HumanMessage

from langchain_lightmem import EmbeddingError, LightMem, LightMemConfig, MemoryMissingError
from langchain_lightmem.testing import ScriptedChatModel


def rows_mentioning(journal_path: Path, needle: str) -> list[tuple[str, tuple[Any, ...]]]:
    """Every row of every table of the journal with ``needle`` in one of its values."""
    conn = sqlite3.connect(journal_path)
    try:
        found = []
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            for row in conn.execute(f"SELECT * FROM {table}"):
                if any(needle in str(v) for v in row):
                    found.append((table, row))
        return found
    finally:
        conn.close()


class Gate:
    """A chat-model responder that blocks consolidation decisions until released."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, messages: list[BaseMessage], tools: list[dict[str, Any]]) -> Any:
        from langchain_lightmem.testing import default_responder

        if "EXISTING" in "\n".join(str(m.content) for m in messages):
            self.entered.set()
            assert self.release.wait(30), "never released"
        return default_responder(messages, tools)


def test_forget_wins_over_a_consolidation_waiting_on_the_model(make_memory: Callable[..., LightMem]) -> None:
    gate = Gate()
    memory = make_memory(ScriptedChatModel(responder=gate))
    same = "Zoe keeps three beehives on the roof of her flat in Lyon."
    memory.add([{"role": "user", "content": same, "timestamp": "2024-01-01T10:00:00Z"}], namespace="zoe")
    memory.add([{"role": "user", "content": same, "timestamp": "2024-02-01T10:00:00Z"}], namespace="zoe")
    memory.flush("zoe")
    reports: list[Any] = []
    runner = threading.Thread(target=lambda: reports.extend(memory.consolidate("zoe")))
    runner.start()
    assert gate.entered.wait(30), "consolidation never asked the model"
    memory.forget("zoe")  # returns while the decision is still being made
    gate.release.set()
    runner.join(30)
    assert reports and reports[0].forgotten
    # 0.1: the decision text and a usage row were written back after forget returned, and vacuum kept them
    assert rows_mentioning(memory.config.journal_path, "zoe") == []  # the generation row is keyed by a digest
    assert memory.entries("zoe", include_history=True, include_pending=True) == []
    assert memory.stats("zoe").usage == {}


def test_turns_handed_to_the_worker_before_forget_are_gone_after_it(make_memory: Callable[..., LightMem]) -> None:
    from langchain.agents import create_agent

    from langchain_lightmem.integrations import LightMemMiddleware

    memory = make_memory()
    blocked, release = threading.Event(), threading.Event()
    compress = memory.pipeline.compress

    def slow_compress(namespace: Any) -> Any:
        blocked.set()
        release.wait(30)
        return compress(namespace)

    memory.pipeline.compress = slow_compress  # type: ignore[method-assign]
    middleware = LightMemMiddleware(memory)
    agent = create_agent(ScriptedChatModel(responder=lambda m, t: "ok"), middleware=[middleware])
    for i in range(3):
        agent.invoke(
            {"messages": [HumanMessage(f"secret number {i}")]},
            {"configurable": {"thread_id": f"t{i}"}},
            context={"user_id": "yan"},
        )
    assert blocked.wait(30)  # the worker is busy with yan's turns
    threading.Timer(0.3, release.set).start()
    memory.forget("yan")  # waits for the run in progress, drops what is scheduled
    assert memory.worker.join(30)
    assert memory.recent_messages("yan") == [] and memory.search("yan", "secret number", k=5) == []
    assert rows_mentioning(memory.config.journal_path, "yan") == []  # the generation row is keyed by a digest
    middleware.close()


def test_forget_leaves_no_chat_window_behind(make_memory: Callable[..., LightMem]) -> None:
    from langchain_lightmem.integrations import LightMemChatMessageHistory

    memory = make_memory()
    history = LightMemChatMessageHistory(memory, namespace="xia", session_id="s1")
    history.add_messages([HumanMessage("hello there")])
    history.clear()
    memory.forget("xia")
    assert rows_mentioning(memory.config.journal_path, "xia") == []  # the generation row is keyed by a digest


def test_reads_racing_forget_see_empty_results_not_errors(make_memory: Callable[..., LightMem]) -> None:
    memory = make_memory()
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                memory.search("wen", "garden", k=3)
                memory.context("wen", "garden", max_tokens=100)
                memory.entries("wen")
                memory.stats("wen")
            except BaseException as exc:
                errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(2)]
    for reader in readers:
        reader.start()
    for i in range(15):
        memory.add([{"role": "user", "content": f"my garden has {i} roses"}], namespace="wen")
        memory.flush("wen")
        memory.forget("wen")
    stop.set()
    for reader in readers:
        reader.join(10)
    assert errors == []


@pytest.mark.parametrize("stage", ["embedder", "store", "disk"])
def test_a_retry_after_any_failing_stage_stores_the_message_exactly_once(
    make_memory: Callable[..., LightMem], monkeypatch: pytest.MonkeyPatch, stage: str
) -> None:
    memory = make_memory()
    target = {
        "embedder": (memory.pipeline.embeddings, "embed_documents"),
        "store": (memory.store, "upsert"),
        "disk": (memory.journal.messages, "append"),
    }[stage]
    original = getattr(*target)
    failures = {"left": 1}

    def fail_once(*args: Any, **kwargs: Any) -> Any:
        if failures["left"]:
            failures["left"] -= 1
            raise {"embedder": TimeoutError, "store": ConnectionError, "disk": sqlite3.OperationalError}[stage](
                "injected: " + stage
            )
        return original(*args, **kwargs)

    monkeypatch.setattr(*target, fail_once)
    message = [{"role": "user", "content": "My passport number ends in 4471."}]  # no id
    attempts = 0
    while True:  # a careful caller: retry on an error or on a deferred one, with the same key
        attempts += 1
        try:
            result = memory.add(message, namespace="vic", idempotency_key="req-1")
        except (EmbeddingError, sqlite3.OperationalError):
            continue
        if result.deferred_error is None:
            break
    assert attempts == 2
    memory.add([{"role": "user", "content": "Something else entirely."}], namespace="vic")  # a later run heals
    memory.flush("vic")
    texts = [e.text for e in memory.entries("vic", include_pending=True)]
    assert texts.count("user: My passport number ends in 4471.") == 1
    assert len(memory.journal.messages.read(("vic",))) == 2


def test_a_lost_store_folder_fails_loudly_and_is_rebuilt_from_the_journal(
    tmp_path: Path, static_embeddings: Any
) -> None:
    config = LightMemConfig(data_dir=tmp_path / "data")
    with LightMem(config, embeddings=static_embeddings) as memory:
        memory.add(
            [{"role": "user", "content": f"fact number {i} about the lake house"} for i in range(6)], namespace="una"
        )
        memory.flush("una")
        memory.remember("una", "Una's boat is called Heron.", key="boat")
        memory.add([{"role": "user", "content": "still open: the jetty needs paint"}], namespace="una")
        deleted = memory.entries("una")[0]
        memory.delete("una", [deleted.id])
        before = sorted(e.text for e in memory.entries("una", include_pending=True))
    shutil.rmtree(config.chroma_path)  # lost; the journal is healthy
    (config.data_dir / "lexical.sqlite3").unlink()
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()  # as a new process would: chromadb caches clients by path
    with LightMem(config, embeddings=static_embeddings) as memory:
        with pytest.raises(MemoryMissingError, match="lightmem rebuild"):
            memory.search("una", "lake house")  # 0.1: 0 memories, no warning
        assert memory.rebuild() == {("una",): len(before)}
        assert sorted(e.text for e in memory.entries("una", include_pending=True)) == before
        assert deleted.text not in before and "Una's boat is called Heron." in before
        assert memory.search("una", "boat", k=1)[0].entry.text == "Una's boat is called Heron."


@pytest.mark.integration
def test_a_forget_in_another_process_does_not_break_this_one(tmp_path: Path, static_embeddings: Any) -> None:
    from tests.integration.servers import chroma_server

    with chroma_server(tmp_path / "server") as url:

        def open_memory(name: str) -> LightMem:
            cfg = LightMemConfig.from_env(data_dir=tmp_path / name, chroma={"mode": "http", **_host_port(url)})
            return LightMem(cfg, embeddings=static_embeddings)

        app, admin = open_memory("app"), open_memory("admin")
        try:
            app.add([{"role": "user", "content": "alice likes tea"}], namespace="alice")
            app.flush("alice")
            assert app.search("alice", "tea", k=1)
            admin.forget("alice")  # deletes alice's collections on the shared server
            # 0.1: every later add/search for alice in the app raised NotFoundError until a restart
            assert app.search("alice", "tea", k=1) == []  # not an error, and nothing forgotten
            result = app.add([{"role": "user", "content": "alice likes coffee now"}], namespace="alice")
            assert result.deferred_error is None
            assert [h.entry.text for h in app.search("alice", "coffee", k=1)] == ["user: alice likes coffee now"]
        finally:
            app.close()
            admin.close()


def _host_port(url: str) -> dict[str, Any]:
    host, port = url.removeprefix("http://").split(":")
    return {"host": host, "port": int(port)}


def test_a_forget_landing_while_decisions_are_applied_leaves_nothing(make_memory: Callable[..., LightMem]) -> None:
    """The fence is checked before applying and again after: what an apply wrote after a forget is deleted."""
    memory = make_memory()
    same = "Ola walks her dog Pixel along the river every morning."
    memory.add([{"role": "user", "content": same, "timestamp": "2024-01-01T10:00:00Z"}], namespace="ola")
    memory.add([{"role": "user", "content": same, "timestamp": "2024-02-01T10:00:00Z"}], namespace="ola")
    memory.flush("ola")
    from langchain_lightmem import consolidator as module

    apply = module.apply_decisions

    def forget_then_apply(*args: Any, **kwargs: Any) -> Any:
        memory.journal.namespaces.forget(("ola",))  # another process forgets between the check and the writes
        memory.store.delete_namespace(("ola",))
        return apply(*args, **kwargs)  # writes the superseded copies into a fresh history collection

    module.apply_decisions = forget_then_apply  # type: ignore[assignment]
    try:
        (report,) = memory.consolidate("ola")
    finally:
        module.apply_decisions = apply
    assert report.forgotten
    assert memory.entries("ola", include_history=True, include_pending=True) == []
    assert rows_mentioning(memory.config.journal_path, "ola") == []  # the generation row is keyed by a digest


def test_forget_deletes_the_users_store_items_and_vacuum_leaves_no_copy(tmp_path: Path, static_embeddings: Any) -> None:
    from langchain_lightmem.integrations import LightMemStore
    from tests.helpers import files_containing

    config = LightMemConfig(data_dir=tmp_path / "data")
    with LightMem(config, embeddings=static_embeddings) as memory:
        store = LightMemStore(memory)
        store.put(("tess", "prefs"), "p", {"text": "tess-marker-77 likes figs"})
        store.put(("ugo", "prefs"), "p", {"text": "ugo likes plums"})
        memory.add([{"role": "user", "content": "tess-marker-77 told me about figs"}], namespace="tess")
        memory.forget("tess", vacuum=True)
        assert store.search(("tess",)) == [] and [i.key for i in store.search(("ugo",))] == ["p"]
    # 0.1: the store items outlived forget; Chroma's write-ahead log kept deleted records' text after a vacuum
    assert files_containing(config.data_dir, ["tess-marker-77"]) == []
