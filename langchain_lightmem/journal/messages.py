"""The raw message log: what ``add`` accepts, read back by the write path's stages, the facade and inspection."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import numpy as np

from langchain_lightmem.errors import DuplicateMessageError
from langchain_lightmem.journal.repository import Repository, chunks, marks, next_seq
from langchain_lightmem.types import OPEN_STAGES, Message, Namespace, Stage, key_to_namespace, namespace_key


def vector_bytes(vector: np.ndarray | Sequence[float] | None) -> bytes | None:
    """A message's vector as stored (``float32`` bytes), or ``None``."""
    return None if vector is None else np.asarray(vector, dtype=np.float32).tobytes()


def message_from_row(row: Any) -> Message:
    """A ``messages`` row as a :class:`~langchain_lightmem.types.Message`."""
    return Message(
        id=row["id"],
        namespace=key_to_namespace(row["namespace"]),
        role=row["role"],
        content=row["content"],
        timestamp=datetime.fromisoformat(row["ts_iso"]),
        thread_id=row["thread_id"],
        speaker=row["speaker"],
        compressed=row["compressed"],
        tokens=row["tokens"],
        seq=row["seq"],
        segment_id=row["segment_id"],
        part_of=row["part_of"],
        extra=json.loads(row["extra"]) if row["extra"] else {},
        vector=np.frombuffer(row["vector"], dtype=np.float32) if row["vector"] is not None else None,
        stage=Stage(row["stage"]),
        batch_id=row["batch_id"],
    )


