"""An on-disk cache of embeddings, so reruns of the harness do not embed the same texts again.

Vectors are stored per model in SQLite (``benchmarks/.cache/embeddings/<model>.sqlite3``) keyed by a hash of the
text. The cache is shared by every system of a run: the same turn text is embedded once for the dense baseline,
LightMem, mem0 and langmem. Hits and misses are counted, and reports say when speeds were measured with a warm
cache (``--no-embedding-cache`` measures cold).

Example:
    .. code-block:: python

        from langchain_lightmem.models import load_embeddings
        from benchmarks.embeddings import DiskCachedEmbeddings

        embeddings = DiskCachedEmbeddings(load_embeddings(), "benchmarks/.cache/embeddings")
        embeddings.embed_documents(["hello"]), embeddings.hits, embeddings.misses
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import threading
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

from langchain_lightmem.models import embeddings_model_id

_LOOKUP_CHUNK = 500  # SQLite's limit on host parameters is 999 in old builds


class DiskCachedEmbeddings(Embeddings):
    """Wraps any LangChain ``Embeddings``; ``model_id`` is the wrapped model's, so stores accept it as that model.

    Args:
        inner: the embedder whose vectors are cached.
        folder: where the per-model SQLite file lives (created if missing).
        batch_size: texts per call to ``inner`` for cache misses.
    """

    def __init__(self, inner: Embeddings, folder: str | Path, *, batch_size: int = 64) -> None:
        self.inner = inner
        self.model_id = embeddings_model_id(inner)
        self.batch_size = batch_size
        self.hits = 0
        self.misses = 0
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{re.sub(r'[^A-Za-z0-9._-]+', '_', self.model_id)}.sqlite3"
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")
        self._lock = threading.Lock()

    @staticmethod
    def _key(text: str) -> str:
        return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        keys = [self._key(t) for t in texts]
        found: dict[str, list[float]] = {}
        unique = list(dict.fromkeys(keys))
        with self._lock:
            for start in range(0, len(unique), _LOOKUP_CHUNK):
                chunk = unique[start : start + _LOOKUP_CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(f"SELECT key, vector FROM vectors WHERE key IN ({marks})", chunk)
                found.update((k, np.frombuffer(v, dtype=np.float32).tolist()) for k, v in rows)
        todo = {k: t for k, t in zip(keys, texts, strict=True) if k not in found}
        self.hits += len(texts) - sum(1 for k in keys if k in todo)
        self.misses += sum(1 for k in keys if k in todo)
        if todo:
            items = list(todo.items())
            for start in range(0, len(items), self.batch_size):
                batch = items[start : start + self.batch_size]
                vectors = self.inner.embed_documents([text for _, text in batch])
                blobs = [
                    (key, np.asarray(v, dtype=np.float32).tobytes()) for (key, _), v in zip(batch, vectors, strict=True)
                ]
                with self._lock:
                    self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)", blobs)
                    self._db.commit()
                found.update((key, list(map(float, v))) for (key, _), v in zip(batch, vectors, strict=True))
        return [found[k] for k in keys]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
