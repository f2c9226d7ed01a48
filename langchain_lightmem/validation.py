"""One validation layer for every surface: the input limits, and checks that name the field at fault.

The facade (``LightMem``), the write path's first node (``normalize.py``), the retriever and ``LightMemStore`` call
these functions (the CLI and the other surfaces through them), so an input is accepted or refused the same way
wherever it arrives: with the same
:class:`~langchain_lightmem.errors.InvalidInputError` subclass, its ``field`` set, and a message that says what to
do. docs/input.md lists the rules.

Text that is *data* (a message's content, a memory's text, a speaker's name) is repaired where it is cleaned (lone
surrogates become U+FFFD, see ``normalize.clean_text``); text that *names* something (a namespace, an id, a key, a
thread id) or that is *asked* (a query) is refused instead, because a repaired name would silently point at
something else.

Example:
    .. code-block:: python

        from langchain_lightmem.errors import InvalidQueryError
        from langchain_lightmem.validation import validate_count, validate_timestamp

        validate_count(5, "k")                    # 5
        validate_timestamp("2024-05-08", "since")  # datetime(2024, 5, 8, tzinfo=UTC)
        try:
            validate_count(0, "k")
        except InvalidQueryError as exc:
            print(exc.field, exc)                 # k  k must be a whole number of 1 or more, got 0
"""

from __future__ import annotations

import json
import math
import operator
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any

from langchain_lightmem.errors import (
    InvalidIdError,
    InvalidInputError,
    InvalidMessageError,
    InvalidNamespaceError,
    InvalidQueryError,
    InvalidTimeError,
)

# -- the limits -------------------------------------------------------------------------------------------------

MAX_TEXT_CHARS = 2_000_000
"""Characters of one text: a message's content, a memory's text, a query (default of ``input.max_message_chars``,
which a configuration may change for its LightMem)."""
MAX_ID_CHARS = 256
"""Characters of a message id, a memory key or a thread id."""
MAX_NAMESPACE_COMPONENT_CHARS = 256
"""Characters of one namespace component (one LightMemStore label is not limited, like InMemoryStore's)."""
MAX_NAMESPACE_DEPTH = 64
"""Components of a namespace, and labels of a LightMemStore namespace or prefix (Chroma's SQLite refuses queries
with about a thousand conditions; real namespaces have a handful)."""
MAX_JSON_DEPTH = 100
"""Nesting levels of a JSON value (a message's extra fields, a store value, a filter); Python's own JSON codec
gives up near 1,000."""
MAX_VALUE_CHARS = 16 * 1024 * 1024
"""Characters of one LightMemStore item's JSON: larger blobs belong in a file or object store."""
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
"""The earliest time accepted anywhere (epoch 0): timestamps, event times, reference times, time ranges."""
LATEST = datetime(3000, 1, 1, tzinfo=UTC)
"""The latest time accepted anywhere; later values are nearly always epoch milliseconds or a typo."""
_LATEST_EPOCH = LATEST.timestamp()

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # in names; content keeps tab and newline (normalize.clean_text)
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_NAMESPACE_FORBIDDEN = re.compile(r"[/\x00-\x1f\x7f]")
_ISO_HINT = "use e.g. '2024-05-08T13:56:00+02:00', a datetime, or epoch seconds"


def _show(value: str, limit: int = 40) -> str:
    """A value for an error message: repr (so lone surrogates and control characters print), cut to ``limit``."""
    return repr(value[:limit]) + ("..." if len(value) > limit else "")


# -- text ---------------------------------------------------------------------------------------------------------


def surrogate_at(text: str) -> int | None:
    """The position of the first lone surrogate (a UTF-16 half: invalid Unicode, unstorable) in ``text``, or None."""
    found = _SURROGATE.search(text)
    return found.start() if found is not None else None


def check_unicode(
    text: str, field: str, *, what: str | None = None, error: type[InvalidInputError] = InvalidInputError
) -> str:
    """Refuse a string with a lone surrogate (bytes decoded with ``surrogateescape``, a broken emoji pair).

    ``what`` describes the string in the message (default: ``field``).

    Raises:
        InvalidInputError: ``error``, naming ``field`` and the position.
    """
    position = surrogate_at(text)
    if position is not None:
        raise error(
            f"{what or field} contains a lone surrogate {text[position]!r} at position {position}, which is not valid "
            "Unicode (it cannot be stored or searched); decode its source with errors='replace' (or fix the encoding) "
            "first",
            field=field,
        )
    return text


