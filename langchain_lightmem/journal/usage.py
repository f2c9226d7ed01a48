"""Persisted LLM / stage usage per namespace: the ingest and consolidation graphs add their ledgers' totals, the
facade's ``stats`` reads them."""

from __future__ import annotations

from collections.abc import Iterable

from langchain_lightmem.accounting import StageUsage
from langchain_lightmem.journal.repository import Repository, fence
from langchain_lightmem.types import Namespace, key_to_namespace, namespace_key


class UsageLog(Repository):
    """The ``usage`` table: running totals keyed by (namespace, usage stage)."""

    def add(self, namespace: Namespace, rows: Iterable[StageUsage], *, generation: int | None = None) -> None:
        """Add per-stage totals to the namespace's usage counters, in one transaction."""
        ns = namespace_key(namespace)
        with self._transaction(ns) as cur:
            fence(cur, ns, generation)
            cur.executemany(
                "INSERT INTO usage(namespace, stage, calls, input_tokens, output_tokens, seconds, items)"
                " VALUES(?, ?, ?, ?, ?, ?, ?) ON CONFLICT(namespace, stage) DO UPDATE SET"
                " calls = usage.calls + excluded.calls, input_tokens = usage.input_tokens + excluded.input_tokens,"
                " output_tokens = usage.output_tokens + excluded.output_tokens,"
                " seconds = usage.seconds + excluded.seconds, items = usage.items + excluded.items",
                [(ns, r.stage, r.calls, r.input_tokens, r.output_tokens, r.seconds, r.items) for r in rows],
            )

    def totals(self, namespace: Namespace | None = None) -> dict[tuple[Namespace, str], StageUsage]:
        """Persisted usage totals, keyed by (namespace, stage); every namespace's when ``namespace`` is None."""
        if namespace is None:
            rows = self._query("SELECT * FROM usage ORDER BY namespace, stage")
        else:
            rows = self._query("SELECT * FROM usage WHERE namespace = ? ORDER BY stage", (namespace_key(namespace),))
        return {
            (key_to_namespace(r["namespace"]), r["stage"]): StageUsage(
                r["stage"], r["calls"], r["input_tokens"], r["output_tokens"], r["seconds"], r["items"]
            )
            for r in rows
        }
