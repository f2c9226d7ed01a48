"""LightMem itself, as a user would run it: one ``LightMem`` per conversation in a fresh data folder.

Every turn is added with its real timestamp, its speaker as ``speaker`` and its turn id as message ``id`` (so a
memory's ``source_ids`` are evidence ids). One thread per conversation: sessions are separated by the session-gap
rule (their dates are days apart), and a short-term batch may span two sessions, as it does in production. Each
session is one ``add`` call; ``flush`` at the end. Three variants: LLM-free, the scripted model, a real endpoint.

Search passes the question's date as ``reference_time`` (time expressions are read against it). Retrieval variants
of the LLM-free system, so one run compares them: ``lightmem_dense`` (vector search only, no neighbour spread or
time boost: 0.1's search), ``lightmem_lexical`` (BM25 alone, with the default neighbour spread and time boost),
``lightmem_llm_free`` (the shipped retrieval defaults: hybrid), and
``lightmem_context`` (the packed context of ``LightMem.context`` within ``--lightmem-budget`` tokens, in packed
order: grouped by day, one date header per group, then the remaining ranked hits).
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from benchmarks.systems.base import Hit, MemorySystem, Progress, folder_bytes

if TYPE_CHECKING:
    from langchain_lightmem import LightMem

_PART = re.compile(r"#p\d+$")


class LightMemSystem(MemorySystem):
    name = "lightmem_llm_free"
    summary = "LightMem, no chat model (each message of a segment becomes a memory)"

    retrieval: ClassVar[dict[str, Any]] = {}  # this variant's retrieval settings (the run's config wins)

    @property
    def protocol(self) -> str:
        overrides = self.ctx.options.lightmem_config
        text = "one add per session, thread per conversation"
        text += f"; search: retrieval {self._config().retrieval.mode}" + self._search_protocol()
        return text + (f", config {overrides}" if overrides else "")

    def _search_protocol(self) -> str:
        return ", ranked hits"

    def _config(self) -> Any:
        from langchain_lightmem import LightMemConfig

        overrides = dict(self.ctx.options.lightmem_config)
        overrides["retrieval"] = {**self.retrieval, **overrides.get("retrieval", {})}
        return LightMemConfig(data_dir=self.workdir, **overrides)

    def open_memory(self) -> LightMem:
        """This conversation's ``LightMem`` in the working folder, its namespace the conversation id (the agent
        protocols feed it themselves; :meth:`ingest` feeds it the batch way)."""
        from langchain_lightmem import LightMem

        model = self.ctx.chat_model if self.llm != "none" else None
        self.memory = LightMem(self._config(), chat_model=model, embeddings=self.embeddings)
        self.namespace = self.conversation.id
        return self.memory

    def middleware_options(self) -> dict[str, Any]:
        """``LightMemMiddleware`` options of this variant under the agent protocols (its retrieval settings are
        already in the memory's config)."""
        return {}

    def ingest(self, progress: Progress) -> None:
        self.open_memory()
        for session in self.conversation.sessions:
            if session.turns:
                self.memory.add(
                    [t.as_message() for t in session.turns], namespace=self.namespace, thread_id=self.conversation.id
                )
            progress(len(session.turns))
        self.memory.flush(self.namespace)

    def stage_seconds(self) -> dict[str, float]:
        return {stage: row.seconds for stage, row in self.memory.stats(self.namespace).usage.items()}

    def usage_records(self) -> dict[str, Any]:
        """LightMem's own usage records of this conversation (``memory.stats(ns)``): calls, tokens and seconds of
        its LLM stages (extract, consolidate), its batches by status, its memories by how they were made
        (``llm``; ``extractive_fallback`` when every extraction attempt of a batch failed)."""
        stats = self.memory.stats(self.namespace)
        stages = {
            stage: {
                "calls": row.calls,
                "input_tokens": row.input_tokens,
                "output_tokens": row.output_tokens,
                "seconds": row.seconds,
            }
            for stage, row in stats.usage.items()
            if row.calls
        }
        methods = Counter(e.method for e in self.memory.entries(self.namespace))
        return {"stages": stages, "batches": dict(stats.batches), "memories_by_method": dict(methods)}

    def consolidate(self) -> bool:
        consolidate = getattr(self.memory, "consolidate", None)
        if not callable(consolidate):
            return False  # LightMem.consolidate is not in this build: reported as "not available"
        consolidate(self.namespace)
        return True

    def search(self, query: str, k: int) -> list[Hit]:
        return self.search_at(query, k, reference_time=None)

    def search_at(self, query: str, k: int, *, reference_time: datetime | None) -> list[Hit]:
        return [hit_from(hit) for hit in self.memory.search(self.namespace, query, k=k, reference_time=reference_time)]

    def memories(self) -> list[str]:
        return [e.text for e in self.memory.entries(self.namespace)]

    def disk_bytes(self) -> int | None:
        return folder_bytes(self.workdir)

    def close(self) -> None:
        self.memory.close()


def _sources(hit: Any) -> tuple[str, ...]:
    return tuple(dict.fromkeys(_PART.sub("", s) for s in hit.entry.source_ids))


def hit_from(result: Any) -> Hit:
    """A LightMem ``SearchResult`` as the harness scores it: its rendered line, the turns it came from (message
    parts ``<id>#p2`` count as their turn), its score."""
    return Hit(result.render(), _sources(result), result.score)


class LightMemDense(LightMemSystem):
    name = "lightmem_dense"
    summary = "LightMem, no chat model, vector search only (0.1's retrieval)"
    retrieval: ClassVar[dict[str, Any]] = {"mode": "dense", "neighbour_weight": 0.0, "time_mode": "off"}


class LightMemLexical(LightMemSystem):
    name = "lightmem_lexical"
    summary = "LightMem, no chat model, BM25 search only (its incremental FTS5 index)"
    retrieval: ClassVar[dict[str, Any]] = {"mode": "lexical"}


class LightMemContext(LightMemSystem):
    name = "lightmem_context"
    summary = "LightMem, no chat model, packed context (LightMem.context) within the budget, then ranked hits"

    def _search_protocol(self) -> str:
        return f", context packed to {self.ctx.options.lightmem_budget} tokens then ranked hits"

    def middleware_options(self) -> dict[str, Any]:
        return {"packing": True}

    def search_at(self, query: str, k: int, *, reference_time: datetime | None) -> list[Hit]:
        budget = self.ctx.options.lightmem_budget
        context = self.memory.context(self.namespace, query, max_tokens=budget, reference_time=reference_time)
        hits = [Hit(text, _sources(item.hit), item.hit.score) for item, text in context.lines()]
        # The harness counts each hit's tokens on its own: never let the packed part exceed the budget that way.
        counts = self.ctx.counter.count_many([h.text for h in hits])
        while hits and sum(counts) > budget:
            hits.pop()
            counts.pop()
        packed = {item.hit.entry.id for item in context.items}
        rest = self.memory.search(self.namespace, query, k=k, reference_time=reference_time)
        hits += [hit_from(h) for h in rest if h.entry.id not in packed]
        return hits[:k]


class LightMemScripted(LightMemSystem):
    name = "lightmem_scripted"
    summary = "LightMem with the scripted chat model (one extraction call per short-term batch)"
    llm = "scripted"


class LightMemEndpoint(LightMemSystem):
    name = "lightmem_endpoint"
    summary = "LightMem with the configured OpenAI-compatible endpoint"
    llm = "endpoint"
