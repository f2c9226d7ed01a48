"""The sensory and short-term buffers: not copies, but the messages in a stage, moved forward by the write path's
compress and segment steps (``Pipeline.compress`` / ``segment`` / ``batch``)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from langchain_lightmem.journal.messages import message_from_row
from langchain_lightmem.journal.repository import Repository, marks
from langchain_lightmem.types import Message, Namespace, Segment, Stage, namespace_key


class StageBuffers(Repository):
    """Moves messages ``accepted -> sensory -> short_term`` and reads the buffers each step works on (the move into
    a batch is :meth:`Batches.create <langchain_lightmem.journal.batches.Batches.create>`)."""

    def set_compressed(self, namespace: Namespace, updates: Sequence[tuple[str, str, int]]) -> None:
        """Store ``(id, compressed text, tokens)``; moves :attr:`Stage.ACCEPTED` messages to the sensory buffer."""
        ns = namespace_key(namespace)
        with self._transaction(ns) as cur:
            cur.executemany(
                "UPDATE messages SET compressed = ?, tokens = ?, stage = ?"
                " WHERE namespace = ? AND id = ? AND stage = ?",
                [(text, tokens, Stage.SENSORY, ns, mid, Stage.ACCEPTED) for mid, text, tokens in updates],
            )

    def sensory(
        self, namespace: Namespace, *, threads: Collection[str | None] | None = None
    ) -> dict[str | None, list[Message]]:
        """The sensory buffer of each thread of the namespace (only of ``threads`` if given), in arrival order."""
        sql = "SELECT * FROM messages WHERE namespace = ? AND stage = ?"
        params: list[str | None] = [namespace_key(namespace), Stage.SENSORY]
        if threads is not None:
            wanted = list(threads)
            if not wanted:
                return {}
            named = [t for t in wanted if t is not None]
            clauses = [f"thread_id IN ({marks(named)})"] if named else []
            if None in wanted:
                clauses.append("thread_id IS NULL")
            sql += f" AND ({' OR '.join(clauses)})"
            params += named
        buffers: dict[str | None, list[Message]] = {}
        for row in self._query(sql + " ORDER BY seq", params):
            msg = message_from_row(row)
            buffers.setdefault(msg.thread_id, []).append(msg)
        return buffers

    def threads_over(self, namespace: Namespace, roles: Iterable[str], tokens: int) -> set[str | None]:
        """Threads whose sensory buffer holds more than ``tokens`` tokens of ``roles``."""
        roles = list(roles)
        rows = self._query(
            f"SELECT thread_id FROM messages WHERE namespace = ? AND stage = ? AND role IN ({marks(roles)})"
            " GROUP BY thread_id HAVING sum(tokens) > ?",
            (namespace_key(namespace), Stage.SENSORY, *roles, tokens),
        )
        return {r[0] for r in rows}

    def promote(self, namespace: Namespace, segments: Sequence[Segment]) -> None:
        """Move whole topic segments from the sensory buffer into short-term memory."""
        if not segments:
            return
        ns = namespace_key(namespace)
        with self._transaction(ns) as cur:
            for segment in segments:
                cur.executemany(
                    "UPDATE messages SET stage = ?, segment_id = ? WHERE namespace = ? AND id = ? AND stage = ?",
                    [(Stage.SHORT_TERM, segment.id, ns, m.id, Stage.SENSORY) for m in segment.messages],
                )

    def short_term(self, namespace: Namespace) -> list[Segment]:
        """Short-term memory: whole segments, ordered by their first message."""
        rows = self._query(
            "SELECT * FROM messages WHERE namespace = ? AND stage = ? ORDER BY seq",
            (namespace_key(namespace), Stage.SHORT_TERM),
        )
        segments: dict[str, Segment] = {}
        for msg in map(message_from_row, rows):
            seg_id = msg.segment_id or msg.id
            segments.setdefault(seg_id, Segment(id=seg_id, messages=[])).messages.append(msg)
        return sorted(segments.values(), key=lambda s: s.messages[0].seq)
