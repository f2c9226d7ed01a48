"""The first node of the write path: turn whatever the caller passed into validated :class:`Message` objects.

Rules (also in docs/input.md):

* **Roles**: ``user``/``human`` -> user, ``assistant``/``ai`` -> assistant, ``system``/``developer`` -> system,
  ``tool``/``function`` -> tool. Anything else is refused.
* **Content**: text blocks are joined; images, audio and files become ``[image]``-style placeholders (with the
  caption or alt text when the block has one); an assistant's tool calls become ``[tool call name(args)]``.
  Lone surrogates become U+FFFD, control characters other than tab and newline are removed. Content that is
  empty after this is refused.
* **Timestamps**: ``datetime``, ISO-8601 strings, or epoch seconds, from 1970 to 3000. Without a timezone the
  configured ``input.naive_timezone`` (UTC) is assumed. Missing means "now". Unparseable or out-of-range values are
  refused.
* **Size**: messages over ``input.max_message_chars`` are refused; messages over ``input.part_tokens`` tokens are
  stored as consecutive parts with ids ``<id>#p1``, ``<id>#p2``, ... (``part_of`` names the original).
* **Ids and thread ids**: strings (or ints) up to 256 characters without control characters or lone surrogates;
  ids are generated when absent and may not contain ``#p``.
* **Speaker**: a string or ``None``; cleaned like content.
* **Other dict keys** (``extra``): JSON only (finite numbers, string keys, no lone surrogates, at most 100 levels),
  at most ``input.max_message_chars`` characters of JSON.

The limits are those of :mod:`langchain_lightmem.validation`, shared by every surface. A call is all or nothing:
the first invalid message raises :class:`InvalidMessageError` (:class:`InvalidTimeError` for a timestamp) naming
its index and field, and nothing of that call is stored. Surfaces that cannot raise to anyone (a chat history
written from a callback, the agent middleware after the reply) normalise with ``repair=True`` instead: an invalid
message is stored repaired and marked (``extra["repaired"]`` says why) rather than dropped: an unknown role becomes
a ``system`` message whose speaker is that role, empty content becomes ``[empty <role> message]``, an unreadable
timestamp becomes "now", an invalid id a generated one, a thread id with control characters or lone surrogates
loses them (U+FFFD for a surrogate), a speaker that is not a string is dropped, extra fields that are not JSON are
dropped, and content over the size limit is cut to it.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from langchain_core.messages import BaseMessage

from langchain_lightmem.config import InputConfig
from langchain_lightmem.errors import (
    ConfigurationError,
    InvalidIdError,
    InvalidInputError,
    InvalidMessageError,
    InvalidTimeError,
)
from langchain_lightmem.tokens import TokenCounter
from langchain_lightmem.types import ROLES, Message, Namespace, utcnow
from langchain_lightmem.validation import (
    MAX_ID_CHARS,
    MAX_TEXT_CHARS,
    validate_id,
    validate_json,
    validate_json_size,
    validate_speaker,
    validate_text,
    validate_timestamp,
)

_ROLE_ALIASES = {
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "ai": "assistant",
    "system": "system",
    "developer": "system",
    "tool": "tool",
    "function": "tool",
    # streamed messages (``AIMessageChunk`` and friends) carry their class name as type
    "humanmessagechunk": "user",
    "aimessagechunk": "assistant",
    "systemmessagechunk": "system",
    "toolmessagechunk": "tool",
    "functionmessagechunk": "tool",
}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_ID_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_PLACEHOLDER_TYPES = {"image", "image_url", "audio", "input_audio", "file", "video", "document"}

MessageLike = BaseMessage | Mapping[str, Any]


def clean_text(text: str) -> str:
    """Replace lone surrogates, drop control characters, unify newlines."""
    text = _SURROGATE.sub("\ufffd", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text)


def _block_text(block: Any) -> str:
    if isinstance(block, str):
        return block
    if not isinstance(block, Mapping):
        return f"[{type(block).__name__}]"
    kind = str(block.get("type", ""))
    if kind == "text" or ("text" in block and kind in ("", "text", "output_text", "input_text")):
        return str(block.get("text", ""))
    if kind in _PLACEHOLDER_TYPES or kind.endswith("_url"):
        label = "image" if kind.startswith("image") else kind.split("_")[0] or "attachment"
        note = block.get("caption") or block.get("alt") or block.get("alt_text") or block.get("description")
        return f"[{label}: {note}]" if note else f"[{label}]"
    if kind in ("tool_use", "tool_call"):
        return _tool_call_text(block.get("name", "tool"), block.get("input", block.get("args", {})))
    if kind in ("reasoning", "thinking"):
        return ""  # model-internal; not a memory
    return f"[{kind or 'block'}]"


def _tool_call_text(name: Any, args: Any) -> str:
    try:
        rendered = json.dumps(args, ensure_ascii=False, default=str, sort_keys=True)
    except (TypeError, ValueError):
        rendered = str(args)
    return f"[tool call {name}({rendered})]"


def content_to_text(content: Any) -> str:
    """Flatten LangChain message content (a string or a list of blocks) into text."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return "\n".join(t for t in (_block_text(b) for b in content) if t)
    return str(content)


