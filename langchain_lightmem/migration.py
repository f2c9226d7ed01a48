"""Move a whole deployment to other backends: :func:`migrate` (``lightmem migrate``).

A deployment usually starts embedded (the SQLite journal and lexical index in ``<data_dir>``, an embedded Chroma
with the ``collections`` layout) and later moves to the servers (the journal and the lexical index on PostgreSQL,
a ``chroma run`` server, often the ``buckets`` layout). :func:`migrate` copies everything from one to the other:

* every row of every journal table (the accepted messages with their vectors, batches, usage, consolidation's
  queue and decisions, counters, namespace generations, chat windows, saved entries), unchanged: both engines
  share one schema (:mod:`langchain_lightmem.journal.schema`);
* every namespace's memory entries, current, pending and superseded (history), **with their stored vectors**:
  nothing is embedded again, so the embeddings of source and target must be the same model;
* the target's lexical (BM25) index, filled by the store as it writes, in the source index's order (topic-segment
  neighbours stay neighbours);
* the items of every LangGraph store (``LightMemStore``) in the source's Chroma, raw: each ``<prefix>_items``
  collection (found by its ``kind`` metadata) and its ``<prefix>_vectors`` twin, records with their stored vectors,
  the collections' metadata and configuration (cosine space) kept.

Order, and why a failed run can simply be run again: the entries and store items are written to Chroma first
(upserts by id: writing one twice overwrites it), then every journal row in **one** transaction of the target (all
or nothing). A run that stops anywhere (an error, a kill) leaves the target's journal empty, and the next run starts
over, overwriting what the first one wrote and removing entries and store items the source no longer holds. Once the
journal is committed the target is complete, and a further run is refused (:class:`MigrationTargetNotEmptyError`).
A run marks the target's Chroma while it works (an empty ``<chroma.collection>_migration`` collection, dropped once
the journal is committed): memories, or items in a store collection the source also has, found in a target Chroma
without that mark belong to another deployment, and are refused rather than mixed with the copy or deleted.

The source is only read (SQLite files through read-only connections, Chroma through a client that refuses
collection writes) and, when embedded, held exclusively: stop every process that writes the source before
migrating (a PostgreSQL source cannot be locked from here: stop its workers yourself). ``leases`` rows are not
copied: they name the source's running workers.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from langchain_core.embeddings import Embeddings

from langchain_lightmem.config import LightMemConfig
from langchain_lightmem.database import Database, PostgresDatabase, SqliteDatabase
from langchain_lightmem.errors import (
    ConfigurationError,
    MigrationCheckError,
    MigrationError,
    MigrationTargetNotEmptyError,
)
from langchain_lightmem.folder import DataFolder, read_only_client
from langchain_lightmem.journal import POSTGRES_MIGRATIONS, SCHEMA_VERSION, Journal, Table, tables
from langchain_lightmem.long_term.lexical import LexicalBackend, LexicalIndex
from langchain_lightmem.long_term.store import ChromaMemoryStore
from langchain_lightmem.models import embeddings_model_id, load_embeddings
from langchain_lightmem.store_items import store_collections as find_store_collections
from langchain_lightmem.types import MemoryEntry, Namespace, key_to_namespace, namespace_key

if TYPE_CHECKING:
    from langchain_lightmem.long_term.lexical_postgres import PostgresLexicalIndex

__all__ = [
    "MigrationCheckError",
    "MigrationError",
    "MigrationProgress",
    "MigrationReport",
    "MigrationTargetNotEmptyError",
    "migrate",
]

logger = logging.getLogger(__name__)

SKIPPED_TABLES = frozenset({"leases"})
"""Journal tables not copied: a lease names a worker of the source deployment, which does not run on the target."""
_PAGE = 500  # journal rows read per query, and entries or store records written per Chroma call
"""The ``kind`` metadata of a ``LightMemStore``'s items collection (set in ``integrations/store.py``, a layer above
this one: the value is repeated here, and a test compares them)."""


@dataclass(frozen=True, slots=True)
class MigrationProgress:
    """Where a migration is: ``done`` of ``total`` units (one per memory entry, then one per store record, then one
    per journal row), and the step running now (``"vectors alice"``, ``"store lightmem_store_items"``,
    ``"journal messages"``)."""

    phase: str
    done: int
    total: int


@dataclass(frozen=True, slots=True)
class MigrationReport:
    """What :func:`migrate` copied."""

    namespaces: int
    """Namespaces copied (those with messages, saved memories or memory entries in the source)."""
    journal_rows: Mapping[str, int] = field(default_factory=dict)
    """Rows copied per journal table (``messages``: the accepted messages)."""
    entries: int = 0
    """Current memory entries copied, pending ones (messages not extracted yet) included."""
    history: int = 0
    """Superseded entries copied into the target's history."""
    removed: int = 0
    """Entries found in the target that the source does not hold (left by an earlier, failed run), deleted."""
    store_items: int = 0
    """Items of LangGraph stores (``LightMemStore``) copied, all store collections together."""
    store_vectors: int = 0
    """Their indexed texts' vectors copied (records of the ``<prefix>_vectors`` collections)."""
    store_removed: int = 0
    """Store records (items and vectors) found in the target that the source does not hold, deleted."""
    seconds: float = 0.0

    @property
    def messages(self) -> int:
        """Accepted messages copied."""
        return self.journal_rows.get("messages", 0)

    def as_dict(self) -> dict[str, Any]:
        """The report as plain JSON types."""
        out = asdict(self)
        out["journal_rows"] = dict(self.journal_rows)
        return out


