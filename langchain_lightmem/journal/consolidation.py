"""Sleep-time consolidation's state: the queue of entries written since the last run, and the decisions a run
takes (kept before they are applied, so a killed run re-applies them instead of paying for the calls again).
Used by the consolidation graph, the facade (what is due, rebuild, inspection) and the write path (which queues)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence

from langchain_lightmem.database import Cursor
from langchain_lightmem.journal.repository import Repository, chunks, fence, marks, next_seq
from langchain_lightmem.types import Namespace, key_to_namespace, namespace_key

KeptDecision = tuple[str, str, list[str], str | None]
"""A kept decision: ``(target_id, action, newer_ids, text)``."""


def queue_entries(cur: Cursor, ns: str, entry_ids: Sequence[str]) -> None:
    """Inside a write transaction: queue entries for the next consolidation run (an entry queued twice stays at
    its first place)."""
    if entry_ids:
        first = next_seq(cur, "consolidation_seq", len(entry_ids))
        cur.executemany(
            "INSERT INTO consolidation_queue(namespace, entry_id, seq) VALUES(?, ?, ?) ON CONFLICT DO NOTHING",
            [(ns, eid, first + i) for i, eid in enumerate(entry_ids)],
        )


class ConsolidationLog(Repository):
    """The ``consolidation_queue`` and ``consolidation_decisions`` tables."""

    # -- the queue ------------------------------------------------------------------------------------------

    def enqueue(self, namespace: Namespace, entry_ids: Sequence[str], *, generation: int | None = None) -> None:
        """Queue entries written outside the write path (e.g. saved by an agent) for the next consolidation."""
        ns = namespace_key(namespace)
        with self._transaction(ns) as cur:
            fence(cur, ns, generation)
            queue_entries(cur, ns, entry_ids)

    def queue(self, namespace: Namespace) -> list[tuple[str, int]]:
        """Entries written since the last consolidation run, oldest first: ``(entry_id, seq)``."""
        rows = self._query(
            "SELECT entry_id, seq FROM consolidation_queue WHERE namespace = ? ORDER BY seq",
            (namespace_key(namespace),),
        )
        return [(r[0], r[1]) for r in rows]

    def dequeue(self, namespace: Namespace, entry_ids: Sequence[str], *, generation: int | None = None) -> None:
        """Take entries a run has consolidated off the queue."""
        ns = namespace_key(namespace)
        with self._transaction(ns) as cur:
            fence(cur, ns, generation)
            cur.executemany(
                "DELETE FROM consolidation_queue WHERE namespace = ? AND entry_id = ?", [(ns, e) for e in entry_ids]
            )

    def queued_namespaces(self) -> list[Namespace]:
        """Namespaces with entries waiting for consolidation."""
        rows = self._query("SELECT DISTINCT namespace FROM consolidation_queue ORDER BY namespace")
        return [key_to_namespace(r[0]) for r in rows]

    # -- decisions ------------------------------------------------------------------------------------------

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
        with self._transaction(ns) as cur:
            fence(cur, ns, generation)
            cur.executemany(
                "INSERT INTO consolidation_decisions"
                "(namespace, target_id, action, newer_ids, text, applied, created_ts) VALUES(?, ?, ?, ?, ?, 0, ?)"
                " ON CONFLICT(namespace, target_id) DO UPDATE SET action = excluded.action,"
                " newer_ids = excluded.newer_ids, text = excluded.text, applied = 0, created_ts = excluded.created_ts",
                [(ns, t, a, json.dumps(list(n)), x, now) for t, a, n, x in decisions],
            )

    def mark_applied(self, namespace: Namespace, target_ids: Sequence[str], *, generation: int | None = None) -> None:
        """The decisions on ``target_ids`` are applied to long-term memory."""
        ns = namespace_key(namespace)
        with self._transaction(ns) as cur:
            fence(cur, ns, generation)
            cur.executemany(
                "UPDATE consolidation_decisions SET applied = 1 WHERE namespace = ? AND target_id = ?",
                [(ns, t) for t in target_ids],
            )

    def unapplied(self, namespace: Namespace) -> list[KeptDecision]:
        """Decisions kept but not applied yet (a killed run's), oldest first."""
        return self._decisions(namespace, applied=False)

    def applied(self, namespace: Namespace) -> list[KeptDecision]:
        """Decisions applied to long-term memory, oldest first (a rebuild replays them)."""
        return self._decisions(namespace, applied=True)

    def _decisions(self, namespace: Namespace, *, applied: bool) -> list[KeptDecision]:
        rows = self._query(
            "SELECT target_id, action, newer_ids, text FROM consolidation_decisions"
            " WHERE namespace = ? AND applied = ? ORDER BY created_ts, target_id",
            (namespace_key(namespace), int(applied)),
        )
        return [(r[0], r[1], json.loads(r[2]), r[3]) for r in rows]

    def decided(self, namespace: Namespace, target_ids: Sequence[str]) -> dict[str, list[str]]:
        """The newer entries each target was last decided on (for targets that have a decision)."""
        ns, out = namespace_key(namespace), {}
        for chunk in chunks(target_ids):
            rows = self._query(
                "SELECT target_id, newer_ids FROM consolidation_decisions"
                f" WHERE namespace = ? AND target_id IN ({marks(chunk)})",
                (ns, *chunk),
            )
            out.update({r[0]: json.loads(r[1]) for r in rows})
        return out

    def namespaces_with_unapplied(self) -> list[Namespace]:
        """Namespaces with decisions kept but not applied (a killed run to finish)."""
        rows = self._query("SELECT DISTINCT namespace FROM consolidation_decisions WHERE applied = 0")
        return [key_to_namespace(r[0]) for r in rows]