def validate_text(
    value: Any, field: str, *, max_chars: int = MAX_TEXT_CHARS, error: type[InvalidInputError] = InvalidMessageError
) -> str:
    """A text to store (a memory's text, a message's content): a string of at most ``max_chars`` characters.

    Lone surrogates are left for the caller to repair (``normalize.clean_text``).

    Raises:
        InvalidMessageError: (or ``error``) not a string, or too long.
    """
    if not isinstance(value, str):
        raise error(f"{field} must be a string, got {type(value).__name__}", field=field)
    if len(value) > max_chars:
        raise error(
            f"{field} has {len(value):,} characters, over input.max_message_chars={max_chars:,}; split it or raise "
            "the limit",
            field=field,
        )
    return value


def validate_query(value: Any, field: str = "query", *, max_chars: int = MAX_TEXT_CHARS) -> str:
    """A search query: a string of at most ``max_chars`` characters without lone surrogates (it may be empty).

    Raises:
        InvalidQueryError: naming ``field``.
    """
    return check_unicode(
        validate_text(value, field, max_chars=max_chars, error=InvalidQueryError), field, error=InvalidQueryError
    )


def validate_speaker(value: Any, field: str = "speaker") -> str | None:
    """A speaker's name: ``None`` or a string (cleaned by the caller like content).

    Raises:
        InvalidMessageError: anything else (``5``, a dict, ...).
    """
    if value is None or isinstance(value, str):
        return value
    raise InvalidMessageError(
        f"{field} must be a string (a name such as 'Alice') or None, got {type(value).__name__} {value!r:.40}",
        field=field,
    )


# -- ids and namespaces -------------------------------------------------------------------------------------------


def validate_id(
    value: Any,
    field: str,
    *,
    error: type[InvalidInputError] = InvalidIdError,
    allow_int: bool = True,
    max_chars: int = MAX_ID_CHARS,
) -> str:
    """An id that names something to store (a message id, a memory key, a thread id): a string (or an int or a
    ``UUID``, kept as its text) of at most ``max_chars`` characters, without control characters or lone surrogates.

    Raises:
        InvalidIdError: (or ``error``) naming ``field``.
    """
    if (isinstance(value, int) and not isinstance(value, bool) and allow_int) or isinstance(value, uuid.UUID):
        value = str(value)
    if not isinstance(value, str):
        kinds = "a string or an int" if allow_int else "a string"
        raise error(f"{field} must be {kinds}, got {type(value).__name__}", field=field)
    if len(value) > max_chars:
        raise error(f"{field} {_show(value)} is longer than {max_chars} characters", field=field)
    if _CONTROL.search(value):
        raise error(f"{field} {_show(value)} contains a control character; ids are printable text", field=field)
    return check_unicode(value, field, what=f"{field} {_show(value)}", error=error)


def validate_lookup_id(value: Any, field: str = "id") -> str:
    """An id to look up, change or delete: a string without lone surrogates. Unknown ids are simply not found, so
    their length and characters are not limited.

    Raises:
        InvalidIdError: not a string, or a lone surrogate, naming ``field``.
    """
    if not isinstance(value, str):
        raise InvalidIdError(f"{field} must be a string, got {type(value).__name__}", field=field)
    return check_unicode(value, field, error=InvalidIdError)


def validate_ids(value: Any, field: str = "ids") -> list[str]:
    """Ids to look up or delete: a list (or any iterable but a string) of :func:`validate_lookup_id` strings.

    Raises:
        InvalidIdError: a single string (``["id"]`` was meant), a non-iterable, or a bad element (``ids[3]``).
    """
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise InvalidIdError(
            f"{field} must be a list of id strings such as ['id-1'], got {type(value).__name__}", field=field
        )
    return [validate_lookup_id(item, f"{field}[{i}]") for i, item in enumerate(value)]


