"""The ``filter`` of ``BaseStore.search`` with LangGraph ``InMemoryStore``'s semantics, and the JSON checks that
values and filters pass before they reach Chroma.

A filter maps top-level fields of an item's value to a condition: a plain value (exact match; dicts match
recursively, lists element by element) or a dict of operators (``$eq``, ``$ne``, ``$gt``, ``$gte``, ``$lt``,
``$lte``). As in ``InMemoryStore``, the ordering operators compare ``float(field)`` with ``float(operand)``: numbers,
booleans and numeric strings (``"10" > 9``) compare as numbers. Where ``InMemoryStore`` raises while comparing one
item (a missing field, text such as ``"abc"``, a list, an integer beyond float range), that item does not match:
one odd item does not break a search. Filters that cannot match anything the same way everywhere (an operand that
is not a number, NaN, an unknown operator, operators mixed with fields) raise :class:`InvalidStoreInputError` (a
:class:`StoreError`) up front.

:func:`pushdown_clauses` picks the part of a filter that Chroma evaluates with identical results (equality on short
strings, mirrored into ``v:<field>`` metadata), so large namespaces are narrowed before Python checks the whole
filter. Chroma can only narrow the candidates: the Python check always runs.

Example:
    .. code-block:: python

        from langchain_lightmem.integrations.filters import matches

        matches({"n": "12", "tag": "a"}, {"n": {"$gt": 9}, "tag": "a"})   # True: "12" compares as 12.0
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

from langchain_lightmem.errors import InvalidStoreInputError, StoreError
from langchain_lightmem.validation import MAX_JSON_DEPTH, MAX_NAMESPACE_DEPTH, check_unicode, validate_json
from langchain_lightmem.validation import MAX_VALUE_CHARS as MAX_VALUE_CHARS

OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte")
FIELD_PREFIX = "v:"
MAX_MIRRORED_CHARS = 512  # longer strings are not mirrored into metadata (and never pushed down)
MAX_MIRRORED_KEY = 128
MAX_PUSHDOWN = 64  # equality clauses given to Chroma (its SQLite refuses ~1,000 conditions; Python checks the rest)
MAX_DEPTH = MAX_JSON_DEPTH  # nesting levels of a value or filter (the validation layer's limit)

_ORDER: dict[str, Callable[[float, float], bool]] = {
    "$gt": operator.gt,
    "$gte": operator.ge,
    "$lt": operator.lt,
    "$lte": operator.le,
}


def check_text(text: str, what: str, *, field: str | None = None) -> None:
    """Refuse a string Chroma cannot store: one with a lone surrogate (UTF-16 half, e.g. from bad decoding).

    Raises:
        InvalidStoreInputError: (a ``StoreError``) naming ``what`` and the position of the surrogate.
    """
    check_unicode(text, field or what, what=what, error=InvalidStoreInputError)


def check_json(obj: Any, what: str, *, tuples: bool = False) -> None:
    """Refuse what would not survive a JSON round trip unchanged, naming the first offending place
    (the validation layer's :func:`~langchain_lightmem.validation.validate_json`).

    ``tuples=True`` accepts tuples as lists (filters compare them alike).

    Raises:
        InvalidStoreInputError: (a ``StoreError``) a non-JSON type, a non-string or surrogate-holding key or string,
            NaN or infinity, or more than :data:`MAX_DEPTH` levels of nesting.
    """
    validate_json(obj, what, error=InvalidStoreInputError, tuples=tuples)


def check_labels(labels: Any, what: str = "namespace") -> None:
    """Refuse a namespace or prefix of more than :data:`~langchain_lightmem.validation.MAX_NAMESPACE_DEPTH` labels
    (the limit of a LightMem namespace too), or a label with a lone surrogate.

    Raises:
        InvalidStoreInputError: (a ``StoreError``) naming ``what``.
    """
    labels = tuple(labels)
    if len(labels) > MAX_NAMESPACE_DEPTH:
        raise InvalidStoreInputError(
            f"{what} has {len(labels):,} labels, more than {MAX_NAMESPACE_DEPTH}; a namespace names a user and a "
            "kind of item, e.g. ('alice', 'prefs')",
            field="namespace",
        )
    for label in labels:
        if isinstance(label, str):
            check_text(label, f"the namespace label {label!r:.60}", field="namespace")


def validate_filter(filter: Mapping[str, Any] | None) -> None:
    """Refuse malformed filters up front (rather than on the first item compared).

    Raises:
        InvalidStoreInputError: (a ``StoreError``) the filter is not JSON (NaN, sets, lone surrogates, ...), uses an
            operator other than the six supported ones, mixes operators with fields in one condition, or gives an
            ordering operator an operand that ``float()`` does not turn into a finite number.
    """
    if filter is None:
        return
    if not isinstance(filter, Mapping):
        raise InvalidStoreInputError(
            f"filter must be a dict such as {{'type': 'note'}}, got {type(filter).__name__}", field="filter"
        )
    check_json(dict(filter), "filter", tuples=True)
    for field, condition in filter.items():
        _check_condition(condition, f"filter[{field!r}]")


def _check_condition(condition: Any, path: str) -> None:
    if isinstance(condition, Mapping):
        operators = [k for k in condition if k.startswith("$")]
        if not operators:
            for key, sub in condition.items():
                _check_condition(sub, f"{path}[{key!r}]")
            return
        if len(operators) != len(condition):
            raise InvalidStoreInputError(
                f"{path} mixes operators and fields ({sorted(condition)}); put the operators on the field they "
                "compare, e.g. {'n': {'$gt': 1}}",
                field="filter",
            )
        for op, operand in condition.items():
            if op not in OPERATORS:
                raise InvalidStoreInputError(
                    f"unsupported filter operator {op!r} in {path}; use one of {', '.join(OPERATORS)}", field="filter"
                )
            if op in _ORDER:
                number = _number(operand)
                if number is None or not math.isfinite(number):
                    raise InvalidStoreInputError(
                        f"{path}: {op} compares numbers (float() of both sides, as InMemoryStore does), so its "
                        f"operand must be a finite number or numeric string, got {operand!r}",
                        field="filter",
                    )
    elif isinstance(condition, list | tuple):
        for i, sub in enumerate(condition):
            _check_condition(sub, f"{path}[{i}]")


def matches(value: Mapping[str, Any], filter: Mapping[str, Any] | None) -> bool:
    """True when the item value satisfies every condition of the filter (``InMemoryStore``'s semantics)."""
    return not filter or all(_compare(value.get(key), condition) for key, condition in filter.items())


def _compare(actual: Any, condition: Any) -> bool:
    if isinstance(condition, Mapping):
        if any(isinstance(k, str) and k.startswith("$") for k in condition):
            return all(_apply(actual, op, operand) for op, operand in condition.items())
        if not isinstance(actual, Mapping):
            return False
        return all(_compare(actual.get(k), v) for k, v in condition.items())
    if isinstance(condition, list | tuple):
        return (
            isinstance(actual, list | tuple)
            and len(actual) == len(condition)
            and all(_compare(a, c) for a, c in zip(actual, condition, strict=True))
        )
    return bool(actual == condition)


def _number(x: Any) -> float | None:
    """``float(x)``, or None where InMemoryStore's ``float()`` would raise."""
    try:
        return float(x)
    except (TypeError, ValueError, OverflowError):
        return None


def _apply(actual: Any, op: str, operand: Any) -> bool:
    if op == "$eq":
        return bool(actual == operand)
    if op == "$ne":
        return bool(actual != operand)
    compare = _ORDER.get(op)
    if compare is None:
        raise StoreError(f"unsupported filter operator {op!r}; use one of {', '.join(OPERATORS)}")
    left, right = _number(actual), _number(operand)
    return left is not None and right is not None and compare(left, right)


def _mirrorable(key: str, text: str) -> bool:
    """One rule for what is mirrored into metadata and what may be pushed down (they must agree)."""
    return len(text) <= MAX_MIRRORED_CHARS and len(key) <= MAX_MIRRORED_KEY


def mirrored_fields(value: Mapping[str, Any]) -> dict[str, str]:
    """The metadata that mirrors a value's short top-level strings (what :func:`pushdown_clauses` relies on)."""
    return {
        FIELD_PREFIX + key: field for key, field in value.items() if isinstance(field, str) and _mirrorable(key, field)
    }


def pushdown_clauses(filter: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Chroma ``where`` clauses for the conditions Chroma decides exactly like :func:`matches` (a superset filter);
    at most :data:`MAX_PUSHDOWN` of them."""
    clauses: list[dict[str, Any]] = []
    for key, condition in (filter or {}).items():
        if len(clauses) == MAX_PUSHDOWN:
            break
        wanted = condition
        if isinstance(condition, Mapping) and list(condition) == ["$eq"]:
            wanted = condition["$eq"]
        if isinstance(wanted, str) and _mirrorable(key, wanted):
            clauses.append({FIELD_PREFIX + key: wanted})
    return clauses
