"""Stage 1a: pre-compression. Each message is pruned to the tokens worth an LLM's attention.

A compressor works on a batch of texts at once (one model pass for many messages is where the speed is) and
returns one compressed text per input. The original text is never overwritten: the journal keeps both, and the
extraction prompt sees the compressed one.

Backends: ``none``, ``llmlingua2`` (:mod:`~langchain_lightmem.sensory.llmlingua2`) and ``self_information``
(:mod:`~langchain_lightmem.sensory.self_information`).
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
    """The compressor the configuration names; a model-backed one loads its model once, here.

    Example:
        .. code-block:: python

            compressor = build_compressor(CompressionConfig(backend="self_information", rate=0.6))
            compressor.compress(["I finally adopted the dog from the shelter last Friday!"])

    Raises:
        ConfigurationError: the backend's model or package is missing (the message says what to install).
    """
    if config.backend == "none":
        return NoCompressor()
    if config.backend == "llmlingua2":
        from langchain_lightmem.sensory.llmlingua2 import LLMLingua2Compressor

        return LLMLingua2Compressor(config)
    if config.backend == "self_information":
        from langchain_lightmem.sensory.self_information import SelfInformationCompressor

        return SelfInformationCompressor(config)
    raise ConfigurationError(
        f"compression.backend={config.backend!r} is not available; use 'none', 'llmlingua2' or 'self_information'"
    )
