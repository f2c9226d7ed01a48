"""Where the journal keeps its tables: one SQL database behind a small protocol, SQLite or PostgreSQL.

The journal's repositories (the ``journal`` package) are written once, in SQL both engines run: ``?`` placeholders,
``INSERT ... ON CONFLICT ... DO UPDATE``, ``RETURNING``. A :class:`Database` gives it two things, a write
transaction and a read query; the two implementations differ only in how they open connections and serialise
writers:

======================  ============================================  ============================================
                        :class:`SqliteDatabase` (embedded default)    :class:`PostgresDatabase`
======================  ============================================  ============================================
where                   ``<data_dir>/journal.sqlite3`` (WAL)          one schema (default ``lightmem``)
connections             one, shared by the threads (a lock)           a psycopg 3 pool
one write transaction   ``BEGIN IMMEDIATE``: one writer               ``BEGIN`` + advisory locks: one
                        at a time                                     writer per key (a namespace) at
                                                                      a time; keyless writes alone
======================  ============================================  ============================================

Example:
    .. code-block:: python

        from langchain_lightmem.database import PostgresDatabase
        from langchain_lightmem.journal import Journal

        journal = Journal(PostgresDatabase.from_conn_string("postgresql://app@db:5432/app"))  # setup() runs here
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from langchain_lightmem.errors import ConfigurationError, DatabaseUnavailableError, MissingDependencyError

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

Dialect = Literal["sqlite", "postgres"]
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class Cursor(Protocol):
    """The part of a DB-API cursor the journal uses; rows answer both ``row[0]`` and ``row["column"]``."""

    @property
    def rowcount(self) -> int: ...

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Any: ...

    def executemany(self, sql: str, parameters: Any, /) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


@runtime_checkable
class Database(Protocol):
    """One SQL database for the journal (and, on PostgreSQL, the lexical index).

    SQL is written with ``?`` placeholders in the subset both engines run; an implementation translates what it
    must. ``key`` names what a write transaction touches (a namespace): writes with different keys may run at
    once, writes with the same key, or without a key, run one at a time.
    """

    dialect: Dialect
    location: str
    """Where the data is, for messages: a file path, or a server URL without its password."""
    read_only: bool

    def transaction(self, key: str | None = None) -> AbstractContextManager[Cursor]: ...

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...

    def close(self) -> None: ...

    def vacuum(self) -> bool: ...


# -- SQLite ---------------------------------------------------------------------------------------------------


class SqliteDatabase:
    """An SQLite file in WAL mode (or ``":memory:"``), shared by this process's threads through one connection.

    Args:
        path: the file, or ``":memory:"``.
        read_only: open the file for reading only; a missing file gives an empty in-memory stand-in (its schema is
            created by the journal, then it is sealed with :meth:`seal`).

    Raises:
        JournalCorruptError: the file is damaged.
        ReadOnlyFolderError: a read-only file whose write-ahead log cannot be read here.
    """

    dialect: Dialect = "sqlite"

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self.location = str(path)
        self.read_only = read_only
        self.stand_in = False  # a read-only journal without a file: an empty in-memory one
        self._lock = threading.RLock()
        if read_only:
            self._conn = self._open_read_only()
        else:
            if self.location != ":memory:":
                Path(self.location).parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                self.location, timeout=30.0, isolation_level=None, check_same_thread=False, factory=_Connection
            )
        self._conn.path = Path(self.location)
        self._conn.row_factory = sqlite3.Row
        try:
            with self._lock:
                self._conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # a damaged header fails here
                if not read_only:
                    self._conn.execute("PRAGMA journal_mode=WAL")
                    # FULL: a commit survives power loss, not only a killed process. Accepted means durable.
                    self._conn.execute("PRAGMA synchronous=FULL")
                    self._conn.execute("PRAGMA foreign_keys=ON")
                    # forgotten personal data is overwritten, not just unlinked
                    self._conn.execute("PRAGMA secure_delete=ON")
        except BaseException:
            self._conn.close()
            raise

    @property
    def needs_schema(self) -> bool:
        """Whether the journal should create or migrate the schema (not in a read-only file)."""
        return not self.read_only or self.stand_in

    def seal(self) -> None:
        """Make a read-only stand-in refuse writes (after its schema was created)."""
        if self.stand_in:
            self._conn.execute("PRAGMA query_only=ON")

    def _open_read_only(self) -> _Connection:
        """The file through a read-only URI, or an empty in-memory journal when the folder has none yet."""
        from langchain_lightmem.errors import ReadOnlyFolderError
        from langchain_lightmem.folder import connect_read_only, sqlite_problem

        if self.location == ":memory:" or not Path(self.location).exists():
            self.stand_in = True
            return sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False, factory=_Connection)
        try:
            read = connect_read_only(self.location, isolation_level=None, check_same_thread=False, factory=_Connection)
        except sqlite3.DatabaseError as exc:
            path = Path(self.location)
            if sqlite_problem(exc) == "cantopen":  # a write-ahead log without its -shm file, which we cannot create
                raise ReadOnlyFolderError(
                    f"cannot read the journal {path} in a read-only folder: its write-ahead log ({path.name}-wal) "
                    f"needs a shared-memory file ({path.name}-shm) that cannot be created here; open the folder once "
                    "from a process that can write it (closing it cleanly folds the log into the journal)",
                    path=path.parent,
                ) from exc
            typed = _translate(exc, path)
            if typed is exc:
                raise
            raise typed from exc
        assert isinstance(read, _Connection)
        return read

    @contextmanager
    def transaction(self, key: str | None = None) -> Iterator[Cursor]:
        """One write transaction (``BEGIN IMMEDIATE``): all or nothing, serialised across processes (``key`` is
        not needed: SQLite has one writer at a time)."""
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            else:
                cur.execute("COMMIT")
            finally:
                cur.close()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def vacuum(self) -> bool:
        """Rewrite the file without the bytes of deleted rows and empty its write-ahead log; ``False`` in memory.

        Raises:
            FolderInUseError: another process's open transaction keeps the WAL from being emptied.
        """
        from langchain_lightmem.folder import compact_sqlite

        if self.location == ":memory:":
            return False
        with self._lock:
            compact_sqlite(self._conn, self.location)
        return True


def _translate(exc: sqlite3.Error, path: Path) -> Exception:
    """A damaged file or a write to a read-only one as a typed error naming the file (else ``exc`` itself)."""
    from langchain_lightmem.errors import JournalCorruptError, ReadOnlyFolderError
    from langchain_lightmem.folder import read_only_message, sqlite_problem

    problem = sqlite_problem(exc)
    if problem == "corrupt":
        return JournalCorruptError(
            f"the journal {path} is damaged ({exc}). It holds the accepted messages, so it is not rebuilt: restore "
            f"it from a backup, or salvage rows with 'sqlite3 {path} .recover'; moving it away starts an empty "
            "journal (its messages are then lost)",
            path=path,
        )
    if problem == "readonly":
        return ReadOnlyFolderError(read_only_message(path.parent, "write to the journal"), path=path.parent)
    return exc


class _Cursor(sqlite3.Cursor):
    """Raises :class:`JournalCorruptError` / :class:`ReadOnlyFolderError` instead of SQLite's bare errors."""

    connection: _Connection

    def _fail(self, exc: sqlite3.Error) -> Exception:
        path = self.connection.path
        return exc if path is None else _translate(exc, path)

    def execute(self, sql: str, parameters: Any = (), /) -> _Cursor:
        try:
            return super().execute(sql, parameters)
        except sqlite3.DatabaseError as exc:
            typed = self._fail(exc)
            if typed is exc:
                raise
            raise typed from exc

    def executemany(self, sql: str, parameters: Any, /) -> _Cursor:
        try:
            return super().executemany(sql, parameters)
        except sqlite3.DatabaseError as exc:
            typed = self._fail(exc)
            if typed is exc:
                raise
            raise typed from exc

    def fetchone(self) -> Any:
        try:
            return super().fetchone()
        except sqlite3.DatabaseError as exc:
            typed = self._fail(exc)
            if typed is exc:
                raise
            raise typed from exc

    def fetchmany(self, size: int | None = 1) -> list[Any]:
        try:
            return super().fetchmany(size)
        except sqlite3.DatabaseError as exc:
            typed = self._fail(exc)
            if typed is exc:
                raise
            raise typed from exc

    def fetchall(self) -> list[Any]:
        try:
            return super().fetchall()
        except sqlite3.DatabaseError as exc:
            typed = self._fail(exc)
            if typed is exc:
                raise
            raise typed from exc

    def __next__(self) -> Any:
        try:
            return super().__next__()
        except sqlite3.DatabaseError as exc:
            typed = self._fail(exc)
            if typed is exc:
                raise
            raise typed from exc


