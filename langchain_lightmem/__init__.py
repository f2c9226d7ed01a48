"""langchain-lightmem: LightMem long-term memory for LangChain and LangGraph.

Messages flow through sensory memory (compression, topic segmentation), short-term memory (one extraction call
per batch of topic segments) into long-term memory (Chroma), all scoped by namespace.

    >>> from langchain_lightmem import LightMem, LightMemConfig
    >>> memory = LightMem(LightMemConfig(data_dir="./memory"))  # doctest: +SKIP
"""

from importlib.metadata import PackageNotFoundError, version

from langchain_lightmem.config import (
    ChromaConfig,
    CompressionConfig,
    EmbeddingConfig,
    ExtractionConfig,
    InputConfig,
    LightMemConfig,
    RetrievalConfig,
    SegmentationConfig,
    ShortTermConfig,
)
from langchain_lightmem.errors import (
    ConfigurationError,
    DuplicateMessageError,
    ExtractionError,
    InvalidMessageError,
    InvalidNamespaceError,
    LightMemError,
    MissingDependencyError,
    StoreError,
)
from langchain_lightmem.integrations.retriever import LightMemRetriever
from langchain_lightmem.memory import LightMem, NamespaceStats
from langchain_lightmem.models import load_embeddings
from langchain_lightmem.tokens import TokenCounter, ensure_tiktoken_offline
from langchain_lightmem.types import AddResult, MemoryEntry, Message, SearchResult

try:
    __version__ = version("langchain-lightmem")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

__all__ = [
    "AddResult",
    "ChromaConfig",
    "CompressionConfig",
    "ConfigurationError",
    "DuplicateMessageError",
    "EmbeddingConfig",
    "ExtractionConfig",
    "ExtractionError",
    "InputConfig",
    "InvalidMessageError",
    "InvalidNamespaceError",
    "LightMem",
    "LightMemConfig",
    "LightMemError",
    "LightMemRetriever",
    "MemoryEntry",
    "Message",
    "MissingDependencyError",
    "NamespaceStats",
    "RetrievalConfig",
    "SearchResult",
    "SegmentationConfig",
    "ShortTermConfig",
    "StoreError",
    "TokenCounter",
    "__version__",
    "ensure_tiktoken_offline",
    "load_embeddings",
]
