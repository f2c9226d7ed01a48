"""One behavioural suite for the journal and lexical-index backends: SQLite files (the embedded default) and a real
PostgreSQL server started for the session (tests/postgres.py). Chroma stays embedded for the vectors unless a test
says otherwise.

Each Postgres test gets its own schema, so tests do not see each other's rows.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from langchain_lightmem import DuplicateMessageError, LightMem, LightMemConfig
from langchain_lightmem.database import PostgresDatabase
from langchain_lightmem.journal import POSTGRES_MIGRATIONS, Journal, generation_key, new_worker_id
from langchain_lightmem.long_term.lexical import LexicalBackend, LexicalIndex, LexicalRow
from langchain_lightmem.types import Segment

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The config overlay of a backend: nothing for SQLite, a fresh schema on the session's server for Postgres."""
    if request.param == "sqlite":
        return {}
    url = request.getfixturevalue("postgres_url")
    return {"postgres": {"url": url, "schema_name": f"t_{uuid.uuid4().hex[:12]}"}}


@pytest.fixture
def memory_on(make_memory: Callable[..., LightMem], backend: dict[str, Any]) -> Callable[..., LightMem]:
    """``make_memory`` on the backend under test."""

    def build(chat_model: Any = None, **config: Any) -> LightMem:
        return make_memory(chat_model, **{**backend, **config})

    return build


def rows_mentioning(memory: LightMem, needles: list[str]) -> list[tuple[str, str]]:
    """Every row of every table of the journal and the lexical index holding one of ``needles``."""
    found: list[tuple[str, str]] = []
    database = memory.journal.database
    if isinstance(database, PostgresDatabase):
        for table in database.tables():
            for (text,) in database.query(f"SELECT t::text FROM {table} t"):
                found += [(table, text) for needle in needles if needle in text]
        return found
    lexical = memory.store.lexical
    assert isinstance(lexical, LexicalIndex)
    for path in (memory.config.journal_path, Path(lexical.path)):
        conn = sqlite3.connect(path)
        try:
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            for table in tables:
                for row in conn.execute(f"SELECT * FROM {table}"):
                    found += [(table, str(row)) for needle in needles if needle in str(row)]
        finally:
            conn.close()
    return found


TURNS = [
    "I moved to Berlin in May and adopted a cat named Luna.",
    "My sister Ines plays the cello in the Lisbon orchestra.",
    "On weekends I climb at the bouldering gym near the river.",
]


def turns(prefix: str = "m", texts: list[str] = TURNS) -> list[dict[str, str]]:
    return [{"id": f"{prefix}{i}", "role": "user", "content": text} for i, text in enumerate(texts)]


def test_add_search_flush_end_to_end(memory_on: Callable[..., LightMem], backend: dict[str, Any]) -> None:
    memory = memory_on()
    assert memory.config.backend == ("postgres" if backend else "sqlite")
    memory.add(turns(), namespace="alice", thread_id="t1")
    hits = memory.search("alice", "Who plays the cello?", k=3)  # read your writes: a pending entry
    assert hits[0].entry.source_ids == ["m1"] and hits[0].pending
    memory.flush("alice")
    stats = memory.stats("alice")
    assert stats.messages["done"] == 3 and stats.pending == 0 and stats.entries == 3
    for mode in ("hybrid", "lexical", "dense"):
        hits = memory.search("alice", "Who plays the cello in the orchestra?", k=3, mode=mode)
        assert hits[0].entry.source_ids == ["m1"] and not hits[0].pending, mode
    lexical = memory.search("alice", "bouldering river", k=3, mode="lexical")
    assert [h.entry.source_ids for h in lexical][:1] == [["m2"]] and lexical[0].score > 0
    assert [m.content for m in memory.recent_messages("alice", thread_id="t1")] == TURNS
    files = {p.name for p in memory.config.data_dir.iterdir()}
    if backend:  # the data folder keeps only the embedded Chroma
        assert "journal.sqlite3" not in files and "lexical.sqlite3" not in files
    else:
        assert {"journal.sqlite3", "lexical.sqlite3"} <= files


def test_a_restart_finds_everything(
    memory_on: Callable[..., LightMem], static_embeddings: Any, backend: dict[str, Any], tmp_path: Path
) -> None:
    memory = memory_on()
    memory.add(turns(), namespace="alice")
    memory.flush("alice")
    memory.add(turns("n", ["I also started learning Portuguese."]), namespace="alice")
    memory.close()
    again = LightMem(LightMemConfig(data_dir=tmp_path / "data", **backend), embeddings=static_embeddings)
    try:
        assert again.stats("alice").messages["done"] == 3 and again.stats("alice").pending == 1
        assert again.search("alice", "Portuguese", k=1, mode="lexical")[0].entry.source_ids == ["n0"]
        again.flush("alice")
        assert again.stats("alice").entries == 4
    finally:
        again.close()


