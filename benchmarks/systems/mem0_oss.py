"""mem0 (open-source ``mem0ai`` ``Memory``) driven by the same scripted chat model as everyone else.

Setup: telemetry off (``MEM0_TELEMETRY=False``, set before mem0 is imported), mem0's state folder under the
harness cache, the LangChain LLM provider with our chat model, the LangChain embedder with our packaged MiniLM,
and Qdrant in local on-disk mode (mem0's default store; works offline) in the system's working folder.
Provenance: every ``add`` carries the ids of its turns in ``metadata``, which mem0 copies onto each memory it
creates.

Protocols (``--mem0-protocol``):

* ``locomo`` (default, mem0's own LoCoMo harness): each speaker gets a user id; every session is added twice,
  once from each speaker's side (their turns as ``user``, the other's as ``assistant``), 2 messages per ``add``,
  content ``"Speaker: text"``, the session date as ``metadata.timestamp``. Searches query both users and merge
  by score. (mem0's harness also sets project-level custom instructions; they are not set here.)
* ``pair``: one user id per conversation, one ``add`` per pair of consecutive turns.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from benchmarks.data import Session, Turn
from benchmarks.systems.base import Hit, MemorySystem, Progress, SystemUnavailable, folder_bytes

PROTOCOLS = {
    "locomo": "mem0's LoCoMo protocol: each speaker's side, 2 messages per add",
    "pair": "one add per pair of consecutive turns",
}


class Mem0System(MemorySystem):
    name = "mem0"
    summary = "mem0 open source Memory (mem0ai), Qdrant local, scripted chat model"
    llm = "scripted"

    @classmethod
    def check_available(cls) -> None:
        if not all(importlib.util.find_spec(m) for m in ("mem0", "qdrant_client")):
            raise SystemUnavailable("mem0 needs mem0ai: pip install -e '.[bench]'")

    @property
    def protocol(self) -> str:
        return PROTOCOLS[self.ctx.options.mem0_protocol]

    def _memory(self) -> Any:
        os.environ["MEM0_TELEMETRY"] = "False"
        os.environ.setdefault("MEM0_DIR", str(self.ctx.cache_dir / "mem0"))
        from mem0 import Memory
        from mem0.memory import telemetry

        if telemetry.MEM0_TELEMETRY:
            raise SystemUnavailable(
                "mem0 was imported with telemetry on before the harness could turn it off: set MEM0_TELEMETRY=False"
            )

        self.workdir.mkdir(parents=True, exist_ok=True)
        return Memory.from_config(
            {
                "llm": {"provider": "langchain", "config": {"model": self.ctx.chat_model}},
                "embedder": {"provider": "langchain", "config": {"model": self.embeddings}},
                "vector_store": {
                    "provider": "qdrant",
                    "config": {
                        "path": str(self.workdir / "qdrant"),
                        "collection_name": "memories",
                        "embedding_model_dims": len(self.embeddings.embed_query("dimensions")),
                        "on_disk": True,
                    },
                },
                "history_db_path": str(self.workdir / "history.db"),
            }
        )

    def _users(self) -> list[str]:
        if self.ctx.options.mem0_protocol == "locomo" and len(self.conversation.speakers) == 2:
            return [f"{s}_{self.conversation.id}" for s in self.conversation.speakers]
        return [self.conversation.id]

    def _adds(self, session: Session) -> list[tuple[str, list[Turn], list[dict[str, str]]]]:
        """(user id, turns, messages) for every ``add`` of one session, in order."""
        users = self._users()
        adds = []
        for side, user in enumerate(users):
            for start in range(0, len(session.turns), 2):
                turns = session.turns[start : start + 2]
                messages = []
                for t in turns:
                    role = t.role
                    if len(users) == 2:  # the speaker whose memory this is talks as "user"
                        role = "user" if t.speaker == self.conversation.speakers[side] else "assistant"
                    messages.append({"role": role, "content": f"{t.speaker}: {t.text}"})
                adds.append((user, turns, messages))
        return adds

    def ingest(self, progress: Progress) -> None:
        self.memory = self._memory()
        for session in self.conversation.sessions:
            adds = self._adds(session)
            for user, turns, messages in adds:
                self.memory.add(
                    messages,
                    user_id=user,
                    metadata={"timestamp": session.date_text, "source_ids": [t.id for t in turns]},
                )
            progress(len(session.turns))

    def search(self, query: str, k: int) -> list[Hit]:
        found: list[dict[str, Any]] = []
        for user in self._users():
            found.extend(self.memory.search(query, filters={"user_id": user}, top_k=k)["results"])
        found.sort(key=lambda r: -(r.get("score") or 0.0))
        hits = []
        for r in found[:k]:
            meta = r.get("metadata") or {}
            stamp = meta.get("timestamp")
            text = f"{stamp}: {r['memory']}" if stamp else r["memory"]
            hits.append(Hit(text, tuple(meta.get("source_ids", [])), r.get("score")))
        return hits

    def memories(self) -> list[str]:
        texts: list[str] = []
        for user in self._users():
            texts.extend(
                r["memory"] for r in self.memory.get_all(filters={"user_id": user}, top_k=1_000_000)["results"]
            )
        return texts

    def disk_bytes(self) -> int | None:
        return folder_bytes(self.workdir)

    def close(self) -> None:
        memory = getattr(self, "memory", None)
        if memory is None:
            return
        client = getattr(memory.vector_store, "client", None)
        if client is not None:
            client.close()
        memory.close()
