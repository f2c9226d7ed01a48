"""The durable journal: the raw message log and the sensory / short-term buffers, in SQLite (a file in the data
folder, the default) or PostgreSQL (one schema shared by every worker); the SQL is the same for both
(:mod:`langchain_lightmem.database`).

A message accepted by ``add`` is committed here before ``add`` returns, and every move between stages is one
transaction, so a process killed at any point resumes where it stopped:

    accepted --compress--> sensory --segment--> short_term --batch--> batched --write--> done

Batches (one extraction call each) are rows too: ``pending`` -> ``extracted`` (facts saved here first) ->
``written`` (facts upserted into long-term memory under deterministic ids, so a repeat overwrites instead of
duplicating). The buffers are not separate copies: they are the messages in a stage.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
import uuid
from collections.abc import Collection, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from langchain_lightmem.accounting import StageUsage
from langchain_lightmem.database import Cursor, Database, SqliteDatabase, postgres_ddl
from langchain_lightmem.errors import LightMemError
from langchain_lightmem.types import (
    MemoryEntry,
    Message,
    Namespace,
    Segment,
    key_to_namespace,
    namespace_key,
)

SCHEMA_VERSION = 5  # 2: consolidation queue, decisions, leases; 3: messages.vector; 4: namespaces, windows, saved;
# 5: namespaces (the generations that outlive forget) keyed by a digest of the namespace, not its name


class NamespaceForgottenError(LightMemError):
    """The namespace was forgotten while this work was in flight: its result is discarded, nothing is written."""


_SCHEMA = """
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

STAGES = ("accepted", "sensory", "short_term", "batched", "done")


def _statements(script: str) -> list[str]:
    return [s for s in (part.strip() for part in script.split(";")) if s]


# The PostgreSQL schema's history (setup() applies what a server lacks; append, never edit): version 1 is SQLite's
# schema 5 with PostgreSQL's column types.
POSTGRES_MIGRATIONS: tuple[tuple[str, ...], ...] = (tuple(postgres_ddl(s) for s in _statements(_SCHEMA)),)