class _Connection(sqlite3.Connection):
    """The journal's connection: its cursors translate SQLite's damaged-file and read-only errors."""

    path: Path | None = None  # set by the journal once it knows the file is its own

    def cursor(self, factory: Any = None) -> Any:
        return super().cursor(factory or _Cursor)

    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> Any:
        return self.cursor().executemany(sql, parameters)


# -- PostgreSQL -----------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=512)
def postgres_sql(sql: str) -> str:
    """The journal's SQL for psycopg: ``?`` placeholders become ``%s`` (a literal ``%`` becomes ``%%``).

    Example:
        >>> postgres_sql("SELECT id FROM messages WHERE id LIKE 'a%' AND namespace = ?")
        "SELECT id FROM messages WHERE id LIKE 'a%%' AND namespace = %s"
    """
    return sql.replace("%", "%%").replace("?", "%s")


def postgres_ddl(sql: str) -> str:
    """SQLite column types as PostgreSQL's: ``REAL`` is 4 bytes there (epoch seconds need 8), ``BLOB`` is ``BYTEA``,
    and ``INTEGER`` becomes ``BIGINT`` (sequence numbers and counters outgrow 32 bits)."""
    sql = re.sub(r"\bREAL\b", "DOUBLE PRECISION", sql)
    sql = re.sub(r"\bBLOB\b", "BYTEA", sql)
    return re.sub(r"\bINTEGER\b", "BIGINT", sql)


