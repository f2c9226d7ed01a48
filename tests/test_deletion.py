"""Deletion: after ``forget`` nothing of the namespace comes back from any API; per-entry delete is complete."""

from __future__ import annotations

import subprocess
import sys

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from langchain_lightmem.integrations import LightMemChatMessageHistory, LightMemStore
from langchain_lightmem.integrations.store import MEMORIES, MESSAGES
from langchain_lightmem.memory import saved_entry_id
from tests.helpers import files_containing


@pytest.fixture(params=[{"layout": "collections"}, {"layout": "buckets", "buckets": 1}], ids=["collections", "buckets"])
def make_memory(request, make_memory):
    """Every deletion test on both Chroma layouts (``buckets: 1``: alice and bob share one bucket)."""

    def factory(*args, **config):
        config.setdefault("chroma", request.param)
        return make_memory(*args, **config)

    return factory


def populate(memory) -> None:
    for ns, secret in (("alice", "Alice's PIN is 4471"), ("bob", "Bob's PIN is 9902")):
        memory.add(
            [
                {"id": "1", "role": "user", "content": secret, "timestamp": "2024-05-01T10:00:00Z"},
                {"id": "2", "role": "user", "content": secret, "timestamp": "2024-06-01T10:00:00Z"},  # a repeat
                {"id": "3", "role": "user", "content": f"{ns} likes tea", "timestamp": "2024-06-02T10:00:00Z"},
            ],
            namespace=ns,
            thread_id="t1",
        )
        memory.flush(ns)
    memory.consolidate()  # the repeat supersedes the first: alice now has history versions too


def test_forget_leaves_nothing_in_any_api(make_memory):
    memory = make_memory()
    populate(memory)
    store = LightMemStore(memory)
    history = LightMemChatMessageHistory(memory, namespace="alice", session_id="t2")
    history.add_messages([HumanMessage("I'm allergic to nuts"), AIMessage("Noted.")])
    store.put(("alice", MESSAGES), "m9", {"role": "user", "content": "my locker is 12"})
    store.put(("alice", MEMORIES), "note", {"text": "Alice keeps a spare key under the mat."})
    assert memory.entries("alice", include_history=True) and memory.search("alice", "PIN", include_history=True)
    assert len(memory.entries("alice", include_history=True)) > len(memory.entries("alice"))  # history exists

    removed = memory.forget("alice")
    assert removed["messages"] >= 6 and removed["entries"] >= 4

    stats = memory.stats("alice")
    assert sum(stats.messages.values()) == 0 and stats.entries == 0 and stats.batches == {} and stats.usage == {}
    assert memory.search("alice", "PIN", k=50) == []
    assert memory.search("alice", "PIN", k=50, include_history=True) == []
    assert memory.entries("alice", include_history=True) == []
    assert memory.journal.messages.read(("alice",)) == [] and memory.recent_messages("alice") == []
    assert memory.journal.consolidation.queue(("alice",)) == [] and memory.consolidate("alice")[0].new_entries == 0
    assert ("alice",) not in memory.namespaces() and ("alice",) not in memory.store.namespaces()
    assert LightMemChatMessageHistory(memory, namespace="alice", session_id="t2").messages == []
    assert store.search(("alice", MEMORIES), query="PIN") == []
    assert store.search(("alice", MESSAGES)) == []
    assert store.get(("alice", MEMORIES), "note") is None
    assert not any(ns[0] == "alice" for ns in store.list_namespaces())
    assert memory.as_retriever(namespace="alice").invoke("PIN") == []

    # bob is untouched
    assert any("9902" in e.text for e in memory.entries("bob"))
    assert len(memory.journal.messages.read(("bob",))) == 3


def test_deleting_an_entry_removes_it_from_current_and_history(make_memory):
    memory = make_memory()
    populate(memory)
    everything = memory.entries("alice", include_history=True)
    superseded = next(e for e in everything if e.superseded_by)
    current = next(e for e in everything if not e.superseded_by)
    assert memory.delete("alice", [superseded.id, current.id]) == 2
    left = {e.id for e in memory.entries("alice", include_history=True)}
    assert superseded.id not in left and current.id not in left
    assert all(
        h.entry.id not in (superseded.id, current.id) for h in memory.search("alice", "PIN", include_history=True)
    )
    assert memory.delete("bob", [e.id for e in everything]) == 0  # ids of another namespace are not found


# -- on disk: deleted means gone from every file ---------------------------------------------------------------

SECRETS = ("ZEBRA-PLUTONIUM-4471", "Quetzalcoatl Bakery on Vinegar Lane", "locker 9-TANGERINE-31")


