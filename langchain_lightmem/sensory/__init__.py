"""Sensory memory: pre-compression of each message and topic segmentation of the stream."""

from langchain_lightmem.sensory.buffer import cut_segments
from langchain_lightmem.sensory.compression import Compressor, NoCompressor, build_compressor
from langchain_lightmem.sensory.segmentation import (
    FixedSegmenter,
    HybridSegmenter,
    Segmenter,
    SimilaritySegmenter,
    build_segmenter,
)

__all__ = [
    "Compressor",
    "FixedSegmenter",
    "HybridSegmenter",
    "NoCompressor",
    "Segmenter",
    "SimilaritySegmenter",
    "build_compressor",
    "build_segmenter",
    "cut_segments",
]