Progress = Callable[[MigrationProgress], None]


def migrate(
    source: LightMemConfig,
    target: LightMemConfig,
    *,
    progress: Progress | None = None,
    embeddings: Embeddings | None = None,
) -> MigrationReport:
    """Copy the deployment of ``source`` (journal, memory entries with their vectors, lexical index, the items of its
    LangGraph stores) into the empty ``target``, which may use other backends and another Chroma layout.

    The entries and store items go to Chroma first, then every journal row in one transaction of the target: a run
    that fails or is killed anywhere leaves the target's journal empty, and running it again completes the copy
    (entries and store records are upserted by id, so nothing is duplicated; those an earlier run left that the
    source no longer holds are deleted). At the end each namespace's entry counts (current and history) in the
    target must equal the source's, each store collection's record count and each table's row count too, else
    :class:`MigrationCheckError` (the journal is then not written either).

    The source is only read. Stop every process that uses it (and the target) first: an embedded source or target
    folder is held exclusively for the run (``FolderInUseError`` while another process has it open).

    Args:
        source: the deployment to copy (an embedded folder, or PostgreSQL / a Chroma server).
        target: where to copy it: an empty journal (a new folder, or a PostgreSQL schema without LightMem rows),
            and a Chroma whose collections for this prefix are empty or left by a failed run of this migration.
        progress: called after each step with a :class:`MigrationProgress` (a progress bar; raising stops the run,
            which can then be run again).
        embeddings: the embeddings both deployments use, when it is not what ``source.embeddings`` names (a
            custom ``Embeddings`` given to ``LightMem``). Only its model id is used: nothing is embedded.

    Returns:
        What was copied (:class:`MigrationReport`).

    Raises:
        ConfigurationError: source and target are the same place, one of them is ephemeral, or their embeddings
            differ (vectors are copied, not recomputed), a store's vectors included.
        MigrationTargetNotEmptyError: the target's journal already holds data, or its Chroma holds memories under
            ``chroma.collection``, or items in a store collection of the source's name, that no migration into it
            wrote (another deployment's); nothing was written.
        MigrationCheckError: the target does not hold what the source holds after the copy.
        MigrationError: the source holds no LightMem journal, or one of an older schema.
        FolderInUseError: another process has the source's or the target's data folder open.

    Example:
        .. code-block:: python

            from langchain_lightmem import LightMemConfig
            from langchain_lightmem.migration import migrate

            report = migrate(
                LightMemConfig(data_dir="./memory"),
                LightMemConfig(
                    data_dir="./worker",
                    postgres={"url": "postgresql://app:secret@db:5432/app"},
                    chroma={"mode": "http", "host": "chroma", "port": 8000, "layout": "buckets"},
                ),
            )
            print(report.namespaces, report.messages, report.entries, report.history)
    """
    started = time.monotonic()
    model_id = _check_pair(source, target, embeddings)
    copy_only = _CopiedVectorsOnly(model_id)
    with contextlib.ExitStack() as stack:
        reading = _open_source(source, copy_only, stack)
        # one Chroma for both: the store collections (named by their own prefix) are already the target's
        store_collections = [] if _same_chroma(source, target) else _store_collections(reading.store.client, model_id)
        writing = _open_target(target, copy_only, stack)
        _refuse_non_empty(writing.journal.database, target)
        _claim_chroma(writing.store, target, store_collections)
        namespaces = sorted(set(reading.journal_namespaces()) | set(reading.store.namespaces()))
        counts = {ns: reading.store.count(ns, include_history=True) for ns in namespaces}
        rows = {t.name: reading.row_count(t) for t in _copied_tables()}
        records = sum(c.source.count() for c in store_collections)
        meter = _Meter(progress, sum(counts.values()) + records + sum(rows.values()))

        removed = _remove_orphans(writing.store, set(namespaces))
        current = history = 0
        for ns in namespaces:
            copied = _copy_namespace(reading, writing.store, ns, meter)
            current, history, removed = current + copied[0], history + copied[1], removed + copied[2]
        store_copied = {c.name: _copy_store_collection(c, writing.store.client, meter) for c in store_collections}
        _check_entries(reading.store, writing.store, namespaces)
        _check_store(store_collections, writing.store.client)
        _copy_journal(reading, writing.journal, rows, meter)
        _release_chroma(writing.store)
    report = MigrationReport(
        namespaces=len(namespaces),
        journal_rows=rows,
        entries=current,
        history=history,
        removed=removed,
        store_items=sum(store_copied[c.name][0] for c in store_collections if not c.vectors),
        store_vectors=sum(store_copied[c.name][0] for c in store_collections if c.vectors),
        store_removed=sum(copied[1] for copied in store_copied.values()),
        seconds=time.monotonic() - started,
    )
    logger.info("migrated %s", report)
    return report


