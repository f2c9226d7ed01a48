"""Stage 1b: topic segmentation of a sensory buffer.

A segmenter looks at the turns of one buffer and returns where new topics start (indices into the buffer, never
0). It knows nothing about storage or roles: any sequence of turns works.

Backends: ``similarity`` (embedding drift between neighbouring turns), ``hybrid`` (the LightMem combination of
attention and similarity boundaries) and ``fixed`` (every ``n`` turns: the baseline).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
from langchain_core.embeddings import Embeddings

from langchain_lightmem.config import SegmentationConfig
from langchain_lightmem.errors import ConfigurationError
from langchain_lightmem.models import embed_in_batches
from langchain_lightmem.sensory.attention import AttentionEncoder, default_layers, local_extrema
from langchain_lightmem.types import Message

if TYPE_CHECKING:
    from langchain_lightmem.sensory.compression import Compressor


@runtime_checkable
class Segmenter(Protocol):
    """Finds topic boundaries in a buffer of turns."""

    name: str

    def boundaries(self, turns: Sequence[Message]) -> list[int]:
        """Sorted indices ``i`` (``0 < i < len(turns)``) where a new segment starts."""
        ...


def turn_text(turn: Message) -> str:
    """What segmentation embeds: the speaker and the original text (topic cues live in both)."""
    return turn.turn_text


def turn_vectors(turns: Sequence[Message], embeddings: Embeddings) -> np.ndarray:
    """Unit vectors of ``turn_text`` for each turn: the ones computed at accept time, the rest embedded now."""
    missing = [i for i, t in enumerate(turns) if t.vector is None]
    computed = embed_in_batches(embeddings, [turn_text(turns[i]) for i in missing]) if missing else None
    rows: list[np.ndarray] = []
    fresh = dict(zip(missing, computed if computed is not None else [], strict=True))
    for i, turn in enumerate(turns):
        rows.append(fresh[i] if i in fresh else np.asarray(turn.vector, dtype=np.float32))
    return np.vstack(rows)


def gap_similarities(vectors: np.ndarray, window: int = 1) -> np.ndarray:
    """Cosine similarity across each gap between turns: ``sims[k]`` compares turns ``k`` and ``k + 1``.

    With ``window > 1`` the mean vector of up to ``window`` turns before the gap is compared with the mean of up
    to ``window`` turns after it, which steadies the signal when turns are short ("yeah", "lol").
    """
    if len(vectors) < 2:
        return np.zeros(0, dtype=np.float32)
    if window == 1:
        return np.einsum("ij,ij->i", vectors[:-1], vectors[1:])
    sums = np.concatenate([np.zeros((1, vectors.shape[1]), dtype=vectors.dtype), np.cumsum(vectors, axis=0)])
    n = len(vectors)
    sims = np.empty(n - 1, dtype=np.float32)
    for k in range(n - 1):
        before = sums[k + 1] - sums[max(0, k + 1 - window)]
        after = sums[min(n, k + 1 + window)] - sums[k + 1]
        norm = float(np.linalg.norm(before) * np.linalg.norm(after))
        sims[k] = float(before @ after) / norm if norm else 0.0
    return sims


def similarity_boundaries(
    vectors: np.ndarray, *, tau_start: float, tau_step: float, tau_max: float, window: int = 1
) -> list[int]:
    """Boundaries where turns on either side of a gap are less similar than a threshold.

    The threshold starts at ``tau_start`` and rises by ``tau_step`` up to ``tau_max`` until at least one
    boundary appears (the LightMem reference schedule: 0.2, 0.25, ... 0.5).
    """
    if len(vectors) < 2:
        return []
    sims = gap_similarities(vectors, window)
    tau = tau_start
    while True:
        found = [i + 1 for i, s in enumerate(sims) if s < tau]
        if found or tau >= tau_max - 1e-9:
            return found
        tau = min(tau + tau_step, tau_max)


class SimilaritySegmenter:
    """Boundaries where the embeddings of consecutive turns drift apart (``segmentation.backend='similarity'``)."""

    name = "similarity"

    def __init__(self, embeddings: Embeddings, config: SegmentationConfig) -> None:
        self.embeddings = embeddings
        self.config = config

    def boundaries(self, turns: Sequence[Message]) -> list[int]:
        if len(turns) < 2:
            return []
        return similarity_boundaries(
            turn_vectors(turns, self.embeddings),
            tau_start=self.config.tau_start,
            tau_step=self.config.tau_step,
            tau_max=self.config.tau_max,
            window=self.config.similarity_window,
        )


class FixedSegmenter:
    """A new segment every ``fixed_turns`` turns: the baseline (``segmentation.backend='fixed'``)."""

    name = "fixed"

    def __init__(self, config: SegmentationConfig) -> None:
        self.size = config.fixed_turns

    def boundaries(self, turns: Sequence[Message]) -> list[int]:
        return list(range(self.size, len(turns), self.size))


class HybridSegmenter:
    """LightMem's hybrid segmentation (``segmentation.backend='hybrid'``).

    1. Coarse: the local extrema (``attention_peaks``; with ``attention_above_mean``, only those beyond the
       buffer's mean) of neighbour attention ``a[k]`` read from a transformer encoder
       (:class:`~langchain_lightmem.sensory.attention.AttentionEncoder`) are candidate boundaries.
    2. Fine: the similarity boundaries of :class:`SimilaritySegmenter` (threshold schedule ``tau_*``).
    3. Combine: keep the fine boundaries within ``tolerance`` turns of a coarse one; if none survive, all fine
       boundaries; if the fine stage finds none, the buffer is one segment.

    Example:
        .. code-block:: python

            from langchain_lightmem.config import SegmentationConfig
            from langchain_lightmem.models import load_attention_encoder, load_embeddings
            from langchain_lightmem.sensory.attention import AttentionEncoder

            model, tokenizer, name = load_attention_encoder()  # packaged all-MiniLM-L6-v2, eager attention
            segmenter = HybridSegmenter(
                load_embeddings(), AttentionEncoder(model, tokenizer, name=name), SegmentationConfig(backend="hybrid")
            )
            starts = segmenter.boundaries(turns)  # turns: a list of Message
    """

    name = "hybrid"

    def __init__(self, embeddings: Embeddings, encoder: AttentionEncoder, config: SegmentationConfig) -> None:
        self.similarity = SimilaritySegmenter(embeddings, config)
        self.encoder = encoder
        self.config = config
        self.layers = encoder.check_layers(config.attention_layers or default_layers(encoder.depth))

    def coarse_boundaries(self, turns: Sequence[Message]) -> list[int]:
        """Candidate boundaries from attention alone."""
        if len(turns) < 2:
            return []
        signal = self.encoder.neighbour_attention(
            [t.content for t in turns], layers=self.layers, edge_mask=self.config.attention_edge_mask
        )
        extrema = local_extrema(signal, self.config.attention_peaks)
        if self.config.attention_above_mean and extrema:
            mean = float(np.nanmean(signal))
            sign = 1.0 if self.config.attention_peaks == "maxima" else -1.0
            extrema = [k for k in extrema if sign * (signal[k] - mean) > 0]
        return [k + 1 for k in extrema]

    def boundaries(self, turns: Sequence[Message]) -> list[int]:
        fine = self.similarity.boundaries(turns)
        if not fine:
            return []
        coarse = self.coarse_boundaries(turns)
        tolerance = self.config.tolerance
        kept = [b for b in fine if any(abs(b - c) <= tolerance for c in coarse)]
        return kept or fine


def build_segmenter(
    config: SegmentationConfig, embeddings: Embeddings, *, compressor: Compressor | None = None
) -> Segmenter:
    """The segmenter the configuration names.

    ``hybrid`` reads attention from ``segmentation.attention_model``; when that is unset and ``compressor`` is an
    LLMLingua-2 compressor, its encoder is shared (one model in memory), else the packaged all-MiniLM-L6-v2.

    Raises:
        ConfigurationError: an unknown backend, or an encoder that cannot be loaded.
    """
    if config.backend == "similarity":
        return SimilaritySegmenter(embeddings, config)
    if config.backend == "fixed":
        return FixedSegmenter(config)
    if config.backend == "hybrid":
        shared = getattr(compressor, "attention_encoder", None)
        if config.attention_model is None and callable(shared):
            encoder = shared()
        else:
            from langchain_lightmem.models import load_attention_encoder

            model, tokenizer, name = load_attention_encoder(config.attention_model)
            encoder = AttentionEncoder(model, tokenizer, name=name)
        return HybridSegmenter(embeddings, encoder, config)
    raise ConfigurationError(
        f"segmentation.backend={config.backend!r} is not available; use 'hybrid', 'similarity' or 'fixed'"
    )
