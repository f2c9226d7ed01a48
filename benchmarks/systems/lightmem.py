"""LightMem itself, as a user would run it: one ``LightMem`` per conversation in a fresh data folder.

Every turn is added with its real timestamp, its speaker as ``speaker`` and its turn id as message ``id`` (so a
memory's ``source_ids`` are evidence ids). One thread per conversation: sessions are separated by the session-gap
rule (their dates are days apart), and a short-term batch may span two sessions, as it does in production. Each
session is one ``add`` call; ``flush`` at the end. Three variants: LLM-free, the scripted model, a real endpoint.
"""

from __future__ import annotations

import re
from typing import Any

from benchmarks.systems.base import Hit, MemorySystem, Progress, folder_bytes

_PART = re.compile(r"#p\d+$")


class LightMemSystem(MemorySystem):
    name = "lightmem_llm_free"
    summary = "LightMem, no chat model (each message of a segment becomes a memory)"

    @property
    def protocol(self) -> str:
        overrides = self.ctx.options.lightmem_config
        return "one add per session, thread per conversation" + (f", config {overrides}" if overrides else "")

    def _config(self) -> Any:
        from langchain_lightmem import LightMemConfig

        return LightMemConfig(data_dir=self.workdir, **self.ctx.options.lightmem_config)

    def ingest(self, progress: Progress) -> None:
        from langchain_lightmem import LightMem

        model = self.ctx.chat_model if self.llm != "none" else None
        self.memory = LightMem(self._config(), chat_model=model, embeddings=self.embeddings)
        self.namespace = self.conversation.id
        for session in self.conversation.sessions:
            if session.turns:
                self.memory.add(
                    [t.as_message() for t in session.turns], namespace=self.namespace, thread_id=self.conversation.id
                )
            progress(len(session.turns))
        self.memory.flush(self.namespace)

    def stage_seconds(self) -> dict[str, float]:
        return {stage: row.seconds for stage, row in self.memory.stats(self.namespace).usage.items()}

    def consolidate(self) -> bool:
        consolidate = getattr(self.memory, "consolidate", None)
        if not callable(consolidate):
            return False  # LightMem.consolidate is not in this build: reported as "not available"
        consolidate(self.namespace)
        return True

    def search(self, query: str, k: int) -> list[Hit]:
        return [
            Hit(hit.render(), tuple(dict.fromkeys(_PART.sub("", s) for s in hit.entry.source_ids)), hit.score)
            for hit in self.memory.search(self.namespace, query, k=k)
        ]

    def memories(self) -> list[str]:
        return [e.text for e in self.memory.entries(self.namespace)]

    def disk_bytes(self) -> int | None:
        return folder_bytes(self.workdir)

    def close(self) -> None:
        self.memory.close()


class LightMemScripted(LightMemSystem):
    name = "lightmem_scripted"
    summary = "LightMem with the scripted chat model (one extraction call per short-term batch)"
    llm = "scripted"


class LightMemEndpoint(LightMemSystem):
    name = "lightmem_endpoint"
    summary = "LightMem with the configured OpenAI-compatible endpoint"
    llm = "endpoint"