# -- checks before anything is opened -----------------------------------------------------------------------------


def _check_pair(source: LightMemConfig, target: LightMemConfig, embeddings: Embeddings | None) -> str:
    """The embeddings' model id, once the pair is known to make sense (else a ConfigurationError)."""
    for name, config in (("source", source), ("target", target)):
        if config.chroma.mode == "ephemeral":
            raise ConfigurationError(
                f"the {name} uses chroma.mode='ephemeral': it keeps nothing beyond its process, so there is nothing "
                f"to migrate {'from' if name == 'source' else 'to'}; use 'persistent' or 'http'"
            )
    same = _same_places(source, target)
    if same:
        raise ConfigurationError(
            f"source and target are the same place ({' and '.join(same)}): migrate into a new data folder, another "
            "PostgreSQL schema (postgres.schema_name) or another chroma.collection"
        )
    if embeddings is not None:
        return embeddings_model_id(embeddings)
    source_id = embeddings_model_id(load_embeddings(source.embeddings))
    target_id = embeddings_model_id(load_embeddings(target.embeddings))
    if source_id != target_id:
        raise ConfigurationError(
            f"the source's embeddings are {source_id!r} and the target's {target_id!r}: vectors are copied, not "
            "computed again, so both must use the same embeddings (set the target's embeddings to the source's)"
        )
    return source_id


