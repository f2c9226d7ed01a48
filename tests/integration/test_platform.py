"""The graphs and the store registered in langgraph.json, loaded and served by `langgraph dev` as a deployment would."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.integration.servers import free_port, serve

ROOT = Path(__file__).resolve().parents[2]
PLATFORM = "langchain_lightmem.integrations.platform"

pytestmark = pytest.mark.integration


def langgraph_dev(config: Path, port: int) -> list[str]:
    pytest.importorskip("langgraph_api", reason="langgraph-cli[inmem] (dev extra) is not installed")
    langgraph = shutil.which("langgraph", path=os.path.dirname(sys.executable))
    assert langgraph
    return [langgraph, "dev", "--no-browser", "--no-reload", "--host", "127.0.0.1", "--port", str(port)] + (
        ["--config", str(config)] if config != ROOT / "langgraph.json" else []
    )


def test_langgraph_json_registers_the_graphs_and_the_store_in_one_module():
    spec = json.loads((ROOT / "langgraph.json").read_text())
    assert set(spec["graphs"]) == {"lightmem_ingest", "lightmem_consolidation"}
    # Module paths (not file paths): the server imports the module once, so the graphs and the store share its one
    # LightMem. A file path would load a fresh copy of the module per entry, each with its own LightMem.
    targets = [value.split(":") for value in spec["graphs"].values()]
    targets.append(spec["store"]["path"].rsplit(".", 1))  # the store loader splits "module.attribute" at the last dot
    for module, attr in targets:
        assert module == PLATFORM and callable(getattr(importlib.import_module(module), attr))


def test_langgraph_dev_serves_ingestion_consolidation_and_the_store(tmp_path):
    from langgraph_sdk import get_sync_client

    from langchain_lightmem import LightMem, LightMemConfig
    from langchain_lightmem.integrations import LightMemStore

    port = free_port()
    data = tmp_path / "data"
    env = {"LIGHTMEM_DATA_DIR": str(data), "LIGHTMEM_EMBEDDINGS": "static", "LANGSMITH_TRACING": "false"}
    with serve(
        langgraph_dev(ROOT / "langgraph.json", port), f"http://127.0.0.1:{port}/ok", env=env, cwd=ROOT, timeout=120
    ):
        client = get_sync_client(url=f"http://127.0.0.1:{port}")
        assert {a["graph_id"] for a in client.assistants.search()} == {"lightmem_ingest", "lightmem_consolidation"}
        same = "I moved to Lisbon in March 2024."
        messages = [
            {"id": "a", "role": "user", "content": same, "timestamp": "2024-03-04T09:00:00Z"},
            {"id": "b", "role": "user", "content": same, "timestamp": "2024-04-04T09:00:00Z"},
        ]
        out = client.runs.wait(
            None, "lightmem_ingest", input={"namespace": ["maya"], "messages": messages, "flush": True}
        )
        assert out["accepted"] == ["a", "b"] and out["written"] == 2
        report = client.runs.wait(None, "lightmem_consolidation", input={})["reports"][0]
        assert report["namespace"] == ["maya"] and report["superseded"] == 1 and report["calls"] == 0

        # The store API: plain JSON items under any namespace, and the pipeline's memories under lightmem_memories.
        client.store.put_item(["1", "memories"], "m1", {"food_preference": "I like pizza"})
        client.store.put_item(["1", "memories"], "m2", {"food_preference": "I like pasta", "n": "12"})
        found = client.store.search_items(["1"], filter={"n": {"$gt": 9}})["items"]
        assert [(i["namespace"], i["key"], i["value"]["food_preference"]) for i in found] == [
            (["1", "memories"], "m2", "I like pasta")
        ]
        memories = client.store.search_items(["maya", "lightmem_memories"], query="Where does Maya live?")["items"]
        assert [m["value"]["text"] for m in memories] == [f"user: {same}"]  # the one left after consolidation
        assert memories[0]["score"] is not None
        # A message put through the store goes into the same LightMem's pipeline as the graphs' input.
        client.store.put_item(["maya", "lightmem_messages"], "c", {"role": "user", "content": "I adopted a cat."})
        out = client.runs.wait(None, "lightmem_ingest", input={"namespace": ["maya"], "messages": [], "flush": True})
        assert out["written"] == 1
        texts = {m["value"]["text"] for m in client.store.search_items(["maya", "lightmem_memories"])["items"]}
        assert "user: I adopted a cat." in texts

    # The items live in the data folder: a LightMemStore opened on it afterwards finds them.
    memory = LightMem(LightMemConfig(data_dir=data, embeddings={"backend": "static"}))
    try:
        item = LightMemStore(memory).get(("1", "memories"), "m1")
        assert item is not None and item.value == {"food_preference": "I like pizza"}
    finally:
        memory.close()


PROBE = """
from langgraph.graph import START, StateGraph
from langgraph.runtime import Runtime
from typing_extensions import TypedDict


class State(TypedDict, total=False):
    store: str
    values: list


def look(state: State, runtime: Runtime) -> State:
    return {
        "store": type(runtime.store).__name__,
        "values": [item.value for item in runtime.store.search(("1", "memories"))],
    }


builder = StateGraph(State)
builder.add_node(look)
builder.add_edge(START, "look")
graph = builder.compile()
"""


def test_runs_see_the_lightmem_store_as_runtime_store(tmp_path):
    """A graph served beside the project's store entry reads, through runtime.store, what the SDK put."""
    from langgraph_sdk import get_sync_client

    (tmp_path / "probe.py").write_text(PROBE)
    project = json.loads((ROOT / "langgraph.json").read_text())
    config = tmp_path / "langgraph.json"
    config.write_text(
        json.dumps({"dependencies": [str(ROOT)], "graphs": {"probe": "./probe.py:graph"}, "store": project["store"]})
    )
    port = free_port()
    env = {"LIGHTMEM_DATA_DIR": str(tmp_path / "data"), "LIGHTMEM_EMBEDDINGS": "static", "LANGSMITH_TRACING": "false"}
    with serve(langgraph_dev(config, port), f"http://127.0.0.1:{port}/ok", env=env, cwd=tmp_path, timeout=120):
        client = get_sync_client(url=f"http://127.0.0.1:{port}")
        client.store.put_item(["1", "memories"], "m1", {"food_preference": "I like pizza"})
        out = client.runs.wait(None, "probe", input={})
        assert out == {"store": "LightMemStore", "values": [{"food_preference": "I like pizza"}]}
