from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

import langchain_lightmem
from langchain_lightmem import LightMem, LightMemConfig
from langchain_lightmem.cli import Progress, main
from langchain_lightmem.models import CachedEmbeddings

COMMANDS = ["ingest", "search", "flush", "consolidate", "rebuild", "stats", "forget", "demo", "warm-up", "migrate"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert "usage: lightmem" in capsys.readouterr().out


def run(capsys, tmp_path, *args: str) -> tuple[int, str, str]:
    return run_argv(capsys, ["--data-dir", str(tmp_path / "data"), "--embeddings", "static", *args])


def run_argv(capsys, argv: list[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse refuses the command line (or --help, --version)
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(result: tuple[int, str, str], *needles: str) -> str:
    """Exit status 2 and one line on stderr that names what was wrong: never a traceback."""
    code, _, err = result
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


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


# -- a CLI that behaves like one -----------------------------------------------------------------------------


def write_jsonl(path, records) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def facts(n: int) -> list[dict]:
    return [{"role": "user", "content": f"fact number {i}: I planted {i} tulips", "thread_id": "t"} for i in range(n)]


def test_global_options_are_accepted_after_the_subcommand(tmp_path, capsys):
    path = tmp_path / "m.jsonl"
    write_jsonl(path, facts(3))
    data = str(tmp_path / "data")
    code, out, _ = run_argv(
        capsys, ["ingest", str(path), "--namespace", "bob", "--data-dir", data, "--embeddings", "static"]
    )
    assert code == 0 and "ingested 3 messages" in out
    code, out, _ = run_argv(capsys, ["stats", "--data-dir", data, "--embeddings", "static", "--json"])
    assert code == 0 and json.loads(out)[0]["namespace"] == ["bob"]


def test_warm_up_searches_the_memory_collections_and_reports_them(tmp_path, capsys):
    path = tmp_path / "m.jsonl"
    write_jsonl(path, facts(3))
    assert run(capsys, tmp_path, "ingest", str(path), "--namespace", "bob")[0] == 0
    write_jsonl(path, facts(2))
    assert run(capsys, tmp_path, "ingest", str(path), "--namespace", "carol")[0] == 0
    code, out, err = run(capsys, tmp_path, "warm-up")
    assert code == 0 and out.startswith("warmed 2 memory collections in "), out
    assert "warm-up: done, 2/2 collection" in err


def test_version(capsys):
    code, out, _ = run_argv(capsys, ["--version"])
    assert code == 0 and out.strip() == f"lightmem {langchain_lightmem.__version__}"


def test_stats_does_not_load_the_embedding_model(tmp_path, capsys, monkeypatch):
    import sentence_transformers

    data = tmp_path / "data"
    fake = CachedEmbeddings(lambda texts: np.ones((len(texts), 8)), model_id="all-MiniLM-L6-v2")
    with LightMem(LightMemConfig(data_dir=data), embeddings=fake) as memory:
        memory.add([{"role": "user", "content": "I keep bees."}], namespace="alice")
        memory.flush("alice")

    def no_model(*args, **kwargs):
        raise AssertionError("lightmem stats loaded the embedding model")

    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", no_model)
    code, out, err = run_argv(capsys, ["--data-dir", str(data), "stats"])  # the default, MiniLM
    assert code == 0 and "namespace alice: 1 memories" in out, err


@pytest.mark.parametrize(
    "command",
    [
        ["stats"],
        ["search", "bees", "--namespace", "alice"],
        ["flush", "--all"],
        ["consolidate", "--all"],
        ["forget", "--namespace", "alice", "--yes"],
        ["warm-up"],
        ["migrate", "--to-data-dir", "elsewhere"],
    ],
)
def test_commands_that_only_read_refuse_a_missing_data_folder_and_create_nothing(tmp_path, capsys, command):
    missing = tmp_path / "nowhere"
    line = assert_one_line_error(run_argv(capsys, ["--data-dir", str(missing), "--embeddings", "static", *command]))
    assert str(missing) in line and "no data folder" in line
    assert not missing.exists()
    missing.mkdir()  # a folder that holds no LightMem data is refused too, and stays empty
    assert_one_line_error(
        run_argv(capsys, ["--data-dir", str(missing), "--embeddings", "static", *command]), "no LightMem data"
    )
    assert list(missing.iterdir()) == []


def test_every_command_prints_json(tmp_path, capsys):
    path = tmp_path / "m.jsonl"
    write_jsonl(path, facts(3))
    code, out, _ = run(capsys, tmp_path, "--json", "ingest", str(path), "--namespace", "bob", "--no-flush")
    report = json.loads(out)
    assert code == 0 and report["messages"] == 3 and report["accepted"] == 3 and report["duplicates"] == 0
    code, out, _ = run(capsys, tmp_path, "flush", "--all", "--json")
    assert code == 0 and json.loads(out) == [
        {"namespace": ["bob"], "batches_extracted": 1, "entries_written": 3},
    ]
    code, out, _ = run(capsys, tmp_path, "search", "tulips", "--namespace", "bob", "--json")
    assert code == 0 and len(json.loads(out)) == 3
    code, out, _ = run(capsys, tmp_path, "stats", "--json")
    assert code == 0 and json.loads(out)[0]["entries"] == 3
    code, out, _ = run(capsys, tmp_path, "warm-up", "--json")
    assert code == 0 and json.loads(out)["collections"] == 1
    code, out, _ = run(capsys, tmp_path, "consolidate", "--all", "--json")
    (consolidated,) = json.loads(out)
    assert code == 0 and consolidated["namespace"] == ["bob"] and consolidated["new_entries"] == 3
    code, out, _ = run(capsys, tmp_path, "forget", "--namespace", "bob", "--yes", "--json")
    forgot = json.loads(out)
    assert code == 0 and forgot["namespace"] == ["bob"] and forgot["messages"] == 3 and forgot["vacuumed"] == []
    code, out, _ = run(capsys, tmp_path, "demo", "--json", "-k", "1")
    demo = json.loads(out)
    assert code == 0 and demo["entries"] > 0 and len(demo["questions"]) == 5
    assert all(len(q["hits"]) == 1 and q["hits"][0]["source_ids"] for q in demo["questions"])


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_off_a_terminal_is_a_plain_line_every_few_seconds():
    stream = io.StringIO()
    with Progress(4, desc="ingest", unit="msg", stream=stream, interval=0.05) as progress:
        progress.update(2)
        time.sleep(0.2)  # a slow add: lines keep coming
        progress.update(2)
        progress.phase("flush alice (1/1)")
        time.sleep(0.2)  # a slow flush: it shows as a step of the same display
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue() and lines[0].startswith("ingest: 0/4 msg")
    assert sum(line.startswith("ingest: 2/4 msg") for line in lines) >= 2
    assert any("flush alice (1/1)" in line and "4/4 msg" in line for line in lines)
    assert lines[-1].startswith("ingest: done, 4/4 msg in ")


def test_progress_on_a_terminal_is_a_bar_that_shows_the_flush():
    stream = _Terminal()
    with Progress(4, desc="ingest", unit="msg", stream=stream, interval=0.05) as progress:
        progress.update(4)
        progress.phase("flush alice (1/1)")
        time.sleep(0.1)
    text = stream.getvalue()
    assert "\r" in text and "4/4" in text and "flush alice (1/1)" in text


def test_ingest_shows_progress_and_the_final_flush_on_stderr(tmp_path, capsys):
    path = tmp_path / "m.jsonl"
    write_jsonl(path, facts(3))
    code, _, err = run(capsys, tmp_path, "ingest", str(path), "--namespace", "team/alice")
    assert code == 0 and "ingest: 0/3 msg" in err and "flush team/alice (1/1)" in err and "ingest: done, 3/3" in err


# -- input defects (issue 12): exit 2, one line on stderr, nothing stored ------------------------------------


def test_a_query_that_is_not_utf8_is_refused(tmp_path, capsys):
    undecodable = b"\xff".decode("utf-8", "surrogateescape")  # what Python makes of $'\xff' in argv
    assert_one_line_error(run(capsys, tmp_path, "search", undecodable, "--namespace", "a"), "query", "UTF-8")
    assert_one_line_error(run(capsys, tmp_path, "search", "bees", "--namespace", undecodable), "--namespace", "UTF-8")


@pytest.mark.parametrize(
    ("option", "value"),
    [("--since", "yesterday"), ("--since", "2024-13-01"), ("--until", "next week"), ("--reference-time", "soon")],
)
def test_dates_the_help_does_not_promise_are_refused(tmp_path, capsys, option, value):
    line = assert_one_line_error(run(capsys, tmp_path, "search", "bees", "--namespace", "a", option, value), option)
    assert value in line and "ISO" in line


@pytest.mark.parametrize(
    "args",
    [
        ["search", "bees", "--namespace", "a", "-k", "-1"],
        ["search", "bees", "--namespace", "a", "-k", "0"],
        ["search", "bees", "--namespace", "a", "--max-tokens", "0"],
        ["search", "bees", "--namespace", "a", "--max-tokens", "-5"],
        ["ingest", "x.json", "--chunk", "0"],
        ["demo", "-k", "0"],
    ],
)
def test_counts_below_one_are_refused(tmp_path, capsys, args):
    assert_one_line_error(run(capsys, tmp_path, *args), "1 or more")


@pytest.fixture
def tulips(tmp_path, capsys):
    """A namespace with three memories, searched with dates."""
    path = tmp_path / "m.jsonl"
    write_jsonl(path, [{**f, "timestamp": f"2024-05-0{i + 1}T10:00:00Z"} for i, f in enumerate(facts(3))])
    assert run(capsys, tmp_path, "ingest", str(path), "--namespace", "bob")[0] == 0
    return tmp_path


def test_since_and_until_take_iso_dates_and_a_date_alone_is_the_whole_day(tulips, capsys):
    code, out, _ = run(
        capsys,
        tulips,
        "search",
        "tulips",
        "--namespace",
        "bob",
        "--since",
        "2024-05-02",
        "--until",
        "2024-05-02",
        "--json",
    )
    assert code == 0 and [h["text"] for h in json.loads(out)] == ["user: fact number 1: I planted 1 tulips"]
    code, out, _ = run(
        capsys, tulips, "search", "tulips", "--namespace", "bob", "--since", "2024-05-02T12:00+02:00", "--json"
    )
    assert code == 0 and len(json.loads(out)) == 2


def test_ingest_refuses_a_file_that_is_not_utf8(tmp_path, capsys):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"role": "user", "content": "ok"}\n{"role": "user", "content": "caf\xe9"}\n')
    assert_one_line_error(run(capsys, tmp_path, "ingest", str(path), "--namespace", "a"), "latin1.jsonl:2", "UTF-8")


def test_ingest_refuses_json_nested_too_deeply(tmp_path, capsys):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    assert_one_line_error(run(capsys, tmp_path, "ingest", str(path), "--namespace", "a"), "deep.json", "nested")


@pytest.mark.parametrize(
    ("document", "where"),
    [
        ({"namespace": "a", "sessions": {"s1": []}}, "sessions"),
        ({"namespace": 5, "messages": [{"role": "user", "content": "x"}]}, "namespace"),
    ],
)
def test_ingest_refuses_malformed_conversation_objects(tmp_path, capsys, document, where):
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(document))
    assert_one_line_error(run(capsys, tmp_path, "ingest", str(path)), "odd.json", where)


def stored(capsys, tmp_path, namespace="bob") -> int:
    code, out, _ = run(capsys, tmp_path, "stats", "--json")
    return (
        sum(sum(r["messages"].values()) for r in json.loads(out) if r["namespace"] == [namespace]) if code == 0 else 0
    )


def test_a_bad_jsonl_line_stores_nothing_and_is_named_by_its_line(tmp_path, capsys):
    path = tmp_path / "chat.jsonl"
    records = facts(40)
    records[36] = {"role": "robot", "content": "beep"}  # line 37
    write_jsonl(path, records)
    line = assert_one_line_error(
        run(capsys, tmp_path, "ingest", str(path), "--namespace", "bob"), "chat.jsonl:37:", "robot"
    )
    assert "message 4" not in line
    assert stored(capsys, tmp_path) == 0  # validated as a whole before any of it was stored

    records[36] = {"role": "user", "content": "fixed line", "thread_id": "t"}
    write_jsonl(path, records)
    code, out, _ = run(capsys, tmp_path, "--json", "ingest", str(path), "--namespace", "bob")
    assert code == 0 and json.loads(out)["accepted"] == 40

    code, out, _ = run(capsys, tmp_path, "--json", "ingest", str(path), "--namespace", "bob")  # a retry
    assert code == 0 and (json.loads(out)["accepted"], json.loads(out)["duplicates"]) == (0, 40)
    assert stored(capsys, tmp_path) == 40

    records[9] = {"role": "user", "content": "line 10, corrected", "thread_id": "t"}
    write_jsonl(path, records)
    code, out, _ = run(capsys, tmp_path, "--json", "ingest", str(path), "--namespace", "bob")
    assert code == 0 and (json.loads(out)["accepted"], json.loads(out)["duplicates"]) == (1, 39)


def test_a_bad_json_message_is_named_by_its_position_and_json_ingest_is_idempotent(tmp_path, capsys):
    path = tmp_path / "chat.json"
    messages = [{"role": "user", "content": f"turn {i}"} for i in range(4)]
    document = {"namespace": "bob", "sessions": [{"thread_id": "s1", "messages": messages}]}
    messages[2] = {"role": "user", "content": "   "}
    path.write_text(json.dumps(document))
    assert_one_line_error(run(capsys, tmp_path, "ingest", str(path)), "chat.json", "sessions[0].messages[2]", "empty")
    assert stored(capsys, tmp_path) == 0
    messages[2] = {"role": "user", "content": "turn 2"}
    path.write_text(json.dumps(document))
    code, out, _ = run(capsys, tmp_path, "--json", "ingest", str(path))
    assert code == 0 and json.loads(out)["accepted"] == 4
    code, out, _ = run(capsys, tmp_path, "--json", "ingest", str(path))
    assert code == 0 and (json.loads(out)["accepted"], json.loads(out)["duplicates"]) == (0, 4)


def test_an_id_that_clashes_is_refused_before_anything_is_stored(tmp_path, capsys):
    path = tmp_path / "ids.jsonl"
    write_jsonl(
        path, [{"id": "a1", "role": "user", "content": "first"}, {"id": "a1", "role": "user", "content": "other"}]
    )
    assert_one_line_error(run(capsys, tmp_path, "ingest", str(path), "--namespace", "bob"), "ids.jsonl:2", "'a1'")
    assert stored(capsys, tmp_path) == 0
    write_jsonl(path, [{"id": "a1", "role": "user", "content": "first"}])
    assert run(capsys, tmp_path, "ingest", str(path), "--namespace", "bob")[0] == 0
    write_jsonl(
        path, [{"id": "b1", "role": "user", "content": "new"}, {"id": "a1", "role": "user", "content": "changed"}]
    )
    assert_one_line_error(run(capsys, tmp_path, "ingest", str(path), "--namespace", "bob"), "ids.jsonl:2", "'a1'")
    assert stored(capsys, tmp_path) == 1  # b1 was not stored either


def test_flush_idle_extracts_only_quiet_threads(tmp_path, capsys):
    path = tmp_path / "chat.jsonl"
    write_jsonl(path, facts(4))
    assert run(capsys, tmp_path, "ingest", str(path), "--namespace", "zoe", "--no-flush")[0] == 0
    code, out, _ = run(capsys, tmp_path, "flush", "--idle", "3600", "--json")
    assert code == 0 and json.loads(out) == []  # ingested just now: nothing has been quiet for an hour
    code, out, _ = run(capsys, tmp_path, "flush", "--idle", "0", "--json")
    assert code == 0 and [r["namespace"] for r in json.loads(out)] == [["zoe"]]
    assert json.loads(out)[0]["entries_written"] == 4
    assert_one_line_error(run(capsys, tmp_path, "flush", "--idle", "soon"), "seconds")
