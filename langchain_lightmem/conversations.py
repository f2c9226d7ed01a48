"""Reading conversation files for ``lightmem ingest`` (format in docs/cli.md).

JSON files hold one of:

* a list of messages;
* ``{"namespace": ..., "thread_id": ..., "messages": [...]}``;
* ``{"namespace": ..., "sessions": [{"thread_id": ..., "messages": [...]}, ...]}`` (``threads`` also accepted);
* a list of the two objects above.

JSONL files hold one message per line; a line may carry ``namespace`` and ``thread_id``. Messages are the dicts
``add`` accepts: ``role``, ``content``, optional ``timestamp``, ``speaker``, ``id``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_lightmem.errors import InvalidMessageError


@dataclass(slots=True)
class Conversation:
    """Messages of one thread, with the namespace the file gave (if any)."""

    thread_id: str | None
    messages: list[dict[str, Any]] = field(default_factory=list)
    namespace: str | None = None


def _from_object(obj: Any, namespace: str | None, where: str) -> Iterator[Conversation]:
    if isinstance(obj, list):
        if all(isinstance(x, dict) and ("content" in x or "text" in x) for x in obj):
            yield Conversation(thread_id=None, messages=list(obj), namespace=namespace)
            return
        for i, item in enumerate(obj):
            yield from _from_object(item, namespace, f"{where}[{i}]")
        return
    if not isinstance(obj, dict):
        raise InvalidMessageError(
            f"{where}: expected a message list or a conversation object, got {type(obj).__name__}"
        )
    ns = obj.get("namespace", namespace)
    sessions = obj.get("sessions", obj.get("threads"))
    if sessions is not None:
        for i, session in enumerate(sessions):
            if not isinstance(session, dict) or not isinstance(session.get("messages"), list):
                raise InvalidMessageError(f"{where}.sessions[{i}]: needs a 'messages' list")
            yield Conversation(thread_id=session.get("thread_id"), messages=session["messages"], namespace=ns)
        return
    if isinstance(obj.get("messages"), list):
        yield Conversation(thread_id=obj.get("thread_id"), messages=obj["messages"], namespace=ns)
        return
    raise InvalidMessageError(f"{where}: a conversation object needs 'messages' or 'sessions'")


def load_conversations(path: str | Path) -> list[Conversation]:
    """Read a ``.json`` or ``.jsonl`` conversation file.

    Raises:
        FileNotFoundError: no such file.
        InvalidMessageError: the file is not in a documented shape (the message says where).
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        by_key: dict[tuple[str | None, str | None], Conversation] = {}
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidMessageError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
            if not isinstance(record, dict):
                raise InvalidMessageError(f"{path}:{lineno}: each line must be a message object")
            ns, thread = record.pop("namespace", None), record.get("thread_id")
            by_key.setdefault((ns, thread), Conversation(thread_id=thread, namespace=ns)).messages.append(record)
        return list(by_key.values())
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidMessageError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    return list(_from_object(data, None, path.name))
