"""The journal's tables: the DDL, and how an older SQLite file or PostgreSQL schema is brought up to date.

SQLite keeps its version in ``PRAGMA user_version`` and is migrated in place (:func:`setup_sqlite`); PostgreSQL
applies the steps of :data:`POSTGRES_MIGRATIONS` it lacks (``journal_migrations``). Append, never edit: existing
data folders and servers must keep opening.
"""

from __future__ import annotations

import json
from typing import NamedTuple

from langchain_lightmem.database import Cursor, postgres_ddl
from langchain_lightmem.journal.repository import generation_key

SCHEMA_VERSION = 5  # 2: consolidation queue, decisions, leases; 3: messages.vector; 4: namespaces, windows, saved;
# 5: namespaces (the generations that outlive forget) keyed by a digest of the namespace, not its name

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    namespace   TEXT NOT NULL,
    id          TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    thread_id   TEXT,
    role        TEXT NOT NULL,
    speaker     TEXT,
    content     TEXT NOT NULL,
    compressed  TEXT,
    tokens      INTEGER NOT NULL DEFAULT 0,
    ts          REAL NOT NULL,
    ts_iso      TEXT NOT NULL,
    ingested_ts REAL NOT NULL,
    stage       TEXT NOT NULL,
    segment_id  TEXT,
    batch_id    TEXT,
    part_of     TEXT,
    extra       TEXT,
    vector      BLOB,
    PRIMARY KEY (namespace, id)
);
CREATE INDEX IF NOT EXISTS messages_stage ON messages (namespace, stage, seq);
CREATE INDEX IF NOT EXISTS messages_batch ON messages (namespace, batch_id);
CREATE INDEX IF NOT EXISTS messages_open ON messages (stage, namespace);
CREATE TABLE IF NOT EXISTS batches (
    namespace   TEXT NOT NULL,
    id          TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    status      TEXT NOT NULL,
    created_ts  REAL NOT NULL,
    updated_ts  REAL NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until REAL,
    entries     TEXT,
    error       TEXT,
    mode        TEXT NOT NULL DEFAULT 'llm',
    coverage    TEXT,
    replaces    TEXT,
    PRIMARY KEY (namespace, id)
);
CREATE INDEX IF NOT EXISTS batches_status ON batches (namespace, status, seq);
CREATE TABLE IF NOT EXISTS usage (
    namespace     TEXT NOT NULL,
    stage         TEXT NOT NULL,
    calls         INTEGER NOT NULL DEFAULT 0,
    input_tokens  INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    seconds       REAL NOT NULL DEFAULT 0,
    items         INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (namespace, stage)
);
CREATE TABLE IF NOT EXISTS consolidation_queue (
    namespace TEXT NOT NULL,
    entry_id  TEXT NOT NULL,
    seq       INTEGER NOT NULL,
    PRIMARY KEY (namespace, entry_id)
);
CREATE TABLE IF NOT EXISTS consolidation_decisions (
    namespace  TEXT NOT NULL,
    target_id  TEXT NOT NULL,
    action     TEXT NOT NULL,
    newer_ids  TEXT NOT NULL,
    text       TEXT,
    applied    INTEGER NOT NULL DEFAULT 0,
    created_ts REAL NOT NULL,
    PRIMARY KEY (namespace, target_id)
);
CREATE TABLE IF NOT EXISTS leases (
    name  TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS namespaces (
    namespace  TEXT PRIMARY KEY,
    generation INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS windows (
    namespace TEXT NOT NULL,
    thread    TEXT NOT NULL,
    start_seq INTEGER NOT NULL,
    PRIMARY KEY (namespace, thread)
);
CREATE TABLE IF NOT EXISTS saved_entries (
    namespace TEXT NOT NULL,
    id        TEXT NOT NULL,
    entry     TEXT NOT NULL,
    saved_ts  REAL NOT NULL,
    PRIMARY KEY (namespace, id)
);
"""


def statements(script: str) -> list[str]:
    """The statements of a ``;``-separated script (run one by one: ``executescript`` would commit)."""
    return [s for s in (part.strip() for part in script.split(";")) if s]


class Table(NamedTuple):
    """One table of the journal: its name, its columns in declared order, and its primary key's columns."""

    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]


def tables(script: str = SCHEMA) -> list[Table]:
    """Every table of ``script`` in creation order (what a copy of the journal must carry, ``lightmem migrate``).

    Example:
        >>> [t for t in tables() if t.name == "leases"]
        [Table(name='leases', columns=('name', 'owner', 'until'), key=('name',))]
    """
    found: list[Table] = []
    for statement in statements(script):
        head, _, body = statement.partition("(")
        words = head.split()
        if words[:2] != ["CREATE", "TABLE"]:
            continue
        columns: list[str] = []
        key: tuple[str, ...] = ()
        for line in (raw.strip().rstrip(",") for raw in body.splitlines()):
            if not line or line.startswith(")"):
                continue
            if line.upper().startswith("PRIMARY KEY"):
                key = tuple(part.strip() for part in line[line.index("(") + 1 : line.rindex(")")].split(","))
                continue
            columns.append(line.split()[0])
            if "PRIMARY KEY" in line.upper():
                key = (columns[-1],)
        found.append(Table(words[-1], tuple(columns), key))
    return found


# The PostgreSQL schema's history (setup() applies what a server lacks; append, never edit): version 1 is SQLite's
# schema 5 with PostgreSQL's column types.
POSTGRES_MIGRATIONS: tuple[tuple[str, ...], ...] = (tuple(postgres_ddl(s) for s in statements(SCHEMA)),)


def setup_sqlite(cur: Cursor) -> None:
    """Inside one transaction: create the tables an SQLite file lacks and migrate one from an older version."""
    for statement in statements(SCHEMA):
        cur.execute(statement)
    _migrate_windows(cur)
    _add_columns(cur)
    version = cur.execute("PRAGMA user_version").fetchone()[0]
    if version < 5:
        _hash_generations(cur)
    if version < SCHEMA_VERSION:
        cur.execute(f"PRAGMA user_version={SCHEMA_VERSION}")


def _add_columns(cur: Cursor) -> None:
    """Columns added after a table was first created (a folder from an older version gets them here)."""
    wanted = {
        "messages": [("vector", "BLOB")],
        "batches": [("mode", "TEXT NOT NULL DEFAULT 'llm'"), ("coverage", "TEXT"), ("replaces", "TEXT")],
    }
    for table, columns in wanted.items():
        present = {row[1] for row in cur.execute(f"PRAGMA table_info({table})")}
        for name, kind in columns:
            if name not in present:
                cur.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")


def _hash_generations(cur: Cursor) -> None:
    """Before schema 5 the generations of forgotten namespaces were kept under the namespace's name."""
    for name, value in cur.execute("SELECT namespace, generation FROM namespaces").fetchall():
        if not str(name).startswith("h:"):
            cur.execute("DELETE FROM namespaces WHERE namespace = ?", (name,))
            cur.execute(
                "INSERT INTO namespaces(namespace, generation) VALUES(?, ?) ON CONFLICT(namespace)"
                " DO UPDATE SET generation = max(namespaces.generation, excluded.generation)",
                (generation_key(name), value),
            )


def _migrate_windows(cur: Cursor) -> None:
    """Chat windows were ``window:[namespace, thread]`` counters before schema 4 (and outlived ``forget``)."""
    for name, value in cur.execute("SELECT name, value FROM counters WHERE name LIKE 'window:%'").fetchall():
        ns, thread = json.loads(name[len("window:") :])
        cur.execute(
            "INSERT INTO windows(namespace, thread, start_seq) VALUES(?, ?, ?)"
            " ON CONFLICT(namespace, thread) DO UPDATE SET start_seq = excluded.start_seq",
            (ns, json.dumps(thread), value),
        )
    cur.execute("DELETE FROM counters WHERE name LIKE 'window:%'")
