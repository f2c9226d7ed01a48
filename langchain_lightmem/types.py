"""Plain data shared by the stages: namespaces, messages, memory entries, search results."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from langchain_lightmem.validation import validate_namespace

Namespace = tuple[str, ...]
NamespaceLike = str | Sequence[str]
Role = Literal["user", "assistant", "system", "tool"]
ROLES: tuple[str, ...] = ("user", "assistant", "system", "tool")

# One forbidden character ("/", refused in components by the validation layer) keeps the joined key unambiguous.
_NS_SEPARATOR = "/"


def normalize_namespace(namespace: NamespaceLike) -> Namespace:
    """Turn ``"alice"`` or ``("org", "alice")`` into a validated tuple namespace.

    Example:
        .. code-block:: python

            normalize_namespace("alice")               # ("alice",)
            normalize_namespace(["org", "alice"])      # ("org", "alice")

    Raises:
        InvalidNamespaceError: not a string or sequence of strings, empty, more than 64 components, or a component
            that is empty, over 256 characters, or holds ``/``, control characters or lone surrogates (see
            :func:`langchain_lightmem.validation.validate_namespace`).
    """
    return validate_namespace(namespace)


def namespace_key(namespace: Namespace) -> str:
    """The single string under which a (validated) namespace is stored."""
    return _NS_SEPARATOR.join(namespace)


def key_to_namespace(key: str) -> Namespace:
    return tuple(key.split(_NS_SEPARATOR))


def utcnow() -> datetime:
    return datetime.now(UTC)


class Stage(StrEnum):
    """Where a message is on the write path, in order; the journal stores the value (``messages.stage``).

    A ``StrEnum``: a member equals its text (``Stage.DONE == "done"``), so it reads and serialises as a string.
    """

    ACCEPTED = "accepted"  # durably logged, not compressed yet
    SENSORY = "sensory"  # compressed, in its thread's sensory buffer (the open topic segment)
    SHORT_TERM = "short_term"  # in a whole topic segment, waiting for a full batch
    BATCHED = "batched"  # in a batch waiting for (or between) extraction and the long-term write
    DONE = "done"  # its batch's entries are in long-term memory


OPEN_STAGES: tuple[Stage, ...] = (Stage.ACCEPTED, Stage.SENSORY, Stage.SHORT_TERM, Stage.BATCHED)
"""The stages of a message not yet in long-term memory."""


@dataclass(slots=True)
class Message:
    """A message after normalisation, as the journal keeps it.

    ``content`` is the original text (provenance, display); ``compressed`` is what the extractor sees once the
    sensory stage has run. ``seq`` orders messages within the journal.
    """

    id: str
    namespace: Namespace
    role: str
    content: str
    timestamp: datetime
    thread_id: str | None = None
    speaker: str | None = None
    compressed: str | None = None
    tokens: int = 0
    seq: int = 0
    segment_id: str | None = None
    part_of: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    vector: np.ndarray | None = field(default=None, repr=False, compare=False)
    stage: Stage | None = None  # where it is on the write path (set when read back from the journal)
    batch_id: str | None = None

    @property
    def text(self) -> str:
        """The text later stages work on: compressed when available."""
        return self.compressed if self.compressed is not None else self.content

    @property
    def display_speaker(self) -> str:
        return self.speaker or self.role

    @property
    def turn_text(self) -> str:
        """``"<speaker>: <original text>"``: what is embedded once at accept time (segmentation, pending search and
        LLM-free entries all reuse that vector)."""
        return f"{self.display_speaker}: {self.content}"


@dataclass(slots=True)
class Segment:
    """Consecutive messages of one thread about one topic."""

    id: str
    messages: list[Message]

    @property
    def tokens(self) -> int:
        return sum(m.tokens for m in self.messages)


Method = Literal["llm", "extractive", "extractive_fallback", "uncovered", "consolidated", "pending"]
PENDING: Method = "pending"  # a message accepted but not yet extracted: searchable as itself until its facts exist


class MemoryEntry(BaseModel):
    """One long-term memory: a standalone fact (or, LLM-free, a message) with its provenance.

    The consolidation fields (``version``, ``superseded_by``, ``valid_from``, ``valid_to``) are kept from the
    first write so the sleep-time update never has to migrate entries.
    """

    id: str
    namespace: Namespace
    text: str
    source_ids: list[str]
    thread_id: str | None = None
    speaker: str | None = None
    role: str | None = None
    event_time: datetime
    ingested_at: datetime = Field(default_factory=utcnow)
    segment_id: str | None = None
    batch_id: str | None = None
    method: Method = "llm"
    model: str | None = None
    version: int = 1
    superseded_by: str | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    """Extra fields extracted with a custom memory schema (JSON values), e.g. ``{"category": "pet"}``."""

    @property
    def active(self) -> bool:
        return self.superseded_by is None and self.valid_to is None

    @property
    def pending(self) -> bool:
        """True for a message not yet extracted, searchable as itself until its batch's memories replace it."""
        return self.method == PENDING

    def to_value(self) -> dict[str, Any]:
        """The entry as plain JSON for surfaces (store items, tool output): text, time, provenance and how it was
        made; unset optional fields are left out."""
        value: dict[str, Any] = {
            "text": self.text,
            "event_time": self.event_time.isoformat(),
            "source_ids": list(self.source_ids),
            "method": self.method,
            "version": self.version,
        }
        for name in ("thread_id", "speaker", "role", "superseded_by"):
            if (field_value := getattr(self, name)) is not None:
                value[name] = field_value
        for name, field_value in self.attributes.items():
            value.setdefault(name, field_value)  # a custom field never hides a reserved one
        return value

    def to_metadata(self, *, clear_unset: bool = False) -> dict[str, Any]:
        """Flatten into Chroma metadata. Unset optional fields are omitted, or given as ``None`` with
        ``clear_unset`` (Chroma merges metadata on upsert: ``None`` is how a stale value gets removed)."""
        meta: dict[str, Any] = {
            "namespace": namespace_key(self.namespace),
            "source_ids": json.dumps(self.source_ids),
            "event_ts": self.event_time.timestamp(),
            "event_time": self.event_time.isoformat(),
            "ingested_ts": self.ingested_at.timestamp(),
            "method": self.method,
            "version": self.version,
            "active": self.active,
        }
        optional = {
            "thread_id": self.thread_id,
            "speaker": self.speaker,
            "role": self.role,
            "segment_id": self.segment_id,
            "batch_id": self.batch_id,
            "model": self.model,
            "superseded_by": self.superseded_by,
            "valid_from": self.valid_from.isoformat() if self.valid_from else None,
            "valid_to": self.valid_to.isoformat() if self.valid_to else None,
            "attributes": json.dumps(self.attributes, ensure_ascii=False) if self.attributes else None,
        }
        meta.update({k: v for k, v in optional.items() if v is not None or clear_unset})
        return meta

    @classmethod
    def from_record(cls, entry_id: str, text: str, meta: dict[str, Any]) -> MemoryEntry:
        def dt(key: str) -> datetime | None:
            value = meta.get(key)
            return datetime.fromisoformat(value) if value else None

        return cls(
            id=entry_id,
            namespace=key_to_namespace(meta["namespace"]),
            text=text,
            source_ids=json.loads(meta.get("source_ids", "[]")),
            thread_id=meta.get("thread_id"),
            speaker=meta.get("speaker"),
            role=meta.get("role"),
            event_time=dt("event_time") or datetime.fromtimestamp(meta.get("event_ts", 0.0), UTC),
            ingested_at=datetime.fromtimestamp(meta.get("ingested_ts", 0.0), UTC),
            segment_id=meta.get("segment_id"),
            batch_id=meta.get("batch_id"),
            method=meta.get("method", "llm"),
            model=meta.get("model"),
            version=int(meta.get("version", 1)),
            superseded_by=meta.get("superseded_by"),
            valid_from=dt("valid_from"),
            valid_to=dt("valid_to"),
            attributes=json.loads(meta.get("attributes") or "{}"),
        )