def test_a_retried_add_is_idempotent(memory_on: Callable[..., LightMem]) -> None:
    memory = memory_on()
    first = memory.add(turns(), namespace="alice")
    retry = memory.add(turns(), namespace="alice")  # the client did not see the first answer and sends again
    assert len(first.accepted) == 3 and retry.accepted == [] and sorted(retry.duplicates) == ["m0", "m1", "m2"]
    with pytest.raises(DuplicateMessageError):
        memory.add([{"id": "m0", "role": "user", "content": "something else"}], namespace="alice")
    memory.flush("alice")
    memory.add(turns(), namespace="alice")  # and again after extraction
    memory.flush("alice")
    assert sum(memory.stats("alice").messages.values()) == 3 and memory.stats("alice").entries == 3
    sources = [h.entry.source_ids for h in memory.search("alice", "cello", k=10)]
    assert sorted(sources) == [["m0"], ["m1"], ["m2"]]  # each message once: no duplicate memory


def _batch_waiting(memory: LightMem, namespace: str, batch_id: str) -> str:
    """Bring the namespace's open messages to one closed batch waiting for extraction; returns its id."""
    ns = (namespace,)
    memory.pipeline.compress(ns)
    journal = memory.journal
    sensory = [m for buffer in journal.buffers.sensory(ns).values() for m in buffer]
    journal.buffers.promote(ns, [Segment(id=f"seg-{batch_id}", messages=sensory)])
    journal.batches.create(ns, batch_id, [m.id for m in journal.messages.read(ns, stage="short_term")])
    return batch_id


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_crashed_workers_lease_is_taken_over(memory_on: Callable[..., LightMem]) -> None:
    memory = memory_on()
    ns = ("alice",)
    memory.add(turns(), namespace="alice")
    batch = _batch_waiting(memory, "alice", "b1")
    journal = memory.journal

    # A worker on another host holds the batch: a live lease is respected, the flush leaves the batch alone.
    remote = "worker-on-another-host:7:abc"
    assert [b.id for b in journal.batches.claim(ns, remote, 0.5)] == [batch]
    memory.flush("alice")
    assert memory.stats("alice").batches == {"pending": 1}
    assert journal.batches.claim(ns, new_worker_id(), 600) == []
    # It died: once its lease expires another worker takes the batch over.
    time.sleep(0.6)
    memory.flush("alice")
    assert memory.stats("alice").batches == {"written": 1} and memory.stats("alice").entries == 3

    # A worker on this host that was killed frees its lease at once (its pid is gone).
    memory.add(turns("n", ["I bought a green kayak."]), namespace="alice")
    second = _batch_waiting(memory, "alice", "b2")
    crashed = f"{socket.gethostname()}:{_dead_pid()}:deadbeef0000"
    assert [b.id for b in journal.batches.claim(ns, crashed, 600)] == [second]
    memory.flush("alice")
    assert memory.stats("alice").batches == {"written": 2} and memory.stats("alice").entries == 4


def test_forget_leaves_no_row_of_the_namespace(memory_on: Callable[..., LightMem]) -> None:
    memory = memory_on()
    secret = "Zoe keeps three beehives on the roof of her flat in Lyon."
    memory.add([{"id": "z1", "role": "user", "content": secret}], namespace="zoe-7f3a", thread_id="zt")
    memory.flush("zoe-7f3a")
    memory.remember("zoe-7f3a", "Zoe's bees are Buckfast bees.", key="bees")
    memory.add(
        [{"id": "z2", "role": "user", "content": "Zoe sells honey at the Croix-Rousse market."}], namespace="zoe-7f3a"
    )
    memory.add(turns(), namespace="bob")
    memory.flush("bob")
    collection = memory.store.index_name(("zoe-7f3a",))
    needles = ["zoe-7f3a", "beehives", "Buckfast", "Croix-Rousse", collection]
    assert rows_mentioning(memory, needles)  # the scan does find the namespace while it is there

    memory.forget("zoe-7f3a", vacuum=True)
    assert rows_mentioning(memory, needles) == []
    assert memory.stats("bob").entries == 3  # the other namespace is untouched
    assert memory.search("bob", "cello", k=1, mode="lexical")[0].entry.source_ids == ["m1"]
    # the namespace starts again from nothing
    memory.add([{"id": "z1", "role": "user", "content": "A fresh start."}], namespace="zoe-7f3a")
    assert memory.stats("zoe-7f3a").pending == 1