def generation_key(ns: str) -> str:
    """How the ``namespaces`` table names a namespace: a digest, so the generation that must outlive ``forget``
    (it fences work in flight) keeps no trace of the namespace's name.

    Example:
        >>> generation_key("alice")[:2]
        'h:'
    """
    return "h:" + hashlib.blake2b(ns.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _vector_bytes(vector: np.ndarray | Sequence[float] | None) -> bytes | None:
    return None if vector is None else np.asarray(vector, dtype=np.float32).tobytes()


def new_worker_id() -> str:
    """``host:pid:random``: unique per pipeline, and tells whether a lease holder on this host still runs."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def consolidation_lease(namespace: Namespace) -> str:
    """The lease one consolidation run (or a re-extraction, which replaces entries) holds on a namespace."""
    return f"consolidate:{namespace_key(namespace)}"


def worker_alive(owner: str) -> bool:
    """False only when ``owner`` names a process on this host that has exited."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return True  # another machine: trust the lease expiry
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(slots=True)
class BatchInfo:
    """A batch as inspection shows it: what it holds, how far it went, what its extraction covered."""

    id: str
    seq: int
    status: str
    mode: str
    attempts: int
    error: str | None
    created: float
    updated: float
    entry_ids: list[str]
    coverage: dict[str, Any] | None


@dataclass(slots=True)
class Batch:
    namespace: Namespace
    id: str
    status: str
    attempts: int
    entries: list[MemoryEntry] | None
    mode: str = "llm"  # "extractive": nothing worth an LLM call (greetings, filler); its messages are kept as is
    replaces: list[str] = field(default_factory=list)  # entry ids a re-extraction's entries take the place of


class Journal:
    """The message log and buffers, on SQLite (the embedded default) or PostgreSQL. Safe to share between threads;
    processes share it too (SQLite in WAL mode, or one PostgreSQL server for every worker).

    Every method's SQL is written once, for both engines (:mod:`langchain_lightmem.database`).

    Args:
        path: an SQLite file, ``":memory:"`` for a throwaway journal (tests), or a
            :class:`~langchain_lightmem.database.Database` (e.g. a
            :class:`~langchain_lightmem.database.PostgresDatabase`); its schema is created or migrated here.
        read_only: open an SQLite file for reading only (a read-only data folder): every write raises
            :class:`~langchain_lightmem.errors.ReadOnlyFolderError`.

    Raises:
        JournalCorruptError: the SQLite file is damaged (also raised by any later call that finds a damaged page).

    Example:
        .. code-block:: python

            journal = Journal("memory/journal.sqlite3")
            journal = Journal(PostgresDatabase.from_conn_string("postgresql://app@db/app"))  # shared by workers
    """

    def __init__(self, path: str | Path | Database, *, read_only: bool = False) -> None:
        if isinstance(path, (str, Path)):
            self._db: Database = SqliteDatabase(path, read_only=read_only)
        else:
            self._db = path
        self.path = self._db.location
        self.read_only = self._db.read_only
        try:
            if not isinstance(self._db, SqliteDatabase) or self._db.needs_schema:
                self.setup()
            if isinstance(self._db, SqliteDatabase):
                self._db.seal()
        except BaseException:
            self._db.close()
            raise

    @property
    def database(self) -> Database:
        """Where the tables are (shared with the lexical index on PostgreSQL)."""
        return self._db

    # -- plumbing -------------------------------------------------------------------------------------------

    def setup(self) -> None:
        """Create or migrate the schema; idempotent, and safe when several workers start at once (nothing to do for
        a read-only journal)."""
        db = self._db
        if isinstance(db, SqliteDatabase):
            if not db.needs_schema:
                return
            with self.transaction() as cur:
                # executescript() would commit mid-transaction; run the statements one by one instead.
                for statement in _statements(_SCHEMA):
                    cur.execute(statement)
                self._migrate_windows(cur)
                self._add_columns(cur)
                version = cur.execute("PRAGMA user_version").fetchone()[0]
                if version < 5:
                    self._hash_generations(cur)
                if version < SCHEMA_VERSION:
                    cur.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            return
        from langchain_lightmem.database import PostgresDatabase

        assert isinstance(db, PostgresDatabase)
        db.migrate("journal_migrations", POSTGRES_MIGRATIONS)

    def transaction(self, key: str | None = None) -> AbstractContextManager[Cursor]:
        """One write transaction: all or nothing, serialised across processes (per namespace ``key`` on
        PostgreSQL; SQLite has one writer at a time)."""
        return self._db.transaction(key)

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self._db.query(sql, params)

    def close(self) -> None:
        self._db.close()

    def vacuum(self) -> bool:
        """Rewrite the file without the bytes of deleted rows and empty its write-ahead log (after ``forget``).

        ``secure_delete`` zeroes deleted rows in the file, but older versions of their pages stay in the WAL until
        it is checkpointed, and VACUUM drops free pages. Waits for this journal's other calls; returns whether
        there was a file to compact. On PostgreSQL, ``VACUUM`` of the schema's tables
        (:meth:`~langchain_lightmem.database.PostgresDatabase.vacuum` says what that does and does not erase).

        Raises:
            FolderInUseError: another process's open transaction keeps the WAL from being emptied.
            ReadOnlyFolderError: the journal was opened read-only.
        """
        return self._db.vacuum()

    def _next_seq(self, cur: Cursor, name: str, n: int) -> int:
        """Reserve ``n`` consecutive sequence numbers; returns the first. One statement, so concurrent writers on
        PostgreSQL (which may run at once for different namespaces) never get the same numbers."""
        row = cur.execute(
            "INSERT INTO counters(name, value) VALUES(?, ?)"
            " ON CONFLICT(name) DO UPDATE SET value = counters.value + excluded.value RETURNING value",
            (name, n),
        ).fetchone()
        return int(row[0]) - n + 1

    # -- the raw log ----------------------------------------------------------------------------------------

    def append(self, messages: Sequence[Message]) -> tuple[list[str], list[str]]:
        """Durably accept messages (all of one namespace) in one transaction.

        A message whose id is already stored with the same content is a duplicate delivery and is skipped.

        Returns:
            ``(accepted_ids, duplicate_ids)``.

        Raises:
            DuplicateMessageError: an id is already stored with different content (nothing is stored).
        """
        from langchain_lightmem.errors import DuplicateMessageError

        if not messages:
            return [], []
        ns = namespace_key(messages[0].namespace)
        accepted: list[str] = []
        duplicates: list[str] = []
        now = time.time()
        with self.transaction(ns) as cur:
            fresh: list[Message] = []
            seen: dict[str, str] = {}
            for index, msg in enumerate(messages):
                row = cur.execute(
                    "SELECT content FROM messages WHERE namespace = ? AND id = ?", (ns, msg.id)
                ).fetchone()
                previous = row[0] if row else seen.get(msg.id)
                if previous is None:
                    seen[msg.id] = msg.content
                    fresh.append(msg)
                elif previous == msg.content:
                    duplicates.append(msg.id)
                else:
                    raise DuplicateMessageError(
                        f"id {msg.id!r} was already accepted in namespace {ns!r} with different content; "
                        "give each message a unique id (or omit ids to have them generated)",
                        index=index,
                    )
            first = self._next_seq(cur, "message_seq", len(fresh))
            for offset, msg in enumerate(fresh):
                msg.seq = first + offset
                cur.execute(
                    "INSERT INTO messages(namespace, id, seq, thread_id, role, speaker, content, compressed, tokens,"
                    " ts, ts_iso, ingested_ts, stage, part_of, extra, vector)"
                    " VALUES(?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, 'accepted', ?, ?, ?)",
                    (
                        ns,
                        msg.id,
                        msg.seq,
                        msg.thread_id,
                        msg.role,
                        msg.speaker,
                        msg.content,
                        msg.tokens,
                        msg.timestamp.timestamp(),
                        msg.timestamp.isoformat(),
                        now,
                        msg.part_of,
                        json.dumps(msg.extra) if msg.extra else None,
                        _vector_bytes(msg.vector),
                    ),
                )
                accepted.append(msg.id)
        return accepted, duplicates

    @staticmethod
    def _row_to_message(row: Any) -> Message:
        return Message(
            id=row["id"],
            namespace=key_to_namespace(row["namespace"]),
            role=row["role"],
            content=row["content"],
            timestamp=datetime.fromisoformat(row["ts_iso"]),
            thread_id=row["thread_id"],
            speaker=row["speaker"],
            compressed=row["compressed"],
            tokens=row["tokens"],
            seq=row["seq"],
            segment_id=row["segment_id"],
            part_of=row["part_of"],
            extra=json.loads(row["extra"]) if row["extra"] else {},
            vector=np.frombuffer(row["vector"], dtype=np.float32) if row["vector"] is not None else None,
            stage=row["stage"],
            batch_id=row["batch_id"],
        )

    def messages(self, namespace: Namespace, *, stage: str | None = None) -> list[Message]:
        """Messages of a namespace in arrival order, optionally only those in one stage."""
        ns = namespace_key(namespace)
        if stage is None:
            rows = self._query("SELECT * FROM messages WHERE namespace = ? ORDER BY seq", (ns,))
        else:
            rows = self._query("SELECT * FROM messages WHERE namespace = ? AND stage = ? ORDER BY seq", (ns, stage))
        return [self._row_to_message(r) for r in rows]

    def get_messages(self, namespace: Namespace, ids: Iterable[str]) -> dict[str, Message]:
        ns = namespace_key(namespace)
        wanted = list(dict.fromkeys(ids))
        found: dict[str, Message] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._query(f"SELECT * FROM messages WHERE namespace = ? AND id IN ({marks})", (ns, *chunk))
            found.update({r["id"]: self._row_to_message(r) for r in rows})
        return found

    def existing_ids(self, namespace: Namespace, ids: Iterable[str]) -> set[str]:
        """Which of ``ids`` are already accepted in the namespace."""
        ns = namespace_key(namespace)
        wanted = list(dict.fromkeys(ids))
        found: set[str] = set()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._query(f"SELECT id FROM messages WHERE namespace = ? AND id IN ({marks})", (ns, *chunk))
            found.update(r[0] for r in rows)
        return found

    def closed_among(self, namespace: Namespace, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` are no longer open: written to long-term memory, or not in the journal at all."""
        ns = namespace_key(namespace)
        open_ids: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows = self._query(
                f"SELECT id FROM messages WHERE namespace = ? AND stage != 'done' AND id IN ({marks})", (ns, *chunk)
            )
            open_ids.update(r[0] for r in rows)
        return set(ids) - open_ids

    def set_vectors(self, namespace: Namespace, vectors: Sequence[tuple[str, np.ndarray]]) -> None:
        """Keep vectors computed later for messages accepted without one (a folder from before schema 3)."""
        ns = namespace_key(namespace)
        with self.transaction(namespace_key(namespace)) as cur:
            cur.executemany(
                "UPDATE messages SET vector = ? WHERE namespace = ? AND id = ?",
                [(_vector_bytes(v), ns, mid) for mid, v in vectors],
            )

    def activity(self, namespace: Namespace | None = None) -> dict[Namespace, dict[str | None, tuple[float, bool]]]:
        """For each namespace with open messages, each thread with open messages: ``(last, unsegmented)``, the last
        time it received one (``ingested_ts``, epoch seconds) and whether some are still in its sensory buffer."""
        sql = (
            "SELECT namespace, thread_id, max(ingested_ts),"
            " max(CASE WHEN stage IN ('accepted', 'sensory') THEN 1 ELSE 0 END) FROM messages"
            " WHERE stage IN ('accepted', 'sensory', 'short_term', 'batched')"
        )
        params: tuple[Any, ...] = ()
        if namespace is not None:
            sql += " AND namespace = ?"
            params = (namespace_key(namespace),)
        out: dict[Namespace, dict[str | None, tuple[float, bool]]] = {}
        for ns, thread, last, unsegmented in self._query(sql + " GROUP BY namespace, thread_id", params):
            out.setdefault(key_to_namespace(ns), {})[thread] = (float(last), bool(unsegmented))
        return out

    # -- sensory stage --------------------------------------------------------------------------------------

    def set_compressed(self, namespace: Namespace, updates: Sequence[tuple[str, str, int]]) -> None:
        """Store compressed text and token counts; moves ``accepted`` messages to the sensory buffer."""
        ns = namespace_key(namespace)
        with self.transaction(namespace_key(namespace)) as cur:
            cur.executemany(
                "UPDATE messages SET compressed = ?, tokens = ?, stage = 'sensory'"
                " WHERE namespace = ? AND id = ? AND stage = 'accepted'",
                [(text, tokens, ns, mid) for mid, text, tokens in updates],
            )

    def sensory_buffers(
        self, namespace: Namespace, *, threads: Collection[str | None] | None = None
    ) -> dict[str | None, list[Message]]:
        """The sensory buffer of each thread of the namespace (only of ``threads`` if given), in arrival order."""
        if threads is None:
            messages = self.messages(namespace, stage="sensory")
        else:
            wanted = list(threads)
            if not wanted:
                return {}
            named = [t for t in wanted if t is not None]
            clauses = [f"thread_id IN ({','.join('?' * len(named))})"] if named else []
            if None in wanted:
                clauses.append("thread_id IS NULL")
            rows = self._query(
                f"SELECT * FROM messages WHERE namespace = ? AND stage = 'sensory' AND ({' OR '.join(clauses)})"
                " ORDER BY seq",
                (namespace_key(namespace), *named),
            )
            messages = [self._row_to_message(r) for r in rows]
        buffers: dict[str | None, list[Message]] = {}
        for msg in messages:
            buffers.setdefault(msg.thread_id, []).append(msg)
        return buffers

    def threads_over(self, namespace: Namespace, roles: Iterable[str], tokens: int) -> set[str | None]:
        """Threads whose sensory buffer holds more than ``tokens`` tokens of ``roles``."""
        roles = list(roles)
        marks = ",".join("?" * len(roles))
        rows = self._query(
            f"SELECT thread_id FROM messages WHERE namespace = ? AND stage = 'sensory' AND role IN ({marks})"
            " GROUP BY thread_id HAVING sum(tokens) > ?",
            (namespace_key(namespace), *roles, tokens),
        )
        return {r[0] for r in rows}

    def open_ids(self, namespace: Namespace, roles: Iterable[str]) -> list[str]:
        """Ids of the messages of ``roles`` accepted but not yet in long-term memory, in order."""
        roles = list(roles)
        marks = ",".join("?" * len(roles))
        rows = self._query(
            f"SELECT id FROM messages WHERE namespace = ? AND stage != 'done' AND role IN ({marks}) ORDER BY seq",
            (namespace_key(namespace), *roles),
        )
        return [r[0] for r in rows]

    def promote_segments(self, namespace: Namespace, segments: Sequence[Segment]) -> None:
        """Move whole topic segments from the sensory buffer into short-term memory."""
        if not segments:
            return
        ns = namespace_key(namespace)
        with self.transaction(namespace_key(namespace)) as cur:
            for segment in segments:
                cur.executemany(
                    "UPDATE messages SET stage = 'short_term', segment_id = ?"
                    " WHERE namespace = ? AND id = ? AND stage = 'sensory'",
                    [(segment.id, ns, m.id) for m in segment.messages],
                )

    # -- short-term stage -----------------------------------------------------------------------------------

    def short_term_segments(self, namespace: Namespace) -> list[Segment]:
        """Short-term memory: whole segments, ordered by their first message."""
        segments: dict[str, Segment] = {}
        for msg in self.messages(namespace, stage="short_term"):
            seg_id = msg.segment_id or msg.id
            segments.setdefault(seg_id, Segment(id=seg_id, messages=[])).messages.append(msg)
        return sorted(segments.values(), key=lambda s: s.messages[0].seq)

    def create_batch(
        self,
        namespace: Namespace,
        batch_id: str,
        message_ids: Sequence[str],
        *,
        generation: int | None = None,
        mode: str = "llm",
    ) -> None:
        """Close a short-term batch: its messages wait for one extraction call."""
        ns = namespace_key(namespace)
        now = time.time()
        with self.transaction(namespace_key(namespace)) as cur:
            self._fence(cur, ns, generation)
            seq = self._next_seq(cur, "batch_seq", 1)
            cur.execute(
                "INSERT INTO batches(namespace, id, seq, status, created_ts, updated_ts, mode)"
                " VALUES(?, ?, ?, 'pending', ?, ?, ?)",
                (ns, batch_id, seq, now, now, mode),
            )
            cur.executemany(
                "UPDATE messages SET stage = 'batched', batch_id = ?"
                " WHERE namespace = ? AND id = ? AND stage = 'short_term'",
                [(batch_id, ns, mid) for mid in message_ids],
            )

    def batches(self, namespace: Namespace) -> list[BatchInfo]:
        """Every batch of the namespace, oldest first."""
        rows = self._query("SELECT * FROM batches WHERE namespace = ? ORDER BY seq", (namespace_key(namespace),))
        return [
            BatchInfo(
                id=r["id"],
                seq=r["seq"],
                status=r["status"],
                mode=r["mode"],
                attempts=r["attempts"],
                error=r["error"],
                created=r["created_ts"],
                updated=r["updated_ts"],
                entry_ids=[e["id"] for e in json.loads(r["entries"])] if r["entries"] else [],
                coverage=json.loads(r["coverage"]) if r["coverage"] else None,
            )
            for r in rows
        ]

    def message_ids_in(self, namespace: Namespace, *, mode: str) -> list[str]:
        """Ids of the messages whose batch was of ``mode`` (``"extractive"``: gated by the salience gate)."""
        rows = self._query(
            "SELECT m.id FROM messages m JOIN batches b ON m.namespace = b.namespace AND m.batch_id = b.id"
            " WHERE m.namespace = ? AND b.mode = ? ORDER BY m.seq",
            (namespace_key(namespace), mode),
        )
        return [r[0] for r in rows]

    def batch_messages(self, namespace: Namespace, batch_id: str) -> list[Message]:
        rows = self._query(
            "SELECT * FROM messages WHERE namespace = ? AND batch_id = ? ORDER BY seq",
            (namespace_key(namespace), batch_id),
        )
        return [self._row_to_message(r) for r in rows]

    def claim_batches(self, namespace: Namespace, owner: str, lease_seconds: float) -> list[Batch]:
        """Take every unfinished batch of the namespace not leased by another live worker, oldest first.

        A lease is free when it expired, or when its owner was a process on this host that no longer runs
        (a killed ingestion resumes at once on restart instead of waiting for the lease to run out).
        """
        ns = namespace_key(namespace)
        now = time.time()
        with self.transaction(namespace_key(namespace)) as cur:
            rows = cur.execute(
                "SELECT * FROM batches WHERE namespace = ? AND status IN ('pending', 'extracted') ORDER BY seq",
                (ns,),
            ).fetchall()
            mine = [
                r
                for r in rows
                if r["lease_owner"] in (None, owner) or r["lease_until"] < now or not worker_alive(r["lease_owner"])
            ]
            cur.executemany(
                "UPDATE batches SET lease_owner = ?, lease_until = ? WHERE namespace = ? AND id = ?",
                [(owner, now + lease_seconds, ns, r["id"]) for r in mine],
            )
        return [self._row_to_batch(r) for r in mine]

    def get_batches(self, namespace: Namespace, ids: Sequence[str]) -> list[Batch]:
        ns = namespace_key(namespace)
        batches: list[Batch] = []
        for batch_id in ids:
            rows = self._query("SELECT * FROM batches WHERE namespace = ? AND id = ?", (ns, batch_id))
            batches.extend(self._row_to_batch(r) for r in rows)
        return batches

    @staticmethod
    def _row_to_batch(row: Any) -> Batch:
        entries = (
            [MemoryEntry.model_validate(e) for e in json.loads(row["entries"])] if row["entries"] is not None else None
        )
        return Batch(
            namespace=key_to_namespace(row["namespace"]),
            id=row["id"],
            status=row["status"],
            attempts=row["attempts"],
            entries=entries,
            mode=row["mode"],
            replaces=json.loads(row["replaces"]) if row["replaces"] else [],
        )

    def record_attempt(
        self, namespace: Namespace, batch_id: str, error: str | None, *, generation: int | None = None
    ) -> None:
        with self.transaction(namespace_key(namespace)) as cur:
            self._fence(cur, namespace_key(namespace), generation)
            cur.execute(
                "UPDATE batches SET attempts = attempts + 1, error = ?, updated_ts = ? WHERE namespace = ? AND id = ?",
                (error, time.time(), namespace_key(namespace), batch_id),
            )

    def save_extraction(
        self,
        namespace: Namespace,
        batch_id: str,
        entries: Sequence[MemoryEntry],
        *,
        coverage: dict[str, int] | None = None,
        generation: int | None = None,
    ) -> None:
        """Keep the extracted facts (and what they covered) before they are written, so a crash never pays for
        the call twice."""
        payload = json.dumps([e.model_dump(mode="json") for e in entries])
        with self.transaction(namespace_key(namespace)) as cur:
            self._fence(cur, namespace_key(namespace), generation)
            cur.execute(
                "UPDATE batches SET status = 'extracted', entries = ?, coverage = ?, updated_ts = ?"
                " WHERE namespace = ? AND id = ?",
                (
                    payload,
                    json.dumps(coverage) if coverage is not None else None,
                    time.time(),
                    namespace_key(namespace),
                    batch_id,
                ),
            )

    def replace_extraction(
        self,
        namespace: Namespace,
        batch_id: str,
        entries: Sequence[MemoryEntry],
        replaces: Sequence[str],
        *,
        owner: str,
        lease_seconds: float,
        coverage: dict[str, int] | None = None,
        generation: int | None = None,
    ) -> bool:
        """A written batch's entries are to be replaced (a re-extraction): keep the new entries and the ids they
        replace, and lease the batch to ``owner``; the write path then deletes the old ids before it adds the new
        ones, so a crash anywhere is finished by the next run. False when another live worker holds the batch or
        it is not written.
        """
        ns = namespace_key(namespace)
        now = time.time()
        with self.transaction(ns) as cur:
            self._fence(cur, ns, generation)
            row = cur.execute(
                "SELECT status, lease_owner, lease_until FROM batches WHERE namespace = ? AND id = ?", (ns, batch_id)
            ).fetchone()
            if row is None or row["status"] != "written":
                return False
            held = row["lease_owner"] not in (None, owner) and (row["lease_until"] or 0) >= now
            if held and worker_alive(row["lease_owner"]):
                return False
            cur.execute(
                "UPDATE batches SET status = 'extracted', entries = ?, coverage = ?, replaces = ?, error = NULL,"
                " attempts = attempts + 1, lease_owner = ?, lease_until = ?, updated_ts = ?"
                " WHERE namespace = ? AND id = ?",
                (
                    json.dumps([e.model_dump(mode="json") for e in entries]),
                    json.dumps(coverage) if coverage is not None else None,
                    json.dumps(list(replaces)),
                    owner,
                    now + lease_seconds,
                    now,
                    ns,
                    batch_id,
                ),
            )
        return True

    def mark_written(
        self, namespace: Namespace, batch_id: str, entry_ids: Sequence[str] = (), *, generation: int | None = None
    ) -> None:
        """The batch's entries are in long-term memory: its messages are done, its entries await consolidation."""
        ns = namespace_key(namespace)
        with self.transaction(namespace_key(namespace)) as cur:
            self._fence(cur, ns, generation)
            self._enqueue(cur, ns, entry_ids)
            cur.execute(
                "UPDATE batches SET status = 'written', lease_owner = NULL, lease_until = NULL, replaces = NULL,"
                " updated_ts = ? WHERE namespace = ? AND id = ?",
                (time.time(), ns, batch_id),
            )
            # The vector was only needed while the message was open (segmentation, its pending entry).
            cur.execute(
                "UPDATE messages SET stage = 'done', vector = NULL WHERE namespace = ? AND batch_id = ?", (ns, batch_id)
            )

    def enqueue_for_consolidation(
        self, namespace: Namespace, entry_ids: Sequence[str], *, generation: int | None = None
    ) -> None:
        """Queue entries written outside the write path (e.g. saved by an agent) for the next consolidation."""
        with self.transaction(namespace_key(namespace)) as cur:
            self._fence(cur, namespace_key(namespace), generation)
            self._enqueue(cur, namespace_key(namespace), entry_ids)

    def _enqueue(self, cur: Cursor, ns: str, entry_ids: Sequence[str]) -> None:
        if entry_ids:
            first = self._next_seq(cur, "consolidation_seq", len(entry_ids))
            cur.executemany(
                "INSERT INTO consolidation_queue(namespace, entry_id, seq) VALUES(?, ?, ?) ON CONFLICT DO NOTHING",
                [(ns, eid, first + i) for i, eid in enumerate(entry_ids)],
            )

    def release(self, owner: str) -> None:
        """Give up this worker's leases (on close) so another worker can continue at once."""
        with self.transaction() as cur:
            cur.execute("UPDATE batches SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?", (owner,))

    # -- consolidation --------------------------------------------------------------------------------------

    def acquire_lease(self, name: str, owner: str, seconds: float) -> bool:
        """Take the named lease unless another live worker holds it (used: one consolidation run per namespace)."""
        now = time.time()
        with self.transaction(name) as cur:
            row = cur.execute("SELECT owner, until FROM leases WHERE name = ?", (name,)).fetchone()
            if row and row["owner"] != owner and row["until"] >= now and worker_alive(row["owner"]):
                return False
            cur.execute(
                "INSERT INTO leases(name, owner, until) VALUES(?, ?, ?)"
                " ON CONFLICT(name) DO UPDATE SET owner = excluded.owner, until = excluded.until",
                (name, owner, now + seconds),
            )
        return True

    def release_lease(self, name: str, owner: str) -> None:
        with self.transaction(name) as cur:
            cur.execute("DELETE FROM leases WHERE name = ? AND owner = ?", (name, owner))

    def consolidation_queue(self, namespace: Namespace) -> list[tuple[str, int]]:
        """Entries written since the last consolidation run, oldest first: ``(entry_id, seq)``."""
        rows = self._query(
            "SELECT entry_id, seq FROM consolidation_queue WHERE namespace = ? ORDER BY seq",
            (namespace_key(namespace),),
        )
        return [(r[0], r[1]) for r in rows]

    def queued_namespaces(self) -> list[Namespace]:
        rows = self._query("SELECT DISTINCT namespace FROM consolidation_queue ORDER BY namespace")
        return [key_to_namespace(r[0]) for r in rows]

    def namespaces_with_unapplied(self) -> list[Namespace]:
        rows = self._query("SELECT DISTINCT namespace FROM consolidation_decisions WHERE applied = 0")
        return [key_to_namespace(r[0]) for r in rows]

    def dequeue(self, namespace: Namespace, entry_ids: Sequence[str], *, generation: int | None = None) -> None:
        ns = namespace_key(namespace)
        with self.transaction(namespace_key(namespace)) as cur:
            self._fence(cur, ns, generation)
            cur.executemany(
                "DELETE FROM consolidation_queue WHERE namespace = ? AND entry_id = ?", [(ns, e) for e in entry_ids]
            )

    def save_decisions(
        self,
        namespace: Namespace,
        decisions: Iterable[tuple[str, str, Sequence[str], str | None]],
        *,
        generation: int | None = None,
    ) -> None:
        """Keep decisions ``(target_id, action, newer_ids, text)`` before applying them: a killed run re-applies
        them instead of paying for the calls again."""
        ns, now = namespace_key(namespace), time.time()
        with self.transaction(namespace_key(namespace)) as cur:
            self._fence(cur, ns, generation)
            cur.executemany(
                "INSERT INTO consolidation_decisions"
                "(namespace, target_id, action, newer_ids, text, applied, created_ts) VALUES(?, ?, ?, ?, ?, 0, ?)"
                " ON CONFLICT(namespace, target_id) DO UPDATE SET action = excluded.action,"
                " newer_ids = excluded.newer_ids, text = excluded.text, applied = 0, created_ts = excluded.created_ts",
                [(ns, t, a, json.dumps(list(n)), x, now) for t, a, n, x in decisions],
            )

    def unapplied_decisions(self, namespace: Namespace) -> list[tuple[str, str, list[str], str | None]]:
        rows = self._query(
            "SELECT target_id, action, newer_ids, text FROM consolidation_decisions"
            " WHERE namespace = ? AND applied = 0 ORDER BY created_ts, target_id",
            (namespace_key(namespace),),
        )
        return [(r[0], r[1], json.loads(r[2]), r[3]) for r in rows]

    def decided(self, namespace: Namespace, target_ids: Sequence[str]) -> dict[str, list[str]]:
        """The newer entries each target was last decided on (for targets that have a decision)."""
        ns, out = namespace_key(namespace), {}
        for start in range(0, len(target_ids), 500):
            chunk = list(target_ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows = self._query(
                "SELECT target_id, newer_ids FROM consolidation_decisions"
                f" WHERE namespace = ? AND target_id IN ({marks})",
                (ns, *chunk),
            )
            out.update({r[0]: json.loads(r[1]) for r in rows})
        return out

    def mark_decisions_applied(
        self, namespace: Namespace, target_ids: Sequence[str], *, generation: int | None = None
    ) -> None:
        ns = namespace_key(namespace)
        with self.transaction(namespace_key(namespace)) as cur:
            self._fence(cur, ns, generation)
            cur.executemany(
                "UPDATE consolidation_decisions SET applied = 1 WHERE namespace = ? AND target_id = ?",
                [(ns, t) for t in target_ids],
            )

    # -- chat windows (LightMemChatMessageHistory) -----------------------------------------------------------

    def recent_messages(
        self, namespace: Namespace, *, thread_id: str | None = None, limit: int | None = None, after_seq: int = 0
    ) -> list[Message]:
        """The newest ``limit`` messages of the namespace (of one thread if given) with ``seq > after_seq``, oldest
        first."""
        sql = "SELECT * FROM messages WHERE namespace = ? AND seq > ?"
        params: list[Any] = [namespace_key(namespace), after_seq]
        if thread_id is not None:
            sql += " AND thread_id = ?"
            params.append(thread_id)
        sql += " ORDER BY seq DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [self._row_to_message(r) for r in reversed(self._query(sql, params))]

    @staticmethod
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

    @staticmethod
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

    @staticmethod
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

    def window_start(self, namespace: Namespace, thread_id: str | None) -> int:
        """The ``seq`` after which a thread's chat window starts (0 until :meth:`start_window` is called)."""
        rows = self._query(
            "SELECT start_seq FROM windows WHERE namespace = ? AND thread = ?",
            (namespace_key(namespace), json.dumps(thread_id)),
        )
        return int(rows[0][0]) if rows else 0

    def start_window(self, namespace: Namespace, thread_id: str | None) -> None:
        """Start a thread's chat window after every message accepted so far (chat history ``clear``). Nothing is
        deleted: the messages stay in the journal and on their way to long-term memory."""
        with self.transaction(namespace_key(namespace)) as cur:
            row = cur.execute("SELECT value FROM counters WHERE name = 'message_seq'").fetchone()
            cur.execute(
                "INSERT INTO windows(namespace, thread, start_seq) VALUES(?, ?, ?)"
                " ON CONFLICT(namespace, thread) DO UPDATE SET start_seq = excluded.start_seq",
                (namespace_key(namespace), json.dumps(thread_id), row[0] if row else 0),
            )

    # -- saved entries (LightMem.remember / update): kept so long-term memory can be rebuilt -----------------

    def save_entries(
        self, namespace: Namespace, entries: Sequence[MemoryEntry], *, generation: int | None = None
    ) -> None:
        """Keep entries written outside the write path (saved by an agent, edited) for :meth:`saved_entries`."""
        ns, now = namespace_key(namespace), time.time()
        with self.transaction(namespace_key(namespace)) as cur:
            self._fence(cur, ns, generation)
            cur.executemany(
                "INSERT INTO saved_entries(namespace, id, entry, saved_ts) VALUES(?, ?, ?, ?)"
                " ON CONFLICT(namespace, id) DO UPDATE SET entry = excluded.entry, saved_ts = excluded.saved_ts",
                [(ns, e.id, json.dumps(e.model_dump(mode="json")), now) for e in entries],
            )

    def delete_saved(self, namespace: Namespace, ids: Sequence[str]) -> None:
        """Remember that these entries were deleted (a tombstone: ``entry`` is ``null``)."""
        ns, now = namespace_key(namespace), time.time()
        with self.transaction(namespace_key(namespace)) as cur:
            cur.executemany(
                "INSERT INTO saved_entries(namespace, id, entry, saved_ts) VALUES(?, ?, 'null', ?)"
                " ON CONFLICT(namespace, id) DO UPDATE SET entry = excluded.entry, saved_ts = excluded.saved_ts",
                [(ns, i, now) for i in ids],
            )

    def saved_entries(self, namespace: Namespace) -> tuple[list[MemoryEntry], set[str]]:
        """Entries saved or edited outside the write path, oldest first, and the ids deleted by hand."""
        rows = self._query(
            "SELECT id, entry FROM saved_entries WHERE namespace = ? ORDER BY saved_ts", (namespace_key(namespace),)
        )
        kept = [MemoryEntry.model_validate(json.loads(r[1])) for r in rows if r[1] != "null"]
        return kept, {r[0] for r in rows if r[1] == "null"}

    # -- what long-term memory was built from (LightMem.rebuild) ---------------------------------------------

    def written_entries(self, namespace: Namespace) -> list[MemoryEntry]:
        """The entries of every written batch, in batch order: what extraction produced (no LLM call to redo)."""
        rows = self._query(
            "SELECT entries FROM batches WHERE namespace = ? AND status = 'written' AND entries IS NOT NULL"
            " ORDER BY seq",
            (namespace_key(namespace),),
        )
        return [MemoryEntry.model_validate(e) for r in rows for e in json.loads(r[0])]

    def applied_decisions(self, namespace: Namespace) -> list[tuple[str, str, list[str], str | None]]:
        rows = self._query(
            "SELECT target_id, action, newer_ids, text FROM consolidation_decisions"
            " WHERE namespace = ? AND applied = 1 ORDER BY created_ts, target_id",
            (namespace_key(namespace),),
        )
        return [(r[0], r[1], json.loads(r[2]), r[3]) for r in rows]

    def has_memories(self, namespace: Namespace) -> bool:
        """Whether the journal says the namespace has long-term memories (a written batch with entries, or a saved
        entry)."""
        ns = namespace_key(namespace)
        rows = self._query(
            "SELECT 1 FROM batches WHERE namespace = ? AND status = 'written' AND entries != '[]'"
            " UNION ALL SELECT 1 FROM saved_entries WHERE namespace = ? AND entry != 'null' LIMIT 1",
            (ns, ns),
        )
        return bool(rows)

    def namespaces_with_memories(self) -> list[Namespace]:
        """Namespaces the journal says have long-term memories (written batches or saved entries)."""
        rows = self._query(
            "SELECT DISTINCT namespace FROM batches WHERE status = 'written' AND entries != '[]'"
            " UNION SELECT DISTINCT namespace FROM saved_entries WHERE entry != 'null'"
        )
        return sorted(key_to_namespace(r[0]) for r in rows)

    # -- generations: forget fences work in flight -----------------------------------------------------------

    def generation(self, namespace: Namespace) -> int:
        """How many times the namespace was forgotten. Work that started at one generation may only write at it."""
        rows = self._query(
            "SELECT generation FROM namespaces WHERE namespace = ?", (generation_key(namespace_key(namespace)),)
        )
        return int(rows[0][0]) if rows else 0

    @staticmethod
    def _fence(cur: Cursor, ns: str, generation: int | None) -> None:
        """Inside a write transaction: refuse when the namespace was forgotten since ``generation`` was read."""
        if generation is None:
            return
        row = cur.execute("SELECT generation FROM namespaces WHERE namespace = ?", (generation_key(ns),)).fetchone()
        if (int(row[0]) if row else 0) != generation:
            raise NamespaceForgottenError(f"namespace {ns!r} was forgotten while this work was in flight")

    # -- bookkeeping ----------------------------------------------------------------------------------------

    def namespaces(self) -> list[Namespace]:
        rows = self._query("SELECT DISTINCT namespace FROM messages ORDER BY namespace")
        return [key_to_namespace(r[0]) for r in rows]

    def stage_counts(self, namespace: Namespace) -> dict[str, int]:
        rows = self._query(
            "SELECT stage, COUNT(*) FROM messages WHERE namespace = ? GROUP BY stage", (namespace_key(namespace),)
        )
        counts = dict.fromkeys(STAGES, 0)
        counts.update({r[0]: r[1] for r in rows})
        return counts

    def batch_counts(self, namespace: Namespace) -> dict[str, int]:
        rows = self._query(
            "SELECT status, COUNT(*) FROM batches WHERE namespace = ? GROUP BY status", (namespace_key(namespace),)
        )
        return {r[0]: r[1] for r in rows}

    def add_usage(self, namespace: Namespace, rows: Iterable[StageUsage], *, generation: int | None = None) -> None:
        """Add per-stage totals to the namespace's usage counters, in one transaction."""
        ns = namespace_key(namespace)
        with self.transaction(namespace_key(namespace)) as cur:
            self._fence(cur, ns, generation)
            cur.executemany(
                "INSERT INTO usage(namespace, stage, calls, input_tokens, output_tokens, seconds, items)"
                " VALUES(?, ?, ?, ?, ?, ?, ?) ON CONFLICT(namespace, stage) DO UPDATE SET"
                " calls = usage.calls + excluded.calls, input_tokens = usage.input_tokens + excluded.input_tokens,"
                " output_tokens = usage.output_tokens + excluded.output_tokens,"
                " seconds = usage.seconds + excluded.seconds, items = usage.items + excluded.items",
                [(ns, r.stage, r.calls, r.input_tokens, r.output_tokens, r.seconds, r.items) for r in rows],
            )

    def usage(self, namespace: Namespace | None = None) -> dict[tuple[Namespace, str], StageUsage]:
        """Persisted usage totals, keyed by (namespace, stage)."""
        if namespace is None:
            rows = self._query("SELECT * FROM usage ORDER BY namespace, stage")
        else:
            rows = self._query("SELECT * FROM usage WHERE namespace = ? ORDER BY stage", (namespace_key(namespace),))
        return {
            (key_to_namespace(r["namespace"]), r["stage"]): StageUsage(
                r["stage"], r["calls"], r["input_tokens"], r["output_tokens"], r["seconds"], r["items"]
            )
            for r in rows
        }

    def forget(self, namespace: Namespace) -> int:
        """Delete everything the journal holds for the namespace, in one transaction, and start its next generation:
        work in flight that read the old generation can no longer write (decisions, usage, extractions). Returns
        the number of messages removed."""
        ns = namespace_key(namespace)
        with self.transaction(namespace_key(namespace)) as cur:
            removed = cur.execute("DELETE FROM messages WHERE namespace = ?", (ns,)).rowcount
            for table in ("batches", "usage", "consolidation_queue", "consolidation_decisions", "windows"):
                cur.execute(f"DELETE FROM {table} WHERE namespace = ?", (ns,))
            cur.execute("DELETE FROM saved_entries WHERE namespace = ?", (ns,))
            cur.execute("DELETE FROM leases WHERE name = ?", (f"consolidate:{ns}",))
            cur.execute(
                "INSERT INTO namespaces(namespace, generation) VALUES(?, 1)"
                " ON CONFLICT(namespace) DO UPDATE SET generation = namespaces.generation + 1",
                (generation_key(ns),),
            )
        return removed
