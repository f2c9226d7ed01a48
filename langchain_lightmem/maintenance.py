"""Offline maintenance of a data folder.

Deleting rows in SQLite leaves their bytes in free pages (and older versions of pages in write-ahead logs) until
the file is vacuumed; Chroma's embedded store is SQLite too. A running process compacts its own folder with
:meth:`LightMem.vacuum <langchain_lightmem.LightMem.vacuum>` (``lightmem forget --vacuum`` does); :func:`vacuum`
does the same for a folder no process has open.
"""

from __future__ import annotations

from langchain_lightmem.config import LightMemConfig
from langchain_lightmem.folder import DataFolder, compact_chroma, writable


def vacuum(config: LightMemConfig) -> list[str]:
    """Compact the journal, the lexical index and the embedded Chroma of ``config.data_dir``. Returns what was
    compacted.

    The folder is taken exclusively for the run. With the PostgreSQL backend (``postgres.url``) the schema's tables
    are vacuumed too (:meth:`~langchain_lightmem.database.PostgresDatabase.vacuum` says what that erases). A Chroma
    server (``chroma.mode='http'``) is not touched: vacuum it where it runs (``chroma vacuum --path DIR``).

    Raises:
        FolderInUseError: another process has the folder open ("folder is in use").
        ReadOnlyFolderError: this process cannot write the folder.
        JournalCorruptError: the journal is damaged.

    Example:
        .. code-block:: python

            from langchain_lightmem import LightMemConfig
            from langchain_lightmem.maintenance import vacuum

            vacuum(LightMemConfig(data_dir="./memory"))  # ['.../journal.sqlite3', '.../lexical.sqlite3', ...]
    """
    from langchain_lightmem.journal import Journal
    from langchain_lightmem.long_term.lexical import LexicalIndex

    path = config.data_dir.expanduser().resolve()
    folder = DataFolder(path, chroma=config.chroma_path, read_only=path.is_dir() and not writable(path, config))
    done: list[str] = []
    with folder.exclusive():
        if config.backend == "postgres":
            done += _vacuum_postgres(config)
        if config.journal_path.exists():
            journal = Journal(config.journal_path)
            try:
                journal.vacuum()
            finally:
                journal.close()
            done.append(str(config.journal_path))
        lexical_path = config.lexical_path
        if not isinstance(lexical_path, str) and lexical_path.exists():
            lexical = LexicalIndex(lexical_path)
            try:
                lexical.vacuum()
            finally:
                lexical.close()
            done.append(str(lexical_path))
        if config.chroma.mode == "persistent" and compact_chroma(config.chroma_path):
            done.append(str(config.chroma_path))
    return done


def _vacuum_postgres(config: LightMemConfig) -> list[str]:
    from langchain_lightmem.database import PostgresDatabase

    pg = config.postgres
    assert pg.url is not None
    database = PostgresDatabase.from_conn_string(
        pg.url.get_secret_value(), schema=pg.schema_name, min_size=1, max_size=1, timeout=pg.connect_timeout
    )
    try:
        database.vacuum()
    finally:
        database.close()
    return [f"{database.location} (schema {pg.schema_name})"]
