"""What every repository of the journal shares: its database, and the two helpers several of them use inside a
write transaction (the generation fence and the sequence counters)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from langchain_lightmem.database import Cursor, Database
from langchain_lightmem.errors import LightMemError

T = TypeVar("T")

CHUNK = 500
"""Ids per ``IN (...)`` list: under SQLite's bound-parameter limit on every version."""


class NamespaceForgottenError(LightMemError):
    """The namespace was forgotten while this work was in flight: its result is discarded, nothing is written."""


class Repository:
    """A group of the journal's queries for one consumer, over the :class:`~langchain_lightmem.database.Database`
    the :class:`~langchain_lightmem.journal.Journal` owns (every repository of a journal shares it)."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def _transaction(self, key: str | None = None) -> AbstractContextManager[Cursor]:
        return self._db.transaction(key)

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self._db.query(sql, params)


def chunks(values: Iterable[T]) -> Iterator[list[T]]:
    """``values`` in lists of at most :data:`CHUNK`, for queries with an ``IN (...)`` list."""
    items = list(values)
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def marks(values: Sequence[Any]) -> str:
    """``?,?,?``: one placeholder per value, for an ``IN (...)`` list."""
    return ",".join("?" * len(values))


def generation_key(ns: str) -> str:
    """How the ``namespaces`` table names a namespace: a digest, so the generation that must outlive ``forget``
    (it fences work in flight) keeps no trace of the namespace's name.

    Example:
        >>> generation_key("alice")[:2]
        'h:'
    """
    return "h:" + hashlib.blake2b(ns.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def fence(cur: Cursor, ns: str, generation: int | None) -> None:
    """Inside a write transaction: refuse when the namespace was forgotten since ``generation`` was read.

    Raises:
        NamespaceForgottenError: the namespace's generation moved on (``None`` skips the check).
    """
    if generation is None:
        return
    row = cur.execute("SELECT generation FROM namespaces WHERE namespace = ?", (generation_key(ns),)).fetchone()
    if (int(row[0]) if row else 0) != generation:
        raise NamespaceForgottenError(f"namespace {ns!r} was forgotten while this work was in flight")


def next_seq(cur: Cursor, name: str, n: int) -> int:
    """Reserve ``n`` consecutive sequence numbers of counter ``name``; returns the first. One statement, so
    concurrent writers on PostgreSQL (which may run at once for different namespaces) never get the same numbers."""
    row = cur.execute(
        "INSERT INTO counters(name, value) VALUES(?, ?)"
        " ON CONFLICT(name) DO UPDATE SET value = counters.value + excluded.value RETURNING value",
        (name, n),
    ).fetchone()
    return int(row[0]) - n + 1
