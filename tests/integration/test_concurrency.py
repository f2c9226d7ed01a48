"""Concurrent writers and a consolidation running beside them: no lost and no duplicated writes.

Threads share one LightMem (embedded Chroma); processes share a data folder's journal and a Chroma server.
Invariant checked at the end: across current and history entries, every accepted message is cited exactly once.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from langchain_lightmem import LightMem, LightMemConfig
from tests.integration.servers import free_port, serve

pytestmark = pytest.mark.integration

WORDS = ["garden", "piano", "Berlin", "doctor", "holiday", "cat", "project", "bank", "coffee", "train"]


def batch(writer: str, start: int, n: int) -> list[dict]:
    return [
        {
            "id": f"{writer}-{i}",
            "role": "user" if i % 2 else "assistant",
            "content": f"{writer} talks about {WORDS[i % 10]} and {WORDS[(i * 3) % 10]} ({i})",
        }
        for i in range(start, start + n)
    ]


def cited(memory: LightMem, namespace: str) -> list[str]:
    return sorted(s for e in memory.entries(namespace, include_history=True) for s in e.source_ids)


def test_threads_ingest_while_consolidation_runs(tmp_path: Path, static_embeddings) -> None:
    memory = LightMem(
        LightMemConfig(data_dir=tmp_path, short_term={"threshold_tokens": 96}), embeddings=static_embeddings
    )
    writers = {"w1": "shared", "w2": "shared", "w3": "alone-a", "w4": "alone-b"}
    errors: list[BaseException] = []
    done = threading.Event()

    def write(name: str, namespace: str) -> None:
        try:
            for start in range(0, 60, 4):
                memory.add(batch(name, start, 4), namespace=namespace, thread_id=name)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    def consolidate() -> None:
        try:
            while not done.is_set():
                memory.consolidate()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=item) for item in writers.items()]
    sleeper = threading.Thread(target=consolidate)
    sleeper.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    done.set()
    sleeper.join(timeout=300)
    assert not errors, errors
    for namespace in set(writers.values()):
        memory.flush(namespace)
    memory.consolidate()
    expected = {
        ns: sorted(f"{w}-{i}" for w, n in writers.items() if n == ns for i in range(60)) for ns in writers.values()
    }
    for namespace, ids in expected.items():
        assert cited(memory, namespace) == ids
        assert memory.stats(namespace).messages["done"] == len(ids)
    memory.close()


WRITER = """
import sys
from langchain_lightmem import LightMem, LightMemConfig
from tests.integration.test_concurrency import batch

data, writer, namespace = sys.argv[1:4]
memory = LightMem(LightMemConfig.from_env(data_dir=data, embeddings={"backend": "static"},
                                          short_term={"threshold_tokens": 96}))
for start in range(0, 60, 4):
    memory.add(batch(writer, start, 4), namespace=namespace, thread_id=writer)
memory.close()
"""

CONSOLIDATOR = """
import sys, time
from langchain_lightmem import LightMem, LightMemConfig

memory = LightMem(LightMemConfig.from_env(data_dir=sys.argv[1], embeddings={"backend": "static"}))
deadline = time.monotonic() + float(sys.argv[2])
runs = 0
while time.monotonic() < deadline:
    memory.consolidate()
    runs += 1
print(runs)
"""

CHECK = """
import json, sys
from langchain_lightmem import LightMem, LightMemConfig

memory = LightMem(LightMemConfig.from_env(data_dir=sys.argv[1], embeddings={"backend": "static"}))
out = {}
for ns in ("shared", "alone"):
    memory.flush(ns)
memory.consolidate()
for ns in ("shared", "alone"):
    out[ns] = {"cited": sorted(s for e in memory.entries(ns, include_history=True) for s in e.source_ids),
               "done": memory.stats(ns).messages["done"]}
print(json.dumps(out))
"""


def test_processes_ingest_while_another_consolidates_over_a_chroma_server(tmp_path: Path) -> None:
    chroma = shutil.which("chroma", path=os.path.dirname(sys.executable))
    assert chroma
    port = free_port()
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "LIGHTMEM_CHROMA_URL": f"http://127.0.0.1:{port}",
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    data = str(tmp_path / "data")
    server = [chroma, "run", "--path", str(tmp_path / "chroma"), "--host", "127.0.0.1", "--port", str(port)]
    with serve(server, f"http://127.0.0.1:{port}/api/v2/heartbeat"):

        def spawn(code: str, *args: str) -> subprocess.Popen[str]:
            return subprocess.Popen(
                [sys.executable, "-c", textwrap.dedent(code), data, *args],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=root,
            )

        consolidator = spawn(CONSOLIDATOR, "20")
        writers = [spawn(WRITER, "p1", "shared"), spawn(WRITER, "p2", "shared"), spawn(WRITER, "p3", "alone")]
        for proc in [*writers, consolidator]:
            _, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err[-2000:]
        check = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(CHECK), data],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            cwd=root,
            check=False,
        )
        assert check.returncode == 0, check.stderr[-2000:]
    state = json.loads(check.stdout.strip().splitlines()[-1])
    assert state["shared"]["cited"] == sorted(f"{w}-{i}" for w in ("p1", "p2") for i in range(60))
    assert state["alone"]["cited"] == sorted(f"p3-{i}" for i in range(60))
    assert state["shared"]["done"] == 120 and state["alone"]["done"] == 60