def parse_timestamp(value: Any, naive_tz: tzinfo = UTC, *, field: str = "timestamp") -> datetime:
    """Parse a timestamp into an aware datetime, from 1970 to 3000 (naive: ``naive_tz``).

    Raises:
        InvalidTimeError: (a ``ValueError``) unparseable or out of range, with a helpful message naming ``field``.
    """
    return validate_timestamp(value, field, naive_tz=naive_tz)


def _repaired_id(value: Any) -> str | None:
    """An id made storable: text without control characters, lone surrogates as U+FFFD, at most 256 characters."""
    text = _ID_CONTROL.sub("", _SURROGATE.sub("\ufffd", str(value))).strip()[:MAX_ID_CHARS]
    return text or None


def _zone(name: str) -> tzinfo:
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigurationError(f"input.naive_timezone {name!r} is not a known IANA timezone") from exc


def _fields(raw: MessageLike, index: int) -> dict[str, Any]:
    """Pull role/content/timestamp/speaker/id/thread out of a BaseMessage or a dict."""
    if isinstance(raw, BaseMessage):
        role = raw.type if raw.type not in ("chat", "ChatMessageChunk") else getattr(raw, "role", "chat")
        text = content_to_text(raw.content)
        calls = getattr(raw, "tool_calls", None) or []
        rendered = [_tool_call_text(c.get("name"), c.get("args")) for c in calls]
        text = "\n".join(t for t in [text, *rendered] if t and t.strip())
        extra_kw = raw.additional_kwargs or {}
        return {
            "role": role,
            "content": text,
            "timestamp": extra_kw.get("timestamp") or (raw.response_metadata or {}).get("timestamp"),
            "speaker": raw.name,
            "id": raw.id,
            "thread_id": extra_kw.get("thread_id"),
            "extra": {},
        }
    if isinstance(raw, Mapping):
        known = {"role", "type", "content", "text", "timestamp", "time", "speaker", "name", "id", "thread_id"}
        if "content" not in raw and "text" not in raw:
            raise InvalidMessageError("a message dict needs 'content' (and 'role')", index=index)
        content = raw["content"] if "content" in raw else raw.get("text")
        return {
            "role": raw.get("role", raw.get("type")),
            "content": content_to_text(content),
            "timestamp": raw.get("timestamp", raw.get("time")),
            "speaker": raw.get("speaker", raw.get("name")),
            "id": raw.get("id"),
            "thread_id": raw.get("thread_id"),
            "extra": {k: v for k, v in raw.items() if k not in known},
        }
    raise InvalidMessageError(
        f"expected a LangChain BaseMessage or a dict with 'role' and 'content', got {type(raw).__name__}",
        index=index,
    )


