"""The first node of the write path: turn whatever the caller passed into validated :class:`Message` objects.

Rules (also in docs/input.md):

* **Roles**: ``user``/``human`` -> user, ``assistant``/``ai`` -> assistant, ``system``/``developer`` -> system,
  ``tool``/``function`` -> tool. Anything else is refused.
* **Content**: text blocks are joined; images, audio and files become ``[image]``-style placeholders (with the
  caption or alt text when the block has one); an assistant's tool calls become ``[tool call name(args)]``.
  Lone surrogates become U+FFFD, control characters other than tab and newline are removed. Content that is
  empty after this is refused.
* **Timestamps**: ``datetime``, ISO-8601 strings, or epoch seconds. Without a timezone the configured
  ``input.naive_timezone`` (UTC) is assumed. Missing means "now". Unparseable or out-of-range values are refused.
* **Size**: messages over ``input.max_message_chars`` are refused; messages over ``input.part_tokens`` tokens are
  stored as consecutive parts with ids ``<id>#p1``, ``<id>#p2``, ... (``part_of`` names the original).
* **Ids**: kept when given (strings up to 256 characters), generated otherwise.

A call is all or nothing: the first invalid message raises :class:`InvalidMessageError` naming its index, and
nothing of that call is stored. Surfaces that cannot raise to anyone (a chat history written from a callback, the
agent middleware after the reply) normalise with ``repair=True`` instead: an invalid message is stored repaired
and marked (``extra["repaired"]`` says why) rather than dropped: an unknown role becomes a ``system`` message whose
speaker is that role, empty content becomes ``[empty <role> message]``, an unreadable timestamp becomes "now", an
invalid id a generated one, and content over the size limit is cut to it.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from langchain_core.messages import BaseMessage

from langchain_lightmem.config import InputConfig
from langchain_lightmem.errors import ConfigurationError, InvalidMessageError
from langchain_lightmem.tokens import TokenCounter
from langchain_lightmem.types import ROLES, Message, Namespace, utcnow

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
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_MAX_ID = 256
_MAX_EPOCH = 32_503_680_000  # year 3000
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


def parse_timestamp(value: Any, naive_tz: tzinfo = UTC) -> datetime:
    """Parse a timestamp into an aware datetime. Raises ``ValueError`` with a helpful message."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, bool):
        raise ValueError(f"timestamp must be a datetime, ISO-8601 string or epoch seconds, not {value!r}")
    elif isinstance(value, int | float):
        if value != value or value < 0 or value > _MAX_EPOCH:
            hint = " (looks like milliseconds: divide by 1000)" if value > _MAX_EPOCH else ""
            raise ValueError(f"epoch timestamp {value!r} is out of range{hint}")
        return datetime.fromtimestamp(float(value), UTC)
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"timestamp {value!r} is not ISO-8601; use e.g. '2024-05-08T13:56:00+02:00' or epoch seconds"
            ) from None
    else:
        raise ValueError(f"timestamp must be a datetime, ISO-8601 string or epoch seconds, not {type(value).__name__}")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=naive_tz)
    return dt


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
    out: list[Message] = []
    for index, raw in enumerate(raw_messages):
        repairs: list[str] = []

        def refuse(reason: str, fix: str, *, index: int = index, repairs: list[str] = repairs) -> None:
            if not repair:
                raise InvalidMessageError(reason, index=index)
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
                f"unknown role {fields['role']!r}; use one of {', '.join(ROLES)} (aliases: human, ai, developer,"
                " function)",
                "stored as a system message",
            )
            role = "system"
            if fields["role"] is not None and not fields["speaker"]:
                fields["speaker"] = str(fields["role"])
        content = fields["content"]
        if len(content) > config.max_message_chars:
            refuse(
                f"content has {len(content):,} characters, over input.max_message_chars={config.max_message_chars:,};"
                " split it or raise the limit",
                "cut to the limit",
            )
            content = content[: config.max_message_chars]
        content = clean_text(content).strip()
        if not content:
            refuse("content is empty or whitespace; there is nothing to remember", "stored as a placeholder")
            content = f"[empty {role} message]"
        try:
            ts = parse_timestamp(fields["timestamp"], naive_tz) if fields["timestamp"] is not None else now
        except ValueError as exc:
            refuse(str(exc), "stored with the time it arrived")
            ts = now
        msg_id = fields["id"]
        if msg_id is None or msg_id == "":
            msg_id = uuid.uuid4().hex
        elif not isinstance(msg_id, str | int) or isinstance(msg_id, bool):
            refuse(f"id must be a string, got {type(msg_id).__name__}", "given a new id")
            msg_id = uuid.uuid4().hex
        msg_id = str(msg_id)
        if len(msg_id) > _MAX_ID or _CONTROL.search(msg_id) or "#p" in msg_id:
            refuse(
                f"id {msg_id[:40]!r} is invalid: at most {_MAX_ID} characters, no control characters, no '#p'",
                "given a new id",
            )
            msg_id = uuid.uuid4().hex
        speaker = fields["speaker"]
        speaker = clean_text(str(speaker)).strip() or None if speaker is not None else None
        thread = fields["thread_id"] if fields["thread_id"] is not None else thread_id
        thread = str(thread) if thread is not None else None
        extra = dict(fields["extra"])
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
