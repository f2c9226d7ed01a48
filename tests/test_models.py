"""The MiniLM embedder runs its forward passes in a few fixed shapes (flat native memory) without changing vectors."""

from __future__ import annotations

import numpy as np
import torch
from sentence_transformers import SentenceTransformer

from langchain_lightmem.config import EmbeddingConfig
from langchain_lightmem.models import _bucket, load_embeddings

WORDS = ("the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "my", "sister", "plays", "cello", "in")


def test_bucket_rounds_up_to_powers_of_two_within_bounds():
    assert [_bucket(n, 1, 32) for n in (1, 2, 3, 5, 17, 32, 40)] == [1, 2, 4, 8, 32, 32, 32]
    assert [_bucket(n, 16, 256) for n in (1, 16, 17, 100, 300)] == [16, 16, 32, 128, 256]


def test_minilm_forward_shapes_are_bucketed_and_vectors_unchanged():
    embeddings = load_embeddings(EmbeddingConfig(cache_size=0, batch_size=32))
    cells = [c.cell_contents for c in embeddings._encode.__closure__ or ()]
    model = next(c for c in cells if isinstance(c, SentenceTransformer))
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
    assert shapes and all(b & (b - 1) == 0 and n & (n - 1) == 0 and n >= 16 for b, n in shapes), shapes
    assert shapes[-1] == (1, 16)  # a short query is neither padded to a batch nor to a long width
    with torch.inference_mode():
        plain = model.encode([*texts, "Where does my sister play?"], normalize_embeddings=True)
    assert np.abs(got - plain[:-1]).max() < 1e-5 and np.abs(query - plain[-1]).max() < 1e-5
