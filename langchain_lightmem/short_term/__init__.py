"""Short-term memory: whole topic segments gather until a token threshold, then one extraction call."""

from langchain_lightmem.short_term.buffer import pack_batches
from langchain_lightmem.short_term.extraction import (
    ExtractionOutcome,
    ExtractiveExtractor,
    Extractor,
    LLMExtractor,
)

__all__ = ["ExtractionOutcome", "ExtractiveExtractor", "Extractor", "LLMExtractor", "pack_batches"]
