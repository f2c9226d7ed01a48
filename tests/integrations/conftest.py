"""Fixtures for the LangChain / LangGraph surfaces: deterministic embeddings and stores on throwaway collections."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from langchain_core.embeddings import Embeddings

from langchain_lightmem.integrations import LightMemStore


class KeywordEmbeddings(Embeddings):
    """Bag-of-words vectors over a fixed vocabulary (plus one 'other words' slot): similarity is word overlap, so
    the expected ranking of a search can be written down by hand."""

    VOCABULARY = ("pizza", "pasta", "weather", "cold", "lisbon", "berlin", "cat", "dog", "coffee", "tea")

    model_id = "keyword-test-embeddings"

    def _embed(self, text: str) -> list[float]:
        words = re.findall(r"[a-z]+", text.lower())
        vector = [float(words.count(w)) for w in self.VOCABULARY]
        vector.append(0.1 * sum(w not in self.VOCABULARY for w in words) + 0.01)
        return vector

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._embed(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._embed(text)


@pytest.fixture(scope="session")
def keyword_embeddings() -> KeywordEmbeddings:
    return KeywordEmbeddings()


@pytest.fixture(scope="session")
def chroma_client() -> Any:
    import chromadb
    from chromadb.config import Settings

    return chromadb.EphemeralClient(settings=Settings(anonymized_telemetry=False))


@pytest.fixture
def make_store(chroma_client: Any) -> Iterator[Callable[..., LightMemStore]]:
    """LightMemStores on fresh in-memory collections (dropped afterwards)."""
    names: list[str] = []

    def factory(**kwargs: Any) -> LightMemStore:
        if "memory" not in kwargs:
            kwargs.setdefault("client", chroma_client)
        name = kwargs.setdefault("collection", f"t{uuid.uuid4().hex[:12]}")
        names.append(name)
        return LightMemStore(**kwargs)

    yield factory
    for name in names:
        for suffix in ("_items", "_vectors"):
            with contextlib.suppress(Exception):  # created by another client, or never created
                chroma_client.delete_collection(name + suffix)
