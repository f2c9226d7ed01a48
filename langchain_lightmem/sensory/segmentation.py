"""Stage 1b: topic segmentation of a sensory buffer.

A segmenter looks at the turns of one buffer and returns where new topics start (indices into the buffer, never
0). It knows nothing about storage or roles: any sequence of turns works.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from langchain_core.embeddings import Embeddings

from langchain_lightmem.config import SegmentationConfig
from langchain_lightmem.errors import ConfigurationError
from langchain_lightmem.models import embed_in_batches
from langchain_lightmem.types import Message


@runtime_checkable
class Segmenter(Protocol):
    """Finds topic boundaries in a buffer of turns."""

    name: str

    def boundaries(self, turns: Sequence[Message]) -> list[int]:
        """Sorted indices ``i`` (``0 < i < len(turns)``) where a new segment starts."""
        ...


def turn_text(turn: Message) -> str:
    """What segmentation embeds: the speaker and the original text (topic cues live in both)."""
    return f"{turn.display_speaker}: {turn.content}"


def similarity_boundaries(vectors: np.ndarray, *, tau_start: float, tau_step: float, tau_max: float) -> list[int]:
    """Boundaries where consecutive turns are less similar than a threshold.

    The threshold starts at ``tau_start`` and rises by ``tau_step`` up to ``tau_max`` until at least one
    boundary appears (the LightMem reference schedule: 0.2, 0.25, ... 0.5).
    """
    if len(vectors) < 2:
        return []
    sims = np.einsum("ij,ij->i", vectors[:-1], vectors[1:])
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
        vectors = embed_in_batches(self.embeddings, [turn_text(t) for t in turns])
        return similarity_boundaries(
            vectors, tau_start=self.config.tau_start, tau_step=self.config.tau_step, tau_max=self.config.tau_max
        )


class FixedSegmenter:
    """A new segment every ``fixed_turns`` turns: the baseline (``segmentation.backend='fixed'``)."""

    name = "fixed"

    def __init__(self, config: SegmentationConfig) -> None:
        self.size = config.fixed_turns

    def boundaries(self, turns: Sequence[Message]) -> list[int]:
        return list(range(self.size, len(turns), self.size))


def build_segmenter(config: SegmentationConfig, embeddings: Embeddings) -> Segmenter:
    if config.backend == "similarity":
        return SimilaritySegmenter(embeddings, config)
    if config.backend == "fixed":
        return FixedSegmenter(config)
    raise ConfigurationError(
        f"segmentation.backend={config.backend!r} is not available in this version; use 'similarity' or 'fixed'"
    )