def test_forget_and_vacuum_leave_no_byte_of_the_namespace_in_any_file_while_the_process_runs(make_memory, tmp_path):
    memory = make_memory()
    folder = memory.config.data_dir
    memory.add(
        [
            {"role": "user", "content": f"my badge code is {SECRETS[0]}", "timestamp": "2024-05-01T10:00:00Z"},
            {"role": "user", "content": f"I work at the {SECRETS[1]}", "timestamp": "2024-05-01T10:01:00Z"},
        ],
        namespace="alice",
        thread_id="t1",
    )
    memory.flush("alice")
    memory.remember("alice", f"Alice's bike is in {SECRETS[2]}", key="bike")
    memory.add([{"role": "user", "content": f"again: {SECRETS[0]}"}], namespace="alice", thread_id="t2")  # pending
    memory.consolidate()
    memory.add([{"role": "user", "content": "Bob collects Hokusai woodblock prints"}], namespace="bob", thread_id="t")
    memory.flush("bob")
    assert files_containing(folder, SECRETS), "the scan must see the secrets before they are forgotten"

    memory.forget("alice")
    vacuumed = memory.vacuum()

    assert files_containing(folder, SECRETS) == []
    assert files_containing(folder, ["Hokusai woodblock prints"])  # bob's text is still on disk
    assert {str(memory.config.journal_path), str(memory.config.lexical_path)} <= set(vacuumed)
    # the process keeps working on its open connections and Chroma client
    assert any("Hokusai" in h.entry.text for h in memory.search("bob", "woodblock prints"))
    memory.add([{"role": "user", "content": "Bob moved to Kyoto"}], namespace="bob", thread_id="t")
    memory.flush("bob")
    assert any("Kyoto" in h.entry.text for h in memory.search("bob", "Kyoto"))
    assert memory.entries("alice", include_history=True, include_pending=True) == []


def test_the_lexical_index_overwrites_deleted_entries(make_memory):
    # secure_delete is on for the lexical index whatever the SQLite build defaults to
    memory = make_memory()
    assert memory.store.lexical is not None
    assert memory.store.lexical._db.execute("PRAGMA secure_delete").fetchone()[0] == 1
    memory.remember("carol", f"Carol's code is {SECRETS[0]}", key="code")
    memory.remember("carol", "Carol likes chess", key="chess")
    memory.delete("carol", [saved_entry_id(("carol",), "code")])
    assert memory.store.lexical.vacuum()  # WAL checkpointed into the file, free pages dropped
    lexical = [p for p in files_containing(memory.config.data_dir, SECRETS) if p.name.startswith("lexical.sqlite3")]
    assert lexical == []
    assert any("chess" in h.entry.text for h in memory.search("carol", "chess", mode="lexical"))


@pytest.mark.integration  # 8 s of concurrent writes
def test_vacuum_beside_busy_threads_keeps_chroma_intact(make_memory):
    # Chroma carries its own SQLite: an in-process VACUUM of chroma.sqlite3 does not see its locks and corrupted the
    # file under concurrent writes. The VACUUM runs in a child process, where SQLite's locking serialises it.
    import threading
    import time

    memory = make_memory()
    stop, failures = threading.Event(), []

    def write() -> None:
        i = 0
        while not stop.is_set():
            try:
                memory.add([{"role": "user", "content": f"bob fact {i} about tulips"}], namespace="bob", thread_id="t")
                memory.flush("bob")
                memory.search("bob", "tulips")
            except Exception as exc:  # any failure of the busy thread fails the test
                failures.append(repr(exc))
            i += 1

    writer = threading.Thread(target=write)
    writer.start()
    deadline = time.monotonic() + 8
    rounds = 0
    try:
        while time.monotonic() < deadline:
            memory.remember("alice", f"Alice's code is {SECRETS[0]} ({rounds})", key=str(rounds))
            memory.forget("alice")
            memory.vacuum()
            rounds += 1
    finally:
        stop.set()
        writer.join()
    assert rounds >= 3 and failures == []
    check = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute('PRAGMA integrity_check').fetchone()[0])",
            str(memory.config.chroma_path / "chroma.sqlite3"),
        ],
        capture_output=True,
        text=True,
    )
    assert check.stdout.strip() == "ok", check.stdout + check.stderr


@pytest.mark.parametrize("layout", ["collections", "buckets"])
def test_forget_deletes_store_items_of_stores_not_open_in_this_process(make_memory, tmp_path, layout):
    """The CLI, a cron or another worker forgets a user while no LightMemStore is open there: its items (and their
    vectors) in every LangGraph store collection of the same Chroma go too."""
    data = tmp_path / "data"
    with make_memory(data_dir=data, chroma={"layout": layout}) as memory:
        store = LightMemStore(memory)
        other = LightMemStore(memory, collection="notes_store")
        store.put(("alice", "prefs"), "theme", {"text": "alice prefers dark mode"})
        store.put(("alice",), "diet", {"text": "alice is vegetarian"})
        store.put(("bob", "prefs"), "theme", {"text": "bob prefers light mode"})
        other.put(("alice", "notes"), "n1", {"text": "alice's note"}, index=False)
        client = memory.chroma_client
    with make_memory(data_dir=data, chroma={"layout": layout}) as memory:  # no store open in this one
        memory.forget("alice")
        client = memory.chroma_client
        left = [
            (c.name, doc)
            for c in client.list_collections()
            for doc in client.get_collection(c.name).get(include=["documents"])["documents"]
            if doc and "alice" in doc
        ]
        assert left == []
        store = LightMemStore(memory)
        assert store.search(("alice",)) == [] and [i.key for i in store.search(("bob",))] == ["theme"]
        assert LightMemStore(memory, collection="notes_store").search(("alice",)) == []
