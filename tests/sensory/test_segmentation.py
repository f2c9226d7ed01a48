"""Segmenters: the similarity schedule, the attention signal, and hybrid's combination rules."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from langchain_lightmem.config import SegmentationConfig
from langchain_lightmem.errors import ConfigurationError
from langchain_lightmem.sensory.attention import AttentionEncoder, default_layers, local_extrema
from langchain_lightmem.sensory.segmentation import (
    FixedSegmenter,
    HybridSegmenter,
    build_segmenter,
    gap_similarities,
    similarity_boundaries,
)
from tests.helpers import msg


def unit(*rows: Sequence[float]) -> np.ndarray:
    arr = np.asarray(rows, dtype=np.float32)
    return arr / np.linalg.norm(arr, axis=1, keepdims=True)


class TableEmbeddings:
    """Embeddings looked up by the turn's text (the part after ``speaker: ``)."""

    def __init__(self, table: dict[str, Sequence[float]]) -> None:
        self.table = table

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [list(self.table[t.split(": ", 1)[1]]) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


class ScriptedEncoder:
    """An attention encoder whose neighbour attention is given."""

    depth = 6
    name = "scripted"

    def __init__(self, signal: Sequence[float]) -> None:
        self.signal = np.asarray(signal, dtype=float)

    def check_layers(self, layers: Sequence[int]) -> list[int]:
        return list(layers)

    def neighbour_attention(self, texts: Sequence[str], *, layers: Sequence[int], edge_mask: int) -> np.ndarray:
        return self.signal[: len(texts) - 1]


A, B = [1.0, 0.0], [0.0, 1.0]


def test_gap_similarity_windows() -> None:
    v = unit(A, A, B, B)
    assert np.allclose(gap_similarities(v, 1), [1, 0, 1])
    v = unit(A, [1, 1], B, B)
    # window 2 compares the mean of up to two turns on each side of each gap
    expected = [v[0] @ (v[1] + v[2]) / np.linalg.norm(v[1] + v[2])]
    assert np.isclose(gap_similarities(v, 2)[0], expected[0])
    assert gap_similarities(unit(A), 3).shape == (0,)


def test_threshold_rises_until_a_boundary_appears() -> None:
    v = unit(A, [1, 0.5], [1, 1.2], [1, 1.3])  # gap similarities 0.89, 0.92, 0.998: none below 0.2
    bounds = similarity_boundaries(v, tau_start=0.2, tau_step=0.05, tau_max=0.999)
    assert bounds == [1]  # the least similar gap, found once tau passes 0.89
    assert similarity_boundaries(v, tau_start=0.2, tau_step=0.05, tau_max=0.5) == []


def test_local_extrema() -> None:
    a = np.array([0.1, 0.5, 0.2, 0.2, 0.9, np.nan, 0.3])
    assert local_extrema(a, "maxima") == [1, 4]
    assert local_extrema(a, "minima") == [0]
    assert local_extrema(np.array([0.3, np.nan, 0.4]), "maxima") == []  # no real neighbour: no extremum
    assert local_extrema(np.array([0.4]), "maxima") == []


def test_default_layers_by_depth() -> None:
    assert default_layers(6) == [0, 1]
    assert default_layers(12) == [0, 1, 2, 3]
    assert default_layers(2) == [0]


def hybrid(signal: Sequence[float], table: dict[str, Sequence[float]], **config: Any) -> HybridSegmenter:
    cfg = SegmentationConfig(backend="hybrid", attention_layers=[0], **config)
    return HybridSegmenter(TableEmbeddings(table), ScriptedEncoder(signal), cfg)  # type: ignore[arg-type]


TABLE = {"a": A, "b": B, "ab": [1, 1]}


def turns(*texts: str) -> list[Any]:
    return [msg(i, text=t) for i, t in enumerate(texts)]


def test_hybrid_keeps_fine_boundaries_near_a_coarse_one() -> None:
    ts = turns("a", "a", "b", "b", "b", "b", "b", "b", "b", "a", "a")  # fine: 2 and 9
    signal = [0, 0.9, 0, 0, 0, 0, 0, 0, 0, 0]  # one attention peak at gap 1 -> coarse boundary 2
    assert hybrid(signal, TABLE, tolerance=1).boundaries(ts) == [2]
    assert hybrid(signal, TABLE, tolerance=7).boundaries(ts) == [2, 9]


def test_hybrid_falls_back_to_all_fine_boundaries_and_to_one_segment() -> None:
    ts = turns("a", "a", "a", "a", "a", "b", "b")  # fine: 5
    far = [0.9, 0, 0, 0, 0, 0]  # the only peak is at gap 0 -> coarse 1, more than 1 turn from 5
    assert hybrid(far, TABLE, tolerance=1).boundaries(ts) == [5]  # none survive: every fine boundary
    same = turns("a", "a", "a", "a")
    assert hybrid([0.1, 0.9, 0.1], TABLE).boundaries(same) == []  # no fine boundary: one segment
    assert hybrid([], TABLE).boundaries(turns("a")) == []


def test_minima_direction() -> None:
    ts = turns("a", "a", "b", "b", "b", "b", "b", "b", "b", "a", "a")
    dips = [1, 1, 1, 1, 1, 1, 1, 1, 0.1, 1]  # a dip at gap 8 -> coarse boundary 9
    assert hybrid(dips, TABLE, tolerance=1, attention_peaks="minima").boundaries(ts) == [9]


def test_fixed_baseline() -> None:
    assert FixedSegmenter(SegmentationConfig(fixed_turns=3)).boundaries(turns(*"abcdefg")) == [3, 6]


def test_unknown_backend_and_bad_layers_are_refused(
    tiny_encoder: Any, bert_tokenizer: Any, static_embeddings: Any
) -> None:
    with pytest.raises(ConfigurationError, match="backend"):
        build_segmenter(SegmentationConfig.model_construct(backend="magic"), static_embeddings)  # type: ignore[arg-type]
    encoder = AttentionEncoder(tiny_encoder, bert_tokenizer, name="tiny")
    with pytest.raises(ConfigurationError, match=r"0\.\.1"):
        HybridSegmenter(static_embeddings, encoder, SegmentationConfig(backend="hybrid", attention_layers=[5]))


def test_attention_signal_on_a_real_encoder(tiny_encoder: Any, bert_tokenizer: Any) -> None:
    encoder = AttentionEncoder(tiny_encoder, bert_tokenizer, name="tiny")
    assert encoder.window == 64
    texts = ["hello there", "how are you today", "fine thanks", "my car broke down on the way"]
    a = encoder.neighbour_attention(texts, layers=[0, 1], edge_mask=3)
    assert a.shape == (3,) and np.all((a[~np.isnan(a)] >= 0) & (a[~np.isnan(a)] <= 1))
    # Forty turns do not fit one 64-position window: overlapping windows still give every pair a value.
    many = [f"turn number {i} talks about gardening and tomatoes" for i in range(40)]
    signal = encoder.neighbour_attention(many, layers=[1], edge_mask=3)
    assert signal.shape == (39,) and not np.isnan(signal).any()
    # A turn longer than the window is cut for this reading only; a huge edge mask leaves nothing (NaN, no crash).
    assert encoder.neighbour_attention(["word " * 500, "short"], layers=[0], edge_mask=3).shape == (1,)
    assert np.isnan(encoder.neighbour_attention(["a b", "c d"], layers=[0], edge_mask=50)).all()


def test_an_encoder_without_attention_maps_is_explained(bert_tokenizer: Any) -> None:
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=bert_tokenizer.vocab_size,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=1,
        intermediate_size=16,
        attn_implementation="sdpa",
    )
    encoder = AttentionEncoder(BertModel(config).eval(), bert_tokenizer, name="sdpa-model")
    with pytest.raises(ConfigurationError, match="eager"):
        encoder.neighbour_attention(["one two", "three four"], layers=[0])


@pytest.mark.integration
def test_hybrid_on_minilm_finds_a_clear_topic_switch(minilm: Any) -> None:
    cooking = [
        "I'm making fresh pasta tonight with flour and eggs.",
        "Do you roll the dough by hand or with a machine?",
        "By hand, then I cut it into tagliatelle.",
        "What sauce are you serving with the pasta?",
        "A simple tomato and basil sauce with parmesan.",
    ]
    cars = [
        "By the way, my car's engine made a grinding noise this morning.",
        "That could be the alternator or a worn serpentine belt.",
        "The mechanic said the brake pads are worn too.",
        "Replacing brake pads and the belt should not cost much.",
        "I'll take the car to the garage on Monday.",
    ]
    segmenter = build_segmenter(SegmentationConfig(backend="hybrid"), minilm)
    assert isinstance(segmenter, HybridSegmenter) and segmenter.encoder.name == "all-MiniLM-L6-v2"
    bounds = segmenter.boundaries(turns(*cooking, *cars))
    assert any(abs(b - 5) <= 1 for b in bounds)
