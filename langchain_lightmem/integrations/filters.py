"""The ``filter`` of ``BaseStore.search``: the same semantics as LangGraph's ``InMemoryStore``, checked in Python.

A filter maps top-level fields of an item's value to a condition: a plain value (exact match; dicts match
recursively, lists element by element) or a dict of operators (``$eq``, ``$ne``, ``$gt``, ``$gte``, ``$lt``,
``$lte``). One difference on purpose: an ordering operator against a missing or incomparable field does not match
(``InMemoryStore`` raises ``TypeError`` there). Numbers compare as numbers, strings as strings.

:func:`pushdown_clauses` picks the part of a filter that Chroma can evaluate with identical results (equality on
short strings, mirrored into ``v:<field>`` metadata), so large namespaces are narrowed before Python checks the
whole filter. Chroma can only narrow the candidates: the Python check always runs.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

from langchain_lightmem.errors import StoreError

OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte")
FIELD_PREFIX = "v:"
MAX_MIRRORED_CHARS = 512  # longer strings are not mirrored into metadata (and never pushed down)
MAX_MIRRORED_KEY = 128

_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "$gt": operator.gt,
    "$gte": operator.ge,
    "$lt": operator.lt,
    "$lte": operator.le,
}


def validate_filter(filter: Mapping[str, Any] | None) -> None:
    """Refuse malformed filters up front (rather than on the first item compared).

    Raises:
        StoreError: the filter is not a dict, or uses an operator other than the six supported ones.
    """
    if filter is None:
        return
    if not isinstance(filter, Mapping):
        raise StoreError(f"filter must be a dict such as {{'type': 'note'}}, got {type(filter).__name__}")

    def check(condition: Any) -> None:
        if isinstance(condition, Mapping):
            for key, value in condition.items():
                if isinstance(key, str) and key.startswith("$") and key not in OPERATORS:
                    raise StoreError(f"unsupported filter operator {key!r}; use one of {', '.join(OPERATORS)}")
                check(value)

    for condition in filter.values():
        check(condition)


def matches(value: Mapping[str, Any], filter: Mapping[str, Any] | None) -> bool:
    """True when the item value satisfies every condition of the filter."""
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


def _apply(actual: Any, op: str, operand: Any) -> bool:
    if op == "$eq":
        return bool(actual == operand)
    if op == "$ne":
        return bool(actual != operand)
    compare = _ORDER.get(op)
    if compare is None:
        raise StoreError(f"unsupported filter operator {op!r}; use one of {', '.join(OPERATORS)}")
    if isinstance(actual, int | float) and isinstance(operand, int | float):
        return compare(float(actual), float(operand))
    if isinstance(actual, str) and isinstance(operand, str):
        return compare(actual, operand)
    return False


def mirrored_fields(value: Mapping[str, Any]) -> dict[str, str]:
    """The metadata that mirrors a value's short top-level strings (what :func:`pushdown_clauses` relies on)."""
    return {
        FIELD_PREFIX + key: field
        for key, field in value.items()
        if isinstance(field, str) and len(field) <= MAX_MIRRORED_CHARS and len(key) <= MAX_MIRRORED_KEY
    }


def pushdown_clauses(filter: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Chroma ``where`` clauses for the conditions Chroma decides exactly like :func:`matches` (a superset filter)."""
    clauses: list[dict[str, Any]] = []
    for key, condition in (filter or {}).items():
        wanted = condition
        if isinstance(condition, Mapping) and list(condition) == ["$eq"]:
            wanted = condition["$eq"]
        if isinstance(wanted, str) and len(wanted) <= MAX_MIRRORED_CHARS and len(key) <= MAX_MIRRORED_KEY:
            clauses.append({FIELD_PREFIX + key: wanted})
    return clauses
