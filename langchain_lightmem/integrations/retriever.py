"""``LightMemRetriever``: a LangChain retriever over one namespace's long-term memories."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever, LangSmithRetrieverParams
from pydantic import ConfigDict, Field, field_validator

from langchain_lightmem.types import Namespace, NamespaceLike, SearchResult, normalize_namespace

if TYPE_CHECKING:
    from langchain_lightmem.memory import LightMem


def result_to_document(hit: SearchResult, *, group: str | None = None, neighbour_of: str | None = None) -> Document:
    """A memory as a ``Document``: the fact as content; provenance, times and score as metadata (and, from a packed
    context, its ``group`` and the hit it was added beside as ``neighbour_of``)."""
    e = hit.entry
    metadata: dict[str, Any] = {
        "id": e.id,
        "score": hit.score,
        "namespace": list(e.namespace),
        "source_ids": list(e.source_ids),
        "event_time": e.event_time.isoformat(),
        "ingested_at": e.ingested_at.isoformat(),
        "method": e.method,
        "version": e.version,
    }
    for key in ("thread_id", "speaker", "role", "segment_id", "model", "superseded_by"):
        value = getattr(e, key)
        if value is not None:
            metadata[key] = value
    if group is not None:
        metadata["group"] = group
    if neighbour_of is not None:
        metadata["neighbour_of"] = neighbour_of
    return Document(page_content=e.text, metadata=metadata, id=e.id)


class LightMemRetriever(BaseRetriever):
    """Retrieve a namespace's memories as ``Document``s: the fact as content, provenance and times as metadata.

    Setup:
        .. code-block:: bash

            pip install 'langchain-lightmem[all]'   # after: pip install torch==2.13.0 (CPU)

    Key init args:
        memory: the :class:`~langchain_lightmem.LightMem` to read.
        namespace: whose memories (``"alice"`` or ``("org", "alice")``).
        k: how many documents, 1 or more (also per call: ``retriever.invoke(q, k=3)``; ``k=0`` or ``k=-1`` raise
            ``InvalidQueryError``, as every invalid per-call option raises an ``InvalidInputError`` naming it).
        filters: a Chroma ``where`` on entry metadata (``speaker``, ``thread_id``, ...); it narrows the namespace,
            never widens it. Also per call, with ``time_range=(start, end)`` and ``include_history``.
        mode: ``"hybrid"`` (default from config), ``"dense"`` or ``"lexical"``.
        max_tokens: when set, return the packed context (:meth:`LightMem.context`): the best memories that fit
            this many tokens, grouped by day in time order, top hits followed by their segment neighbours.
        retrieval: other ``RetrievalConfig`` overrides (``{"time_mode": "filter", "lexical_weight": 0.3}``).
        Per call also: ``reference_time`` (when the question is asked; "last month" is relative to it).

    Instantiate:
        .. code-block:: python

            retriever = memory.as_retriever(namespace="alice", k=5)
            # or: LightMemRetriever(memory=memory, namespace="alice", k=5)

    Add:
        .. code-block:: python

            memory.add([{"role": "user", "content": "I moved to Lisbon."}], namespace="alice")
            memory.flush("alice")   # what is still buffered becomes memories now

    Delete:
        .. code-block:: python

            memory.delete("alice", [doc.id for doc in retriever.invoke("Lisbon")])

    Search:
        .. code-block:: python

            docs = retriever.invoke("Where does Alice live?", k=3)
            docs[0].metadata["source_ids"]  # the messages the memory came from

    Async:
        .. code-block:: python

            docs = await retriever.ainvoke("Where does Alice live?")

    Use as retriever:
        .. code-block:: python

            chain = {"context": retriever | format_docs, "question": RunnablePassthrough()} | prompt | model
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    memory: Any
    namespace: Namespace
    k: int = Field(10, ge=1)
    filters: dict[str, Any] | None = None
    include_history: bool = False
    mode: Literal["hybrid", "dense", "lexical"] | None = None
    max_tokens: int | None = Field(None, ge=16)
    retrieval: dict[str, Any] = Field(default_factory=dict)

    @field_validator("namespace", mode="before")
    @classmethod
    def _namespace(cls, value: NamespaceLike) -> Namespace:
        return normalize_namespace(value)

    def _search(self, query: str, **kwargs: Any) -> list[Document]:
        """Per-call options override the retriever's; the facade validates them all (typed errors naming the
        option, e.g. ``InvalidQueryError`` with ``field="k"`` for ``k=0``)."""
        memory: LightMem = self.memory
        common: dict[str, Any] = {
            "filters": kwargs.get("filters", self.filters),
            "time_range": kwargs.get("time_range"),
            "include_history": bool(kwargs.get("include_history", self.include_history)),
            "reference_time": kwargs.get("reference_time"),
            "mode": kwargs.get("mode", self.mode),
            **self.retrieval,
            **kwargs.get("retrieval", {}),
        }
        k = kwargs.get("k")
        max_tokens = kwargs.get("max_tokens", self.max_tokens)
        if max_tokens is not None:
            context = memory.context(self.namespace, query, max_tokens=max_tokens, k=k, **common)
            return [result_to_document(i.hit, group=i.group, neighbour_of=i.neighbour_of) for i in context.items]
        hits = memory.search(self.namespace, query, k=self.k if k is None else k, **common)
        return [result_to_document(h) for h in hits]

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        return self._search(query, **kwargs)

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        return await asyncio.to_thread(self._search, query, **kwargs)

    def _get_ls_params(self, **kwargs: Any) -> LangSmithRetrieverParams:
        params = super()._get_ls_params(**kwargs)
        params["ls_retriever_name"] = "lightmem"
        embeddings = getattr(self.memory, "embeddings", None)
        if embeddings is not None:
            params["ls_embedding_provider"] = type(embeddings).__name__
            model_id = getattr(embeddings, "model_id", None)
            if model_id:
                params["ls_embedding_model"] = model_id
        params["ls_vector_store_provider"] = "Chroma"
        return params
