"""Stage 1a: pre-compression. Each message is pruned to the tokens worth an LLM's attention.

A compressor works on a batch of texts at once (one model pass for many messages is where the speed is) and
returns one compressed text per input. The original text is never overwritten: the journal keeps both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from langchain_lightmem.config import CompressionConfig
from langchain_lightmem.errors import ConfigurationError


@runtime_checkable
class Compressor(Protocol):
    """Turns texts into shorter texts that keep what matters. Must accept any length and any number of texts."""

    name: str

    def compress(self, texts: Sequence[str]) -> list[str]: ...


class NoCompressor:
    """Keeps every token (``compression.backend='none'``)."""

    name = "none"

    def compress(self, texts: Sequence[str]) -> list[str]:
        return list(texts)


def build_compressor(config: CompressionConfig) -> Compressor:
    """The compressor the configuration names.

    Raises:
        ConfigurationError: the backend is not available in this version.
    """
    if config.backend == "none":
        return NoCompressor()
    raise ConfigurationError(f"compression.backend={config.backend!r} is not available in this version; use 'none'")