def _same_places(source: LightMemConfig, target: LightMemConfig) -> list[str]:
    """What source and target share that a copy would overwrite: the journal, or the Chroma collections."""
    same: list[str] = []
    if source.backend == target.backend == "sqlite":
        if source.journal_path.expanduser().resolve() == target.journal_path.expanduser().resolve():
            same.append(f"the journal {source.journal_path}")
    elif source.backend == target.backend == "postgres":
        assert source.postgres.url is not None and target.postgres.url is not None
        if (source.postgres.url.get_secret_value(), source.postgres.schema_name) == (
            target.postgres.url.get_secret_value(),
            target.postgres.schema_name,
        ):
            same.append(f"the PostgreSQL schema {source.postgres.schema_name}")
    one, other = source.chroma, target.chroma
    if one.collection == other.collection and _same_chroma(source, target):
        where = f"in {source.chroma_path}" if one.mode == "persistent" else f"on {one.host}:{one.port}"
        same.append(f"the Chroma collections {one.collection}_* {where}")
    return same


def _same_chroma(source: LightMemConfig, target: LightMemConfig) -> bool:
    """Whether both use one Chroma (the same embedded folder, or the same server), whatever their prefixes."""
    one, other = source.chroma, target.chroma
    if one.mode != other.mode:
        return False
    if one.mode == "persistent":
        return source.chroma_path.expanduser().resolve() == target.chroma_path.expanduser().resolve()
    return one.mode == "http" and (one.host, one.port) == (other.host, other.port)


class _CopiedVectorsOnly(Embeddings):
    """Stands in for the embedder: carries its model id (checked against every collection) and refuses to embed,
    so that a vector the copy failed to carry is an error, never a silently different vector."""

    def __init__(self, model_id: str) -> None:
        self.model_id = model_id

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        raise MigrationError("an entry reached the target without its vector; nothing is embedded during a migration")

    def embed_query(self, text: str) -> list[float]:
        raise MigrationError("nothing is embedded during a migration")


# -- the two sides -----------------------------------------------------------------------------------------------


@dataclass
class _Source:
    database: Database
    store: ChromaMemoryStore
    lexical: LexicalBackend | None

    def journal_namespaces(self) -> list[Namespace]:
        found: set[str] = set()
        for table in ("messages", "saved_entries"):
            found.update(str(r[0]) for r in self.database.query(f"SELECT DISTINCT namespace FROM {table}"))
        return [key_to_namespace(key) for key in found]

    def row_count(self, table: Table) -> int:
        return int(self.database.query(f"SELECT count(*) FROM {table.name}")[0][0])

    def pages(self, table: Table) -> Iterator[list[tuple[Any, ...]]]:
        """The table's rows in key order, a page at a time (keyset paging: each page one indexed range read)."""
        columns, key = ", ".join(table.columns), ", ".join(table.key)
        positions = [table.columns.index(k) for k in table.key]
        last: tuple[Any, ...] | None = None
        while True:
            after = f"WHERE ({key}) > ({', '.join('?' * len(table.key))}) " if last is not None else ""
            page = self.database.query(
                f"SELECT {columns} FROM {table.name} {after}ORDER BY {key} LIMIT {_PAGE}", last or ()
            )
            if not page:
                return
            rows = [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in page]
            yield rows
            if len(page) < _PAGE:
                return
            last = tuple(rows[-1][i] for i in positions)

    def order(self, namespace: Namespace, entries: Sequence[MemoryEntry]) -> list[MemoryEntry]:
        """``entries`` in the source's lexical order (insertion order: message order for the write path's
        entries), those the index lacks after them by event time."""
        positions: dict[str, int] = {}
        if self.lexical is not None:
            positions = self.lexical.positions(self.store.index_name(namespace), [e.id for e in entries])
        unknown = len(positions) + 1
        return sorted(entries, key=lambda e: (positions.get(e.id, unknown), e.event_time.timestamp(), e.id))


@dataclass
class _Target:
    journal: Journal
    store: ChromaMemoryStore


