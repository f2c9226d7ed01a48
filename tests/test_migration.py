"""``lightmem migrate`` / :func:`langchain_lightmem.migration.migrate`: a whole deployment copied to another backend
or Chroma layout, with its vectors, retryable after a failure, and refused where it would mix or lose data."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

from langchain_lightmem import LightMem, LightMemConfig, migration
from langchain_lightmem.cli import main
from langchain_lightmem.config import EmbeddingConfig
from langchain_lightmem.errors import ConfigurationError, LightMemError
from langchain_lightmem.integrations import LightMemStore
from langchain_lightmem.long_term.store import ChromaMemoryStore
from langchain_lightmem.migration import MigrationProgress, MigrationReport, MigrationTargetNotEmptyError, migrate
from langchain_lightmem.models import CachedEmbeddings
from langchain_lightmem.store_items import STORE_ITEMS_KIND

ALICE = [
    "I moved to Berlin in May and adopted a cat named Luna.",
    "My sister Ines plays the cello in the Lisbon orchestra.",
    "On weekends I climb at the bouldering gym near the river.",
]
BOB = [
    "Bob is learning Portuguese for a trip to Porto.",
    "Bob's daughter started school in September.",
]
QUERIES = ["Where did she move?", "Who plays the cello?", "cat named Luna", "Portuguese trip", "school"]
NAMESPACES: list[tuple[str, ...]] = [("alice",), ("team", "bob")]


def _turns(prefix: str, texts: list[str], day: int) -> list[dict[str, str]]:
    return [
        {"id": f"{prefix}{i}", "role": "user", "content": t, "timestamp": f"2024-05-{day:02d}T10:{i:02d}:00Z"}
        for i, t in enumerate(texts)
    ]


def fill(memory: LightMem) -> None:
    """Two namespaces with extracted memories, a superseded one (history), a pending message and a saved one."""
    memory.add(_turns("a", ALICE, 1), namespace="alice", thread_id="t1")
    memory.add(_turns("b", BOB, 2), namespace=("team", "bob"), thread_id="t9")
    memory.flush("alice")
    memory.flush(("team", "bob"))
    # a near-duplicate: LLM-free consolidation supersedes the older one (it moves to history)
    memory.add(_turns("c", ["I moved to Berlin in May and adopted a cat named Luna!"], 5), namespace="alice")
    memory.flush("alice")
    memory.consolidate()
    memory.add(_turns("p", ["Luna the cat likes the balcony."], 6), namespace="alice", thread_id="t2")  # pending
    memory.remember("alice", "Alice's favourite colour is teal.", key="colour")


def snapshot(memory: LightMem) -> dict[str, Any]:
    """What a user sees of each namespace: search results (ids, scores to 4 places: another HNSW index computes
    the same cosine to within 1e-6), entries with history, raw messages."""
    out: dict[str, Any] = {}
    for ns in NAMESPACES:
        key = "/".join(ns)
        out[key] = {
            "search": {
                q: [(h.entry.id, round(h.score, 4), h.entry.text) for h in memory.search(ns, q, k=5)] for q in QUERIES
            },
            "history": sorted(
                (e.id, e.text, e.superseded_by, e.version) for e in memory.entries(ns, include_history=True)
            ),
            "current": sorted(e.id for e in memory.entries(ns, include_pending=True)),
            "messages": [(m.id, m.content, m.seq, m.thread_id) for m in memory.recent_messages(ns)],
        }
    return out


@pytest.fixture
def source(tmp_path: Path, static_embeddings: Any) -> tuple[LightMemConfig, dict[str, Any]]:
    """A closed embedded deployment (SQLite, collections layout) and what it answered before it was closed."""
    config = LightMemConfig(data_dir=tmp_path / "source", embeddings={"backend": "static"})
    with LightMem(config, embeddings=static_embeddings) as memory:
        fill(memory)
        before = snapshot(memory)
    assert any(len(v["history"]) > len(v["current"]) - 1 for v in before.values())
    return config, before


def buckets_target(tmp_path: Path, **extra: Any) -> LightMemConfig:
    return LightMemConfig(
        data_dir=tmp_path / "target",
        embeddings={"backend": "static"},
        chroma={"layout": "buckets", "buckets": 4},
        **extra,
    )


def stop_at(phase: str) -> Callable[[MigrationProgress], None]:
    """A progress callback that interrupts the run (as Ctrl-C would) when a phase starting with ``phase`` begins."""

    def interrupt(step: MigrationProgress) -> None:
        if step.phase.startswith(phase):
            raise KeyboardInterrupt

    return interrupt


def interrupted_at_journal(config: LightMemConfig, target: LightMemConfig) -> None:
    """A run stopped when the journal's copy starts: Chroma holds what it wrote, the target journal nothing."""
    with pytest.raises(KeyboardInterrupt):
        migrate(config, target, progress=stop_at("journal"))


