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
        (owner,) = {r[0] for r in memory.journal.database.query("SELECT lease_owner FROM batches")}
        assert f":{child.pid}:" in owner  # the dead worker's lease, not expired (600 s)
        memory.flush("maya")  # same host, pid gone: taken over at once
        stats = memory.stats("maya")
        assert stats.batches == {"written": 1} and stats.messages["done"] == 2 and model.calls == 1
        assert {tuple(e.source_ids) for e in memory.entries("maya")} <= {("m0",), ("m1",), ("m0", "m1")}


WORKER = """
import os, random, sys
from langchain_lightmem import LightMem, LightMemConfig
from langchain_lightmem.testing import ScriptedChatModel

name, closed_flag = sys.argv[1], sys.argv[2]
rng = random.Random(os.getpid())
WORDS = "harbour violin orchard lantern glacier saffron compass meadow falcon pottery tundra quartz".split()
config = LightMemConfig.from_env(embeddings={"backend": "static"})
with LightMem(config, chat_model=ScriptedChatModel()) as memory:
    announced = False
    for r in range(10**6):
        if os.path.exists(closed_flag) and not announced:
            print("CLOSED", flush=True)  # from here on this process never writes to "gone"
            announced = True
        ns = rng.choice(["u0", "u1", "u2"] + ([] if announced else ["gone"]))
        secret = "zanzibar " if ns == "gone" else ""
        batch = [
            {"id": f"{name}-{os.getpid()}-{r}-{i}", "role": "user", "speaker": "Sam",
             "content": f"{secret}Sam talked about the {rng.choice(WORDS)} and the {rng.choice(WORDS)} ({r}.{i})."}
            for i in range(3)
        ]
        memory.add(batch, namespace=ns, thread_id=name)
        print("ACK", ns, *[m["id"] for m in batch], flush=True)
        retry = memory.add(batch, namespace=ns, thread_id=name)  # the client missed the answer and sends again
        assert retry.accepted == [] and len(retry.duplicates) == 3, retry
        if r % 3 == 2:
            memory.flush(ns)
        if name == "w0" and r % 4 == 3:
            memory.consolidate()
"""


class Worker:
    """One worker process; a thread collects its stdout lines."""

    def __init__(self, name: str, env: dict[str, str], flag: Path) -> None:
        import threading

        self.name = name
        self.lines: list[str] = []
        self.stderr = Path(env["LIGHTMEM_DATA_DIR"] + ".stderr")  # a file: a full pipe would block the worker
        with self.stderr.open("w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", textwrap.dedent(WORKER), name, str(flag)],
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                env=env,
            )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.strip())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self._reader.join(10)

    def kill(self) -> None:
        """SIGKILL it; it must have been running until then (a worker that failed on its own fails the test)."""
        self.stop()
        assert self.proc.returncode == -signal.SIGKILL, (self.name, self.proc.returncode, self.stderr.read_text())


