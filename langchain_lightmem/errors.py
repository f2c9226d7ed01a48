"""Exceptions a user can act on. Every message says what was wrong and what to do.

Every refused input raises an :class:`InvalidInputError` (also a ``ValueError``) whose ``field`` names the argument
or message field at fault; its subclasses say which kind of input it was::

    LightMemError
    ├── InvalidInputError (ValueError)     field
    │   ├── InvalidMessageError            index: a message for add, a memory's text or fields for remember/update
    │   │   ├── DuplicateMessageError
    │   │   └── InvalidTimeError           a timestamp, event_time, reference_time or time_range
    │   ├── InvalidNamespaceError
    │   ├── InvalidQueryError              a search's query, k, max_tokens or filters
    │   ├── InvalidIdError                 an entry id, a memory key or a thread id
    │   └── InvalidStoreInputError         LightMemStore's refusals (also a StoreError)
    ├── ConfigurationError, ExtractionError, EmbeddingError
    ├── DatabaseUnavailableError           the PostgreSQL server of the journal cannot be reached
    ├── MigrationError                     lightmem migrate cannot start or did not complete
    │   ├── MigrationTargetNotEmptyError
    │   └── MigrationCheckError
    └── StoreError

Example:
    .. code-block:: python

        from langchain_lightmem import InvalidInputError

        try:
            memory.search("alice", query, k=k)
        except InvalidInputError as exc:
            print(f"bad {exc.field}: {exc}")
"""

from __future__ import annotations


class LightMemError(Exception):
    """Base class of every error raised by langchain-lightmem."""


class InvalidInputError(LightMemError, ValueError):
    """An argument cannot be accepted; nothing was changed.

    ``field`` names the place at fault, starting with the argument or message field: ``"query"``, ``"k"``,
    ``"thread_id"``, and inside structures a path such as ``"extra['tags'][2]"``, ``"filters['speaker']"``,
    ``"time_range[0]"`` or ``"ids[3]"`` (``field.partition("[")[0]`` is the argument).
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


class InvalidMessageError(InvalidInputError):
    """A message given to ``add`` (or the text or fields of a memory given to ``remember``/``update``) cannot be
    accepted. Nothing of that call was stored.

    ``index`` is the position of the offending message in the call, when known; ``field`` the field at fault
    (``"content"``, ``"timestamp"``, ``"id"``, ``"speaker"``, ...).
    """

    def __init__(self, message: str, *, index: int | None = None, field: str | None = None) -> None:
        self.index = index
        prefix = f"message {index}: " if index is not None else ""
        super().__init__(prefix + message, field=field)


class DuplicateMessageError(InvalidMessageError):
    """A message id was already accepted in this namespace with different content."""

    def __init__(self, message: str, *, index: int | None = None, field: str | None = "id") -> None:
        super().__init__(message, index=index, field=field)


class InvalidTimeError(InvalidMessageError):
    """A time cannot be used: unparseable, or outside the supported range (1970 to 3000). Raised for a message's
    ``timestamp`` (with its ``index``), a memory's ``event_time``, a question's ``reference_time`` and the ends of a
    ``time_range``. An :class:`InvalidMessageError` too, as these were before it existed."""


class InvalidNamespaceError(InvalidInputError):
    """A namespace is empty or has a component that cannot be stored."""

    def __init__(self, message: str, *, field: str | None = "namespace") -> None:
        super().__init__(message, field=field)


class InvalidQueryError(InvalidInputError):
    """A search cannot run as asked: its ``query`` text, ``k``, ``max_tokens`` or ``filters`` (``field`` says
    which)."""


class InvalidIdError(InvalidInputError):
    """An id cannot name anything stored: an entry id, a memory key or a thread id that is not a string, is too
    long, or holds control characters or lone surrogates."""


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


class DatabaseUnavailableError(LightMemError):
    """The PostgreSQL server that holds the journal and the lexical index (``postgres.url``,
    ``LIGHTMEM_POSTGRES_URL``) cannot be reached. Nothing was changed: check the URL and the server, then retry."""


class MigrationError(LightMemError):
    """A migration (:func:`langchain_lightmem.migration.migrate`, ``lightmem migrate``) cannot start, or did not
    complete. The source is never written; the message says what to do before running it again."""


class MigrationTargetNotEmptyError(MigrationError):
    """The target's journal already holds data (another deployment, or a migration that completed): a migration
    only fills an empty target. Nothing was written."""


class MigrationCheckError(MigrationError):
    """After the copy the target does not hold what the source holds (an entry count differs). The target's journal
    was left empty, so running the migration again retries it."""


class StoreError(LightMemError):
    """The long-term store (Chroma) refused an operation."""


class StoreUnavailableError(StoreError):
    """The Chroma server (``chroma.host``/``port``, ``LIGHTMEM_CHROMA_URL``) cannot be reached. Reads fail with
    this; ``add`` still accepts into the journal (``deferred_error``) and the write is retried by the next flush."""


class MemoryMissingError(StoreError):
    """Long-term memory the journal says was written is missing from the store (a lost or replaced ``chroma/``
    folder, a wiped Chroma server). ``LightMem.rebuild()`` / ``lightmem rebuild`` restores it from the journal."""


class InvalidStoreInputError(StoreError, InvalidInputError):
    """``LightMemStore`` refused an operation's input (a value, key, label, query, filter, limit or TTL) before
    anything of the batch was written. Both a :class:`StoreError` and an :class:`InvalidInputError`."""


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