def _open_source(config: LightMemConfig, embeddings: Embeddings, stack: contextlib.ExitStack) -> _Source:
    """The source's journal database, store and lexical index, opened for reading only."""
    folder_path = config.data_dir.expanduser().resolve()
    uses_folder = config.backend == "sqlite" or config.chroma.mode == "persistent"
    if config.backend == "sqlite" and not config.journal_path.is_file():
        raise MigrationError(
            f"no LightMem journal at {config.journal_path}: pass the data folder the source deployment uses "
            "(--data-dir, LIGHTMEM_DATA_DIR) or its postgres.url"
        )
    if config.chroma.mode == "persistent" and not config.chroma_path.is_dir():
        raise MigrationError(f"no Chroma folder at {config.chroma_path}: pass the source's chroma.path or server")
    if uses_folder:
        folder = DataFolder.open(config)  # held for the run: no LightMem process writes the source meanwhile
        stack.callback(folder.close)
    database: Database
    lexical: LexicalBackend | None
    if config.backend == "postgres":
        database = _postgres(config)
        stack.callback(database.close)
        _require_version(database, "journal_migrations", len(POSTGRES_MIGRATIONS), config)
        lexical = _postgres_lexical_reader(database)
    else:
        database = SqliteDatabase(config.journal_path, read_only=True)
        stack.callback(database.close)
        version = int(database.query("PRAGMA user_version")[0][0])
        if version != SCHEMA_VERSION:
            raise MigrationError(
                f"the journal {config.journal_path} has schema version {version}, not {SCHEMA_VERSION}: open it once "
                f"with this version of LightMem (e.g. 'lightmem --data-dir {config.data_dir} stats'), which "
                "upgrades it, then migrate"
            )
        lexical_path = config.lexical_path
        # a read-only index is an in-memory copy of the file: read, never written
        lexical = LexicalIndex(lexical_path, read_only=True) if not isinstance(lexical_path, str) else None
        if lexical is not None:
            stack.callback(lexical.close)
    store = ChromaMemoryStore(config.chroma, config.chroma_path, embeddings, lexical=None)
    store.client = read_only_client(store.client, folder_path if uses_folder else None)
    return _Source(database, store, lexical)


def _open_target(config: LightMemConfig, embeddings: Embeddings, stack: contextlib.ExitStack) -> _Target:
    """The target's journal and store (with its lexical index), as ``LightMem`` opens them."""
    folder = DataFolder.open(config)
    stack.callback(folder.close)
    if folder.read_only:
        raise folder.refuse("migrate into it")
    lexical: LexicalBackend
    if config.backend == "postgres":
        from langchain_lightmem.long_term.lexical_postgres import PostgresLexicalIndex

        database = _postgres(config)
        stack.callback(database.close)
        journal = Journal(database)
        lexical = PostgresLexicalIndex(database)
    else:
        journal = Journal(config.journal_path)
        stack.callback(journal.close)
        lexical = LexicalIndex(config.lexical_path)
        stack.callback(lexical.close)
    store = ChromaMemoryStore(config.chroma, config.chroma_path, embeddings, lexical=lexical)
    return _Target(journal, store)


def _postgres(config: LightMemConfig) -> PostgresDatabase:
    pg = config.postgres
    assert pg.url is not None
    return PostgresDatabase.from_conn_string(
        pg.url.get_secret_value(), schema=pg.schema_name, min_size=1, max_size=2, timeout=pg.connect_timeout
    )


def _require_version(database: Database, table: str, wanted: int, config: LightMemConfig) -> None:
    try:
        row = database.query(f"SELECT max(v) FROM {table}")
    except Exception as exc:
        raise MigrationError(
            f"no LightMem journal in schema {config.postgres.schema_name!r} at {database.location} ({exc}); pass "
            "the source's postgres.url and postgres.schema_name"
        ) from exc
    version = int(row[0][0] or 0) if row else 0
    if version != wanted:
        raise MigrationError(
            f"the source's journal in schema {config.postgres.schema_name!r} is at version {version}, not {wanted}: "
            "open it once with this version of LightMem (which upgrades it), then migrate"
        )


