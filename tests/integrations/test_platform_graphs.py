"""The LangGraph Platform graphs (integrations/platform.py) run through the facade: they take its per-namespace
lock, so a Platform run and any other caller of the same LightMem never run the write path of one namespace at
once. (tests/integration/test_platform.py serves them through `langgraph dev`.)"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from langchain_lightmem import LightMem, LightMemConfig
from langchain_lightmem.integrations.platform import build_consolidation_graph, build_ingest_graph
from langchain_lightmem.short_term.extraction import ExtractionOutcome, ExtractiveExtractor
from langchain_lightmem.types import Message, Namespace


class GatedExtractor:
    """LLM-free extraction that, once armed, waits inside ``extract`` until the test opens the gate."""

    def __init__(self) -> None:
        self.inner = ExtractiveExtractor()
        self.armed = False
        self.entered = threading.Event()
        self.gate = threading.Event()

    def extract(
        self,
        namespace: Namespace,
        batch_id: str,
        messages: Sequence[Message],
        *,
        counted_roles: Collection[str],
        config: Any = None,
    ) -> ExtractionOutcome:
        if self.armed:
            self.entered.set()
            assert self.gate.wait(30), "the test never opened the gate"
        return self.inner.extract(namespace, batch_id, messages, counted_roles=counted_roles, config=config)


@pytest.fixture
def gated(tmp_path: Path, static_embeddings: Any) -> Iterator[tuple[LightMem, GatedExtractor]]:
    extractor = GatedExtractor()
    memory = LightMem(LightMemConfig(data_dir=tmp_path / "data"), embeddings=static_embeddings, extractor=extractor)
    try:
        yield memory, extractor
    finally:
        extractor.gate.set()
        memory.close()


def _message(msg_id: str, text: str) -> dict[str, str]:
    return {"id": msg_id, "role": "user", "content": text, "timestamp": "2024-03-04T09:00:00Z"}


def test_ingest_graph_waits_for_a_facade_call_on_the_same_namespace(gated):
    memory, extractor = gated
    memory.add([_message("a", "I moved to Lisbon in March.")], namespace="maya")
    extractor.armed = True
    flushing = threading.Thread(target=memory.flush, args=("maya",))
    flushing.start()
    assert extractor.entered.wait(30)  # the facade's flush holds maya's lock, inside extraction

    graph = build_ingest_graph(memory)
    out: dict[str, Any] = {}
    run = threading.Thread(
        target=lambda: out.update(graph.invoke({"namespace": ["maya"], "messages": [_message("b", "I got a cat.")]}))
    )
    run.start()
    run.join(1.0)
    # Serialized: the Platform run has not even accepted its message while the flush holds the lock.
    assert run.is_alive()
    assert memory.messages_by_id("maya", ["b"]) == {}

    extractor.gate.set()
    flushing.join(30)
    run.join(30)
    assert not run.is_alive() and not flushing.is_alive()
    assert out["accepted"] == ["b"] and out["deferred_error"] is None
    assert set(memory.messages_by_id("maya", ["a", "b"])) == {"a", "b"}


def test_ingest_graph_does_not_wait_for_another_namespace(gated):
    memory, extractor = gated
    memory.add([_message("a", "I moved to Lisbon in March.")], namespace="maya")
    extractor.armed = True
    flushing = threading.Thread(target=memory.flush, args=("maya",))
    flushing.start()
    assert extractor.entered.wait(30)
    extractor.armed = False  # the other namespace's extraction runs freely

    out = build_ingest_graph(memory).invoke(
        {"namespace": ["ana"], "messages": [_message("c", "I play the cello.")], "flush": True}
    )
    assert out["accepted"] == ["c"] and out["written"] == 1  # while maya's flush still holds maya's lock
    assert flushing.is_alive()
    extractor.gate.set()
    flushing.join(30)


def test_ingest_and_consolidation_graphs_give_the_facade_results(make_memory):
    memory = make_memory()
    same = "I moved to Lisbon in March 2024."
    messages = [
        {"id": "a", "role": "user", "content": same, "timestamp": "2024-03-04T09:00:00Z"},
        {"id": "b", "role": "user", "content": same, "timestamp": "2024-04-04T09:00:00Z"},
    ]
    ingest = build_ingest_graph(memory)
    out = ingest.invoke({"namespace": ["maya"], "messages": messages, "flush": True})
    assert out["accepted"] == ["a", "b"] and out["written"] == 2 and out["batches"] == 1
    again = ingest.invoke({"namespace": ["maya"], "messages": messages})
    assert again["accepted"] == [] and again["duplicates"] == ["a", "b"]
    reports = build_consolidation_graph(memory).invoke({})["reports"]
    assert [(r.namespace, r.superseded) for r in reports] == [(("maya",), 1)]