def validate_namespace(value: Any, field: str = "namespace") -> tuple[str, ...]:
    """``"alice"`` or ``("org", "alice")`` as a validated tuple: 1 to :data:`MAX_NAMESPACE_DEPTH` non-empty string
    components of at most :data:`MAX_NAMESPACE_COMPONENT_CHARS` characters, without ``/``, control characters or
    lone surrogates.

    Raises:
        InvalidNamespaceError: naming the component at fault.
    """
    if isinstance(value, str):
        parts: tuple[Any, ...] = (value,)
    elif isinstance(value, Sequence) and not isinstance(value, bytes):
        parts = tuple(value)
    else:
        raise InvalidNamespaceError(
            f"{field} must be a string such as 'alice' or a tuple such as ('org', 'alice'), got {type(value).__name__}",
            field=field,
        )
    if not parts:
        raise InvalidNamespaceError(
            f"{field} is empty: pass a user or tenant id such as 'alice' or ('org', 'alice')", field=field
        )
    if len(parts) > MAX_NAMESPACE_DEPTH:
        raise InvalidNamespaceError(
            f"{field} has {len(parts):,} components, more than {MAX_NAMESPACE_DEPTH}; a namespace names a user or "
            "tenant, e.g. ('org', 'alice')",
            field=field,
        )
    for part in parts:
        if not isinstance(part, str):
            raise InvalidNamespaceError(
                f"{field} components must be strings, got {type(part).__name__}: {part!r:.40}", field=field
            )
        if not part.strip():
            raise InvalidNamespaceError(f"{field} {parts!r:.80} has an empty component", field=field)
        if len(part) > MAX_NAMESPACE_COMPONENT_CHARS:
            raise InvalidNamespaceError(
                f"{field} component {_show(part)} is longer than {MAX_NAMESPACE_COMPONENT_CHARS} characters",
                field=field,
            )
        if _NAMESPACE_FORBIDDEN.search(part):
            raise InvalidNamespaceError(
                f"{field} component {_show(part)} contains '/' or a control character; use a tuple for hierarchy, "
                "e.g. ('org', 'alice')",
                field=field,
            )
        check_unicode(part, field, what=f"{field} component {_show(part)}", error=InvalidNamespaceError)
    return parts


# -- numbers --------------------------------------------------------------------------------------------------------


def validate_count(value: Any, field: str, *, error: type[InvalidInputError] = InvalidQueryError) -> int | None:
    """``None`` (the default applies) or a whole number of 1 or more: ``k``, ``max_tokens``, a limit.

    Raises:
        InvalidQueryError: (or ``error``) ``0``, negatives, floats, strings and booleans, naming ``field``.
    """
    if value is None:
        return None
    try:
        number = operator.index(value)  # ints and numpy integers; never floats or strings
    except TypeError:
        number = None
    if number is None or isinstance(value, bool) or number < 1:
        raise error(f"{field} must be a whole number of 1 or more, got {value!r:.40}", field=field)
    return number


# -- time -----------------------------------------------------------------------------------------------------------


def validate_timestamp(
    value: Any, field: str = "timestamp", *, naive_tz: tzinfo = UTC, error: type[InvalidInputError] = InvalidTimeError
) -> datetime:
    """A time as an aware datetime: a ``datetime``, an ISO-8601 string or epoch seconds, from :data:`EARLIEST`
    (1970) to :data:`LATEST` (3000). Without a timezone, ``naive_tz`` is assumed.

    Raises:
        InvalidTimeError: (or ``error``) unparseable, out of range (epoch milliseconds get a hint), NaN, a bool.
    """
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, bool):
        raise error(f"{field} must be a datetime, ISO-8601 string or epoch seconds, not {value!r}", field=field)
    elif isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise error(f"{field}: epoch seconds {value!r} is not a finite number; {_ISO_HINT}", field=field)
        if value < 0 or value > _LATEST_EPOCH:
            hint = " (looks like milliseconds: divide by 1000)" if value > _LATEST_EPOCH else ""
            raise error(
                f"{field}: epoch seconds {value!r:.40} is out of range, {_range()}{hint}",
                field=field,
            )
        return datetime.fromtimestamp(float(value), UTC)
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise error(f"{field} {_show(value)} is not ISO-8601; {_ISO_HINT}", field=field) from None
    else:
        raise error(
            f"{field} must be a datetime, ISO-8601 string or epoch seconds, not {type(value).__name__}", field=field
        )
    if dt.tzinfo is None or dt.utcoffset() is None:
        dt = dt.replace(tzinfo=naive_tz)
    try:
        inside = EARLIEST <= dt <= LATEST
    except (OverflowError, ValueError):  # a tzinfo that moves the time past year 1 or 9999
        inside = False
    if not inside:
        raise error(f"{field} {dt.isoformat()} is out of range, {_range()}", field=field)
    return dt


