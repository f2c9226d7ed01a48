"""Who a worker is and the named leases that keep one run of a kind per namespace (a consolidation run, or a
re-extraction, which replaces entries); held by the consolidation graph and the facade."""

from __future__ import annotations

import os
import socket
import time
import uuid

from langchain_lightmem.journal.repository import Repository
from langchain_lightmem.types import Namespace, namespace_key


def new_worker_id() -> str:
    """``host:pid:random``: unique per pipeline, and tells whether a lease holder on this host still runs."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def worker_alive(owner: str) -> bool:
    """False only when ``owner`` names a process on this host that has exited."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return True  # another machine: trust the lease expiry
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def consolidation_lease(namespace: Namespace) -> str:
    """The lease one consolidation run (or a re-extraction, which replaces entries) holds on a namespace."""
    return f"consolidate:{namespace_key(namespace)}"


class Leases(Repository):
    """The ``leases`` table: a named lease is held by one live worker at a time, until it expires."""

    def acquire(self, name: str, owner: str, seconds: float) -> bool:
        """Take the named lease unless another live worker holds it (used: one consolidation run per namespace)."""
        now = time.time()
        with self._transaction(name) as cur:
            row = cur.execute("SELECT owner, until FROM leases WHERE name = ?", (name,)).fetchone()
            if row and row["owner"] != owner and row["until"] >= now and worker_alive(row["owner"]):
                return False
            cur.execute(
                "INSERT INTO leases(name, owner, until) VALUES(?, ?, ?)"
                " ON CONFLICT(name) DO UPDATE SET owner = excluded.owner, until = excluded.until",
                (name, owner, now + seconds),
            )
        return True

    def release(self, name: str, owner: str) -> None:
        """Give the named lease up, if ``owner`` still holds it."""
        with self._transaction(name) as cur:
            cur.execute("DELETE FROM leases WHERE name = ? AND owner = ?", (name, owner))
