"""Batches, one extraction call each: created from short-term memory, claimed by a worker, extracted (the facts are
kept here first), then written to long-term memory; the write path's extract / write / re-extract steps.

    pending --extract--> extracted --write--> written   (a re-extraction takes a written batch back to extracted)
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from langchain_lightmem.journal.consolidation import queue_entries
from langchain_lightmem.journal.leases import worker_alive
from langchain_lightmem.journal.messages import message_from_row
from langchain_lightmem.journal.repository import Repository, fence, next_seq
from langchain_lightmem.types import MemoryEntry, Message, Namespace, Stage, key_to_namespace, namespace_key


class BatchStatus(StrEnum):
    """How far a batch went (``batches.status``); a member equals its text."""

    PENDING = "pending"  # its messages wait for one extraction call
    EXTRACTED = "extracted"  # its entries are kept here, not yet in long-term memory
    WRITTEN = "written"  # its entries are in long-term memory, its messages are done


UNFINISHED: tuple[BatchStatus, ...] = (BatchStatus.PENDING, BatchStatus.EXTRACTED)


@dataclass(slots=True)
class BatchInfo:
    """A batch as inspection shows it: what it holds, how far it went, what its extraction covered."""

    id: str
    seq: int
    status: BatchStatus
    mode: str
    attempts: int
    error: str | None
    created: float
    updated: float
    entry_ids: list[str]
    coverage: dict[str, Any] | None


@dataclass(slots=True)
class Batch:
    """A batch as the write path works on it (claimed, or read back to write)."""

    namespace: Namespace
    id: str
    status: BatchStatus
    attempts: int
    entries: list[MemoryEntry] | None
    mode: str = "llm"  # "extractive": nothing worth an LLM call (greetings, filler); its messages are kept as is
    replaces: list[str] = field(default_factory=list)  # entry ids a re-extraction's entries take the place of


def _batch_from_row(row: Any) -> Batch:
    entries = (
        [MemoryEntry.model_validate(e) for e in json.loads(row["entries"])] if row["entries"] is not None else None
    )
    return Batch(
        namespace=key_to_namespace(row["namespace"]),
        id=row["id"],
        status=BatchStatus(row["status"]),
        attempts=row["attempts"],
        entries=entries,
        mode=row["mode"],
        replaces=json.loads(row["replaces"]) if row["replaces"] else [],
    )


class Batches(Repository):
    """The ``batches`` table and the messages in them, for the write path (and its inspection)."""

    def create(
        self,
        namespace: Namespace,
        batch_id: str,
        message_ids: Sequence[str],
        *,
        generation: int | None = None,
        mode: str = "llm",
    ) -> None:
        """Close a short-term batch: its messages (:attr:`Stage.SHORT_TERM` -> :attr:`Stage.BATCHED`) wait for one
        extraction call."""
        ns = namespace_key(namespace)
        now = time.time()
        with self._transaction(ns) as cur:
            fence(cur, ns, generation)
            seq = next_seq(cur, "batch_seq", 1)
            cur.execute(
                "INSERT INTO batches(namespace, id, seq, status, created_ts, updated_ts, mode)"
                " VALUES(?, ?, ?, ?, ?, ?, ?)",
                (ns, batch_id, seq, BatchStatus.PENDING, now, now, mode),
            )
            cur.executemany(
                "UPDATE messages SET stage = ?, batch_id = ? WHERE namespace = ? AND id = ? AND stage = ?",
                [(Stage.BATCHED, batch_id, ns, mid, Stage.SHORT_TERM) for mid in message_ids],
            )

    def info(self, namespace: Namespace) -> list[BatchInfo]:
        """Every batch of the namespace, oldest first."""
        rows = self._query("SELECT * FROM batches WHERE namespace = ? ORDER BY seq", (namespace_key(namespace),))
        return [
            BatchInfo(
                id=r["id"],
                seq=r["seq"],
                status=BatchStatus(r["status"]),
                mode=r["mode"],
                attempts=r["attempts"],
                error=r["error"],
                created=r["created_ts"],
                updated=r["updated_ts"],
                entry_ids=[e["id"] for e in json.loads(r["entries"])] if r["entries"] else [],
                coverage=json.loads(r["coverage"]) if r["coverage"] else None,
            )
            for r in rows
        ]

    def counts(self, namespace: Namespace) -> dict[str, int]:
        """How many of the namespace's batches are in each status (only statuses that have some)."""
        rows = self._query(
            "SELECT status, COUNT(*) FROM batches WHERE namespace = ? GROUP BY status", (namespace_key(namespace),)
        )
        return {r[0]: r[1] for r in rows}

    def messages(self, namespace: Namespace, batch_id: str) -> list[Message]:
        """The messages of one batch, in arrival order."""
        rows = self._query(
            "SELECT * FROM messages WHERE namespace = ? AND batch_id = ? ORDER BY seq",
            (namespace_key(namespace), batch_id),
        )
        return [message_from_row(r) for r in rows]

    def message_ids(self, namespace: Namespace, *, mode: str) -> list[str]:
        """Ids of the messages whose batch was of ``mode`` (``"extractive"``: gated by the salience gate)."""
        rows = self._query(
            "SELECT m.id FROM messages m JOIN batches b ON m.namespace = b.namespace AND m.batch_id = b.id"
            " WHERE m.namespace = ? AND b.mode = ? ORDER BY m.seq",
            (namespace_key(namespace), mode),
        )
        return [r[0] for r in rows]

    def claim(self, namespace: Namespace, owner: str, lease_seconds: float) -> list[Batch]:
        """Take every unfinished batch of the namespace not leased by another live worker, oldest first.

        A lease is free when it expired, or when its owner was a process on this host that no longer runs
        (a killed ingestion resumes at once on restart instead of waiting for the lease to run out).
        """
        ns = namespace_key(namespace)
        now = time.time()
        with self._transaction(ns) as cur:
            rows = cur.execute(
                "SELECT * FROM batches WHERE namespace = ? AND status IN (?, ?) ORDER BY seq", (ns, *UNFINISHED)
            ).fetchall()
            mine = [
                r
                for r in rows
                if r["lease_owner"] in (None, owner) or r["lease_until"] < now or not worker_alive(r["lease_owner"])
            ]
            cur.executemany(
                "UPDATE batches SET lease_owner = ?, lease_until = ? WHERE namespace = ? AND id = ?",
                [(owner, now + lease_seconds, ns, r["id"]) for r in mine],
            )
        return [_batch_from_row(r) for r in mine]

    def get(self, namespace: Namespace, ids: Sequence[str]) -> list[Batch]:
        """The batches of ``ids`` that exist, in the order of ``ids``."""
        ns = namespace_key(namespace)
        batches: list[Batch] = []
        for batch_id in ids:
            rows = self._query("SELECT * FROM batches WHERE namespace = ? AND id = ?", (ns, batch_id))
            batches.extend(_batch_from_row(r) for r in rows)
        return batches

    def record_attempt(
        self, namespace: Namespace, batch_id: str, error: str | None, *, generation: int | None = None
    ) -> None:
        """Count one extraction attempt and keep its error (``None``: it succeeded)."""
        ns = namespace_key(namespace)
        with self._transaction(ns) as cur:
            fence(cur, ns, generation)
            cur.execute(
                "UPDATE batches SET attempts = attempts + 1, error = ?, updated_ts = ? WHERE namespace = ? AND id = ?",
                (error, time.time(), ns, batch_id),
            )

    def save_extraction(
        self,
        namespace: Namespace,
        batch_id: str,
        entries: Sequence[MemoryEntry],
        *,
        coverage: dict[str, int] | None = None,
        generation: int | None = None,
    ) -> None:
        """Keep the extracted facts (and what they covered) before they are written, so a crash never pays for
        the call twice."""
        ns = namespace_key(namespace)
        payload = json.dumps([e.model_dump(mode="json") for e in entries])
        with self._transaction(ns) as cur:
            fence(cur, ns, generation)
            cur.execute(
                "UPDATE batches SET status = ?, entries = ?, coverage = ?, updated_ts = ?"
                " WHERE namespace = ? AND id = ?",
                (
                    BatchStatus.EXTRACTED,
                    payload,
                    json.dumps(coverage) if coverage is not None else None,
                    time.time(),
                    ns,
                    batch_id,
                ),
            )

    def replace_extraction(
        self,
        namespace: Namespace,
        batch_id: str,
        entries: Sequence[MemoryEntry],
        replaces: Sequence[str],
        *,
        owner: str,
        lease_seconds: float,
        coverage: dict[str, int] | None = None,
        generation: int | None = None,
    ) -> bool:
        """A written batch's entries are to be replaced (a re-extraction): keep the new entries and the ids they
        replace, and lease the batch to ``owner``; the write path then deletes the old ids before it adds the new
        ones, so a crash anywhere is finished by the next run. False when another live worker holds the batch or
        it is not written.
        """
        ns = namespace_key(namespace)
        now = time.time()
        with self._transaction(ns) as cur:
            fence(cur, ns, generation)
            row = cur.execute(
                "SELECT status, lease_owner, lease_until FROM batches WHERE namespace = ? AND id = ?", (ns, batch_id)
            ).fetchone()
            if row is None or row["status"] != BatchStatus.WRITTEN:
                return False
            held = row["lease_owner"] not in (None, owner) and (row["lease_until"] or 0) >= now
            if held and worker_alive(row["lease_owner"]):
                return False
            cur.execute(
                "UPDATE batches SET status = ?, entries = ?, coverage = ?, replaces = ?, error = NULL,"
                " attempts = attempts + 1, lease_owner = ?, lease_until = ?, updated_ts = ?"
                " WHERE namespace = ? AND id = ?",
                (
                    BatchStatus.EXTRACTED,
                    json.dumps([e.model_dump(mode="json") for e in entries]),
                    json.dumps(coverage) if coverage is not None else None,
                    json.dumps(list(replaces)),
                    owner,
                    now + lease_seconds,
                    now,
                    ns,
                    batch_id,
                ),
            )
        return True

    def mark_written(
        self, namespace: Namespace, batch_id: str, entry_ids: Sequence[str] = (), *, generation: int | None = None
    ) -> None:
        """The batch's entries are in long-term memory: its messages are done, its entries await consolidation."""
        ns = namespace_key(namespace)
        with self._transaction(ns) as cur:
            fence(cur, ns, generation)
            queue_entries(cur, ns, entry_ids)
            cur.execute(
                "UPDATE batches SET status = ?, lease_owner = NULL, lease_until = NULL, replaces = NULL,"
                " updated_ts = ? WHERE namespace = ? AND id = ?",
                (BatchStatus.WRITTEN, time.time(), ns, batch_id),
            )
            # The vector was only needed while the message was open (segmentation, its pending entry).
            cur.execute(
                "UPDATE messages SET stage = ?, vector = NULL WHERE namespace = ? AND batch_id = ?",
                (Stage.DONE, ns, batch_id),
            )

    def release(self, owner: str) -> None:
        """Give up this worker's batch leases (on close) so another worker can continue at once."""
        with self._transaction() as cur:
            cur.execute("UPDATE batches SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?", (owner,))
