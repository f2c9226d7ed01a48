"""Chat windows (``LightMemChatMessageHistory``): where each thread's window starts; ``clear`` moves the start, it
deletes nothing."""

from __future__ import annotations

import json

from langchain_lightmem.journal.repository import Repository
from langchain_lightmem.types import Namespace, namespace_key


class ChatWindows(Repository):
    """The ``windows`` table: one start per (namespace, thread)."""

    def start_seq(self, namespace: Namespace, thread_id: str | None) -> int:
        """The ``seq`` after which a thread's chat window starts (0 until :meth:`start` is called)."""
        rows = self._query(
            "SELECT start_seq FROM windows WHERE namespace = ? AND thread = ?",
            (namespace_key(namespace), json.dumps(thread_id)),
        )
        return int(rows[0][0]) if rows else 0

    def start(self, namespace: Namespace, thread_id: str | None) -> None:
        """Start a thread's chat window after every message accepted so far (chat history ``clear``). Nothing is
        deleted: the messages stay in the journal and on their way to long-term memory."""
        ns = namespace_key(namespace)
        with self._transaction(ns) as cur:
            row = cur.execute("SELECT value FROM counters WHERE name = 'message_seq'").fetchone()
            cur.execute(
                "INSERT INTO windows(namespace, thread, start_seq) VALUES(?, ?, ?)"
                " ON CONFLICT(namespace, thread) DO UPDATE SET start_seq = excluded.start_seq",
                (ns, json.dumps(thread_id), row[0] if row else 0),
            )