def _range() -> str:
    return f"the supported range is {EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d}"


def validate_time_range(
    value: Any, field: str = "time_range", *, naive_tz: tzinfo = UTC
) -> tuple[datetime | None, datetime | None] | None:
    """``None`` or ``(start, end)`` on event time; either end may be ``None`` (open), each else a time as
    :func:`validate_timestamp` takes it; ``start`` must not be after ``end``.

    Raises:
        InvalidTimeError: not a pair, a bad end (named ``time_range[0]`` or ``time_range[1]``), or reversed.
    """
    if value is None:
        return None
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence) or len(value) != 2:
        raise InvalidTimeError(
            f"{field} must be a pair (start, end) of datetimes, either of them None for an open end, got {value!r:.60}",
            field=field,
        )
    ends: list[datetime | None] = []
    for i, end in enumerate(value):
        try:
            ends.append(validate_timestamp(end, f"{field}[{i}]", naive_tz=naive_tz) if end is not None else None)
        except InvalidTimeError as exc:
            raise InvalidTimeError(f"{exc}; use None for an open end", field=exc.field) from None
    start, end = ends
    if start is not None and end is not None and start > end:
        raise InvalidTimeError(
            f"{field} starts after it ends ({start.isoformat()} > {end.isoformat()}); swap them", field=field
        )
    return start, end


# -- JSON -----------------------------------------------------------------------------------------------------------

_JSON_TYPES = "dicts with string keys, lists, strings, finite numbers, booleans and None"


def validate_json(
    value: Any,
    field: str,
    *,
    error: type[InvalidInputError] = InvalidInputError,
    tuples: bool = False,
    max_depth: int = MAX_JSON_DEPTH,
) -> None:
    """Refuse what would not survive a JSON round trip unchanged, naming the first offending place
    (``extra['tags'][2]``).

    Walks iteratively, so a value nested thousands of levels deep gets a typed error too, not a
    ``RecursionError``. ``tuples=True`` accepts tuples as lists.

    Raises:
        InvalidInputError: (or ``error``) a non-JSON type, a non-string or surrogate-holding key or string, NaN or
            infinity, or more than ``max_depth`` levels of nesting.
    """
    sequences = (list, tuple) if tuples else (list,)
    stack: list[tuple[Any, str, int]] = [(value, field, 0)]
    while stack:
        node, path, depth = stack.pop()
        if node is None or isinstance(node, bool):
            continue
        if isinstance(node, float):
            if not math.isfinite(node):
                raise error(
                    f"{path} is {node!r} (NaN or infinity), which JSON cannot hold; use None or a string", field=path
                )
            continue
        if isinstance(node, int):
            continue
        if isinstance(node, str):
            check_unicode(node, path, error=error)
            continue
        if isinstance(node, dict | list | tuple) and depth >= max_depth:
            raise error(
                f"{field} is nested deeper than {max_depth} levels (at {path[:200]}); flatten it or keep the deep part "
                "as a JSON string",
                field=path,
            )
        if isinstance(node, dict):
            for key, child in node.items():
                if not isinstance(key, str):
                    raise error(
                        f"{path} has a {type(key).__name__} key {key!r:.40}; JSON object keys are strings", field=path
                    )
                check_unicode(key, path, what=f"the key {key!r:.40} of {path}", error=error)
                stack.append((child, f"{path}[{key!r}]", depth + 1))
            continue
        if isinstance(node, sequences):
            stack.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(node))
            continue
        hint = " (it would come back as a list)" if isinstance(node, tuple) else ""
        raise error(f"{path} is of type {type(node).__name__}{hint}; it must be JSON: {_JSON_TYPES}", field=path)