def _postgres_lexical_reader(database: PostgresDatabase) -> PostgresLexicalIndex:
    """The source's lexical tables, read only: its usual constructor would run the (idempotent) schema setup."""
    from langchain_lightmem.long_term.lexical_postgres import PostgresLexicalIndex

    class _Reader(PostgresLexicalIndex):
        def setup(self) -> None:  # the source is never written, not even its schema
            return None

    return _Reader(database)


def _refuse_non_empty(database: Database, config: LightMemConfig) -> None:
    for table in tables():
        if database.query(f"SELECT 1 FROM {table.name} LIMIT 1"):
            where = (
                f"PostgreSQL schema {config.postgres.schema_name!r} at {database.location}"
                if config.backend == "postgres"
                else f"{config.journal_path}"
            )
            raise MigrationTargetNotEmptyError(
                f"the target's journal ({where}) already holds data (table {table.name}): a migration only fills an "
                "empty target; choose a new data folder or another postgres.schema_name (an earlier migration into "
                "it completed, or another deployment uses it)"
            )


def _marker_name(store: ChromaMemoryStore) -> str:
    return f"{store.config.collection}_migration"


def _claim_chroma(
    store: ChromaMemoryStore, config: LightMemConfig, store_collections: Sequence[_StoreCollection]
) -> None:
    """Refuse a target Chroma holding memories, or records in a store collection the source has, that no migration
    into it left (another deployment's: they would mix), and a store's vectors of other embeddings; then mark it as
    being migrated into, so that a run after a failed one may overwrite and clean what it finds."""
    existing = {c.name: c for c in store.client.list_collections()}
    where = f"{config.chroma.host}:{config.chroma.port}" if config.chroma.mode == "http" else config.chroma_path
    for wanted in store_collections:  # metadata only: refused with nothing written, marked or not
        found = existing.get(wanted.name)
        stored = (found.metadata or {}).get("embedding_model") if found is not None else None
        if wanted.vectors and stored and stored != wanted.model_id:
            raise ConfigurationError(
                f"the target's Chroma ({where}) has a store collection {wanted.name!r} of embeddings {stored!r}, the "
                f"source's holds vectors of {wanted.model_id!r}: migrate into a Chroma without it"
            )
    if _marker_name(store) not in existing:
        found_namespaces = store.namespaces()
        if found_namespaces:
            raise MigrationTargetNotEmptyError(
                f"the target's Chroma ({where}) already holds memories of {len(found_namespaces)} namespace(s) under "
                f"chroma.collection {config.chroma.collection!r} that no migration into it wrote: migrate into an "
                "empty Chroma, or set another chroma.collection for the target"
            )
        held = [c.name for c in store_collections if c.name in existing and existing[c.name].count()]
        if held:
            raise MigrationTargetNotEmptyError(
                f"the target's Chroma ({where}) already holds LangGraph store items in {', '.join(held)} that no "
                "migration into it wrote (another deployment's store of the same collection name): migrate into a "
                "Chroma without them"
            )
    # a collection of its own (no memory collection's name or metadata): the mark survives a killed run
    store.client.get_or_create_collection(
        _marker_name(store), embedding_function=None, metadata={"lightmem_migration": "in progress"}
    )


def _release_chroma(store: ChromaMemoryStore) -> None:
    """The migration completed (its journal is committed): the target is an ordinary deployment again."""
    with contextlib.suppress(Exception):  # a mark left behind only lets a later, refused, run clean
        store.client.delete_collection(_marker_name(store))


def _copied_tables() -> list[Table]:
    return [t for t in tables() if t.name not in SKIPPED_TABLES]


# -- the copy ----------------------------------------------------------------------------------------------------


class _Meter:
    """Counts the units done and tells ``progress``."""

    def __init__(self, progress: Progress | None, total: int) -> None:
        self.progress, self.total, self.done = progress, total, 0

    def step(self, phase: str, n: int) -> None:
        self.done += n
        if self.progress is not None:
            self.progress(MigrationProgress(phase, self.done, self.total))


