"""The graphs registered in langgraph.json, loaded and served by `langgraph dev` as a deployment would."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.integration.servers import free_port, serve

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def test_langgraph_json_registers_both_graphs():
    spec = json.loads((ROOT / "langgraph.json").read_text())
    assert set(spec["graphs"]) == {"lightmem_ingest", "lightmem_consolidation"}
    for target in spec["graphs"].values():
        path, _, attr = target.partition(":")
        assert (ROOT / path).exists() and attr


def test_langgraph_dev_serves_ingestion_and_consolidation(tmp_path):
    pytest.importorskip("langgraph_api", reason="langgraph-cli[inmem] (dev extra) is not installed")
    from langgraph_sdk import get_sync_client

    langgraph = shutil.which("langgraph", path=os.path.dirname(sys.executable))
    assert langgraph
    port = free_port()
    env = {"LIGHTMEM_DATA_DIR": str(tmp_path), "LIGHTMEM_EMBEDDINGS": "static", "LANGSMITH_TRACING": "false"}
    command = [langgraph, "dev", "--no-browser", "--no-reload", "--host", "127.0.0.1", "--port", str(port)]
    with serve(command, f"http://127.0.0.1:{port}/ok", env=env, cwd=ROOT, timeout=120):
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