def validate_json_size(
    value: Any, field: str, *, max_chars: int, error: type[InvalidInputError] = InvalidInputError
) -> str:
    """The JSON text of a value :func:`validate_json` accepted, refused when over ``max_chars`` characters."""
    text = json.dumps(value, allow_nan=False, ensure_ascii=False)
    if len(text) > max_chars:
        raise error(
            f"{field} is {len(text):,} characters of JSON, more than the {max_chars:,} allowed; keep large blobs in "
            "a file or object store and put a reference here",
            field=field,
        )
    return text


# -- filters --------------------------------------------------------------------------------------------------------

_LOGICAL = ("$and", "$or")
_ORDERING = ("$gt", "$gte", "$lt", "$lte")
_WHERE_OPERATORS = ("$eq", "$ne", *_ORDERING, "$in", "$nin", "$contains", "$not_contains")
MAX_FILTER_CONDITIONS = 256
"""Conditions in one facade filter (Chroma's SQLite refuses queries with about a thousand)."""


def validate_filters(value: Any, field: str = "filters") -> dict[str, Any] | None:
    """A facade filter: a Chroma ``where`` over entry metadata, such as ``{"speaker": "Alice"}`` or
    ``{"$and": [{"speaker": "Alice"}, {"thread_id": {"$in": ["t1", "t2"]}}]}``.

    Checked here rather than by Chroma so a bad filter gets a typed error naming its place, not a Chroma error (or,
    for ``NaN``, a Rust panic message).

    Raises:
        InvalidQueryError: not JSON (``NaN``, lone surrogates, ...), several fields in one dict, an unknown operator,
            an operand of the wrong type, or more than :data:`MAX_FILTER_CONDITIONS` conditions.
    """
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidQueryError(
            f"{field} must be a dict such as {{'speaker': 'Alice'}}, got {type(value).__name__}", field=field
        )
    where = dict(value)
    if not where:
        return where
    validate_json(where, field, error=InvalidQueryError)
    count = [0]
    _check_where(where, field, field, count)
    return where


def _check_where(where: Any, path: str, field: str, count: list[int]) -> None:
    if not isinstance(where, dict) or len(where) != 1:
        raise InvalidQueryError(
            f"{path} must be a dict with exactly one field or operator, e.g. {{'speaker': 'Alice'}}; combine "
            "conditions with {'$and': [{'speaker': 'Alice'}, {'thread_id': 't1'}]}",
            field=path,
        )
    ((key, condition),) = where.items()
    here = f"{path}[{key!r}]"
    if key in _LOGICAL:
        if not isinstance(condition, list) or len(condition) < 2:
            raise InvalidQueryError(f"{here} takes a list of at least two conditions", field=here)
        for i, sub in enumerate(condition):
            _check_where(sub, f"{here}[{i}]", field, count)
        return
    count[0] += 1
    if count[0] > MAX_FILTER_CONDITIONS:
        raise InvalidQueryError(f"{field} has more than {MAX_FILTER_CONDITIONS} conditions", field=field)
    if key.startswith("$"):
        raise InvalidQueryError(f"{here}: {key} is not an operator here; use a field name, '$and' or '$or'", field=here)
    if isinstance(condition, str | int | float):
        return
    if not isinstance(condition, dict) or len(condition) != 1:
        raise InvalidQueryError(
            f"{here} must be a string, number, boolean or one operator such as {{'$ne': 'x'}}, got {condition!r:.60}",
            field=here,
        )
    ((op, operand),) = condition.items()
    if op not in _WHERE_OPERATORS:
        raise InvalidQueryError(
            f"{here} uses the unknown operator {op!r}; use one of {', '.join(_WHERE_OPERATORS)}", field=here
        )
    if op in _ORDERING and not isinstance(operand, int | float):
        raise InvalidQueryError(f"{here}: {op} compares numbers, got {operand!r:.40}", field=here)
    if op in ("$in", "$nin"):
        if (
            not isinstance(operand, list)
            or not operand
            or not all(isinstance(x, str | int | float) for x in operand)
            or len({type(x) for x in operand}) > 1
        ):
            raise InvalidQueryError(
                f"{here}: {op} takes a non-empty list of values of one type, got {operand!r:.60}", field=here
            )
    elif not isinstance(operand, str | int | float):
        raise InvalidQueryError(f"{here}: {op} takes a string, number or boolean, got {operand!r:.40}", field=here)
