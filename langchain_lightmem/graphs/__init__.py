"""The LangGraph graphs: ingestion (the write path) and, separately, sleep-time consolidation."""

from langchain_lightmem.graphs.ingest import IngestState, build_ingest_graph

__all__ = ["IngestState", "build_ingest_graph"]
