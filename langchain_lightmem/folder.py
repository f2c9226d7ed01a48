"""The data folder: which processes may open it, whether this one can write it, and how its SQLite files are
opened, checked and compacted.

One process at a time per embedded folder. Chroma's embedded client (``chroma.mode="persistent"``) keeps its
vector indexes in memory and is not safe for two processes on one folder, so :class:`DataFolder` takes
``<data_dir>/.lightmem.lock`` (``flock``, never blocking):

=====================  ============  ============================================================================
opened as              lock          why
=====================  ============  ============================================================================
embedded Chroma        exclusive     a second process gets :class:`~langchain_lightmem.errors.FolderInUseError`
Chroma server (http)   shared        the journal and the lexical index are SQLite in WAL mode: processes share them
read-only folder       shared        only when the lock file exists (nobody could have written without creating it)
vacuum                 exclusive     taken for the vacuum; refused ("folder is in use") while another process holds
                                     the folder in any mode
=====================  ============  ============================================================================

A process may open one folder several times (Chroma shares one client per path within a process): the lock is
held once per process and counted. ``flock`` locks die with their process, so a killed holder never leaves the
folder locked.

Read-only folders (a read-only mount, or files this user cannot write) open for reading: SQLite files through
``mode=ro`` URIs, Chroma through a private snapshot of its SQLite file (Chroma's embedded client cannot open a
read-only folder), and every write raises :class:`~langchain_lightmem.errors.ReadOnlyFolderError` naming the
folder.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sqlite3
import tempfile
import threading
import uuid
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from langchain_lightmem.errors import FolderInUseError, ReadOnlyFolderError

try:
    import fcntl
except ImportError:  # Windows has no flock: folders are not locked there (docs/architecture.md#the-data-folder)
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from langchain_lightmem.config import LightMemConfig

logger = logging.getLogger(__name__)

LOCK_FILE = ".lightmem.lock"
SERVER_HINT = (
    "use one process, or run Chroma as a server that every process shares: chroma run --path {chroma} "
    "--port 8000, then LIGHTMEM_CHROMA_URL=http://localhost:8000 (or LightMemConfig(chroma={{'mode': 'http', "
    "'host': ..., 'port': ...}})); see docs/architecture.md#the-data-folder"
)

LockMode = Literal["exclusive", "shared"]


# -- the lock file ----------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Hold:
    fd: int
    mode: LockMode
    count: int


class _Holds:
    """The folder locks this process holds, by lock-file path.

    Per process by nature: an ``flock`` belongs to an open file, so a second ``open`` of the same lock file in this
    process would conflict with the first, while a process is allowed to open its folder several times.
    """

    def __init__(self) -> None:
        self.guard = threading.Lock()
        self.held: dict[str, _Hold] = {}

    def current(self, key: str) -> _Hold | None:
        return self.held.get(key)

    def drop_inherited(self) -> None:
        """In a forked child: the parent's locks are the parent's. Close their copies (a copy kept open would keep
        the lock alive after the parent released it) and forget them."""
        for hold in self.held.values():
            with contextlib.suppress(OSError):
                os.close(hold.fd)
        self.held.clear()
        self.guard = threading.Lock()  # it may have been held by another thread at the fork


_HOLDS = _Holds()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_HOLDS.drop_inherited)


def _holder_pid(lock_path: Path) -> int | None:
    """The pid the last exclusive holder wrote into the lock file, if that process still runs."""
    try:
        text = lock_path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None
    if not text.isdigit() or int(text) == os.getpid():
        return None
    pid = int(text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return pid


def _flock(fd: int, mode: LockMode) -> bool:
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if mode == "exclusive" else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _in_use(folder: Path, lock_path: Path, chroma: Path, *, vacuum: bool = False) -> FolderInUseError:
    pid = _holder_pid(lock_path)
    who = f"pid {pid}" if pid is not None else "another process"
    if vacuum:
        message = (
            f"cannot vacuum {folder}: the folder is in use by {who}; run the vacuum when no other process has the "
            "folder open"
        )
    else:
        message = (
            f"cannot open {folder}: the folder is in use by {who}, and an embedded Chroma folder takes one process "
            "at a time; " + SERVER_HINT.format(chroma=chroma)
        )
    return FolderInUseError(message, path=folder, pid=pid)


class DataFolder:
    """A data folder as this process holds it: its lock, and whether this process can write it.

    :class:`~langchain_lightmem.LightMem` opens one per instance (``memory.folder``) and closes it in ``close()``.

    Example:
        .. code-block:: python

            from langchain_lightmem import LightMemConfig
            from langchain_lightmem.folder import DataFolder

            folder = DataFolder.open(LightMemConfig(data_dir="./memory"))  # FolderInUseError if another process has it
            with folder.exclusive():  # FolderInUseError("... folder is in use ...") if another process shares it
                ...  # compact the files
            folder.close()
    """

    def __init__(self, path: Path | None, *, chroma: Path | None = None, read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only
        self._chroma = chroma or (path / "chroma" if path is not None else Path("chroma"))
        self._mode: LockMode | None = None
        self._lock = threading.Lock()

    @classmethod
    def open(cls, config: LightMemConfig) -> DataFolder:
        """Take the folder of ``config`` for this process (see the module docstring for the modes).

        Raises:
            FolderInUseError: another process holds the folder in a mode that excludes this one.
        """
        if config.chroma.mode == "ephemeral":
            return cls(None)
        path = config.data_dir.expanduser().resolve()
        read_only = path.is_dir() and not writable(path, config)
        folder = cls(path, chroma=config.chroma_path, read_only=read_only)
        if read_only:
            if (path / LOCK_FILE).exists():
                folder._acquire("shared")
        else:
            path.mkdir(parents=True, exist_ok=True)
            folder._acquire("exclusive" if config.chroma.mode == "persistent" else "shared")
        return folder

    @property
    def lock_path(self) -> Path | None:
        return None if self.path is None else self.path / LOCK_FILE

    @property
    def mode(self) -> LockMode | None:
        """How this process holds the folder now: ``"exclusive"``, ``"shared"`` or ``None`` (not by this instance)."""
        if self._mode is None:
            return None
        with _HOLDS.guard:
            hold = _HOLDS.current(self._key())
            return None if hold is None else hold.mode

    def _key(self) -> str:
        assert self.lock_path is not None
        return str(self.lock_path)

    def _acquire(self, mode: LockMode) -> None:
        lock_path = self.lock_path
        assert self.path is not None and lock_path is not None
        with _HOLDS.guard:
            hold = _HOLDS.current(self._key())
            if hold is None:
                fd = _open_lock(lock_path, create=not self.read_only)
                if not _flock(fd, mode):
                    os.close(fd)
                    raise _in_use(self.path, lock_path, self._chroma)
                hold = _HOLDS.held[self._key()] = _Hold(fd, mode, 0)
                if mode == "exclusive":
                    _write_pid(fd)
            elif mode == "exclusive" and hold.mode == "shared":
                if not _flock(hold.fd, "exclusive"):
                    _relock_shared(hold.fd)
                    raise _in_use(self.path, lock_path, self._chroma)
                hold.mode = "exclusive"
                _write_pid(hold.fd)
            hold.count += 1
        self._mode = mode

    def close(self) -> None:
        """Release this instance's hold (the lock file is released when the last one in this process closes)."""
        with self._lock:
            if self._mode is None:
                return
            self._mode = None
        with _HOLDS.guard:
            hold = _HOLDS.current(self._key())
            if hold is None:
                return
            hold.count -= 1
            if hold.count <= 0:
                del _HOLDS.held[self._key()]
                os.close(hold.fd)  # closing the file releases the flock

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the folder exclusively for the block (a vacuum): re-entrant; no-op if this process already does.

        Raises:
            FolderInUseError: another process has the folder open ("folder is in use").
            ReadOnlyFolderError: the folder is read-only.
        """
        if self.path is None:
            yield
            return
        if self.read_only:
            raise self.refuse("vacuum")
        lock_path = self.lock_path
        assert lock_path is not None
        upgraded = temporary = False
        with _HOLDS.guard:
            hold = _HOLDS.current(self._key())
            if hold is None:  # not opened by this process (offline maintenance): take it for the block
                fd = _open_lock(lock_path, create=True)
                if not _flock(fd, "exclusive"):
                    os.close(fd)
                    raise _in_use(self.path, lock_path, self._chroma, vacuum=True)
                hold = _HOLDS.held[self._key()] = _Hold(fd, "exclusive", 1)
                _write_pid(fd)
                upgraded = temporary = True
            elif hold.mode == "shared":
                if not _flock(hold.fd, "exclusive"):
                    _relock_shared(hold.fd)
                    raise _in_use(self.path, lock_path, self._chroma, vacuum=True)
                hold.mode = "exclusive"
                upgraded = True
        try:
            yield
        finally:
            if upgraded:
                with _HOLDS.guard:
                    if temporary:
                        del _HOLDS.held[self._key()]
                        os.close(hold.fd)
                    else:
                        _relock_shared(hold.fd)
                        hold.mode = "shared"

    def refuse(self, what: str) -> ReadOnlyFolderError:
        """The error for a write (``what``) to a read-only folder."""
        return ReadOnlyFolderError(read_only_message(self.path or Path("."), what), path=self.path)


def _open_lock(lock_path: Path, *, create: bool) -> int:
    """The lock file's descriptor (not inherited by child processes); read-only when it cannot be written."""
    cloexec = getattr(os, "O_CLOEXEC", 0)
    if create:
        with contextlib.suppress(PermissionError):
            return os.open(lock_path, os.O_RDWR | os.O_CREAT | cloexec, 0o644)
    return os.open(lock_path, os.O_RDONLY | cloexec)  # flock works on a read-only descriptor too


