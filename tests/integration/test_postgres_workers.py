"""Workers on separate hosts: separate working folders, sharing only a PostgreSQL server (journal, lexical index)
and a ``chroma run`` server (vectors), configured from the environment as a deployment would be."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.integration.servers import chroma_server

pytestmark = pytest.mark.integration

ADD = """
from langchain_lightmem import LightMem, LightMemConfig

with LightMem(LightMemConfig.from_env(embeddings={"backend": "static"})) as memory:
    result = memory.add([
        {"id": "m0", "role": "user", "speaker": "Maya", "content": "My favourite food is ramen."},
        {"id": "m1", "role": "user", "speaker": "Maya", "content": "I work as a night nurse in Leeds."},
    ], namespace="maya", thread_id="t1")
    print(len(result.accepted))
"""

FLUSH = """
from langchain_lightmem import LightMem, LightMemConfig

with LightMem(LightMemConfig.from_env(embeddings={"backend": "static"})) as memory:
    memory.flush("maya")
    print(memory.stats("maya").entries)
"""

READ = """
import json
from langchain_lightmem import LightMem, LightMemConfig

with LightMem(LightMemConfig.from_env(embeddings={"backend": "static"})) as memory:
    print(json.dumps({
        "backend": memory.config.backend,
        "lexical": [h.entry.source_ids for h in memory.search("maya", "night nurse", k=1, mode="lexical")],
        "hybrid": [h.entry.source_ids for h in memory.search("maya", "What food does Maya like?", k=1)],
        "pending": memory.stats("maya").pending,
    }))
"""


def python(code: str, env: dict[str, str]) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=180, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def test_workers_on_separate_hosts_share_postgres_and_a_chroma_server(postgres_url: str, tmp_path: Path) -> None:
    with chroma_server(tmp_path / "chroma-server") as chroma_url:
        shared = {
            **os.environ,
            "LIGHTMEM_CHROMA_URL": chroma_url,
            "LIGHTMEM_POSTGRES_URL": postgres_url,
            "LIGHTMEM_POSTGRES_SCHEMA": f"t_{uuid.uuid4().hex[:12]}",
        }
        host = {name: {**shared, "LIGHTMEM_DATA_DIR": str(tmp_path / name)} for name in ("one", "two", "three")}
        assert python(ADD, host["one"]) == "2"  # accepted on one host
        assert python(FLUSH, host["two"]) == "2"  # extracted and written by another
        seen = json.loads(python(READ, host["three"]))  # found by a third
    assert seen == {"backend": "postgres", "lexical": [["m1"]], "hybrid": [["m0"]], "pending": 0}
    assert not any((tmp_path / name / "journal.sqlite3").exists() for name in host)


STUCK = """
import sys, time
from langchain_lightmem import LightMem, LightMemConfig
from langchain_lightmem.testing import ScriptedChatModel

def stuck(messages, tools):
    print("extracting", flush=True)  # the batch is leased to this process now
    time.sleep(3600)

config = LightMemConfig.from_env(embeddings={"backend": "static"})
memory = LightMem(config, chat_model=ScriptedChatModel(responder=stuck))
memory.add([
    {"id": "m0", "role": "user", "content": "My favourite food is ramen."},
    {"id": "m1", "role": "user", "content": "I work as a night nurse in Leeds."},
], namespace="maya")
memory.flush("maya")
"""


def test_a_worker_killed_while_extracting_leaves_its_batch_to_the_next(
    postgres_url: str, tmp_path: Path, static_embeddings: Any
) -> None:
    from langchain_lightmem import LightMem, LightMemConfig
    from langchain_lightmem.testing import ScriptedChatModel

    schema = f"t_{uuid.uuid4().hex[:12]}"
    env = {
        **os.environ,
        "LIGHTMEM_POSTGRES_URL": postgres_url,
        "LIGHTMEM_POSTGRES_SCHEMA": schema,
        "LIGHTMEM_DATA_DIR": str(tmp_path / "killed"),
    }
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(STUCK)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "extracting"
        child.send_signal(signal.SIGKILL)  # no close(), no release: the lease stays in the table
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
    config = LightMemConfig(data_dir=tmp_path / "next", postgres={"url": postgres_url, "schema_name": schema})
    model = ScriptedChatModel()
    with LightMem(config, chat_model=model, embeddings=static_embeddings) as memory:
        (owner,) = {r[0] for r in memory.journal._query("SELECT lease_owner FROM batches")}
        assert f":{child.pid}:" in owner  # the dead worker's lease, not expired (600 s)
        memory.flush("maya")  # same host, pid gone: taken over at once
        stats = memory.stats("maya")
        assert stats.batches == {"written": 1} and stats.messages["done"] == 2 and model.calls == 1
        assert {tuple(e.source_ids) for e in memory.entries("maya")} <= {("m0",), ("m1",), ("m0", "m1")}