def _extra(extra: Mapping[str, Any], max_chars: int, refuse: Any) -> dict[str, Any]:
    """A message's other fields, kept in the journal as JSON: what is not JSON is refused (or, repairing, dropped)."""
    kept: dict[str, Any] = {}
    for key, value in extra.items():
        try:
            validate_json({key: value}, "extra", error=InvalidMessageError)
        except InvalidMessageError as exc:
            refuse(exc, "dropped")
            continue
        kept[key] = value
    try:
        validate_json_size(kept, "extra", max_chars=max_chars, error=InvalidMessageError)
    except InvalidMessageError as exc:
        refuse(exc, "dropped")
        kept = {}
    return kept


def normalize_messages(
    raw_messages: Sequence[MessageLike],
    namespace: Namespace,
    *,
    thread_id: str | None,
    config: InputConfig,
    counter: TokenCounter,
    repair: bool = False,
) -> list[Message]:
    """Validate and normalise a call's messages (see the module docstring for the rules).

    Raises:
        InvalidMessageError: on the first message that cannot be accepted (with ``repair``: only when the call
            itself is malformed, e.g. a string instead of a list); nothing is returned.
    """
    if isinstance(raw_messages, str | bytes | Mapping | BaseMessage):
        raise InvalidMessageError("pass a list of messages, not a single message or string")
    naive_tz = _zone(config.naive_timezone)
    now = utcnow()
    call_repairs: list[str] = []
    if thread_id is not None:
        try:
            thread_id = validate_id(thread_id, "thread_id", error=InvalidMessageError)
        except InvalidMessageError as exc:
            if not repair:
                raise
            thread_id = _repaired_id(thread_id)
            call_repairs.append(f"{exc} (repaired to {thread_id!r})")
    out: list[Message] = []
    for index, raw in enumerate(raw_messages):
        repairs: list[str] = list(call_repairs)

        def refuse(
            reason: str | InvalidInputError,
            fix: str,
            *,
            field: str | None = None,
            index: int = index,
            repairs: list[str] = repairs,
        ) -> None:
            error: type[InvalidMessageError] = InvalidMessageError
            if isinstance(reason, InvalidInputError):
                field = reason.field
                error = InvalidTimeError if isinstance(reason, InvalidTimeError) else InvalidMessageError
            if not repair:
                raise error(str(reason), index=index, field=field) from None
            repairs.append(f"{reason} ({fix})")

        try:
            fields = _fields(raw, index)
        except InvalidMessageError as exc:
            if not repair:
                raise
            fields = {"role": None, "content": "", "timestamp": None, "speaker": None, "id": None, "extra": {}}
            fields["thread_id"] = None
            repairs.append(f"{exc} (stored as a placeholder)")
        role = _ROLE_ALIASES.get(str(fields["role"]).lower()) if fields["role"] is not None else None
        if role is None:
            refuse(
                f"unknown role {fields['role']!r:.60}; use one of {', '.join(ROLES)} (aliases: human, ai, developer,"
                " function)",
                "stored as a system message",
                field="role",
            )
            role = "system"
            if fields["role"] is not None and not fields["speaker"]:
                fields["speaker"] = str(fields["role"])
        content = fields["content"]
        try:
            validate_text(content, "content", max_chars=config.max_message_chars)
        except InvalidMessageError as exc:
            refuse(exc, "cut to the limit")
            content = content[: config.max_message_chars]
        content = clean_text(content).strip()
        if not content:
            refuse(
                "content is empty or whitespace; there is nothing to remember",
                "stored as a placeholder",
                field="content",
            )
            content = f"[empty {role} message]"
        try:
            ts = parse_timestamp(fields["timestamp"], naive_tz) if fields["timestamp"] is not None else now
        except InvalidTimeError as exc:
            refuse(exc, "stored with the time it arrived")
            ts = now
        msg_id = fields["id"]
        if msg_id is None or msg_id == "":
            msg_id = uuid.uuid4().hex
        else:
            try:
                msg_id = validate_id(msg_id, "id", error=InvalidMessageError)
                if "#p" in msg_id:
                    raise InvalidMessageError(
                        f"id {msg_id[:40]!r} contains '#p', which marks the parts of a long message", field="id"
                    )
            except InvalidMessageError as exc:
                refuse(exc, "given a new id")
                msg_id = uuid.uuid4().hex
        try:
            speaker = validate_speaker(fields["speaker"])
        except InvalidMessageError as exc:
            refuse(exc, "dropped")
            speaker = None
        speaker = clean_text(speaker).strip() or None if speaker is not None else None
        thread = fields["thread_id"]
        if thread is None:
            thread = thread_id
        else:
            try:
                thread = validate_id(thread, "thread_id", error=InvalidMessageError)
            except InvalidMessageError as exc:
                thread = _repaired_id(thread)
                refuse(exc, f"repaired to {thread!r}")
        extra = _extra(fields["extra"], config.max_message_chars, refuse)
        if repairs:
            extra["repaired"] = "; ".join(repairs)
        parts = counter.split(content, config.part_tokens) if len(content) > config.part_tokens else [content]
        for part_index, part in enumerate(parts, start=1):
            out.append(
                Message(
                    id=msg_id if len(parts) == 1 else f"{msg_id}#p{part_index}",
                    namespace=namespace,
                    role=role,
                    content=part,
                    timestamp=ts,
                    thread_id=thread,
                    speaker=speaker,
                    tokens=counter.count(part),
                    part_of=msg_id if len(parts) > 1 else None,
                    extra=extra,
                )
            )
    return out