def _write_pid(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)


def _relock_shared(fd: int) -> None:
    # flock converts by unlocking first: a failed or finished upgrade may have lost the shared lock; take it back
    # (blocking: only another process's vacuum can hold the folder exclusively, and only briefly).
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_SH)


# -- read-only folders --------------------------------------------------------------------------------------------


def read_only_message(folder: Path, what: str) -> str:
    return (
        f"cannot {what}: the data folder {folder} is read-only for this process, so it was opened for reading only "
        "(search, context, entries, stats); open it from a process that can write it"
    )


def writable(folder: Path, config: LightMemConfig | None = None) -> bool:
    """Whether this process can write ``folder`` and the files LightMem keeps in it (False on a read-only mount or
    without permission)."""
    paths = [folder]
    if config is not None:
        paths += [config.journal_path, config.chroma_path, config.chroma_path / "chroma.sqlite3"]
        if not isinstance(config.lexical_path, str):
            paths.append(config.lexical_path)
    return all(os.access(p, os.W_OK) for p in paths if p.exists())


def chroma_writable(path: Path) -> bool:
    """Whether this process can write an embedded Chroma folder (or create it, when it does not exist yet)."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    paths = [existing, path / "chroma.sqlite3"]
    return all(os.access(p, os.W_OK) for p in paths if p.exists())


def connect_read_only(path: str | Path, **kwargs: Any) -> sqlite3.Connection:
    """Open an SQLite file for reading without writing anything beside it.

    ``mode=ro`` reads a WAL database only while its ``-shm`` file exists or can be created; a database closed
    cleanly has none, and a read-only folder cannot create it. Then the file is complete on its own (no ``-wal``
    either) and ``immutable=1`` reads it as it is (safe: no writer can hold the folder meanwhile).
    """
    path = Path(path)
    uri = f"file:{_quote(path)}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, **kwargs)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError as exc:
        conn.close()
        if sqlite_problem(exc) != "cantopen" or _has_wal(path):
            raise
        conn = sqlite3.connect(f"{uri}&immutable=1", uri=True, **kwargs)
    conn.execute("PRAGMA query_only=ON")  # a write fails with SQLITE_READONLY, whatever the file allows
    return conn


def _has_wal(path: Path) -> bool:
    wal = path.with_name(path.name + "-wal")
    return wal.exists() and wal.stat().st_size > 0


def _quote(path: Path) -> str:
    from urllib.parse import quote

    return quote(str(path.resolve()), safe="/")


def read_only_chroma_client(path: Path, settings: Any) -> Any:
    """An embedded Chroma client over a read-only folder.

    Chroma's embedded client writes its SQLite file when it opens it (migrations bookkeeping) and fails on a
    read-only one. It gets a private snapshot instead: ``chroma.sqlite3`` is copied into a temporary folder and the
    vector segment folders are linked, not copied (queries only read them). The snapshot is removed when the
    client is garbage-collected or the process exits. Writes through the client raise
    :class:`~langchain_lightmem.errors.ReadOnlyFolderError`.
    """
    import chromadb

    snapshot = Path(tempfile.mkdtemp(prefix="lightmem-readonly-chroma-"))
    if path.is_dir():
        for child in path.iterdir():
            if child.name.startswith("chroma.sqlite3"):
                shutil.copy2(child, snapshot / child.name)
            else:
                (snapshot / child.name).symlink_to(child)
    client = chromadb.PersistentClient(path=str(snapshot), settings=settings)
    weakref.finalize(client, shutil.rmtree, snapshot, ignore_errors=True)
    return ReadOnlyClient(client, path)


class ReadOnlyClient:
    """A Chroma client that reads and refuses to create or delete collections (naming the read-only folder).

    Writes to a collection are refused before they reach Chroma: every store write marks the lexical index first,
    and a read-only lexical index refuses.
    """

    def __init__(self, client: Any, folder: Path | None) -> None:
        self._client = client
        self._folder = folder

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def _refuse(self, what: str) -> ReadOnlyFolderError:
        return ReadOnlyFolderError(read_only_message(self._folder or Path("."), what), path=self._folder)

    def get_or_create_collection(self, name: str, **kwargs: Any) -> Any:
        try:
            return self._client.get_collection(name, embedding_function=kwargs.get("embedding_function"))
        except Exception:
            raise self._refuse(f"create the collection {name!r}") from None

    def create_collection(self, name: str, **kwargs: Any) -> Any:
        raise self._refuse(f"create the collection {name!r}")

    def delete_collection(self, name: str, **kwargs: Any) -> Any:
        raise self._refuse(f"delete the collection {name!r}")

    def reset(self) -> Any:
        raise self._refuse("reset Chroma")


def read_only_client(client: Any, folder: Path | None) -> Any:
    """``client`` refusing collection-level writes (idempotent)."""
    return client if isinstance(client, ReadOnlyClient) else ReadOnlyClient(client, folder)


# -- SQLite errors and compaction ---------------------------------------------------------------------------------

SqliteProblem = Literal["corrupt", "readonly", "cantopen", "busy"]
_PROBLEMS: dict[int, SqliteProblem] = {
    sqlite3.SQLITE_CORRUPT: "corrupt",
    sqlite3.SQLITE_NOTADB: "corrupt",
    sqlite3.SQLITE_READONLY: "readonly",
    sqlite3.SQLITE_CANTOPEN: "cantopen",
    sqlite3.SQLITE_BUSY: "busy",
    sqlite3.SQLITE_LOCKED: "busy",
}


def sqlite_problem(exc: BaseException) -> SqliteProblem | None:
    """What an SQLite error means for the file: damaged, read-only, cannot be opened, busy (else ``None``)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if not isinstance(code, int):
        return None
    return _PROBLEMS.get(code & 0xFF)  # extended codes carry the primary code in the low byte


