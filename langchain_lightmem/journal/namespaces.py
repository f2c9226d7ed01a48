"""A namespace's generations: ``forget`` deletes everything the journal holds for it and starts its next
generation, which fences the writes of work still in flight (see :func:`~langchain_lightmem.journal.repository.fence`).
Used by the facade's ``forget`` and by every run that writes (it reads the generation when it starts)."""

from __future__ import annotations

from langchain_lightmem.journal.leases import consolidation_lease
from langchain_lightmem.journal.repository import Repository, generation_key
from langchain_lightmem.types import Namespace, namespace_key

# The tables besides ``messages`` holding rows of a namespace (``leases`` is keyed by name, ``namespaces`` by a
# digest).
_NAMESPACED_TABLES = (
    "batches",
    "usage",
    "consolidation_queue",
    "consolidation_decisions",
    "windows",
    "saved_entries",
)


class Namespaces(Repository):
    """The ``namespaces`` table (generations) and ``forget``."""

    def generation(self, namespace: Namespace) -> int:
        """How many times the namespace was forgotten. Work that started at one generation may only write at it."""
        rows = self._query(
            "SELECT generation FROM namespaces WHERE namespace = ?", (generation_key(namespace_key(namespace)),)
        )
        return int(rows[0][0]) if rows else 0

    def forget(self, namespace: Namespace) -> int:
        """Delete everything the journal holds for the namespace, in one transaction, and start its next generation:
        work in flight that read the old generation can no longer write (decisions, usage, extractions). Returns
        the number of messages removed."""
        ns = namespace_key(namespace)
        with self._transaction(ns) as cur:
            removed = cur.execute("DELETE FROM messages WHERE namespace = ?", (ns,)).rowcount
            for table in _NAMESPACED_TABLES:
                cur.execute(f"DELETE FROM {table} WHERE namespace = ?", (ns,))
            cur.execute("DELETE FROM leases WHERE name = ?", (consolidation_lease(namespace),))
            cur.execute(
                "INSERT INTO namespaces(namespace, generation) VALUES(?, 1)"
                " ON CONFLICT(namespace) DO UPDATE SET generation = namespaces.generation + 1",
                (generation_key(ns),),
            )
        return removed
