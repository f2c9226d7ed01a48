"""Accounting: LLM calls, tokens and wall time per stage and namespace.

Every cost is one :class:`Usage` record (calls, tokens, seconds). Stages record into a :class:`UsageLedger` as
they run; the ingest and consolidation graphs persist the ledger into the journal once per run (one
transaction), so ``lightmem stats`` sees the totals of every process that used a data folder. Searches are
counted in memory only: a write per query would cost more than the query.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from langchain_lightmem.types import Namespace

INGEST_STAGES = ("normalise", "compress", "segment", "short_term", "salience", "extract", "write")


@dataclass(slots=True)
class Usage:
    """What model work cost: ``calls`` that reached a model, ``input_tokens`` and ``output_tokens``, ``seconds``.

    The one cost record: a stage's totals (:class:`StageUsage`), a call's (``llm.CallStats``), a batch's
    extraction, a consolidation run's report and a scripted model's counters all carry one.
    """

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    seconds: float = 0.0

    def add(self, other: Usage) -> None:
        """Add ``other`` to this record, in place."""
        self.calls += other.calls
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.seconds += other.seconds

    def __add__(self, other: Usage) -> Usage:
        total = Usage(self.calls, self.input_tokens, self.output_tokens, self.seconds)
        total.add(other)
        return total

    def copy(self) -> Usage:
        return Usage(self.calls, self.input_tokens, self.output_tokens, self.seconds)

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "seconds": self.seconds,
        }


class CarriesUsage:
    """Mixin: a record holding a :class:`Usage` in ``usage`` reads its cost fields as its own attributes
    (``record.calls``, ``record.input_tokens``...). Read-only: a record's cost changes through ``record.usage``."""

    __slots__ = ()
    usage: Usage

    @property
    def calls(self) -> int:
        return self.usage.calls

    @property
    def input_tokens(self) -> int:
        return self.usage.input_tokens

    @property
    def output_tokens(self) -> int:
        return self.usage.output_tokens

    @property
    def seconds(self) -> float:
        return self.usage.seconds


@dataclass(slots=True, init=False)
class StageUsage(CarriesUsage):
    """Totals for one stage of one namespace: its :class:`Usage` and the ``items`` it handled."""

    stage: str
    usage: Usage
    items: int

    def __init__(
        self,
        stage: str,
        calls: int = 0,
        input_tokens: int = 0,
        output_tokens: int = 0,
        seconds: float = 0.0,
        items: int = 0,
        *,
        usage: Usage | None = None,
    ) -> None:
        # The flat form is the journal's usage row (stage, calls, input_tokens, output_tokens, seconds, items).
        self.stage = stage
        self.usage = usage.copy() if usage is not None else Usage(calls, input_tokens, output_tokens, seconds)
        self.items = items

    def add(self, other: StageUsage) -> None:
        self.usage.add(other.usage)
        self.items += other.items

    def as_dict(self) -> dict[str, Any]:
        """The row's fields, flat: ``stage``, the :class:`Usage` fields, ``items``."""
        return {"stage": self.stage, **self.usage.as_dict(), "items": self.items}


class UsageLedger:
    """Thread-safe accumulator of :class:`StageUsage` keyed by (namespace, stage)."""

    def __init__(self) -> None:
        self._rows: dict[tuple[Namespace, str], StageUsage] = {}
        self._lock = threading.Lock()

    def record(
        self,
        namespace: Namespace,
        stage: str,
        usage: Usage | None = None,
        *,
        seconds: float = 0.0,
        items: int = 0,
    ) -> None:
        """Add ``usage`` (what a model call cost), ``seconds`` and ``items`` to the row of (namespace, stage)."""
        with self._lock:
            row = self._rows.setdefault((namespace, stage), StageUsage(stage))
            if usage is not None:
                row.usage.add(usage)
            row.usage.seconds += seconds
            row.items += items

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
                k: StageUsage(v.stage, items=v.items, usage=v.usage)
                for k, v in self._rows.items()
                if namespace is None or k[0] == namespace
            }
