"""Namespaces filled per run: ``("{user_id}",)`` from LangGraph's ``context=`` or from ``config["configurable"]``.

langmem's templates read only ``config["configurable"]``, so they break when an app moves to LangGraph's
``context=`` API (langmem#108). :class:`NamespaceTemplate` looks in the runtime context first (a dataclass,
pydantic model, ``TypedDict`` or any object with the attribute), then in ``configurable``, and turns non-string ids
(``user_id=42``) into strings.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig

from langchain_lightmem.errors import InvalidNamespaceError
from langchain_lightmem.types import Namespace

_MISSING = object()


def _lookup(source: Any, name: str) -> Any:
    if source is None:
        return _MISSING
    if isinstance(source, Mapping):
        return source.get(name, _MISSING)
    return getattr(source, name, _MISSING)


class NamespaceTemplate:
    """A namespace whose labels may hold ``{placeholders}`` filled from the run.

    Args:
        template: ``"{user_id}"``, ``("{user_id}",)`` or ``("org", "{org_id}", "user-{user_id}")``.

    Example:
        .. code-block:: python

            template = NamespaceTemplate(("org", "{org_id}", "{user_id}"))
            template(context={"org_id": "acme", "user_id": 42})          # ('org', 'acme', '42')
            template(config={"configurable": {"org_id": "acme", "user_id": "bo"}})
    """

    def __init__(self, template: str | Sequence[str] | NamespaceTemplate) -> None:
        if isinstance(template, NamespaceTemplate):
            template = template.template
        labels = (template,) if isinstance(template, str) else tuple(template)
        if not labels or not all(isinstance(label, str) and label for label in labels):
            raise InvalidNamespaceError(f"namespace template {template!r} needs one or more non-empty strings")
        self.template: Namespace = labels
        self.fields = tuple(
            dict.fromkeys(name for label in labels for _, name, _, _ in string.Formatter().parse(label) if name)
        )

    def __call__(self, context: Any = None, config: RunnableConfig | Mapping[str, Any] | None = None) -> Namespace:
        """The namespace for one run.

        Raises:
            InvalidNamespaceError: a placeholder is found neither in the context nor in ``configurable``.
        """
        if not self.fields:
            return self.template
        configurable = (config or {}).get("configurable") or {}
        values: dict[str, str] = {}
        for name in self.fields:
            value = _lookup(context, name)
            if value is _MISSING or value is None:
                value = configurable.get(name)
            if value is None or value == "":
                raise InvalidNamespaceError(
                    f"namespace {self.template!r} needs '{name}': pass it in the run context "
                    f"(graph.invoke(..., context={{'{name}': ...}})) or in the config "
                    f"(config={{'configurable': {{'{name}': ...}}}})"
                )
            values[name] = str(value)
        return tuple(label.format_map(values) for label in self.template)

    def __repr__(self) -> str:
        return f"NamespaceTemplate({self.template!r})"


def current_config() -> RunnableConfig | None:
    """The config of the LangGraph run we are inside, or ``None`` outside a run."""
    try:
        from langgraph.config import get_config

        return get_config()
    except RuntimeError:
        return None
