"""What long-term memory was built from, so it can be rebuilt without an LLM call: the entries of written batches,
and entries saved, edited or deleted outside the write path (``LightMem.remember`` / ``update`` / ``delete``).
Used by the facade's writes and by ``LightMem.rebuild``."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

from langchain_lightmem.journal.batches import BatchStatus
from langchain_lightmem.journal.repository import Repository, fence
from langchain_lightmem.types import MemoryEntry, Namespace, key_to_namespace, namespace_key


class EntryLog(Repository):
    """The ``saved_entries`` table, and the entries kept in written batches."""

    def save(self, namespace: Namespace, entries: Sequence[MemoryEntry], *, generation: int | None = None) -> None:
        """Keep entries written outside the write path (saved by an agent, edited) for :meth:`saved`."""
        ns, now = namespace_key(namespace), time.time()
        with self._transaction(ns) as cur:
            fence(cur, ns, generation)
            cur.executemany(
                "INSERT INTO saved_entries(namespace, id, entry, saved_ts) VALUES(?, ?, ?, ?)"
                " ON CONFLICT(namespace, id) DO UPDATE SET entry = excluded.entry, saved_ts = excluded.saved_ts",
                [(ns, e.id, json.dumps(e.model_dump(mode="json")), now) for e in entries],
            )

    def delete(self, namespace: Namespace, ids: Sequence[str]) -> None:
        """Remember that these entries were deleted (a tombstone: ``entry`` is ``null``)."""
        ns, now = namespace_key(namespace), time.time()
        with self._transaction(ns) as cur:
            cur.executemany(
                "INSERT INTO saved_entries(namespace, id, entry, saved_ts) VALUES(?, ?, 'null', ?)"
                " ON CONFLICT(namespace, id) DO UPDATE SET entry = excluded.entry, saved_ts = excluded.saved_ts",
                [(ns, i, now) for i in ids],
            )

    def saved(self, namespace: Namespace) -> tuple[list[MemoryEntry], set[str]]:
        """Entries saved or edited outside the write path, oldest first, and the ids deleted by hand."""
        rows = self._query(
            "SELECT id, entry FROM saved_entries WHERE namespace = ? ORDER BY saved_ts", (namespace_key(namespace),)
        )
        kept = [MemoryEntry.model_validate(json.loads(r[1])) for r in rows if r[1] != "null"]
        return kept, {r[0] for r in rows if r[1] == "null"}

    def written(self, namespace: Namespace) -> list[MemoryEntry]:
        """The entries of every written batch, in batch order: what extraction produced (no LLM call to redo)."""
        rows = self._query(
            "SELECT entries FROM batches WHERE namespace = ? AND status = ? AND entries IS NOT NULL ORDER BY seq",
            (namespace_key(namespace), BatchStatus.WRITTEN),
        )
        return [MemoryEntry.model_validate(e) for r in rows for e in json.loads(r[0])]

    def has_memories(self, namespace: Namespace) -> bool:
        """Whether the journal says the namespace has long-term memories (a written batch with entries, or a saved
        entry)."""
        ns = namespace_key(namespace)
        rows = self._query(
            "SELECT 1 FROM batches WHERE namespace = ? AND status = ? AND entries != '[]'"
            " UNION ALL SELECT 1 FROM saved_entries WHERE namespace = ? AND entry != 'null' LIMIT 1",
            (ns, BatchStatus.WRITTEN, ns),
        )
        return bool(rows)

    def namespaces_with_memories(self) -> list[Namespace]:
        """Namespaces the journal says have long-term memories (written batches or saved entries)."""
        rows = self._query(
            "SELECT DISTINCT namespace FROM batches WHERE status = ? AND entries != '[]'"
            " UNION SELECT DISTINCT namespace FROM saved_entries WHERE entry != 'null'",
            (BatchStatus.WRITTEN,),
        )
        return sorted(key_to_namespace(r[0]) for r in rows)