class MessageLog(Repository):
    """The ``messages`` table as a log: accept (``Pipeline.accept``), read by id, stage or recency (the facade,
    pending entries, chat windows, inspection), and what is still open (the worker's activity scan)."""

    def append(self, messages: Sequence[Message]) -> tuple[list[str], list[str]]:
        """Durably accept messages (all of one namespace) in one transaction, in :attr:`Stage.ACCEPTED`.

        A message whose id is already stored with the same content is a duplicate delivery and is skipped.

        Returns:
            ``(accepted_ids, duplicate_ids)``.

        Raises:
            DuplicateMessageError: an id is already stored with different content (nothing is stored).
        """
        if not messages:
            return [], []
        ns = namespace_key(messages[0].namespace)
        accepted: list[str] = []
        duplicates: list[str] = []
        now = time.time()
        with self._transaction(ns) as cur:
            fresh: list[Message] = []
            seen: dict[str, str] = {}
            for index, msg in enumerate(messages):
                row = cur.execute(
                    "SELECT content FROM messages WHERE namespace = ? AND id = ?", (ns, msg.id)
                ).fetchone()
                previous = row[0] if row else seen.get(msg.id)
                if previous is None:
                    seen[msg.id] = msg.content
                    fresh.append(msg)
                elif previous == msg.content:
                    duplicates.append(msg.id)
                else:
                    raise DuplicateMessageError(
                        f"id {msg.id!r} was already accepted in namespace {ns!r} with different content; "
                        "give each message a unique id (or omit ids to have them generated)",
                        index=index,
                    )
            first = next_seq(cur, "message_seq", len(fresh))
            for offset, msg in enumerate(fresh):
                msg.seq = first + offset
                cur.execute(
                    "INSERT INTO messages(namespace, id, seq, thread_id, role, speaker, content, compressed, tokens,"
                    " ts, ts_iso, ingested_ts, stage, part_of, extra, vector)"
                    " VALUES(?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        ns,
                        msg.id,
                        msg.seq,
                        msg.thread_id,
                        msg.role,
                        msg.speaker,
                        msg.content,
                        msg.tokens,
                        msg.timestamp.timestamp(),
                        msg.timestamp.isoformat(),
                        now,
                        Stage.ACCEPTED,
                        msg.part_of,
                        json.dumps(msg.extra) if msg.extra else None,
                        vector_bytes(msg.vector),
                    ),
                )
                accepted.append(msg.id)
        return accepted, duplicates

    def read(self, namespace: Namespace, *, stage: Stage | None = None) -> list[Message]:
        """Messages of a namespace in arrival order, optionally only those in one stage."""
        ns = namespace_key(namespace)
        if stage is None:
            rows = self._query("SELECT * FROM messages WHERE namespace = ? ORDER BY seq", (ns,))
        else:
            rows = self._query(
                "SELECT * FROM messages WHERE namespace = ? AND stage = ? ORDER BY seq", (ns, Stage(stage))
            )
        return [message_from_row(r) for r in rows]

    def get(self, namespace: Namespace, ids: Iterable[str]) -> dict[str, Message]:
        """The messages of ``ids`` that are in the journal, by id."""
        ns = namespace_key(namespace)
        found: dict[str, Message] = {}
        for chunk in chunks(dict.fromkeys(ids)):
            rows = self._query(f"SELECT * FROM messages WHERE namespace = ? AND id IN ({marks(chunk)})", (ns, *chunk))
            found.update({r["id"]: message_from_row(r) for r in rows})
        return found

    def existing_ids(self, namespace: Namespace, ids: Iterable[str]) -> set[str]:
        """Which of ``ids`` are already accepted in the namespace."""
        ns = namespace_key(namespace)
        found: set[str] = set()
        for chunk in chunks(dict.fromkeys(ids)):
            rows = self._query(f"SELECT id FROM messages WHERE namespace = ? AND id IN ({marks(chunk)})", (ns, *chunk))
            found.update(r[0] for r in rows)
        return found

    def closed_among(self, namespace: Namespace, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` are no longer open: written to long-term memory, or not in the journal at all."""
        ns = namespace_key(namespace)
        open_ids: set[str] = set()
        for chunk in chunks(ids):
            rows = self._query(
                f"SELECT id FROM messages WHERE namespace = ? AND stage != ? AND id IN ({marks(chunk)})",
                (ns, Stage.DONE, *chunk),
            )
            open_ids.update(r[0] for r in rows)
        return set(ids) - open_ids

    def open_ids(self, namespace: Namespace, roles: Iterable[str]) -> list[str]:
        """Ids of the messages of ``roles`` accepted but not yet in long-term memory, in order."""
        roles = list(roles)
        rows = self._query(
            f"SELECT id FROM messages WHERE namespace = ? AND stage != ? AND role IN ({marks(roles)}) ORDER BY seq",
            (namespace_key(namespace), Stage.DONE, *roles),
        )
        return [r[0] for r in rows]

    def set_vectors(self, namespace: Namespace, vectors: Sequence[tuple[str, np.ndarray]]) -> None:
        """Keep vectors computed later for messages accepted without one (a folder from before schema 3)."""
        ns = namespace_key(namespace)
        with self._transaction(ns) as cur:
            cur.executemany(
                "UPDATE messages SET vector = ? WHERE namespace = ? AND id = ?",
                [(vector_bytes(v), ns, mid) for mid, v in vectors],
            )

    def recent(
        self, namespace: Namespace, *, thread_id: str | None = None, limit: int | None = None, after_seq: int = 0
    ) -> list[Message]:
        """The newest ``limit`` messages of the namespace (of one thread if given) with ``seq > after_seq``, oldest
        first."""
        sql = "SELECT * FROM messages WHERE namespace = ? AND seq > ?"
        params: list[Any] = [namespace_key(namespace), after_seq]
        if thread_id is not None:
            sql += " AND thread_id = ?"
            params.append(thread_id)
        sql += " ORDER BY seq DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [message_from_row(r) for r in reversed(self._query(sql, params))]

    def activity(self, namespace: Namespace | None = None) -> dict[Namespace, dict[str | None, tuple[float, bool]]]:
        """For each namespace with open messages, each thread with open messages: ``(last, unsegmented)``, the last
        time it received one (``ingested_ts``, epoch seconds) and whether some are still in its sensory buffer."""
        unsegmented = (Stage.ACCEPTED, Stage.SENSORY)
        sql = (
            "SELECT namespace, thread_id, max(ingested_ts),"
            f" max(CASE WHEN stage IN ({marks(unsegmented)}) THEN 1 ELSE 0 END) FROM messages"
            f" WHERE stage IN ({marks(OPEN_STAGES)})"
        )
        params: tuple[Any, ...] = (*unsegmented, *OPEN_STAGES)
        if namespace is not None:
            sql += " AND namespace = ?"
            params = (*params, namespace_key(namespace))
        out: dict[Namespace, dict[str | None, tuple[float, bool]]] = {}
        for ns, thread, last, open_tail in self._query(sql + " GROUP BY namespace, thread_id", params):
            out.setdefault(key_to_namespace(ns), {})[thread] = (float(last), bool(open_tail))
        return out

    def stage_counts(self, namespace: Namespace) -> dict[str, int]:
        """How many of the namespace's messages are in each stage (every stage, in order, zero included)."""
        rows = self._query(
            "SELECT stage, COUNT(*) FROM messages WHERE namespace = ? GROUP BY stage", (namespace_key(namespace),)
        )
        counts = {stage.value: 0 for stage in Stage}
        counts.update({r[0]: r[1] for r in rows})
        return counts

    def namespaces(self) -> list[Namespace]:
        """Every namespace with messages in the journal."""
        rows = self._query("SELECT DISTINCT namespace FROM messages ORDER BY namespace")
        return [key_to_namespace(r[0]) for r in rows]