def compact_sqlite(conn: sqlite3.Connection, path: str | Path) -> None:
    """Rewrite an SQLite file without the bytes of deleted rows, through ``conn`` (no statement in progress).

    ``VACUUM`` rebuilds the file without free pages (deleted rows live on in them); the checkpoints move the write-
    ahead log into the file and truncate it to 0 bytes (old versions of rows live on in it). ``temp_store=MEMORY``
    keeps VACUUM's temporary copy out of the temp folder.

    Raises:
        FolderInUseError: another connection keeps the write-ahead log from being emptied.
    """
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("VACUUM")
    busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
    if busy:
        raise FolderInUseError(
            f"cannot vacuum {path}: the folder is in use (another connection is reading it)", path=Path(path)
        )


# Run in a child process: see compact_chroma.
_CHROMA_VACUUM = """
import json, math, random, sqlite3, struct, sys
conn = sqlite3.connect(sys.argv[1], timeout=float(sys.argv[2]), isolation_level=None)
conn.execute("PRAGMA temp_store=MEMORY")
conn.execute("BEGIN IMMEDIATE")
# Chroma's write-ahead log (embeddings_queue) keeps every write, text included, until its vector index persists
# (sync_threshold): a deleted record's text outlives the delete. Writes a later delete undid keep their row (the
# vector index may still replay it) but lose their metadata and document; the log of a deleted collection goes.
UNDONE = (
    " operation != 3 AND EXISTS (SELECT 1 FROM embeddings_queue d WHERE d.topic = embeddings_queue.topic"
    " AND d.id = embeddings_queue.id AND d.operation = 3 AND d.seq_id > embeddings_queue.seq_id)"
)
conn.execute("UPDATE embeddings_queue SET metadata = NULL WHERE metadata IS NOT NULL AND" + UNDONE)
# Their vectors too: a replay must still find a vector, so each becomes a random one of the same size.
undone = conn.execute(
    "SELECT seq_id, length(vector) FROM embeddings_queue WHERE encoding = 'FLOAT32' AND vector IS NOT NULL AND"
    + UNDONE
).fetchall()
for seq_id, size in undone:
    noise = [random.gauss(0.0, 1.0) for _ in range(size // 4)]
    norm = math.sqrt(sum(x * x for x in noise)) or 1.0
    blob = struct.pack(f"<{len(noise)}f", *(x / norm for x in noise))
    conn.execute("UPDATE embeddings_queue SET vector = ? WHERE seq_id = ?", (blob, seq_id))
conn.execute(
    "DELETE FROM embeddings_queue WHERE NOT EXISTS (SELECT 1 FROM collections c"
    " WHERE embeddings_queue.topic LIKE '%/' || c.id)"
)
conn.execute("COMMIT")
conn.execute("VACUUM")
print(json.dumps([str(row[0]) for row in conn.execute("SELECT id FROM segments")]))
conn.close()
"""


