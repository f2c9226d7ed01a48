"""LightMemRetriever passes langchain-tests' standard retriever suite (offline: static embeddings, LLM-free)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_tests.integration_tests import RetrieversIntegrationTests

from langchain_lightmem import LightMem
from langchain_lightmem.integrations import LightMemRetriever

FACTS = [
    "I moved to Lisbon last week.",
    "My sister lives in Porto.",
    "I work as a UX designer.",
    "My cat is called Miso.",
    "I started learning Portuguese.",
]


@pytest.fixture
def memory_with_facts(make_memory: Callable[..., LightMem]) -> LightMem:
    memory = make_memory()
    memory.add([{"role": "user", "content": f} for f in FACTS], namespace="alice", thread_id="t1")
    memory.add([{"role": "user", "content": "Bob likes chess."}], namespace="bob")
    memory.flush("alice")
    memory.flush("bob")
    return memory


class TestLightMemRetrieverStandard(RetrieversIntegrationTests):
    @pytest.fixture(autouse=True)
    def _memory(self, memory_with_facts: LightMem) -> None:
        self.memory = memory_with_facts

    @property
    def retriever_constructor(self) -> type[LightMemRetriever]:
        return LightMemRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"memory": self.memory, "namespace": ("alice",), "k": 2}

    @property
    def retriever_query_example(self) -> str:
        return "Where does Alice live?"


def test_documents_carry_provenance_and_stay_in_the_namespace(memory_with_facts: LightMem) -> None:
    retriever = memory_with_facts.as_retriever(namespace="alice", k=10)
    docs = retriever.invoke("chess")
    assert len(docs) == len(FACTS)
    assert all(isinstance(d, Document) and d.metadata["namespace"] == ["alice"] for d in docs)
    assert all(d.metadata["source_ids"] and d.id == d.metadata["id"] for d in docs)
    assert "chess" not in " ".join(d.page_content for d in docs)
    assert len(retriever.invoke("chess", k=1)) == 1


async def test_async_and_ls_params(memory_with_facts: LightMem) -> None:
    retriever = LightMemRetriever(memory=memory_with_facts, namespace=("alice",), k=3)
    docs = await retriever.ainvoke("Lisbon", k=2)
    assert len(docs) == 2 and "Lisbon" in docs[0].page_content
    params = retriever._get_ls_params()
    assert params["ls_retriever_name"] == "lightmem"
    assert params["ls_vector_store_provider"] == "Chroma"
    assert params["ls_embedding_model"] == "tokenlearn-static-64d"
