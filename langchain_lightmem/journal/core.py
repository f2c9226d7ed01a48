"""The :class:`Journal`: one database (SQLite file or PostgreSQL schema), its schema, its transactions, and one
repository per consumer over it."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

from langchain_lightmem.database import Cursor, Database, PostgresDatabase, SqliteDatabase
from langchain_lightmem.journal.batches import Batches
from langchain_lightmem.journal.buffers import StageBuffers
from langchain_lightmem.journal.consolidation import ConsolidationLog
from langchain_lightmem.journal.entries import EntryLog
from langchain_lightmem.journal.leases import Leases
from langchain_lightmem.journal.messages import MessageLog
from langchain_lightmem.journal.namespaces import Namespaces
from langchain_lightmem.journal.schema import POSTGRES_MIGRATIONS, setup_sqlite
from langchain_lightmem.journal.usage import UsageLog
from langchain_lightmem.journal.windows import ChatWindows


class Journal:
    """The message log and buffers, on SQLite (the embedded default) or PostgreSQL. Safe to share between threads;
    processes share it too (SQLite in WAL mode, or one PostgreSQL server for every worker).

    The queries are grouped by who uses them, one repository each, all over this journal's database:

    ===================== ================================================================================
    ``messages``          :class:`~langchain_lightmem.journal.messages.MessageLog`: accept, read, open ids
    ``buffers``           :class:`~langchain_lightmem.journal.buffers.StageBuffers`: sensory / short-term
    ``batches``           :class:`~langchain_lightmem.journal.batches.Batches`: create, claim, extract, write
    ``consolidation``     :class:`~langchain_lightmem.journal.consolidation.ConsolidationLog`: queue, decisions
    ``leases``            :class:`~langchain_lightmem.journal.leases.Leases`: one run per namespace
    ``entries``           :class:`~langchain_lightmem.journal.entries.EntryLog`: saved and written entries
    ``usage``             :class:`~langchain_lightmem.journal.usage.UsageLog`: persisted usage totals
    ``namespaces``        :class:`~langchain_lightmem.journal.namespaces.Namespaces`: generations, forget
    ``windows``           :class:`~langchain_lightmem.journal.windows.ChatWindows`: chat-history windows
    ===================== ================================================================================

    Every query's SQL is written once, for both engines (:mod:`langchain_lightmem.database`).

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
            journal.messages.read(("alice",), stage=Stage.SENSORY)
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
        self.messages = MessageLog(self._db)
        self.buffers = StageBuffers(self._db)
        self.batches = Batches(self._db)
        self.consolidation = ConsolidationLog(self._db)
        self.leases = Leases(self._db)
        self.entries = EntryLog(self._db)
        self.usage = UsageLog(self._db)
        self.namespaces = Namespaces(self._db)
        self.windows = ChatWindows(self._db)

    @property
    def database(self) -> Database:
        """Where the tables are (shared with the lexical index on PostgreSQL)."""
        return self._db

    def setup(self) -> None:
        """Create or migrate the schema; idempotent, and safe when several workers start at once (nothing to do for
        a read-only journal)."""
        db = self._db
        if isinstance(db, SqliteDatabase):
            if db.needs_schema:
                with self.transaction() as cur:
                    setup_sqlite(cur)
            return
        assert isinstance(db, PostgresDatabase)
        db.migrate("journal_migrations", POSTGRES_MIGRATIONS)

    def transaction(self, key: str | None = None) -> AbstractContextManager[Cursor]:
        """One write transaction: all or nothing, serialised across processes (per namespace ``key`` on
        PostgreSQL; SQLite has one writer at a time)."""
        return self._db.transaction(key)

    def close(self) -> None:
        """Close the database (idempotent)."""
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