def test_four_workers_killed_at_random_lose_and_duplicate_nothing(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four workers on separate folders add (and retry) turns, flush and consolidate against one Postgres and one
    Chroma server; every few seconds one is SIGKILLed and restarted; half-way, ``forget("gone")`` runs in another
    process while flushes and consolidations are in flight. Afterwards every acknowledged message is stored once and
    cited by a memory, no message is cited by two current memories, and no byte of "gone" is left anywhere."""
    import random
    import time

    import chromadb

    from langchain_lightmem import LightMem, LightMemConfig

    seconds = float(os.environ.get("LIGHTMEM_KILL_TEST_SECONDS", "40"))
    rng = random.Random(20261205)
    flag = tmp_path / "gone-closed"
    with chroma_server(tmp_path / "chroma-server") as chroma_url:
        shared = {
            **os.environ,
            "LIGHTMEM_CHROMA_URL": chroma_url,
            "LIGHTMEM_POSTGRES_URL": postgres_url,
            "LIGHTMEM_POSTGRES_SCHEMA": f"t_{uuid.uuid4().hex[:12]}",
        }
        names = ["w0", "w1", "w2", "w3"]
        incarnations = 0

        def start(name: str) -> Worker:
            nonlocal incarnations
            incarnations += 1
            return Worker(name, {**shared, "LIGHTMEM_DATA_DIR": str(tmp_path / f"{name}-{incarnations}")}, flag)

        live = {name: start(name) for name in names}
        done: list[Worker] = []
        kills, forgotten = 0, None
        began = time.monotonic()

        def gone_acknowledged() -> bool:
            return any(line.startswith("ACK gone ") for w in [*done, *live.values()] for line in w.lines)

        try:
            # On a loaded machine workers can take most of the run to start: the forget waits for a first
            # acknowledged message of "gone", and the run goes on until the forget has happened.
            while time.monotonic() - began < seconds or forgotten is None:
                assert time.monotonic() - began < seconds + 300, "no worker acknowledged a message of 'gone'"
                time.sleep(rng.uniform(1.0, 3.0))
                victim = rng.choice(names)
                live[victim].kill()
                kills += 1
                done.append(live[victim])
                live[victim] = start(victim)
                if forgotten is None and time.monotonic() - began > seconds / 2 and gone_acknowledged():
                    flag.touch()
                    deadline = time.monotonic() + 120
                    while not all("CLOSED" in w.lines for w in live.values()):
                        assert time.monotonic() < deadline, "a worker never saw the flag"
                        time.sleep(0.2)
                    forgotten = python(
                        "from langchain_lightmem import LightMem, LightMemConfig\n"
                        'with LightMem(LightMemConfig.from_env(embeddings={"backend": "static"})) as m:\n'
                        '    print(m.forget("gone"))',
                        {**shared, "LIGHTMEM_DATA_DIR": str(tmp_path / "admin")},
                    )
        finally:
            for worker in live.values():
                worker.stop()  # the last kill of each: in the middle of whatever it was doing
        for worker in live.values():
            worker.kill()  # (already stopped: checks it was still running)
            done.append(worker)
        assert forgotten is not None, "the run was too short to reach the forget"

        acked: dict[str, set[str]] = {}
        for worker in done:
            for line in worker.lines:
                if line.startswith("ACK "):
                    _, ns, *ids = line.split()
                    acked.setdefault(ns, set()).update(ids)
        for key, value in shared.items():
            if key.startswith("LIGHTMEM_"):
                monkeypatch.setenv(key, value)
        monkeypatch.setenv("LIGHTMEM_DATA_DIR", str(tmp_path / "final"))
        figures = {"workers": len(names), "kills": kills, "processes": incarnations}
        with LightMem(LightMemConfig.from_env(embeddings={"backend": "static"})) as memory:
            lost = duplicates = messages = memories = 0
            for ns in ("u0", "u1", "u2"):
                memory.flush(ns)
                stored = [m.id for m in memory.journal.messages.read((ns,))]
                assert len(stored) == len(set(stored))
                assert {m.stage for m in memory.journal.messages.read((ns,))} <= {"done"}
                cited = {s for e in memory.entries(ns, include_history=True) for s in e.source_ids}
                current = [s for e in memory.entries(ns) for s in e.source_ids]
                lost += len(acked.get(ns, set()) - (set(stored) & cited))
                duplicates += len(current) - len(set(current))
                messages += len(acked.get(ns, set()))
                memories += len(memory.entries(ns))
            figures.update(messages=messages, memories=memories, lost=lost, duplicates=duplicates)
            figures["gone_acknowledged"] = len(acked.get("gone", set()))
            assert memory.entries("gone", include_history=True) == [] and memory.journal.messages.read(("gone",)) == []
            database = memory.journal.database
            left = [
                t
                for t in database.tables()
                for (row,) in database.query(f"SELECT t::text FROM {t} t")
                if "zanzibar" in row
            ]
            client = chromadb.HttpClient(host="127.0.0.1", port=int(chroma_url.rsplit(":", 1)[1]))
            for collection in client.list_collections():
                got = client.get_collection(collection.name).get(where_document={"$contains": "zanzibar"})
                left += [collection.name] * len(got["ids"])
            figures["gone_rows_left"] = len(left)
        print("FIGURES", json.dumps(figures))
        assert figures["messages"] > 0 and figures["gone_acknowledged"] > 0
        assert (lost, duplicates, left) == (0, 0, [])