def test_concurrent_writers_get_distinct_sequence_numbers(memory_on: Callable[..., LightMem]) -> None:
    memory = memory_on()
    errors: list[BaseException] = []

    def write(namespace: str, start: int) -> None:
        try:
            for i in range(start, start + 15):
                memory.add([{"id": f"w{i}", "role": "user", "content": f"note {i}"}], namespace=namespace)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(ns, k * 100)) for k, ns in enumerate(["a", "b", "a", "c"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    seqs = [m.seq for ns in ("a", "b", "c") for m in memory.journal.messages.read((ns,))]
    assert len(seqs) == 60 and len(set(seqs)) == 60


@pytest.mark.parametrize("kind", BACKENDS)
def test_lexical_backends_rank_alike(kind: str, request: pytest.FixtureRequest) -> None:
    """The same rows, the same query: the same order and nearly the same BM25 scores as SQLite FTS5."""
    rows = [
        LexicalRow(f"e{i}", text, 1.7e9 + i, segment_id="s1" if i < 3 else None)
        for i, text in enumerate(
            [
                "Caroline went to the LGBTQ support group on Tuesday.",
                "Melanie painted a sunrise over the lake last week.",
                "Caroline is researching adoption agencies for her family.",
                "The support group met again and Caroline gave a talk.",
                "Melanie's kids love the camping trip to the mountains.",
            ]
        )
    ]
    reference = LexicalIndex(":memory:")
    index: LexicalBackend = reference
    if kind == "postgres":
        from langchain_lightmem.long_term.lexical_postgres import PostgresLexicalIndex

        url = request.getfixturevalue("postgres_url")
        database = PostgresDatabase.from_conn_string(url, schema=f"t_{uuid.uuid4().hex[:12]}")
        index = PostgresLexicalIndex(database)
    try:
        for target in {id(reference): reference, id(index): index}.values():
            target.upsert("mem_x", rows)
        for query in ("Caroline support group", "Melanie painted", "adoption research", "camping mountains"):
            expected = reference.search("mem_x", query, limit=5)
            got = index.search("mem_x", query, limit=5)
            assert [h.id for h in got] == [h.id for h in expected], query
            for mine, theirs in zip(got, expected, strict=True):
                assert mine.score == pytest.approx(theirs.score, rel=1e-3), query
        assert index.neighbours("mem_x", ["e1"]) == {"e1": ["e0", "e2"]}
        assert index.search("mem_x", "Caroline", time_range=(1.7e9 + 2, None)) != []
        assert {h.id for h in index.search("mem_x", "Caroline", time_range=(1.7e9 + 2, None))} == {"e2", "e3"}
        assert index.ids_with_prefix("mem_x", "e") == [f"e{i}" for i in range(5)]
        index.delete("mem_x", ["e0"])
        assert index.count("mem_x") == 4
        index.drop("mem_x")
        assert index.count("mem_x") == 0 and index.search("mem_x", "Caroline") == []
    finally:
        index.close()
        reference.close()


def test_two_workers_share_one_postgres(postgres_url: str, static_embeddings: Any, tmp_path: Path) -> None:
    """Two instances in separate working folders (as on two hosts) on one server see each other's messages."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    config = {"postgres": {"url": postgres_url, "schema_name": schema}}
    one = LightMem(LightMemConfig(data_dir=tmp_path / "one", **config), embeddings=static_embeddings)
    two = LightMem.from_conn_string(
        postgres_url,
        LightMemConfig(data_dir=tmp_path / "two", postgres={"schema_name": schema}),
        embeddings=static_embeddings,
    )
    try:
        one.add(turns(), namespace="alice", thread_id="t1")
        assert [m.content for m in two.recent_messages("alice", thread_id="t1")] == TURNS
        two.add(turns("n", ["I also started learning Portuguese."]), namespace="alice", thread_id="t1")
        assert [m.id for m in one.recent_messages("alice", thread_id="t1")] == ["m0", "m1", "m2", "n0"]
        assert two.add(turns(), namespace="alice").duplicates == ["m0", "m1", "m2"]  # a retry on the other worker
        assert one.namespaces() == two.namespaces() == [("alice",)]
        assert sum(two.stats("alice").messages.values()) == 4
        two.forget("alice")
        assert one.recent_messages("alice") == [] and one.namespaces() == []
    finally:
        one.close()
        two.close()


def test_journal_setup_is_idempotent_and_concurrent(postgres_url: str) -> None:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    databases = [PostgresDatabase.from_conn_string(postgres_url, schema=schema) for _ in range(4)]
    journals: list[Journal] = []
    errors: list[BaseException] = []

    def open_one(database: PostgresDatabase) -> None:
        try:
            journals.append(Journal(database))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one, args=(db,)) for db in databases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert errors == [] and len(journals) == 4
        journals[0].setup()
        assert [r[0] for r in journals[0].database.query("SELECT v FROM journal_migrations")] == [
            len(POSTGRES_MIGRATIONS)
        ]
    finally:
        for database in databases:
            database.close()


def test_the_command_line_and_offline_vacuum_use_the_backend(
    memory_on: Callable[..., LightMem],
    backend: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from langchain_lightmem.cli import main
    from langchain_lightmem.maintenance import vacuum

    memory = memory_on()
    memory.add(turns(), namespace="alice")
    memory.flush("alice")
    memory.forget("alice")
    memory.add(turns("b"), namespace="bob")
    memory.close()
    if backend:  # the deployment's way: the environment
        monkeypatch.setenv("LIGHTMEM_POSTGRES_URL", backend["postgres"]["url"])
        monkeypatch.setenv("LIGHTMEM_POSTGRES_SCHEMA", backend["postgres"]["schema_name"])
    argv = ["--data-dir", str(tmp_path / "data"), "--embeddings", "static", "--llm-free", "--json"]
    argv += ["stats", "--namespace", "bob"]
    assert main(argv) == 0
    (stats,) = json.loads(capsys.readouterr().out)  # one namespace: alice was forgotten
    assert stats["namespace"] == ["bob"] and sum(stats["messages"].values()) == 3, stats
    config = LightMemConfig.from_env(data_dir=tmp_path / "data")
    done = vacuum(config)
    if backend:
        assert any("schema t_" in item for item in done) and not any("journal.sqlite3" in item for item in done)
    else:
        assert any(item.endswith("journal.sqlite3") for item in done)


def test_an_older_sqlite_journal_keeps_its_generations_under_a_digest(tmp_path: Path) -> None:
    """Schema 4 kept a forgotten namespace's generation under its name; opening it migrates the row."""
    path = tmp_path / "journal.sqlite3"
    journal = Journal(path)
    journal.namespaces.forget(("zoe",))
    journal.namespaces.forget(("zoe",))
    journal.close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE namespaces SET namespace = 'zoe'")  # as schema 4 wrote it
    conn.execute("PRAGMA user_version=4")
    conn.commit()
    conn.close()
    journal = Journal(path)
    try:
        assert journal.namespaces.generation(("zoe",)) == 2  # work started before the forgets stays fenced
        assert [tuple(r) for r in journal.database.query("SELECT * FROM namespaces")] == [(generation_key("zoe"), 2)]
        assert journal.database.query("PRAGMA user_version")[0][0] == 5
    finally:
        journal.close()


def test_reextract_and_coverage_on_the_backend(memory_on: Callable[..., LightMem]) -> None:
    """The re-extraction path (replaces, batch lease, coverage) runs the same SQL on both backends."""
    from langchain_lightmem.testing import ScriptedChatModel
    from tests.short_term.test_coverage import conversation

    model = ScriptedChatModel(script=[ConnectionError("model server down")])
    memory = memory_on(model, extraction={"max_attempts": 1, "backoff_seconds": 0})
    memory.add(conversation()[:4], namespace="alice", thread_id="t1")
    memory.flush("alice")
    old = {e.id for e in memory.entries("alice")}
    assert {e.method for e in memory.entries("alice")} == {"extractive_fallback"}
    assert memory.reextract("alice") == {"reextracted": 1, "failed": 0, "busy": 0}
    after = memory.entries("alice")
    assert {e.method for e in after} == {"llm"} and not old & {e.id for e in after}
    sources = [s for e in after for s in e.source_ids]
    assert len(sources) == len(set(sources))
    [batch] = memory.journal.batches.info(("alice",))
    assert batch.status == "written" and batch.coverage is not None


def test_an_unreachable_postgres_is_one_error_with_the_last_attempts_cause(caplog: pytest.LogCaptureFixture) -> None:
    """The pool's warning per failed attempt is folded into the error: one line that says why, nothing logged."""
    pytest.importorskip("psycopg_pool")
    from langchain_lightmem.errors import ConfigurationError, DatabaseUnavailableError

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with caplog.at_level("WARNING", logger="psycopg.pool"), pytest.raises(DatabaseUnavailableError) as info:
        PostgresDatabase.from_conn_string(f"postgresql://app:secret@127.0.0.1:{port}/app", timeout=1.5)
    assert "last attempt" in str(info.value) and str(port) in str(info.value)
    assert "secret" not in str(info.value)
    assert not [r for r in caplog.records if "error connecting" in r.getMessage()]

    started = time.monotonic()
    with pytest.raises(ConfigurationError, match="not a PostgreSQL URL"):
        PostgresDatabase.from_conn_string("notaurl", timeout=30)
    assert time.monotonic() - started < 5
