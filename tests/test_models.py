"""The MiniLM embedder runs its forward passes in a few fixed shapes (flat native memory) without changing vectors."""

from __future__ import annotations

import numpy as np
import torch
from sentence_transformers import SentenceTransformer

from langchain_lightmem.config import EmbeddingConfig
from langchain_lightmem.models import _WIDTHS, _batches, _width, load_embeddings

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
