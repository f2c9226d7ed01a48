"""Chroma in server mode: ingestion in one process, consolidation in another, the result read by a third."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from langchain_lightmem.config import ChromaConfig, chroma_server
from langchain_lightmem.long_term.store import ChromaMemoryStore
from langchain_lightmem.types import MemoryEntry
from tests.integration.servers import chroma_server as running_chroma_server
from tests.integration.servers import free_port, serve

pytestmark = pytest.mark.integration

INGEST = """
import sys
from datetime import datetime, timedelta, UTC
from langchain_lightmem import LightMem, LightMemConfig

memory = LightMem(LightMemConfig.from_env(embeddings={"backend": "static"}))
t0 = datetime(2024, 5, 1, tzinfo=UTC)
for day, text in enumerate(["My favourite food is ramen.", "I work as a nurse.", "My favourite food is ramen."]):
    memory.add([{"id": f"m{day}", "role": "user", "speaker": "Maya", "content": text,
                 "timestamp": (t0 + timedelta(days=30 * day)).isoformat()}], namespace="maya", thread_id=f"s{day}")
    memory.flush("maya")
print(len(memory.entries("maya")))
"""

READ = """
import json
from langchain_lightmem import LightMem, LightMemConfig

memory = LightMem(LightMemConfig.from_env(embeddings={"backend": "static"}))
print(json.dumps({"active": [e.text for e in memory.entries("maya")],
                  "history": [[e.text, e.superseded_by] for e in memory.entries("maya", include_history=True)]}))
"""


def python(code: str, env: dict[str, str]) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=180, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("layout", ["collections", "buckets"])
def test_ingest_and_consolidate_in_separate_processes_over_a_chroma_server(tmp_path: Path, layout: str):
    chroma = shutil.which("chroma", path=os.path.dirname(sys.executable))
    assert chroma, "the chroma CLI ships with the chromadb package"
    port = free_port()
    server = [chroma, "run", "--path", str(tmp_path / "chroma-server"), "--host", "127.0.0.1", "--port", str(port)]
    env = {
        **os.environ,
        "LIGHTMEM_DATA_DIR": str(tmp_path / "data"),
        "LIGHTMEM_CHROMA_URL": f"http://127.0.0.1:{port}",
        "LIGHTMEM_CHROMA_LAYOUT": layout,
    }
    with serve(server, f"http://127.0.0.1:{port}/api/v2/heartbeat"):
        assert python(INGEST, env) == "3"
        cli = subprocess.run(
            [sys.executable, "-m", "langchain_lightmem.cli", "--embeddings", "static", "consolidate", "--all"],
            capture_output=True,
            text=True,
            env=env,
            timeout=180,
            check=False,
        )
        assert cli.returncode == 0, cli.stderr
        assert "maya: 3 new entries" in cli.stdout and "1 superseded" in cli.stdout
        state = json.loads(python(READ, env))
    assert sorted(state["active"]) == ["Maya: I work as a nurse.", "Maya: My favourite food is ramen."]
    assert len(state["history"]) == 3 and sum(1 for _, by in state["history"] if by) == 1
    assert not (tmp_path / "data" / "chroma").exists()  # nothing went to an embedded Chroma


def test_a_chroma_server_that_went_away_gives_a_typed_error_and_loses_nothing(tmp_path: Path, static_embeddings):
    from langchain_lightmem import LightMem, LightMemConfig
    from langchain_lightmem.errors import StoreUnavailableError
    from tests.integration.servers import chroma_server

    with chroma_server(tmp_path / "server") as url:
        host, port = url.removeprefix("http://").split(":")
        config = LightMemConfig(data_dir=tmp_path / "d", chroma={"mode": "http", "host": host, "port": int(port)})
        memory = LightMem(config, embeddings=static_embeddings)
        memory.add([{"id": "m0", "role": "user", "content": "I like ramen."}], namespace="maya")
        memory.flush("maya")
    # the server is stopped: accepting still works (the journal), reads say what is wrong
    result = memory.add([{"id": "m1", "role": "user", "content": "I live in Leeds."}], namespace="maya")
    assert result.accepted == ["m1"] and result.deferred_error
    with pytest.raises(StoreUnavailableError, match=f"{host}:{port}"):
        memory.search("maya", "Leeds", k=2)
    assert [m.id for m in memory.journal.messages.read(("maya",))] == ["m0", "m1"]
    memory.close()


def test_buckets_shared_by_two_processes_stay_consistent_when_one_forgets_or_a_bucket_is_dropped(
    tmp_path: Path, static_embeddings
):
    from datetime import UTC, datetime

    def entry(i: int, ns: str) -> MemoryEntry:
        return MemoryEntry(
            id=f"{ns}-{i}",
            namespace=(ns,),
            text=f"{ns} fact {i}",
            source_ids=[],
            event_time=datetime(2024, 1, 1 + i, tzinfo=UTC),
        )

    with running_chroma_server(tmp_path / "server") as url:
        config = ChromaConfig(**chroma_server(url), layout="buckets", buckets=1)  # type: ignore[arg-type]
        one = ChromaMemoryStore(config, tmp_path / "one", static_embeddings)
        two = ChromaMemoryStore(config, tmp_path / "two", static_embeddings)  # as a second worker would
        one.upsert([entry(1, "alice"), entry(2, "alice")])
        two.upsert([entry(1, "bob")])
        assert two.count(("alice",)) == 2 and one.count(("bob",)) == 1  # both hold cached handles now
        assert one.delete_namespace(("alice",)) == 2
        assert two.count(("alice",)) == 0 and two.search(("alice",), "fact") == [] and two.count(("bob",)) == 1
        one.client.delete_collection(one.collection_name(("bob",)))  # the bucket dropped under two's cached handle
        assert two.list(("bob",)) == []
        two.upsert([entry(2, "bob")])  # the write creates the bucket again
        assert [e.id for e in one.list(("bob",))] == ["bob-2"] and one.list(("alice",)) == []