def lock_id(*parts: str) -> int:
    """A signed 64-bit advisory lock id for ``parts`` (stable across processes and hosts)."""
    digest = hashlib.blake2b("\x00".join(parts).encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def redact(url: str) -> str:
    """A connection string without its password, for messages and ``location``.

    Example:
        >>> redact("postgresql://app:secret@db:5432/app")
        'postgresql://app@db:5432/app'
    """
    try:
        from psycopg.conninfo import conninfo_to_dict
    except ImportError:  # pragma: no cover - only without the extra
        return re.sub(r":[^:@/]*@", "@", url)
    try:
        parts = conninfo_to_dict(url)
    except Exception:
        return re.sub(r":[^:@/]*@", "@", url)
    user = f"{parts['user']}@" if parts.get("user") else ""
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"postgresql://{user}{parts.get('host', '')}{port}/{parts.get('dbname', '')}"


class _ConnectFailures(logging.Filter):
    """Drops the pool's "error connecting in '<name>'" warnings for one pool, remembering the last one's cause."""

    def __init__(self, pool_name: str) -> None:
        super().__init__()
        self.prefix = f"error connecting in '{pool_name}': "
        self.last = ""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if not message.startswith(self.prefix):
            return True
        self.last = " ".join(message.removeprefix(self.prefix).split())
        return False


class _Row(tuple[Any, ...]):
    """A result row that answers ``row[0]`` and ``row["column"]``, as ``sqlite3.Row`` does."""

    _names: dict[str, int]

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._names[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


def _row_factory(cursor: Any) -> Any:
    description = cursor.description
    if description is None:
        return tuple
    names = {column.name: i for i, column in enumerate(description)}

    def make(values: Sequence[Any]) -> _Row:
        row = _Row(values)
        row._names = names
        return row

    return make


class _PgCursor:
    """A psycopg cursor that takes the journal's ``?`` SQL."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return int(self._cursor.rowcount)

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> _PgCursor:
        self._cursor.execute(postgres_sql(sql), tuple(parameters))
        return self

    def executemany(self, sql: str, parameters: Any, /) -> _PgCursor:
        rows = [tuple(p) for p in parameters]
        if rows:  # psycopg refuses an empty executemany's statement only at run time; skip the round trip
            self._cursor.executemany(postgres_sql(sql), rows)
        return self

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return list(self._cursor.fetchall())

    def __iter__(self) -> Iterator[Any]:
        return iter(self._cursor)


class PostgresDatabase:
    """A schema of a PostgreSQL server, through a psycopg 3 connection pool; every namespace shares its tables.

    Write transactions take transaction-scoped advisory locks, released by the server when the transaction ends
    or its connection dies (a killed worker holds nothing): a transaction with a ``key`` takes the schema's lock
    shared and the key's lock exclusively; one without a key takes the schema's lock exclusively.

    Args:
        pool: an open ``psycopg_pool.ConnectionPool`` whose connections are in autocommit mode and use
            :meth:`configure` (see :meth:`from_conn_string`, which builds one).
        schema: the schema holding LightMem's tables (created by the journal's ``setup()``).
        location: what messages call the server (no password).

    Example:
        .. code-block:: python

            db = PostgresDatabase.from_conn_string("postgresql://app@db:5432/app", schema="lightmem")
            db.query("SELECT count(*) FROM messages")
    """

    dialect: Dialect = "postgres"
    read_only = False

    def __init__(self, pool: ConnectionPool, *, schema: str = "lightmem", location: str = "postgresql") -> None:
        self.schema = check_schema(schema)
        self.location = location
        self._pool = pool
        self._global_lock = lock_id("lightmem", schema)
        self._closed = False

    @classmethod
    def from_conn_string(
        cls,
        url: str,
        *,
        schema: str = "lightmem",
        min_size: int = 1,
        max_size: int = 10,
        timeout: float = 30.0,
    ) -> PostgresDatabase:
        """Open a pool on ``url`` (a libpq URL or ``key=value`` string) for ``schema``.

        Raises:
            MissingDependencyError: psycopg / psycopg-pool are not installed (the ``postgres`` extra).
            ConfigurationError: ``url`` is not a libpq URL or ``key=value`` string.
            DatabaseUnavailableError: no connection within ``timeout`` seconds.
        """
        try:
            from psycopg_pool import ConnectionPool
        except ImportError as exc:
            raise MissingDependencyError("psycopg-pool", "postgres", "The PostgreSQL backend") from exc
        schema = check_schema(schema)
        location = redact(url)
        try:  # a malformed URL never connects: say so now, not after ``timeout`` seconds of pool retries
            from psycopg.conninfo import conninfo_to_dict

            conninfo_to_dict(url)
        except Exception as exc:
            raise ConfigurationError(
                f"{location} is not a PostgreSQL URL ({exc}); expected postgresql://user:password@host:port/dbname"
            ) from exc

        def configure(conn: Any) -> None:
            # Our schema first: the journal's unqualified table names are LightMem's, not the application's.
            conn.execute(f"SET search_path TO {schema}")

        name = f"lightmem-{schema}"
        pool = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            kwargs={"autocommit": True, "row_factory": _row_factory, "prepare_threshold": None},
            configure=configure,
            check=ConnectionPool.check_connection,  # a connection the server dropped is replaced, not handed out
            name=name,
            open=False,
        )
        # While opening, the pool logs a warning per failed attempt (one every second or so); the error below says
        # the last one instead, so a refused server or a wrong password is one line with its cause.
        failures = _ConnectFailures(name)
        pool_logger = logging.getLogger("psycopg.pool")
        pool_logger.addFilter(failures)
        try:
            pool.open(wait=True, timeout=timeout)
        except Exception as exc:
            pool.close()
            cause = f"{exc}; last attempt: {failures.last}" if failures.last else str(exc)
            raise DatabaseUnavailableError(
                f"cannot connect to PostgreSQL at {location} within {timeout:g} s ({cause}); check postgres.url "
                "(LIGHTMEM_POSTGRES_URL) and that the server accepts connections from this host"
            ) from exc
        finally:
            pool_logger.removeFilter(failures)
        return cls(pool, schema=schema, location=location)

    @contextmanager
    def transaction(self, key: str | None = None) -> Iterator[Cursor]:
        """One write transaction on one pooled connection; see the class docstring for what it locks."""
        with self._pool.connection() as conn, conn.transaction():
            cursor = conn.cursor()
            if key is None:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", (self._global_lock,))
            else:
                cursor.execute(
                    "SELECT pg_advisory_xact_lock_shared(%s), pg_advisory_xact_lock(%s)",
                    (self._global_lock, lock_id("lightmem", self.schema, key)),
                )
            yield _PgCursor(cursor)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._pool.connection() as conn:
            return list(conn.execute(postgres_sql(sql), tuple(params)).fetchall())

    def migrate(self, table: str, migrations: Sequence[Sequence[str]]) -> int:
        """Bring the schema up to date, as LangGraph's ``PostgresStore.setup()`` does: ``migrations[i]`` are the
        statements of version ``i + 1``; those after the last version recorded in ``table`` run, in one
        transaction, alone (the schema's lock taken exclusively, so workers starting at once do not race).
        Idempotent. Returns the version reached.
        """
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._global_lock,))
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
            conn.execute(f"CREATE TABLE IF NOT EXISTS {self.schema}.{table} (v INTEGER PRIMARY KEY)")
            row = conn.execute(f"SELECT max(v) FROM {self.schema}.{table}").fetchone()
            done = int(row[0]) if row and row[0] is not None else 0
            for version, statements in enumerate(migrations, start=1):
                if version <= done:
                    continue
                for statement in statements:
                    conn.execute(statement)
                conn.execute(f"INSERT INTO {self.schema}.{table} (v) VALUES (%s)", (version,))
            return max(done, len(migrations))

    def tables(self) -> list[str]:
        """The tables of the schema (tests, inspection)."""
        rows = self.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ? ORDER BY table_name",
            (self.schema,),
        )
        return [str(r[0]) for r in rows]

    def close(self) -> None:
        """Close the pool (idempotent: the journal and the lexical index may share one database)."""
        if not self._closed:
            self._closed = True
            self._pool.close()

    def vacuum(self) -> bool:
        """``VACUUM`` the schema's tables: the space of deleted rows becomes reusable and their index entries go.

        PostgreSQL does not overwrite the bytes of dead rows at once: they stay in free space (and in the
        server's write-ahead log and backups) until reused; ``VACUUM FULL`` by the operator rewrites the files.
        """
        tables = self.tables()  # before taking the connection: a pool of one has no second one to lend
        with self._pool.connection() as conn:
            for table in tables:
                conn.execute(f"VACUUM {self.schema}.{table}")
        return True


def check_schema(name: str) -> str:
    """``name`` if it is a plain lower-case SQL identifier (it is written into statements), else a clear error."""
    if not _IDENTIFIER.match(name):
        raise ConfigurationError(
            f"postgres schema {name!r} must be a lower-case identifier (letters, digits, underscores; at most 63)"
        )
    return name
