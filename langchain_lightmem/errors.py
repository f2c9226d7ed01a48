"""Exceptions a user can act on. Every message says what was wrong and what to do."""

from __future__ import annotations


class LightMemError(Exception):
    """Base class of every error raised by langchain-lightmem."""


class InvalidMessageError(LightMemError, ValueError):
    """A message given to ``add`` cannot be accepted. Nothing of that call was stored.

    ``index`` is the position of the offending message in the call, when known.
    """

    def __init__(self, message: str, *, index: int | None = None) -> None:
        self.index = index
        prefix = f"message {index}: " if index is not None else ""
        super().__init__(prefix + message)


class DuplicateMessageError(InvalidMessageError):
    """A message id was already accepted in this namespace with different content."""


class InvalidNamespaceError(LightMemError, ValueError):
    """A namespace is empty or has a component that cannot be stored."""


class ConfigurationError(LightMemError, ValueError):
    """The configuration cannot work (missing optional package, mismatched embedding size, ...)."""


class MissingDependencyError(ConfigurationError, ImportError):
    """An optional package is needed for the chosen configuration."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the '{package}' package. Install it with: pip install 'langchain-lightmem[{extra}]'"
        )


class ExtractionError(LightMemError):
    """The chat model gave no usable answer for a batch (after retries). The batch is kept."""


class EmbeddingError(LightMemError):
    """The embedder failed while messages were being accepted. Nothing of that call was stored: retry it."""


class StoreError(LightMemError):
    """The long-term store (Chroma) refused an operation."""


class MemoryMissingError(StoreError):
    """Long-term memory the journal says was written is missing from the store (a lost or replaced ``chroma/``
    folder, a wiped Chroma server). ``LightMem.rebuild()`` / ``lightmem rebuild`` restores it from the journal."""