def _remove_orphans(store: ChromaMemoryStore, keep: set[Namespace]) -> int:
    """Delete what an earlier failed run wrote for namespaces the source no longer holds (forgotten since)."""
    removed = 0
    for namespace in store.namespaces():
        if namespace not in keep:
            removed += store.delete_namespace(namespace)
    return removed


def _copy_namespace(
    source: _Source, target: ChromaMemoryStore, namespace: Namespace, meter: _Meter
) -> tuple[int, int, int]:
    """Copy one namespace's entries with their vectors; returns (current, history, removed from the target)."""
    phase = f"vectors {namespace_key(namespace)}"
    listed = source.store.list(namespace, include_history=True, include_pending=True)
    ids = list(dict.fromkeys(e.id for e in listed))
    wanted = set(ids)
    stale = [e.id for e in target.list(namespace, include_history=True, include_pending=True) if e.id not in wanted]
    removed = target.delete(namespace, stale) if stale else 0
    # (entry, vector, history?) in the source's lexical order; an id in both collections (a move to history that
    # a crash interrupted) is copied as it is, history first, as the store would complete it.
    found: dict[str, list[tuple[MemoryEntry, list[float], bool]]] = {}
    for start in range(0, len(ids), _PAGE):
        chunk = ids[start : start + _PAGE]
        for history in (True, False):
            for entry, vector in source.store.get_with_vectors(namespace, chunk, history=history):
                found.setdefault(entry.id, []).append((entry, vector, history))
    order = source.order(namespace, [copies[0][0] for copies in found.values()])
    items = [item for entry in order for item in found[entry.id]]
    current = history_count = 0
    for run in _runs(items):
        in_history = run[0][2]
        target.upsert([e for e, _, _ in run], vectors={e.id: v for e, v, _ in run}, history=in_history)
        if in_history:
            history_count += len(run)
        else:
            current += len(run)
        meter.step(phase, len(run))
    return current, history_count, removed


def _runs(
    items: Sequence[tuple[MemoryEntry, list[float], bool]],
) -> Iterator[list[tuple[MemoryEntry, list[float], bool]]]:
    """Consecutive items of the same collection (current or history), at most a page each: written in order,
    they keep the lexical index's positions in the source's order."""
    run: list[tuple[MemoryEntry, list[float], bool]] = []
    for item in items:
        if run and (run[0][2] != item[2] or len(run) >= _PAGE):
            yield run
            run = []
        run.append(item)
    if run:
        yield run


@dataclass(frozen=True, slots=True)
class _StoreCollection:
    """One Chroma collection of a LangGraph store in the source: its items, or their vectors."""

    source: Any
    vectors: bool
    model_id: str | None  # the embeddings of a vectors collection (the deployment's)

    @property
    def name(self) -> str:
        return str(self.source.name)


def _store_collections(client: Any, model_id: str) -> list[_StoreCollection]:
    """Every ``LightMemStore`` collection of the source's Chroma (``store_items.store_collections``): each items
    collection and its vectors twin, whose embeddings must be the deployment's (vectors are copied, not
    recomputed)."""
    found: list[_StoreCollection] = []
    for items, vectors in find_store_collections(client):
        found.append(_StoreCollection(items, False, None))
        if vectors is None:  # a store without an index
            continue
        stored = (vectors.metadata or {}).get("embedding_model")
        if stored and stored != model_id:
            raise ConfigurationError(
                f"the LangGraph store collection {vectors.name!r} holds vectors of embeddings {stored!r}, the "
                f"deployment's are {model_id!r}: vectors are copied, not computed again, so a store with its own "
                "embeddings (LightMemStore(index={'embed': ...})) cannot be migrated"
            )
        found.append(_StoreCollection(vectors, True, model_id))
    return found


