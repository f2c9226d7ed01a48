"""The lexical side of long-term memory: BM25 over each namespace's entries, kept incrementally in SQLite FTS5.

Why FTS5: the index lives in one SQLite file beside the journal (``<data_dir>/lexical.sqlite3``), is updated
row by row in the same calls that write Chroma (no rebuild per query, no rebuild per write), survives restarts,
and ranks with FTS5's ``bm25()`` (k1 1.2, b 0.75). Measured on this machine: 100k sentences, an OR query of
the question's content words, top 100 by bm25: p50 6.7 ms, p95 19 ms.

Isolation mirrors the Chroma collections: every namespace has its own tables (named by a hash of its collection
name), so a query never touches another namespace's postings and costs the same however many tenants exist.

Each namespace has a row table (``position`` = insertion order, which is message order for the write path; id,
history flag, event time, topic segment, text) and an external-content FTS5 table over the text, kept in step by
triggers. Queries are the content words of the question, stop words removed, OR-ed; FTS5's Porter stemmer
applies to both sides.

Consistency with Chroma: every write marks the namespace ``pending`` before it touches Chroma and clears the mark
in the transaction that updates the index. A namespace that is still pending when a process first uses it (a
crash between the two writes), that was never built (an existing data folder, a deleted index file), or whose
row count differs from Chroma's, is rebuilt from Chroma (:meth:`LexicalIndex.rebuild`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from langchain_lightmem.errors import ReadOnlyFolderError
from langchain_lightmem.folder import compact_sqlite, connect_read_only, read_only_message, sqlite_problem
from langchain_lightmem.words import ENGLISH_STOP_WORDS, query_terms

logger = logging.getLogger(__name__)
__all__ = [
    "ENGLISH_STOP_WORDS",
    "LexicalBackend",
    "LexicalHit",
    "LexicalIndex",
    "LexicalRow",
    "epoch_range",
    "query_terms",
]
_T = TypeVar("_T")

_CHUNK = 500  # host parameters per statement (old SQLite builds allow 999)
_NAMESPACES = (
    "CREATE TABLE IF NOT EXISTS lexical_namespaces ("
    " collection TEXT PRIMARY KEY, stem TEXT NOT NULL UNIQUE,"
    " pending INTEGER NOT NULL DEFAULT 0, built INTEGER NOT NULL DEFAULT 0)"
)


def _heals(default: Callable[[], Any]) -> Callable[[Callable[..., _T]], Callable[..., _T]]:
    """A method of :class:`LexicalIndex` that replaces a damaged index and then answers ``default()``.

    The index is derived from Chroma: after the replacement every namespace is unbuilt, so its next use rebuilds it
    (a call that found the damage answers as for an unbuilt namespace; a write's rows come back with the rebuild).
    """

    def wrap(method: Callable[..., _T]) -> Callable[..., _T]:
        @functools.wraps(method)
        def healing(self: LexicalIndex, *args: Any, **kwargs: Any) -> _T:
            try:
                return method(self, *args, **kwargs)
            except sqlite3.DatabaseError as exc:
                self._heal(exc)
                return default()

        return healing

    return wrap


@dataclass(frozen=True, slots=True)
class LexicalRow:
    """What the lexical index keeps of one memory entry: the indexed text, what ordering and filtering need, and
    the entry's Chroma metadata as JSON (``record``), so ranking can read candidates without a Chroma round trip."""

    id: str
    text: str
    event_ts: float
    segment_id: str | None = None
    record: str = "{}"


@dataclass(frozen=True, slots=True)
class LexicalHit:
    """An entry id and its BM25 score (higher is better; FTS5's ``bm25()`` negated)."""

    id: str
    score: float


@runtime_checkable
class LexicalBackend(Protocol):
    """What long-term memory needs of a lexical index: BM25 over each namespace's entries, kept in step with Chroma.

    A namespace is addressed by its Chroma collection name. Implementations: :class:`LexicalIndex` (SQLite FTS5,
    a file in the data folder; the default) and
    :class:`~langchain_lightmem.long_term.lexical_postgres.PostgresLexicalIndex` (one table for every namespace on
    the journal's PostgreSQL server). Both rank with the same BM25 (k1 1.2, b 0.75, FTS5's idf floor); they are
    tested by one suite (tests/test_backends.py).
    """

    path: str
    read_only: bool

    def begin_write(self, collection: str) -> None:
        """Mark the namespace as being written, before Chroma is touched; a write below clears the mark."""
        ...

    def invalidate(self, collection: str) -> None: ...

    def checked(self, collection: str) -> bool: ...

    def needs_rebuild(self, collection: str, stored: int) -> bool: ...

    def rebuild(self, collection: str, current: Iterable[LexicalRow], history: Iterable[LexicalRow]) -> None: ...

    def upsert(self, collection: str, rows: Sequence[LexicalRow], *, history: bool = False) -> None: ...

    def delete(self, collection: str, ids: Sequence[str]) -> None: ...

    def drop(self, collection: str) -> None: ...

    def search(
        self,
        collection: str,
        query: str,
        *,
        limit: int = 100,
        include_history: bool = False,
        time_range: tuple[float | None, float | None] | None = None,
        stop_words: frozenset[str] = ENGLISH_STOP_WORDS,
    ) -> list[LexicalHit]: ...

    def neighbours(self, collection: str, ids: Sequence[str], *, window: int = 1) -> dict[str, list[str]]: ...

    def records(
        self, collection: str, ids: Sequence[str], *, include_history: bool = False
    ) -> dict[str, tuple[str, str]]: ...

    def positions(self, collection: str, ids: Sequence[str]) -> dict[str, int]: ...

    def event_times(self, collection: str, ids: Sequence[str]) -> dict[str, float]: ...

    def ids_with_prefix(self, collection: str, prefix: str) -> list[str]: ...

    def count(self, collection: str) -> int: ...

    def close(self) -> None: ...

    def vacuum(self) -> bool: ...


class LexicalIndex:
    """Incremental BM25 (SQLite FTS5) per namespace, addressed by the namespace's Chroma collection name.

    Args:
        path: the SQLite file (``":memory:"`` for an in-memory index, e.g. with an ephemeral Chroma).

    Example:
        .. code-block:: python

            index = LexicalIndex("lexical.sqlite3")
            index.upsert("mem_ab12", [LexicalRow("e1", "Caroline: I went to the support group", 1.7e9)])
            index.search("mem_ab12", "support group")   # [LexicalHit(id='e1', score=...)]
    """

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self.path = str(path)
        self.read_only = read_only
        if not read_only and self.path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._checked: set[str] = set()
        self._inode: int | None = None
        with self._lock:
            try:
                self._db = self._connect()
            except sqlite3.DatabaseError as exc:
                if sqlite_problem(exc) != "corrupt":
                    raise
                self._db = self._replace(exc)

    def _connect(self) -> sqlite3.Connection:
        """Open (creating if needed) the index file; a damaged file raises ``sqlite3.DatabaseError`` here."""
        if self.read_only:
            return self._in_memory_copy()
        db = sqlite3.connect(self.path, check_same_thread=False, timeout=60, isolation_level=None)
        try:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()  # a damaged header or schema fails here
            if self.path != ":memory:":
                db.execute("PRAGMA journal_mode=WAL")
                self._inode = os.stat(self.path).st_ino
            db.execute("PRAGMA synchronous=NORMAL")
            # deleted entries are overwritten, not only unlinked (not every SQLite build defaults it on)
            db.execute("PRAGMA secure_delete=ON")
            db.execute(_NAMESPACES)
        except BaseException:
            db.close()
            raise
        return db

    def _in_memory_copy(self) -> sqlite3.Connection:
        """A read-only folder's index, copied into memory: namespaces found inconsistent are rebuilt there."""
        db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        if Path(self.path).exists():
            try:
                source = connect_read_only(self.path)
                try:
                    source.backup(db)
                finally:
                    source.close()
                db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except sqlite3.DatabaseError as exc:
                logger.warning(
                    "cannot read the lexical index %s (%s); it is rebuilt in memory from Chroma, namespace by "
                    "namespace, as they are searched",
                    self.path,
                    exc,
                )
                db.close()
                db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        db.execute(_NAMESPACES)
        return db

    def _replace(self, exc: BaseException) -> sqlite3.Connection:
        """Start a new, empty index in place of a damaged one: it is derived from Chroma, so nothing is lost (each
        namespace is rebuilt from Chroma on its next use)."""
        logger.warning(
            "the lexical index %s is damaged (%s); it is derived from Chroma: replaced by a new one, and each "
            "namespace is rebuilt from Chroma on its next use",
            self.path,
            exc,
        )
        self._checked.clear()
        if not self.read_only and self.path != ":memory:":
            try:
                current = os.stat(self.path).st_ino
            except FileNotFoundError:
                current = None
            # another process of a shared (server-mode) folder may have replaced it already: then use its file
            if self._inode is None or current == self._inode:
                for suffix in ("", "-wal", "-shm", "-journal"):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(self.path + suffix)
        return self._connect()

    def _heal(self, exc: sqlite3.DatabaseError) -> None:
        """Replace the index if ``exc`` says it is damaged; re-raise anything else."""
        if sqlite_problem(exc) != "corrupt":
            raise exc
        with self._lock:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = self._replace(exc)

    def _refuse(self) -> None:
        if self.read_only:
            raise ReadOnlyFolderError(
                read_only_message(Path(self.path).parent, "write memories"), path=Path(self.path).parent
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def vacuum(self) -> bool:
        """Rewrite the file without the bytes of deleted entries and empty its write-ahead log (after ``forget``).

        Returns whether there was a file to compact (not for an in-memory or read-only index).

        Raises:
            FolderInUseError: another process's open transaction keeps the write-ahead log from being emptied.
        """
        if self.read_only or self.path == ":memory:":
            return False
        with self._lock:
            compact_sqlite(self._db, self.path)
        return True

    # -- tables ---------------------------------------------------------------------------------------------

    @staticmethod
    def _stem(collection: str) -> str:
        return "lx_" + hashlib.blake2b(collection.encode(), digest_size=12).hexdigest()

    def _tables(self, collection: str, *, create: bool) -> str | None:
        """The table stem of a namespace; its tables are created when ``create`` (else ``None`` if missing)."""
        stem = self._stem(collection)
        row = self._db.execute("SELECT stem FROM lexical_namespaces WHERE collection = ?", (collection,)).fetchone()
        if row is not None:
            return str(row[0])
        if not create:
            return None
        statements = [
            f"CREATE TABLE IF NOT EXISTS {stem}_rows (position INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL "
            "UNIQUE, history INTEGER NOT NULL DEFAULT 0, event_ts REAL NOT NULL, segment_id TEXT, text TEXT NOT NULL, "
            "record TEXT NOT NULL)",
            f"CREATE INDEX IF NOT EXISTS {stem}_segment ON {stem}_rows (segment_id, position)",
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {stem}_fts USING fts5(text, content='{stem}_rows', "
            "content_rowid='position', tokenize='porter unicode61 remove_diacritics 2')",
            f"CREATE TRIGGER IF NOT EXISTS {stem}_ai AFTER INSERT ON {stem}_rows BEGIN "
            f"INSERT INTO {stem}_fts(rowid, text) VALUES (new.position, new.text); END",
            f"CREATE TRIGGER IF NOT EXISTS {stem}_ad AFTER DELETE ON {stem}_rows BEGIN "
            f"INSERT INTO {stem}_fts({stem}_fts, rowid, text) VALUES ('delete', old.position, old.text); END",
            f"CREATE TRIGGER IF NOT EXISTS {stem}_au AFTER UPDATE OF text ON {stem}_rows BEGIN "
            f"INSERT INTO {stem}_fts({stem}_fts, rowid, text) VALUES ('delete', old.position, old.text); "
            f"INSERT INTO {stem}_fts(rowid, text) VALUES (new.position, new.text); END",
        ]
        with self._transaction():
            for statement in statements:
                self._db.execute(statement)
            self._db.execute(
                "INSERT OR IGNORE INTO lexical_namespaces (collection, stem) VALUES (?, ?)", (collection, stem)
            )
        return stem

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    # -- consistency with Chroma ----------------------------------------------------------------------------

    @_heals(lambda: None)
    def begin_write(self, collection: str) -> None:
        """Mark the namespace as being written (before Chroma is touched); :meth:`upsert` & co. clear the mark."""
        self._refuse()
        with self._lock:
            self._tables(collection, create=True)
            self._db.execute("UPDATE lexical_namespaces SET pending = pending + 1 WHERE collection = ?", (collection,))

    def invalidate(self, collection: str) -> None:
        """A write failed half-way: its mark stays, and the next use of the namespace checks it (and rebuilds)."""
        with self._lock:
            self._checked.discard(collection)

    def checked(self, collection: str) -> bool:
        """Whether this process has already found the namespace's index consistent with Chroma."""
        with self._lock:
            return collection in self._checked

    @_heals(lambda: True)
    def needs_rebuild(self, collection: str, stored: int) -> bool:
        """Whether the namespace's index must be rebuilt before use (a process checks each namespace once).

        ``stored`` is how many entries Chroma holds for the namespace (current and history).
        """
        with self._lock:
            row = self._db.execute(
                "SELECT stem, pending, built FROM lexical_namespaces WHERE collection = ?", (collection,)
            ).fetchone()
            if row is None:
                return stored > 0
            stem, pending, built = row
            count = self._db.execute(f"SELECT count(*) FROM {stem}_rows").fetchone()[0]
            if pending or not built or count != stored:
                return True
            self._checked.add(collection)
            return False

    def rebuild(self, collection: str, current: Iterable[LexicalRow], history: Iterable[LexicalRow]) -> None:
        """Replace the namespace's index with these rows (in position order) and mark it consistent."""
        rows, old = list(current), list(history)
        try:
            self._rebuild(collection, rows, old)
        except sqlite3.DatabaseError as exc:
            self._heal(exc)  # a damaged index found while rebuilding: rebuild into the new one
            self._rebuild(collection, rows, old)

    def _rebuild(self, collection: str, current: list[LexicalRow], history: list[LexicalRow]) -> None:
        with self._lock:
            stem = self._tables(collection, create=True)
            with self._transaction():
                self._db.execute(f"DELETE FROM {stem}_rows")
                self._db.execute(f"INSERT INTO {stem}_fts({stem}_fts) VALUES ('delete-all')")
                self._insert(stem, current, history=False)
                self._insert(stem, history, history=True)
                self._db.execute(
                    "UPDATE lexical_namespaces SET pending = 0, built = 1 WHERE collection = ?", (collection,)
                )
            self._checked.add(collection)

    # -- writes ---------------------------------------------------------------------------------------------

    def _insert(self, stem: str | None, rows: Iterable[LexicalRow], *, history: bool) -> None:
        self._db.executemany(
            f"INSERT INTO {stem}_rows (id, history, event_ts, segment_id, text, record) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET history = excluded.history, event_ts = excluded.event_ts, "
            "segment_id = excluded.segment_id, text = excluded.text, record = excluded.record",
            [(r.id, int(history), r.event_ts, r.segment_id, r.text, r.record) for r in rows],
        )

    def _finish(self, collection: str) -> None:
        self._db.execute(
            "UPDATE lexical_namespaces SET pending = max(pending - 1, 0), built = 1 WHERE collection = ?",
            (collection,),
        )

    @_heals(lambda: None)
    def upsert(self, collection: str, rows: Sequence[LexicalRow], *, history: bool = False) -> None:
        """Insert or replace rows; a replaced row keeps its position (neighbours stay neighbours)."""
        self._refuse()
        with self._lock:
            stem = self._tables(collection, create=True)
            with self._transaction():
                self._insert(stem, rows, history=history)
                self._finish(collection)

    @_heals(lambda: None)
    def delete(self, collection: str, ids: Sequence[str]) -> None:
        self._refuse()
        with self._lock:
            stem = self._tables(collection, create=False)
            if stem is None:
                return
            with self._transaction():
                for start in range(0, len(ids), _CHUNK):
                    chunk = list(ids[start : start + _CHUNK])
                    self._db.execute(f"DELETE FROM {stem}_rows WHERE id IN ({','.join('?' * len(chunk))})", chunk)
                self._finish(collection)

    @_heals(lambda: None)
    def drop(self, collection: str) -> None:
        """Forget a namespace's index entirely (its collections were deleted)."""
        self._refuse()
        with self._lock:
            stem = self._tables(collection, create=False)
            self._checked.discard(collection)
            if stem is None:
                return
            with self._transaction():
                self._db.execute(f"DROP TABLE IF EXISTS {stem}_fts")
                self._db.execute(f"DROP TABLE IF EXISTS {stem}_rows")  # its triggers and index go with it
                self._db.execute("DELETE FROM lexical_namespaces WHERE collection = ?", (collection,))

    # -- reads ----------------------------------------------------------------------------------------------

    @_heals(list)
    def search(
        self,
        collection: str,
        query: str,
        *,
        limit: int = 100,
        include_history: bool = False,
        time_range: tuple[float | None, float | None] | None = None,
        stop_words: frozenset[str] = ENGLISH_STOP_WORDS,
    ) -> list[LexicalHit]:
        """The ``limit`` best entries for ``query`` by BM25, best first (event-time bounds in epoch seconds)."""
        terms = query_terms(query, stop_words=stop_words)
        if not terms:
            return []
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
        clauses, params = [], []
        if not include_history:
            clauses.append("r.history = 0")
        if time_range is not None:
            if time_range[0] is not None:
                clauses.append("r.event_ts >= ?")
                params.append(time_range[0])
            if time_range[1] is not None:
                clauses.append("r.event_ts <= ?")
                params.append(time_range[1])
        where = "".join(f" AND {c}" for c in clauses)
        with self._lock:
            stem = self._tables(collection, create=False)
            if stem is None:
                return []
            rows = self._db.execute(
                f"SELECT r.id, bm25({stem}_fts) AS s FROM {stem}_fts JOIN {stem}_rows r ON r.position = "
                f"{stem}_fts.rowid WHERE {stem}_fts MATCH ?{where} ORDER BY s LIMIT ?",
                [match, *params, limit],
            ).fetchall()
        return [LexicalHit(str(i), -float(s)) for i, s in rows]

    @_heals(dict)
    def neighbours(self, collection: str, ids: Sequence[str], *, window: int = 1) -> dict[str, list[str]]:
        """For each id, the ids of up to ``window`` entries on each side of it in its topic segment, in order.

        Entries without a segment (saved directly, not from messages) have no neighbours.
        """
        if window < 1 or not ids:
            return {}
        out: dict[str, list[str]] = {}
        with self._lock:
            stem = self._tables(collection, create=False)
            if stem is None:
                return {}
            anchors = self._by_id(stem, "id, segment_id, history", ids, " AND segment_id IS NOT NULL")
            segments = list({segment for _, segment, _ in anchors})
            order: dict[tuple[str, int], list[str]] = {}  # (segment, history) -> ids in message order
            place: dict[str, int] = {}  # id -> its index there
            for start in range(0, len(segments), _CHUNK):
                chunk = segments[start : start + _CHUNK]
                for entry_id, segment, history in self._db.execute(
                    f"SELECT id, segment_id, history FROM {stem}_rows "
                    f"WHERE segment_id IN ({','.join('?' * len(chunk))}) ORDER BY position",
                    chunk,
                ):
                    members = order.setdefault((segment, history), [])
                    place[entry_id] = len(members)
                    members.append(entry_id)
        for anchor, segment, history in anchors:
            members, at = order[(segment, history)], place[anchor]
            out[anchor] = members[max(0, at - window) : at] + members[at + 1 : at + 1 + window]
        return out

    @_heals(dict)
    def records(
        self, collection: str, ids: Sequence[str], *, include_history: bool = False
    ) -> dict[str, tuple[str, str]]:
        """``id -> (text, record)`` of the given entries (current ones only unless ``include_history``)."""
        history = "" if include_history else " AND history = 0"
        with self._lock:
            stem = self._tables(collection, create=False)
            if stem is None:
                return {}
            return {str(i): (str(t), str(r)) for i, t, r in self._by_id(stem, "id, text, record", ids, history)}

    def positions(self, collection: str, ids: Sequence[str]) -> dict[str, int]:
        """Each id's position (insertion order: message order for entries the write path made)."""
        return {i: int(p) for i, p in self._column(collection, "position", ids).items()}

    def event_times(self, collection: str, ids: Sequence[str]) -> dict[str, float]:
        """Each id's event time in epoch seconds."""
        return {i: float(t) for i, t in self._column(collection, "event_ts", ids).items()}

    @_heals(dict)
    def _column(self, collection: str, column: str, ids: Sequence[str]) -> dict[str, Any]:
        """``id -> column`` of the given rows (none when the namespace has no index)."""
        with self._lock:
            stem = self._tables(collection, create=False)
            if stem is None:
                return {}
            return {str(i): value for i, value in self._by_id(stem, f"id, {column}", ids)}

    def _by_id(self, stem: str, columns: str, ids: Sequence[str], condition: str = "") -> list[tuple[Any, ...]]:
        """``SELECT columns`` of the rows with these ids (and ``condition``), in chunks of host parameters."""
        rows: list[tuple[Any, ...]] = []
        for start in range(0, len(ids), _CHUNK):
            chunk = list(ids[start : start + _CHUNK])
            marks = ",".join("?" * len(chunk))
            rows += self._db.execute(f"SELECT {columns} FROM {stem}_rows WHERE id IN ({marks}){condition}", chunk)
        return rows

    @_heals(list)
    def ids_with_prefix(self, collection: str, prefix: str) -> list[str]:
        """Ids starting with ``prefix`` (a range scan of the id index)."""
        with self._lock:
            stem = self._tables(collection, create=False)
            if stem is None:
                return []
            # ids are text compared by bytes: every id starting with prefix sorts in [prefix, prefix + U+10FFFF)
            rows = self._db.execute(
                f"SELECT id FROM {stem}_rows WHERE id >= ? AND id < ?", (prefix, prefix + "\U0010ffff")
            ).fetchall()
        return [str(r[0]) for r in rows]

    @_heals(lambda: 0)
    def count(self, collection: str) -> int:
        with self._lock:
            stem = self._tables(collection, create=False)
            return 0 if stem is None else int(self._db.execute(f"SELECT count(*) FROM {stem}_rows").fetchone()[0])


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error) on an autocommit connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self._db.execute("ROLLBACK" if exc_type is not None else "COMMIT")


def epoch_range(time_range: tuple[datetime | None, datetime | None] | None) -> tuple[float | None, float | None] | None:
    """``(start, end)`` datetimes as epoch seconds."""
    if time_range is None:
        return None
    start, end = time_range
    return (start.timestamp() if start else None, end.timestamp() if end else None)