def entry_id(namespace: Namespace, batch_id: str, index: int) -> str:
    """Deterministic id: re-writing the same batch after a crash overwrites instead of duplicating."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"lightmem:{namespace_key(namespace)}:{batch_id}:{index}"))


PENDING_PREFIX = "pending:"


def pending_entry_id(namespace: Namespace, message_id: str) -> str:
    """The id of a message's pending entry: ``pending:<uuid>``, one per message, recognisable by its prefix."""
    return PENDING_PREFIX + str(uuid.uuid5(uuid.NAMESPACE_URL, f"lightmem:{namespace_key(namespace)}:msg:{message_id}"))


@dataclass(slots=True, frozen=True)
class SearchResult:
    """A retrieved memory and its relevance to the query (higher is better; see ``LightMem.search``).

    ``entry.pending`` is true for a message that was accepted but is not extracted yet: it is found as itself until
    its batch's memories replace it.
    """

    entry: MemoryEntry
    score: float

    @property
    def pending(self) -> bool:
        return self.entry.pending

    def render(self) -> str:
        """``"2023-05-08 (Mon) <fact>"``: the form LightMem puts into prompts."""
        when = self.entry.event_time
        return f"{when:%Y-%m-%d} ({when:%a}) {self.entry.text}"


@dataclass(slots=True)
class AddResult:
    """What ``add`` did: which message ids it accepted, and what the pipeline produced on the way."""

    accepted: list[str]
    duplicates: list[str]
    entries_written: int = 0
    batches_extracted: int = 0
    deferred_error: str | None = None
    """A later stage (segmentation, extraction, the store) failed after the messages were accepted: they are safe
    in the journal and searchable, and the pipeline retries that stage on the next run. Not raised: retrying the
    call would only find the messages already stored."""
