"""Reading conversation files for ``lightmem ingest`` (format in docs/cli.md).

JSON files hold one of:

* a list of messages;
* ``{"namespace": ..., "thread_id": ..., "messages": [...]}``;
* ``{"namespace": ..., "sessions": [{"thread_id": ..., "messages": [...]}, ...]}`` (``threads`` also accepted);
* a list of the two objects above.

JSONL files hold one message per line; a line may carry ``namespace`` and ``thread_id``. Messages are the dicts
``add`` accepts: ``role``, ``content``, optional ``timestamp``, ``speaker``, ``id``.

Every message knows where it came from (``Conversation.origins``: ``chat.jsonl:37``, or
``chat.json: sessions[0].messages[3]``), so an error names the file's line or position. A message without an
``id`` gets one derived from the file's name, its line (JSONL) or position (JSON) and the message itself: ingesting
the same file twice adds nothing the second time, and after one line is corrected only that line is new.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_lightmem.errors import InvalidMessageError


@dataclass(slots=True)
class Conversation:
    """Messages of one thread, with the namespace the file gave (if any) and where each message is in the file."""

    thread_id: str | None
    messages: list[dict[str, Any]] = field(default_factory=list)
    namespace: str | None = None
    origins: list[str] = field(default_factory=list)


def file_message_id(file_name: str, location: str, message: dict[str, Any]) -> str:
    """A stable id for a message that has none: ``<file>:<line or position>:<hash of the message>``.

    Example:
        >>> file_message_id("chat.jsonl", "37", {"role": "user", "content": "hi"})
        'chat.jsonl:37:5e0935cab48994ff'
    """
    canonical = json.dumps(message, sort_keys=True, ensure_ascii=True, default=str)
    digest = hashlib.blake2b(canonical.encode("ascii"), digest_size=8).hexdigest()
    # ids may not hold "#p" (it marks the parts of a long message) and are at most 256 characters
    return f"{file_name.replace('#', '_')[:120]}:{location[:100]}:{digest}"


def _with_id(message: Any, file_name: str, location: str) -> Any:
    if not isinstance(message, dict) or message.get("id") not in (None, ""):
        return message
    return {**message, "id": file_message_id(file_name, location, message)}


def _namespace(value: Any, where: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise InvalidMessageError(f"{where}: namespace must be a string such as 'alice' or 'org/alice'")


def _session(obj: dict[str, Any], path: Path, position: str, namespace: str | None) -> Conversation:
    conv = Conversation(thread_id=obj.get("thread_id"), namespace=namespace)
    for i, message in enumerate(obj["messages"]):
        location = f"{position}messages[{i}]"
        conv.messages.append(_with_id(message, path.name, location))
        conv.origins.append(f"{path}: {location}")
    return conv


def _from_object(obj: Any, namespace: str | None, path: Path, position: str) -> Iterator[Conversation]:
    where = f"{path}: {position.rstrip('.') or 'the top level'}"
    if isinstance(obj, list):
        if all(isinstance(x, dict) and ("content" in x or "text" in x) for x in obj):
            yield Conversation(
                thread_id=None,
                messages=[_with_id(m, path.name, f"{position}[{i}]") for i, m in enumerate(obj)],
                namespace=namespace,
                origins=[f"{path}: {position}[{i}]" for i in range(len(obj))],
            )
            return
        for i, item in enumerate(obj):
            yield from _from_object(item, namespace, path, f"{position}[{i}].")
        return
    if not isinstance(obj, dict):
        raise InvalidMessageError(
            f"{where}: expected a message list or a conversation object, got {type(obj).__name__}"
        )
    ns = _namespace(obj.get("namespace", namespace), where)
    key = "sessions" if "sessions" in obj else "threads"
    sessions = obj.get(key)
    if sessions is not None:
        if not isinstance(sessions, list):
            raise InvalidMessageError(f"{where}: '{key}' must be a list of {{thread_id, messages}} objects")
        for i, session in enumerate(sessions):
            if not isinstance(session, dict) or not isinstance(session.get("messages"), list):
                raise InvalidMessageError(f"{path}: {position}{key}[{i}]: needs a 'messages' list")
            yield _session(session, path, f"{position}{key}[{i}].", ns)
        return
    if isinstance(obj.get("messages"), list):
        yield _session(obj, path, position, ns)
        return
    raise InvalidMessageError(f"{where}: a conversation object needs 'messages' or 'sessions'")


def _text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise InvalidMessageError(
            f"{path}:{line}: not UTF-8 (byte 0x{data[exc.start]:02x} at column {column}); save the file as UTF-8"
        ) from None


def load_conversations(path: str | Path) -> list[Conversation]:
    """Read a ``.json`` or ``.jsonl`` conversation file.

    Raises:
        FileNotFoundError: no such file.
        InvalidMessageError: the file is not UTF-8 or not in a documented shape (the message says where).
    """
    path = Path(path)
    text = _text(path)
    if path.suffix == ".jsonl":
        by_key: dict[tuple[str | None, str | None], Conversation] = {}
        # split on newlines only: str.splitlines() also breaks at U+2028 and friends, which JSON strings may hold
        for lineno, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidMessageError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
            except RecursionError:
                raise InvalidMessageError(f"{path}:{lineno}: JSON nested too deeply for a message") from None
            if not isinstance(record, dict):
                raise InvalidMessageError(f"{path}:{lineno}: each line must be a message object")
            ns = _namespace(record.pop("namespace", None), f"{path}:{lineno}")
            thread = record.get("thread_id")
            thread = thread if thread is None or isinstance(thread, str) else str(thread)
            conv = by_key.setdefault((ns, thread), Conversation(thread_id=thread, namespace=ns))
            conv.messages.append(_with_id(record, path.name, str(lineno)))
            conv.origins.append(f"{path}:{lineno}")
        return list(by_key.values())
    try:
        data = json.loads(text)
        return list(_from_object(data, None, path, ""))
    except json.JSONDecodeError as exc:
        raise InvalidMessageError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise InvalidMessageError(
            f"{path}: JSON nested too deeply; a conversation file is a list of messages or of conversations"
        ) from None
