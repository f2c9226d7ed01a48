"""MemoryEntry's custom attributes (from a memory schema) through Chroma metadata and surface values."""

from __future__ import annotations

from datetime import UTC, datetime

from langchain_lightmem.types import MemoryEntry


def entry(**attributes: object) -> MemoryEntry:
    return MemoryEntry(
        id="e1",
        namespace=("acme", "alice"),
        text="Alice adopted a cat.",
        source_ids=["m1"],
        event_time=datetime(2024, 5, 1, tzinfo=UTC),
        attributes=attributes,
    )


def test_attributes_round_trip_through_metadata():
    original = entry(category="pet", tags=["cat", "home"], score=0.5)
    meta = original.to_metadata()
    assert isinstance(meta["attributes"], str)  # Chroma metadata holds scalars only
    assert MemoryEntry.from_record("e1", original.text, meta).attributes == original.attributes
    assert "attributes" not in entry().to_metadata()
    assert entry().to_metadata(clear_unset=True)["attributes"] is None
    assert MemoryEntry.from_record("e1", "t", entry().to_metadata()).attributes == {}


def test_to_value_flattens_attributes_without_hiding_reserved_keys():
    value = entry(category="pet", text="not the text", method="not the method").to_value()
    assert value["category"] == "pet"
    assert value["text"] == "Alice adopted a cat." and value["method"] == "llm"
