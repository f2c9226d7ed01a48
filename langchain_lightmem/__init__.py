"""langchain-lightmem: LightMem long-term memory for LangChain and LangGraph.

Messages flow through sensory memory (compression, topic segmentation), short-term memory (one extraction call
per batch of topic segments) into long-term memory (Chroma), all scoped by namespace.

    >>> from langchain_lightmem import LightMem, LightMemConfig
    >>> memory = LightMem(LightMemConfig(data_dir="./memory"))  # doctest: +SKIP
"""

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from langchain_lightmem.config import (
    BackgroundConfig,
    ChromaConfig,
    CompressionConfig,
    ConsolidationConfig,
    EmbeddingConfig,
    ExtractionConfig,
    InputConfig,
    LightMemConfig,
    PostgresConfig,
    RetrievalConfig,
    SegmentationConfig,
    ShortTermConfig,
)
from langchain_lightmem.errors import (
    ConfigurationError,
    DatabaseUnavailableError,
    DataFolderError,
    DuplicateMessageError,
    EmbeddingError,
    ExtractionError,
    FolderInUseError,
    InvalidIdError,
    InvalidInputError,
    InvalidMessageError,
    InvalidNamespaceError,
    InvalidQueryError,
    InvalidStoreInputError,
    InvalidTimeError,
    JournalCorruptError,
    LightMemError,
    MemoryMissingError,
    MigrationCheckError,
    MigrationError,
    MigrationTargetNotEmptyError,
    MissingDependencyError,
    ReadOnlyFolderError,
    StoreError,
    StoreUnavailableError,
)
from langchain_lightmem.graphs.consolidate import ConsolidationReport
from langchain_lightmem.integrations import (
    LightMemChatMessageHistory,
    LightMemRetriever,
    LightMemStore,
    NamespaceTemplate,
    create_memory_tools,
)
from langchain_lightmem.long_term.retrieval import MemoryContext
from langchain_lightmem.memory import LightMem, NamespaceStats
from langchain_lightmem.models import load_embeddings
from langchain_lightmem.tokens import TokenCounter, ensure_tiktoken_offline
from langchain_lightmem.types import AddResult, MemoryEntry, Message, SearchResult

if TYPE_CHECKING:
    from langchain_lightmem.integrations.middleware import LightMemMiddleware


def __getattr__(name: str) -> Any:
    # The middleware needs `langchain` (the agents extra): import it only when asked for.
    if name == "LightMemMiddleware":
        from langchain_lightmem.integrations.middleware import LightMemMiddleware

        return LightMemMiddleware
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


try:
    __version__ = version("langchain-lightmem")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

__all__ = [
    "AddResult",
    "BackgroundConfig",
    "ChromaConfig",
    "CompressionConfig",
    "ConfigurationError",
    "ConsolidationConfig",
    "ConsolidationReport",
    "DataFolderError",
    "DatabaseUnavailableError",
    "DuplicateMessageError",
    "EmbeddingConfig",
    "EmbeddingError",
    "ExtractionConfig",
    "ExtractionError",
    "FolderInUseError",
    "InputConfig",
    "InvalidIdError",
    "InvalidInputError",
    "InvalidMessageError",
    "InvalidNamespaceError",
    "InvalidQueryError",
    "InvalidStoreInputError",
    "InvalidTimeError",
    "JournalCorruptError",
    "LightMem",
    "LightMemChatMessageHistory",
    "LightMemConfig",
    "LightMemError",
    "LightMemMiddleware",
    "LightMemRetriever",
    "LightMemStore",
    "MemoryContext",
    "MemoryEntry",
    "MemoryMissingError",
    "Message",
    "MigrationCheckError",
    "MigrationError",
    "MigrationTargetNotEmptyError",
    "MissingDependencyError",
    "NamespaceStats",
    "NamespaceTemplate",
    "PostgresConfig",
    "ReadOnlyFolderError",
    "RetrievalConfig",
    "SearchResult",
    "SegmentationConfig",
    "ShortTermConfig",
    "StoreError",
    "StoreUnavailableError",
    "TokenCounter",
    "__version__",
    "create_memory_tools",
    "ensure_tiktoken_offline",
    "load_embeddings",
]
