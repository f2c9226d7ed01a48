from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from langchain_lightmem.cli import main

COMMANDS = ["ingest", "search", "flush", "consolidate", "stats", "forget", "demo"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert "usage: lightmem" in capsys.readouterr().out


def run(capsys, tmp_path, *args: str) -> tuple[int, str, str]:
    code = main(["--data-dir", str(tmp_path / "data"), "--embeddings", "static", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_ingest_search_stats_flush_forget(tmp_path, capsys):
    conv = tmp_path / "conv.json"
    conv.write_text(
        json.dumps(
            {
                "namespace": "team/alice",
                "sessions": [
                    {
                        "thread_id": "s1",
                        "messages": [
                            {"id": "a1", "role": "user", "content": "I keep bees on my roof in Lyon."},
                            {"id": "a2", "role": "assistant", "content": "How many hives do you have?"},
                            {"id": "a3", "role": "user", "content": "Three hives, and they made 20 kg of honey."},
                        ],
                    }
                ],
            }
        )
    )
    code, out, _ = run(capsys, tmp_path, "ingest", str(conv), "--no-flush")
    assert code == 0 and "ingested 3 messages" in out and "wait for lightmem flush" in out

    code, out, _ = run(capsys, tmp_path, "flush", "--all")
    assert code == 0 and "team/alice: 1 batch(es) extracted, 3 entries written" in out

    code, out, _ = run(capsys, tmp_path, "consolidate", "--all")
    assert code == 0 and "team/alice: 3 new entries" in out and "0 LLM calls" in out
    code, out, _ = run(capsys, tmp_path, "consolidate", "--namespace", "team/alice")
    assert code == 0 and "team/alice: 0 new entries, 0 targets, 0 LLM calls" in out

    code, out, _ = run(capsys, tmp_path, "search", "honey", "--namespace", "team/alice", "-k", "1", "--json")
    hits = json.loads(out)
    assert code == 0 and hits[0]["source_ids"] == ["a3"] and hits[0]["namespace"] == ["team", "alice"]

    code, out, _ = run(capsys, tmp_path, "search", "bees", "--namespace", "team/alice")
    assert code == 0 and "sources: a1" in out

    code, out, _ = run(capsys, tmp_path, "search", "honey", "--namespace", "team/alice", "--mode", "lexical", "--json")
    # BM25 alone: only a3 says honey; a2 and a1, the two turns before it, come after it as its segment neighbours
    # (with equal lifts, in either order)
    ranked = [h["source_ids"][0] for h in json.loads(out)]
    assert code == 0 and ranked[0] == "a3" and sorted(ranked[1:]) == ["a1", "a2"]

    code, out, _ = run(
        capsys, tmp_path, "search", "bees", "--namespace", "team/alice", "--max-tokens", "200", "--sources"
    )
    assert code == 0 and "I keep bees on my roof in Lyon. [a1]" in out and "of 200 tokens" in out
    code, out, _ = run(capsys, tmp_path, "search", "bees", "--namespace", "team/alice", "--max-tokens", "200", "--json")
    packed = json.loads(out)
    assert code == 0 and 0 < packed["tokens"] <= 200 and packed["items"][0]["source_ids"] == ["a1"]

    question = "What did I say about bees last month?"
    args = ("--namespace", "team/alice", "--reference-time", "2001-02-01", "--time-mode")
    code, out, _ = run(capsys, tmp_path, "search", question, *args, "filter")
    assert code == 0 and "no memories found" in out  # the window is January 2001, the memories are from today
    code, out, _ = run(capsys, tmp_path, "search", question, *args, "boost")
    assert code == 0 and "sources: a1" in out

    code, out, _ = run(capsys, tmp_path, "stats", "--json")
    (report,) = json.loads(out)
    assert report["entries"] == 3 and report["messages"]["done"] == 3 and report["usage"]["extract"]["calls"] == 0

    code, out, _ = run(capsys, tmp_path, "stats")
    assert code == 0 and "namespace team/alice: 3 memories" in out and "total" in out

    code, _, err = run(capsys, tmp_path, "forget", "--namespace", "team/alice")
    assert code == 2 and "--yes" in err  # no tty, no confirmation: refused
    code, out, _ = run(capsys, tmp_path, "forget", "--namespace", "team/alice", "--yes")
    assert code == 0 and "3 messages, 3 memories" in out
    code, out, _ = run(capsys, tmp_path, "search", "bees", "--namespace", "team/alice")
    assert "no memories found" in out


def test_jsonl_with_namespace_flag(tmp_path, capsys):
    path = tmp_path / "m.jsonl"
    lines = [{"role": "user", "content": f"fact number {i}", "thread_id": "t"} for i in range(5)]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    code, out, _ = run(capsys, tmp_path, "ingest", str(path), "--namespace", "bob")
    assert code == 0 and "ingested 5 messages" in out


def test_clear_errors_for_bad_files(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"messages": [{"role": "robot", "content": "x"}]}')
    code, _, err = run(capsys, tmp_path, "ingest", str(bad), "--namespace", "a")
    assert code == 2 and "unknown role 'robot'" in err
    code, _, err = run(capsys, tmp_path, "ingest", str(tmp_path / "missing.json"), "--namespace", "a")
    assert code == 2 and "missing.json" in err
    nons = tmp_path / "nons.json"
    nons.write_text('[{"role": "user", "content": "x"}]')
    code, _, err = run(capsys, tmp_path, "ingest", str(nons))
    assert code == 2 and "--namespace" in err
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"role": "user", "content": "x"}\n{oops\n')
    code, _, err = run(capsys, tmp_path, "ingest", str(broken), "--namespace", "a")
    assert code == 2 and "broken.jsonl:2" in err


@pytest.mark.integration
def test_demo_runs_offline_with_real_minilm(tmp_path):
    env = {**os.environ, "LIGHTMEM_DATA_DIR": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "langchain_lightmem.cli", "demo"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "LLM-free" in out and "all-MiniLM-L6-v2" in out
    assert "-> 38 memories" in out
    assert "allergic to shellfish" in out and "from s1-09 (session-1" in out
    assert "stage" in out and "LLM calls" in out and "total" in out


def test_forget_with_vacuum_leaves_no_trace_on_disk(tmp_path, capsys):
    conv = tmp_path / "secret.json"
    secret = "ZEBRA-PLUTONIUM-4471"
    conv.write_text(json.dumps([{"role": "user", "content": f"my locker code is {secret}"}]))
    other = tmp_path / "other.json"
    other.write_text(json.dumps([{"role": "user", "content": "I like tea"}]))
    assert run(capsys, tmp_path, "ingest", str(conv), "--namespace", "alice")[0] == 0
    assert run(capsys, tmp_path, "ingest", str(other), "--namespace", "bob")[0] == 0
    code, out, _ = run(capsys, tmp_path, "forget", "--namespace", "alice", "--yes", "--vacuum")
    assert code == 0 and "vacuumed" in out
    leftovers = [p for p in (tmp_path / "data").rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert leftovers == []
    code, out, _ = run(capsys, tmp_path, "search", "tea", "--namespace", "bob")
    assert "I like tea" in out  # the other namespace is intact