@dataclass(frozen=True, slots=True)
class MemoryInput:
    """The validated fields of a memory saved directly (``LightMem.remember``, the store's memories view)."""

    text: str
    key: str | None
    event_time: datetime | None
    thread_id: str | None
    speaker: str | None


def memory_text(text: Any, *, max_chars: int = MAX_TEXT_CHARS) -> str:
    """A memory's text, cleaned like a message's content (same size limit, lone surrogates as U+FFFD).

    Raises:
        InvalidMessageError: not a string, over ``max_chars`` characters, or empty once cleaned.
    """
    cleaned = clean_text(validate_text(text, "text", max_chars=max_chars)).strip()
    if not cleaned:
        raise InvalidMessageError("a memory needs non-empty text", field="text")
    return cleaned


def normalize_memory(
    text: Any,
    *,
    key: Any = None,
    event_time: Any = None,
    thread_id: Any = None,
    speaker: Any = None,
    max_chars: int = MAX_TEXT_CHARS,
) -> MemoryInput:
    """Validate a memory given directly, with the rules and limits ``add`` applies to a message.

    Example:
        .. code-block:: python

            given = normalize_memory("Alice moved to Lisbon.", event_time="2024-05-01", speaker="Alice")
            given.event_time  # datetime(2024, 5, 1, tzinfo=UTC)

    Raises:
        InvalidMessageError: the text (see :func:`memory_text`), or a ``thread_id`` or ``speaker`` that is not
            valid (:class:`InvalidTimeError` for ``event_time``).
        InvalidIdError: a ``key`` that is not a string of at most 256 characters without control characters or
            lone surrogates.
    """
    cleaned = memory_text(text, max_chars=max_chars)
    key = validate_id(key, "key", error=InvalidIdError) if key is not None else None
    when = parse_timestamp(event_time, field="event_time") if event_time is not None else None
    thread = validate_id(thread_id, "thread_id", error=InvalidMessageError) if thread_id is not None else None
    name = validate_speaker(speaker)
    name = clean_text(name).strip() or None if name is not None else None
    return MemoryInput(cleaned, key, when, thread, name)