def journal_rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables}
    finally:
        conn.close()


def test_sqlite_collections_to_buckets_answers_the_same(
    source: tuple[LightMemConfig, dict[str, Any]],
    tmp_path: Path,
    static_embeddings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config, before = source
    monkeypatch.setattr(migration, "_PAGE", 2)  # many pages of rows and runs of entries, with this little data
    source_journal = journal_rows(config.journal_path)
    steps: list[MigrationProgress] = []
    report = migrate(config, buckets_target(tmp_path), progress=steps.append)

    assert isinstance(report, MigrationReport)
    assert report.namespaces == 2
    assert report.journal_rows["messages"] == len(ALICE) + len(BOB) + 2
    assert report.history >= 1 and report.entries >= 5
    assert steps and steps[-1].done == steps[-1].total
    assert journal_rows(buckets_target(tmp_path).journal_path) == source_journal  # row for row
    with LightMem(buckets_target(tmp_path), embeddings=static_embeddings) as memory:
        assert memory.store.buckets == 4
        assert snapshot(memory) == before
        # isolation: each namespace holds only its own entries, nothing of the other
        alice = {e.id for e in memory.entries("alice", include_history=True)}
        bob = {e.id for e in memory.entries(("team", "bob"), include_history=True)}
        assert alice and bob and not alice & bob
        assert all(e.namespace == ("team", "bob") for e in memory.entries(("team", "bob"), include_history=True))
        # the target goes on working: a new message, extraction, search
        memory.add(_turns("n", ["Bob bought a red bicycle."], 9), namespace=("team", "bob"))
        memory.flush(("team", "bob"))
        assert "bicycle" in memory.search(("team", "bob"), "bicycle", k=1)[0].entry.text
        assert all("bicycle" not in h.entry.text for h in memory.search("alice", "red bicycle", k=10))
    # the source was never written
    assert journal_rows(config.journal_path) == source_journal


def test_vectors_are_copied_not_recomputed(
    source: tuple[LightMemConfig, dict[str, Any]],
    tmp_path: Path,
    static_embeddings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config, _ = source

    def no_embedding(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a migration must not embed")

    with monkeypatch.context() as patch:
        patch.setattr(CachedEmbeddings, "embed_documents", no_embedding)
        patch.setattr(CachedEmbeddings, "embed_query", no_embedding)
        migrate(config, buckets_target(tmp_path))

    def vectors(memory: LightMem, ns: tuple[str, ...], *, history: bool) -> dict[str, np.ndarray]:
        ids = [e.id for e in memory.entries(ns, include_history=True, include_pending=True)]
        return {e.id: np.asarray(v) for e, v in memory.store.get_with_vectors(ns, ids, history=history)}

    with LightMem(config, embeddings=static_embeddings) as old, LightMem(buckets_target(tmp_path)) as new:
        assert vectors(old, ("alice",), history=True)  # superseded entries are compared too
        for ns in NAMESPACES:
            for history in (False, True):
                before, after = vectors(old, ns, history=history), vectors(new, ns, history=history)
                assert before.keys() == after.keys()
                for entry_id, vector in before.items():
                    # Chroma normalises a vector it stores for cosine: a stored one comes back within an ulp
                    assert np.allclose(vector, after[entry_id], rtol=0, atol=1e-7), entry_id


def test_refuses_a_target_journal_that_holds_data(
    source: tuple[LightMemConfig, dict[str, Any]], tmp_path: Path, static_embeddings: Any
) -> None:
    config, _ = source
    target = buckets_target(tmp_path)
    with LightMem(target, embeddings=static_embeddings) as memory:
        memory.add([{"role": "user", "content": "Already here."}], namespace="carol")
    with pytest.raises(MigrationTargetNotEmptyError, match="already holds") as info:
        migrate(config, target)
    assert "empty" in str(info.value)
    with LightMem(target, embeddings=static_embeddings) as memory:  # untouched
        assert memory.namespaces() == [("carol",)]
        assert memory.entries("alice") == []


def test_refuses_a_target_chroma_holding_another_deployments_memories(
    source: tuple[LightMemConfig, dict[str, Any]], tmp_path: Path, static_embeddings: Any
) -> None:
    config, _ = source
    shared = {"path": tmp_path / "shared-chroma", "layout": "buckets", "buckets": 4}
    other = LightMemConfig(data_dir=tmp_path / "other", chroma=shared, embeddings={"backend": "static"})
    with LightMem(other, embeddings=static_embeddings) as memory:
        memory.remember("carol", "Carol keeps bees.")
    target = LightMemConfig(data_dir=tmp_path / "target", chroma=shared, embeddings={"backend": "static"})
    with pytest.raises(MigrationTargetNotEmptyError, match=r"another chroma\.collection"):
        migrate(config, target)
    with LightMem(other, embeddings=static_embeddings) as memory:  # untouched, and nothing of the source came in
        assert memory.memory_namespaces() == [("carol",)]
    renamed = target.model_copy(update={"chroma": target.chroma.model_copy(update={"collection": "moved"})})
    assert migrate(config, renamed).namespaces == 2


def test_refuses_the_same_place_and_other_embeddings(
    source: tuple[LightMemConfig, dict[str, Any]], tmp_path: Path
) -> None:
    config, _ = source
    with pytest.raises(ConfigurationError, match="same"):
        migrate(config, config)
    same_journal = config.model_copy(update={"chroma": config.chroma.model_copy(update={"layout": "buckets"})})
    with pytest.raises(ConfigurationError, match="same"):
        migrate(config, same_journal)
    other = buckets_target(tmp_path).model_copy(update={"embeddings": EmbeddingConfig(backend="minilm")})
    with pytest.raises(ConfigurationError, match="embeddings"):
        migrate(config, other)
    assert not (tmp_path / "target" / "journal.sqlite3").exists()


def test_a_run_that_fails_midway_leaves_the_journal_empty_and_a_rerun_completes(
    source: tuple[LightMemConfig, dict[str, Any]],
    tmp_path: Path,
    static_embeddings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config, before = source
    target = buckets_target(tmp_path)
    upsert = ChromaMemoryStore.upsert
    calls = {"n": 0}

    def failing_upsert(self: ChromaMemoryStore, *args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 3:  # a crash half-way through the vectors
            raise RuntimeError("killed while copying vectors")
        upsert(self, *args, **kwargs)

    monkeypatch.setattr(ChromaMemoryStore, "upsert", failing_upsert)
    with pytest.raises(RuntimeError, match="killed"):
        migrate(config, target)
    monkeypatch.setattr(ChromaMemoryStore, "upsert", upsert)
    assert all(not rows for rows in journal_rows(target.journal_path).values())

    # then one killed inside the journal's transaction, after some tables were copied
    with pytest.raises(KeyboardInterrupt):  # messages are in, the other tables not yet
        migrate(config, target, progress=stop_at("journal batches"))
    assert all(not rows for rows in journal_rows(target.journal_path).values())

    report = migrate(config, target)
    assert report.namespaces == 2
    assert journal_rows(target.journal_path) == journal_rows(config.journal_path)
    with LightMem(target, embeddings=static_embeddings) as memory:
        assert snapshot(memory) == before  # nothing duplicated
        for ns in NAMESPACES:
            ids = [e.id for e in memory.entries(ns, include_history=True)]
            assert len(ids) == len(set(ids)) == len(before["/".join(ns)]["history"])
    with pytest.raises(MigrationTargetNotEmptyError):  # and done is done
        migrate(config, target)


def test_entries_left_by_a_failed_run_that_the_source_no_longer_has_are_removed(
    source: tuple[LightMemConfig, dict[str, Any]], tmp_path: Path, static_embeddings: Any
) -> None:
    config, before = source
    target = buckets_target(tmp_path)

    interrupted_at_journal(config, target)
    # meanwhile the source forgets bob, and alice's pending message is extracted (its pending entry goes)
    with LightMem(config, embeddings=static_embeddings) as memory:
        memory.forget(("team", "bob"))
        memory.flush("alice")
        now = snapshot(memory)["alice"]
    assert now != before["alice"]
    report = migrate(config, target)
    assert report.namespaces == 1 and report.removed > 0
    with LightMem(target, embeddings=static_embeddings) as memory:
        assert memory.entries(("team", "bob"), include_history=True) == []
        assert memory.store.namespaces() == [("alice",)]
        assert snapshot(memory)["alice"] == now
        assert not [e for e in memory.entries("alice", include_pending=True) if e.pending]


def test_cli_help_and_a_run(
    source: tuple[LightMemConfig, dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, before = source
    with pytest.raises(SystemExit) as info:
        main(["migrate", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert "usage: lightmem" in text and "--to" in text and "empty" in text

    target_file = tmp_path / "target.json"
    target_file.write_text(json.dumps({"data_dir": str(tmp_path / "target"), "chroma": {"layout": "buckets"}}))
    argv = ["--data-dir", str(config.data_dir), "--embeddings", "static", "migrate", "--to", str(target_file)]
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "migrated 2 namespace(s)" in out and "messages" in out
    assert "migrate" in err  # progress on stderr

    code = main(argv)  # again: the target now holds data
    out, err = capsys.readouterr()
    assert code == 2 and "already holds" in err and len(err.strip().splitlines()) == 1

    code = main([*argv[:4], "--json", "migrate", "--to-data-dir", str(tmp_path / "t2"), "--to-layout", "buckets"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["namespaces"] == 2
    target = LightMemConfig(data_dir=tmp_path / "t2", chroma={"layout": "buckets"}, embeddings={"backend": "static"})
    with LightMem(target) as memory:
        assert snapshot(memory) == before


def test_cli_refuses_a_missing_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--data-dir", str(tmp_path / "nothing"), "migrate", "--to-data-dir", str(tmp_path / "t")])
    err = capsys.readouterr().err
    assert code == 2 and "no data folder" in err
    assert not (tmp_path / "nothing").exists()


def test_sqlite_to_postgres(
    source: tuple[LightMemConfig, dict[str, Any]],
    tmp_path: Path,
    postgres_url: str,
    static_embeddings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from langchain_lightmem.database import PostgresDatabase

    config, before = source
    monkeypatch.setattr(migration, "_PAGE", 3)
    schema = f"m_{uuid.uuid4().hex[:12]}"
    target = LightMemConfig(
        data_dir=tmp_path / "worker",
        embeddings={"backend": "static"},
        chroma={"path": tmp_path / "server-chroma", "layout": "buckets", "buckets": 8},
        postgres={"url": postgres_url, "schema_name": schema},
    )
    report = migrate(config, target)
    assert report.namespaces == 2

    expected = journal_rows(config.journal_path)
    database = PostgresDatabase.from_conn_string(postgres_url, schema=schema, min_size=1, max_size=1)
    try:
        for table, rows in expected.items():
            got = database.query(f"SELECT * FROM {table}")
            assert sorted((tuple(_plain(v) for v in r) for r in got), key=repr) == [
                tuple(_plain(v) for v in r) for r in rows
            ], table
    finally:
        database.close()
    with LightMem(target, embeddings=static_embeddings) as memory:
        assert memory.config.backend == "postgres"
        assert snapshot(memory) == before
    with pytest.raises(MigrationTargetNotEmptyError):
        migrate(config, target)

    # and back from PostgreSQL into a new embedded folder (collections layout): a PostgreSQL source is only read
    back = LightMemConfig(data_dir=tmp_path / "back", embeddings={"backend": "static"})
    assert migrate(target, back).namespaces == 2
    assert journal_rows(back.journal_path) == expected
    with LightMem(back, embeddings=static_embeddings) as memory:
        assert snapshot(memory) == before


def _plain(value: Any) -> Any:
    """A value as both engines return it (PostgreSQL's BYTEA as bytes, its BIGINT and SQLite's REAL as numbers)."""
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def test_errors_are_lightmem_errors() -> None:
    assert issubclass(MigrationTargetNotEmptyError, LightMemError)


def test_progress_is_reported_in_counted_units(source: tuple[LightMemConfig, dict[str, Any]], tmp_path: Path) -> None:
    config, _ = source
    steps: list[MigrationProgress] = []
    migrate(config, buckets_target(tmp_path), progress=steps.append)
    totals = {s.total for s in steps}
    assert len(totals) == 1
    dones = [s.done for s in steps]
    assert dones == sorted(dones)


# -- the items of a LightMemStore (LangGraph's BaseStore): their own Chroma collections, copied raw ---------------

STORE_QUERIES = ["dark colours", "what does she eat?", "cello"]


def put_store_items(memory: LightMem) -> None:
    """Items under two namespaces of the default store (indexed: semantic search), and one of a second store,
    without an index (an items collection without a vectors twin)."""
    store = LightMemStore(memory)
    store.put(("alice", "prefs"), "theme", {"text": "Alice prefers dark mode and dark colours.", "weight": 3})
    store.put(("alice", "prefs"), "food", {"text": "Alice eats no meat; she loves pizza."})
    store.put(("alice", "prefs"), "music", {"text": "Alice listens to cello concertos.", "tags": ["a", "b"]})
    store.put(("team", "notes"), "standup", {"text": "Standup moved to 9:30.", "room": "Lisbon"})
    store.put(("team", "notes"), "raw", {"n": 1}, index=False)
    LightMemStore(memory, collection="agent_kv", index=False).put(("agent",), "state", {"step": 7})


def store_snapshot(memory: LightMem) -> dict[str, Any]:
    """What a LangGraph app sees of the stores: items, search order and scores (4 places), namespaces."""
    store = LightMemStore(memory)
    items = {
        (ns, key): (store.get(ns, key).value, store.get(ns, key).created_at)  # type: ignore[union-attr]
        for ns, key in [(("alice", "prefs"), k) for k in ("theme", "food", "music")]
        + [(("team", "notes"), "standup"), (("team", "notes"), "raw")]
        if store.get(ns, key) is not None
    }
    kv = LightMemStore(memory, collection="agent_kv", index=False).get(("agent",), "state")
    return {
        "items": items,
        "search": {
            q: [
                (h.namespace, h.key, None if h.score is None else round(h.score, 4))
                for h in store.search(("alice",), query=q)
            ]
            for q in STORE_QUERIES
        },
        "listed": [(h.key, h.value) for h in store.search(("team", "notes"))],
        "namespaces": store.list_namespaces(),
        "kv": None if kv is None else kv.value,
    }


@pytest.fixture
def store_source(tmp_path: Path, static_embeddings: Any) -> tuple[LightMemConfig, dict[str, Any]]:
    """A closed embedded deployment whose LangGraph app wrote store items, and what the stores answered."""
    config = LightMemConfig(data_dir=tmp_path / "source", embeddings={"backend": "static"})
    with LightMem(config, embeddings=static_embeddings) as memory:
        memory.remember("alice", "Alice's favourite colour is teal.", key="colour")
        put_store_items(memory)
        before = store_snapshot(memory)
    assert len(before["items"]) == 5 and before["kv"] == {"step": 7}
    assert all(hits for hits in before["search"].values())
    return config, before


def test_store_items_are_copied_with_their_vectors(
    store_source: tuple[LightMemConfig, dict[str, Any]],
    tmp_path: Path,
    static_embeddings: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config, before = store_source
    monkeypatch.setattr(migration, "_PAGE", 2)  # several pages per collection
    argv = ["--data-dir", str(config.data_dir), "--embeddings", "static", "migrate"]
    assert main([*argv, "--to-data-dir", str(tmp_path / "by-cli")]) == 0
    assert "6 LangGraph store items" in capsys.readouterr().out
    report = migrate(config, buckets_target(tmp_path))
    assert report.store_items == 6  # 5 in lightmem_store, 1 in agent_kv
    assert report.store_vectors == 4  # the indexed ones
    assert report.as_dict()["store_items"] == 6
    with LightMem(buckets_target(tmp_path), embeddings=static_embeddings) as memory:
        assert store_snapshot(memory) == before
        assert memory.search("alice", "favourite colour", k=1)[0].entry.text.startswith("Alice's favourite")
        client = memory.chroma_client
        vectors = client.get_collection("lightmem_store_vectors")
        assert vectors.configuration["hnsw"]["space"] == "cosine"
        assert vectors.metadata["embedding_model"] == static_embeddings.model_id
        assert client.get_collection("agent_kv_items").metadata == {"kind": STORE_ITEMS_KIND}
        # the target goes on working: a new item, found by search
        store = LightMemStore(memory)
        store.put(("alice", "prefs"), "bike", {"text": "Alice rides a red bicycle."})
        assert store.search(("alice",), query="red bicycle", limit=1)[0].key == "bike"


def test_store_items_the_source_deleted_are_removed_on_a_rerun(
    store_source: tuple[LightMemConfig, dict[str, Any]], tmp_path: Path, static_embeddings: Any
) -> None:
    config, _ = store_source
    target = buckets_target(tmp_path)

    interrupted_at_journal(config, target)
    with LightMem(config, embeddings=static_embeddings) as memory:  # meanwhile the app deletes an item
        LightMemStore(memory).delete(("alice", "prefs"), "food")
        now = store_snapshot(memory)
    report = migrate(config, target)
    assert report.store_items == 5 and report.store_removed == 2  # the item and its vector
    with LightMem(target, embeddings=static_embeddings) as memory:
        assert LightMemStore(memory).get(("alice", "prefs"), "food") is None
        assert store_snapshot(memory) == now


def test_refuses_a_target_chroma_holding_store_items_no_migration_wrote(
    store_source: tuple[LightMemConfig, dict[str, Any]], tmp_path: Path, static_embeddings: Any
) -> None:
    config, _ = store_source
    shared = {"path": tmp_path / "shared-chroma"}
    other = LightMemConfig(data_dir=tmp_path / "other", chroma=shared, embeddings={"backend": "static"})
    with LightMem(other, embeddings=static_embeddings) as memory:
        LightMemStore(memory).put(("carol",), "bees", {"text": "Carol keeps bees."})
    # another chroma.collection keeps the memories apart, but the store's collections have the same names
    target = LightMemConfig(
        data_dir=tmp_path / "target", chroma={**shared, "collection": "moved"}, embeddings={"backend": "static"}
    )
    with pytest.raises(MigrationTargetNotEmptyError, match="lightmem_store_items"):
        migrate(config, target)
    with LightMem(other, embeddings=static_embeddings) as memory:  # untouched, and nothing of the source came in
        store = LightMemStore(memory)
        assert store.list_namespaces() == [("carol",)]
        assert store.get(("carol",), "bees") is not None
    assert all(not rows for rows in journal_rows(target.journal_path).values())


def test_refuses_store_vectors_of_other_embeddings(tmp_path: Path, static_embeddings: Any) -> None:
    config = LightMemConfig(data_dir=tmp_path / "source", embeddings={"backend": "static"})
    with LightMem(config, embeddings=static_embeddings) as memory:
        store = LightMemStore(memory, index={"embed": DeterministicFakeEmbedding(size=8)})
        store.put(("alice",), "k", {"text": "hello"})
    with pytest.raises(ConfigurationError, match="DeterministicFakeEmbedding"):
        migrate(config, buckets_target(tmp_path))
    assert not buckets_target(tmp_path).journal_path.exists()  # refused before the target was opened


def test_store_collections_in_a_chroma_both_use_are_left_in_place(tmp_path: Path, static_embeddings: Any) -> None:
    """Another chroma.collection in the same Chroma: the memories are copied under the new prefix, while the store's
    collections (named by the store's own prefix) already are the target's."""
    shared = {"path": tmp_path / "chroma"}
    config = LightMemConfig(data_dir=tmp_path / "source", chroma=shared, embeddings={"backend": "static"})
    with LightMem(config, embeddings=static_embeddings) as memory:
        put_store_items(memory)
        before = store_snapshot(memory)
    target = LightMemConfig(
        data_dir=tmp_path / "target", chroma={**shared, "collection": "moved"}, embeddings={"backend": "static"}
    )
    report = migrate(config, target)
    assert report.store_items == report.store_vectors == report.store_removed == 0
    with LightMem(target, embeddings=static_embeddings) as memory:
        assert store_snapshot(memory) == before


@pytest.mark.parametrize(
    "options",
    [
        ["--to-layout", "buckets"],
        ["--to-collection", "moved", "--to-buckets", "8"],
    ],
)
def test_cli_refuses_a_target_that_names_no_place(
    source: tuple[LightMemConfig, dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    options: list[str],
) -> None:
    """Options that only describe the target (its layout, prefix) must not send the copy to ./lightmem_data."""
    config, _ = source
    monkeypatch.chdir(tmp_path)
    code = main(["--data-dir", str(config.data_dir), "--embeddings", "static", "migrate", *options])
    err = capsys.readouterr().err
    assert code == 2 and "say where to migrate" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "lightmem_data").exists()


def test_cli_refuses_a_postgres_schema_without_a_postgres_url(
    source: tuple[LightMemConfig, dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--to-postgres-schema alone would silently give an embedded SQLite target."""
    config, _ = source
    target = tmp_path / "target"
    argv = ["--data-dir", str(config.data_dir), "--embeddings", "static", "migrate", "--to-data-dir", str(target)]
    code = main([*argv, "--to-postgres-schema", "moved"])
    err = capsys.readouterr().err
    assert code == 2 and "--to-postgres-url" in err and len(err.strip().splitlines()) == 1
    assert not target.exists()


def test_cli_interrupted_says_the_target_journal_is_empty(
    source: tuple[LightMemConfig, dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Ctrl-C during a copy: the message is about the migration (run it again), not about ingested messages."""
    config, before = source

    real = migration.migrate
    monkeypatch.setattr(migration, "migrate", lambda s, t, **kw: real(s, t, progress=stop_at("journal")))
    argv = ["--data-dir", str(config.data_dir), "--embeddings", "static", "migrate"]
    argv += ["--to-data-dir", str(tmp_path / "target"), "--to-layout", "buckets"]
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert "run the migration again" in err and "accepted messages" not in err
    monkeypatch.setattr(migration, "migrate", real)
    assert main(argv) == 0
    target = LightMemConfig(
        data_dir=tmp_path / "target", chroma={"layout": "buckets"}, embeddings={"backend": "static"}
    )
    with LightMem(target) as memory:
        assert snapshot(memory) == before


def test_cli_a_malformed_postgres_url_is_refused_at_once(
    source: tuple[LightMemConfig, dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not a libpq URL: one line at once, not 30 s of pool retries."""
    pytest.importorskip("psycopg_pool")
    config, _ = source
    started = time.monotonic()
    argv = ["--data-dir", str(config.data_dir), "--embeddings", "static", "migrate"]
    code = main([*argv, "--to-data-dir", str(tmp_path / "target"), "--to-postgres-url", "notaurl"])
    err = capsys.readouterr().err
    assert code == 2 and "notaurl" in err and len(err.strip().splitlines()) == 1
    assert time.monotonic() - started < 10
