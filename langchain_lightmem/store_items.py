"""What the facade knows of the Chroma collections a ``LightMemStore`` keeps its LangGraph items in.

:class:`~langchain_lightmem.integrations.LightMemStore` owns them: ``<prefix>_items`` (metadata ``kind``:
:data:`STORE_ITEMS_KIND`; each item's namespace labels in ``ns_0``, ``ns_1``, ...) and, with an index,
``<prefix>_vectors`` (each vector's item id in ``item``). They live in the memory's Chroma, but a store is open
only in the processes that made one; ``LightMem.forget`` (from the CLI, a cron, another worker) and ``migrate``
must reach them anyway, so they find them here, by that metadata, without importing the surface.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

STORE_ITEMS_KIND = "langgraph-store-items"
_CHUNK = 1000  # ids per Chroma call (its limit is ~5k)


def prefix_clauses(prefix: Sequence[str]) -> list[dict[str, Any]]:
    """The ``where`` clauses of the items whose namespace starts with ``prefix``."""
    return [{f"ns_{i}": label} for i, label in enumerate(prefix)]


def all_of(clauses: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Chroma's ``$and`` of ``clauses`` (it refuses an ``$and`` of fewer than two)."""
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def delete_items(items: Any, vectors: Any | None, ids: Sequence[str]) -> None:
    """Delete items by id, and their vectors."""
    for start in range(0, len(ids), _CHUNK):
        chunk = list(ids[start : start + _CHUNK])
        items.delete(ids=chunk)
        if vectors is not None:
            vectors.delete(where={"item": {"$in": chunk}})


def store_collections(client: Any) -> list[tuple[Any, Any | None]]:
    """Every LangGraph store of ``client``: its items collection and its vectors collection (``None`` without an
    index)."""
    by_name = {c.name: c for c in client.list_collections()}
    found = []
    for name in sorted(by_name):
        if name.endswith("_items") and (by_name[name].metadata or {}).get("kind") == STORE_ITEMS_KIND:
            twin = name.removesuffix("_items") + "_vectors"
            found.append(
                (
                    client.get_collection(name, embedding_function=None),
                    client.get_collection(twin, embedding_function=None) if twin in by_name else None,
                )
            )
    return found


def forget_items(client: Any, namespace: Sequence[str]) -> int:
    """Delete every item under ``namespace`` (and its vectors) in every LangGraph store of ``client``. Returns
    how many items."""
    deleted = 0
    where = all_of(prefix_clauses(namespace))
    for items, vectors in store_collections(client):
        ids = list(items.get(where=where, include=[])["ids"])
        delete_items(items, vectors, ids)
        deleted += len(ids)
    return deleted
