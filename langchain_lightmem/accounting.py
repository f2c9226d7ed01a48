"""Accounting: LLM calls, tokens and wall time per stage and namespace.

Stages record into a :class:`UsageLedger` as they run; the ingest graph persists the ledger into the journal
once per run (one transaction), so ``lightmem stats`` sees the totals of every process that used a data
folder. Searches are counted in memory only: a write per query would cost more than the query.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from langchain_lightmem.types import Namespace

INGEST_STAGES = ("normalise", "compress", "segment", "short_term", "salience", "extract", "write")


@dataclass(slots=True)
class StageUsage:
    """Totals for one stage of one namespace."""

    stage: str
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    seconds: float = 0.0
    items: int = 0

    def add(self, other: StageUsage) -> None:
        self.calls += other.calls
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.seconds += other.seconds
        self.items += other.items


class UsageLedger:
    """Thread-safe accumulator of :class:`StageUsage` keyed by (namespace, stage)."""

    def __init__(self) -> None:
        self._rows: dict[tuple[Namespace, str], StageUsage] = {}
        self._lock = threading.Lock()

    def record(
        self,
        namespace: Namespace,
        stage: str,
        *,
        calls: int = 0,
        input_tokens: int = 0,
        output_tokens: int = 0,
        seconds: float = 0.0,
        items: int = 0,
    ) -> None:
        with self._lock:
            row = self._rows.setdefault((namespace, stage), StageUsage(stage))
            row.add(StageUsage(stage, calls, input_tokens, output_tokens, seconds, items))

    @contextmanager
    def timed(self, namespace: Namespace, stage: str, items: int = 0) -> Iterator[None]:
        """Time a block and record it under ``stage``."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.record(namespace, stage, seconds=time.perf_counter() - started, items=items)

    def drain(self, namespace: Namespace | None = None) -> dict[tuple[Namespace, str], StageUsage]:
        """Take (and clear) the rows of one namespace, or all."""
        with self._lock:
            keys = [k for k in self._rows if namespace is None or k[0] == namespace]
            return {k: self._rows.pop(k) for k in keys}

    def snapshot(self, namespace: Namespace | None = None) -> dict[tuple[Namespace, str], StageUsage]:
        with self._lock:
            return {
                k: StageUsage(v.stage, v.calls, v.input_tokens, v.output_tokens, v.seconds, v.items)
                for k, v in self._rows.items()
                if namespace is None or k[0] == namespace
            }
