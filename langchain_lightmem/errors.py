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


class DataFolderError(LightMemError):
    """A data folder cannot be used as asked. ``path`` is the folder or file concerned."""

    def __init__(self, message: str, *, path: object) -> None:
        self.path = path
        super().__init__(message)


class FolderInUseError(DataFolderError):
    """Another process has the data folder open (``pid`` when known).

    An embedded Chroma folder takes one process at a time: use one process, or run Chroma as a server that every
    process shares (docs/architecture.md, "The data folder").
    """

    def __init__(self, message: str, *, path: object, pid: int | None = None) -> None:
        self.pid = pid
        super().__init__(message, path=path)


class ReadOnlyFolderError(DataFolderError):
    """The data folder was opened read-only (the process cannot write it): reads work, this write cannot."""


class JournalCorruptError(DataFolderError):
    """The journal (``path``) is damaged. It holds the accepted messages, so it is never rebuilt automatically."""