def _copy_store_collection(collection: _StoreCollection, client: Any, meter: _Meter) -> tuple[int, int]:
    """Copy one store collection's records raw (ids, documents, metadata, stored vectors), a page at a time, into
    the same-named target collection (created with the source's metadata and configuration); then delete what the
    target holds that the source does not (an earlier run's copy of a record deleted since). Returns (copied,
    removed)."""
    source = collection.source
    configuration = {
        k: v for k, v in dict(source.configuration or {}).items() if k in ("hnsw", "spann") and v is not None
    }
    target = client.get_or_create_collection(
        collection.name, embedding_function=None, configuration=configuration or None, metadata=source.metadata
    )
    copied: set[str] = set()
    for page in _store_pages(source, ["documents", "metadatas", "embeddings"]):
        target.upsert(
            ids=page["ids"], documents=page["documents"], metadatas=page["metadatas"], embeddings=page["embeddings"]
        )
        copied.update(page["ids"])
        meter.step(f"store {collection.name}", len(page["ids"]))
    stale = [i for page in _store_pages(target, []) for i in page["ids"] if i not in copied]
    for start in range(0, len(stale), _PAGE):
        target.delete(ids=stale[start : start + _PAGE])
    return len(copied), len(stale)


def _store_pages(collection: Any, include: list[str]) -> Iterator[Mapping[str, Any]]:
    for start in itertools.count(0, _PAGE):
        page = collection.get(include=include, limit=_PAGE, offset=start)
        if page["ids"]:
            yield page
        if len(page["ids"]) < _PAGE:
            return


def _check_store(collections: Sequence[_StoreCollection], client: Any) -> None:
    """Each store collection of the target must hold as many records as the source's."""
    wrong: list[str] = []
    for collection in collections:
        want, got = collection.source.count(), client.get_collection(collection.name, embedding_function=None).count()
        if want != got:
            wrong.append(f"{collection.name}: {got} records, the source {want}")
    if wrong:
        raise MigrationCheckError(
            "the target's LangGraph store collections do not hold what the source's hold ("
            + "; ".join(wrong[:5])
            + "); its journal was left empty: run the migration again (stop every process that writes the source "
            "or the target first)"
        )


def _check_entries(source: ChromaMemoryStore, target: ChromaMemoryStore, namespaces: Sequence[Namespace]) -> None:
    """Per namespace, the target must hold as many current and history entries as the source."""
    wrong: list[str] = []
    for namespace in namespaces:
        for include_history, kind in ((False, "current"), (True, "current and history")):
            want = source.count(namespace, include_history=include_history)
            got = target.count(namespace, include_history=include_history)
            if want != got:
                wrong.append(f"{namespace_key(namespace)}: {got} {kind} entries, the source {want}")
    if wrong:
        raise MigrationCheckError(
            "the target does not hold what the source holds (" + "; ".join(wrong[:5]) + "); its journal was left "
            "empty: run the migration again (stop every process that writes the source or the target first)"
        )


def _copy_journal(source: _Source, journal: Journal, rows: Mapping[str, int], meter: _Meter) -> None:
    """Every row of every copied table in one transaction of the target: all of them, or (on any error, a failed
    check included) none."""
    with journal.transaction() as cur:
        for table in tables():  # checked again inside the transaction: nobody wrote since
            if cur.execute(f"SELECT 1 FROM {table.name} LIMIT 1").fetchone() is not None:
                raise MigrationTargetNotEmptyError(
                    f"the target's journal received data (table {table.name}) while the migration ran: stop every "
                    "process that uses the target, then migrate into an empty one"
                )
        for table in _copied_tables():
            insert = (
                f"INSERT INTO {table.name} ({', '.join(table.columns)}) VALUES ({', '.join('?' * len(table.columns))})"
            )
            for page in source.pages(table):
                cur.executemany(insert, page)
                meter.step(f"journal {table.name}", len(page))
            got = int(cur.execute(f"SELECT count(*) FROM {table.name}").fetchone()[0])
            if got != rows[table.name]:
                raise MigrationCheckError(
                    f"the target's journal table {table.name} got {got} rows, the source holds {rows[table.name]} "
                    "(was the source written during the migration?); nothing of the journal was written: stop every "
                    "process that writes the source, then run the migration again"
                )