def compact_chroma(path: Path, *, timeout: float = 60.0) -> bool:
    """VACUUM an embedded Chroma folder's SQLite file and remove the vector-index folders of deleted collections.

    Chroma keeps documents and metadata in ``chroma.sqlite3`` (rollback journal, no WAL); a deleted collection's
    rows leave their bytes in free pages, and its HNSW folder (vectors) stays on disk. Returns whether there was a
    file to compact.

    The VACUUM runs in a child process, never through this process's ``sqlite3`` module: Chroma's client carries
    its own copy of SQLite, and two copies of SQLite in one process do not see each other's locks (POSIX locks
    never conflict within a process), so an in-process VACUUM beside a busy client corrupted ``chroma.sqlite3``
    (measured). Across processes SQLite's locking serialises the VACUUM with the client's writes, which wait for
    it (a large file blocks Chroma writes for as long as its VACUUM takes).

    Raises:
        StoreError: the VACUUM failed (the message says why; "database is locked" after ``timeout`` seconds).
    """
    import json
    import subprocess
    import sys

    from langchain_lightmem.errors import StoreError

    database = path / "chroma.sqlite3"
    if not database.exists():
        return False
    # listed before the segments are read: a folder created meanwhile already has its segment row
    folders = [child for child in path.iterdir() if child.is_dir() and _is_uuid(child.name)]
    proc = subprocess.run(
        [sys.executable, "-c", _CHROMA_VACUUM, str(database), str(timeout)],
        capture_output=True,
        text=True,
        timeout=timeout + 600,
        check=False,
    )
    if proc.returncode != 0:
        reason = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise StoreError(f"cannot vacuum {database}: {reason}")
    live = set(json.loads(proc.stdout))
    for folder in folders:
        if folder.name not in live:
            shutil.rmtree(folder, ignore_errors=True)
    return True


def _is_uuid(name: str) -> bool:
    try:
        uuid.UUID(name)
    except ValueError:
        return False
    return True
