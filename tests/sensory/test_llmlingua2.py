"""LLMLingua-2 through the real llmlingua code path, on a tiny random stand-in model built locally.

What a random model keeps is meaningless: these tests prove plumbing (loading offline, batching, chunking, edge
cases, wiring into the pipeline), never compression quality.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from langchain_lightmem.config import CompressionConfig, SegmentationConfig
from langchain_lightmem.errors import ConfigurationError
from langchain_lightmem.sensory.compression import build_compressor
from langchain_lightmem.sensory.segmentation import HybridSegmenter, build_segmenter

pytest.importorskip("llmlingua")

SENTENCE = "Caroline said she went to the LGBTQ support group on Sunday and it was really powerful for her."


@pytest.fixture(scope="module")
def compressor(llmlingua2_standin: Path) -> Any:
    return build_compressor(
        CompressionConfig(backend="llmlingua2", model=str(llmlingua2_standin), rate=0.5, batch_size=4)
    )


def forward_shapes(model: Any) -> tuple[list[tuple[int, ...]], Any]:
    shapes: list[tuple[int, ...]] = []
    handle = model.register_forward_hook(
        lambda _m, args, kwargs, _out: shapes.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True
    )
    return shapes, handle


def test_loads_offline_and_returns_one_text_per_input(compressor: Any) -> None:
    texts = [SENTENCE, "ok", "", "   ", "😀😀😀", SENTENCE + " " + SENTENCE]
    out = compressor.compress(texts)
    assert len(out) == len(texts)
    assert out[1:5] == texts[1:5]  # too short, blank, or nothing the encoder can score: kept whole
    assert out[0] and len(out[0].split()) < len(SENTENCE.split())
    assert compressor.compress([]) == []


def test_lower_rate_keeps_fewer_words(llmlingua2_standin: Path) -> None:
    words = {}
    for rate in (0.3, 0.9):
        c = build_compressor(CompressionConfig(backend="llmlingua2", model=str(llmlingua2_standin), rate=rate))
        words[rate] = len(c.compress([SENTENCE * 3])[0].split())
    assert words[0.3] < words[0.9]


def test_many_messages_share_a_forward_pass_padded_to_the_batch(compressor: Any) -> None:
    shapes, handle = forward_shapes(compressor.model)
    try:
        compressor.compress([f"{SENTENCE} Number {i} of ten." for i in range(10)])
    finally:
        handle.remove()
    assert [s[0] for s in shapes] == [4, 4, 2]  # batch_size=4: three passes for ten messages, not ten
    assert max(s[1] for s in shapes) < 64  # padded to the longest message, not to 512 positions


def test_messages_longer_than_the_window_are_chunked(compressor: Any) -> None:
    long = " ".join(f"{SENTENCE} Item {i}." for i in range(120))  # ~2,800 encoder tokens
    blob = "x" * 5000  # one huge "word"
    shapes, handle = forward_shapes(compressor.model)
    try:
        out = compressor.compress([long, blob])
    finally:
        handle.remove()
    assert max(s[1] for s in shapes) <= 512
    assert 0 < len(out[0].split()) < len(long.split())
    assert out[1]


def test_force_tokens_and_target_tokens(llmlingua2_standin: Path) -> None:
    config = CompressionConfig(backend="llmlingua2", model=str(llmlingua2_standin), rate=0.3, force_tokens=["?"])
    text = "Where did you go yesterday? I went to the museum with my sister and her two kids."
    assert "?" in build_compressor(config).compress([text])[0]
    config = CompressionConfig(backend="llmlingua2", model=str(llmlingua2_standin), target_tokens=8)
    short, long = build_compressor(config).compress(["I went to the museum today.", SENTENCE * 4])
    assert short == "I went to the museum today."  # fewer tokens than the target: kept whole
    assert len(long.split()) < len((SENTENCE * 4).split()) / 2


def test_model_path_without_a_known_word_rule_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="bert-base-multilingual-cased"):
        build_compressor(CompressionConfig(backend="llmlingua2", model=str(tmp_path / "my-model")))


def test_unreachable_hub_model_says_what_to_do() -> None:
    with pytest.raises(ConfigurationError, match="local folder"):
        build_compressor(CompressionConfig(backend="llmlingua2"))  # the hub default; the tests run offline


def test_hybrid_segmentation_shares_the_llmlingua_encoder(compressor: Any, static_embeddings: Any) -> None:
    segmenter = build_segmenter(SegmentationConfig(backend="hybrid"), static_embeddings, compressor=compressor)
    assert isinstance(segmenter, HybridSegmenter)
    assert segmenter.encoder.model is compressor.model  # one model in memory
    assert segmenter.layers == [0]  # a 2-layer encoder: the lower third
    from tests.helpers import msg

    turns = [msg(i, text=t) for i, t in enumerate([SENTENCE, "cool", "my car broke down", "the engine died"])]
    assert all(0 < b < 4 for b in segmenter.boundaries(turns))
    assert compressor.compress([SENTENCE])[0]  # compression still works on the now-eager model


def test_pipeline_keeps_the_original_beside_the_compressed_text(make_memory: Any, llmlingua2_standin: Path) -> None:
    memory = make_memory(
        compression={"backend": "llmlingua2", "model": str(llmlingua2_standin), "rate": 0.5},
        segmentation={"backend": "hybrid"},
    )
    memory.add([{"role": "user", "content": SENTENCE, "id": "m1"}], namespace="alice")
    memory.flush("alice")
    stored = memory.pipeline.journal.messages.get(("alice",), ["m1"])["m1"]
    assert stored.content == SENTENCE
    assert stored.compressed and stored.compressed != SENTENCE
    assert memory.search("alice", "support group", k=1)
