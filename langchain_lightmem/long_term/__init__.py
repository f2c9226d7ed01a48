"""Long-term memory: entries with vectors in Chroma, scoped by namespace, and retrieval over them."""

from langchain_lightmem.long_term.store import ChromaMemoryStore, entry_where

__all__ = ["ChromaMemoryStore", "entry_where"]
