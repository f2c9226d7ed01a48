"""LangChain and LangGraph surfaces over the facade."""

from langchain_lightmem.integrations.retriever import LightMemRetriever

__all__ = ["LightMemRetriever"]
