from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

from benchmarks.__main__ import build_parser, main


def test_every_command_has_help(capsys):
    for command in ("run", "report", "systems", "data", "throughput"):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0
        assert "usage: python -m benchmarks" in capsys.readouterr().out


@pytest.mark.parametrize(
    "command",
    [
        ["data"],
        ["run", "--systems", "full_text", "--no-progress"],
        ["run", "--protocol", "agent", "--systems", "lightmem_llm_free", "--no-progress"],
        ["throughput", "--no-progress"],
        ["scale", "--entries", "10", "--no-progress"],
    ],
)
def test_missing_data_exits_non_zero_with_the_reason(command, tmp_path: Path, capsys):
    assert main([*command, "--data", str(tmp_path)]) == 1
    assert "data not found" in capsys.readouterr().err


def _run(data_dir: Path, tmp_path: Path, *options: str) -> list[str]:
    return [
        "run",
        "--data",
        str(data_dir),
        "--in-process",
        "--no-plots",
        "--no-progress",
        "--out",
        str(tmp_path / "out"),
        *options,
    ]


def test_run_that_scores_no_question_exits_non_zero(data_dir: Path, tmp_path: Path, capsys):
    assert main(_run(data_dir, tmp_path, "--systems", "full_text", "--questions", "0")) == 1
    assert "error: nothing was measured: no question with evidence was scored" in capsys.readouterr().err


@pytest.mark.parametrize(
    "options",
    [
        ["--systems", "lightmem_endpoint"],  # no endpoint configured in tests: skipped
        ["--systems", "full_text", "--protocol", "agent"],  # the agent protocols need LightMem
    ],
)
def test_run_where_no_system_ran_exits_non_zero(options, data_dir: Path, tmp_path: Path, capsys):
    assert main(_run(data_dir, tmp_path, *options)) == 1
    assert "error: nothing was measured: no system ran (" in capsys.readouterr().err


def test_run_that_measured_something_exits_zero(data_dir: Path, tmp_path: Path):
    assert main(_run(data_dir, tmp_path, "--systems", "full_text")) == 0


def test_report_of_missing_results_exits_non_zero(tmp_path: Path, capsys):
    assert main(["report", str(tmp_path / "nowhere")]) == 1
    assert "error: no results to report" in capsys.readouterr().err


@pytest.mark.parametrize("protocol", ["live", ""])
def test_unknown_protocol_is_refused(protocol):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["run", "--protocol", protocol])
    assert exit_info.value.code == 2


@pytest.mark.parametrize(
    ("module", "argv"),
    [
        ("benchmarks.chroma_filter", ["--queries", "0"]),
        ("benchmarks.consolidation", ["--new", "0"]),
        ("benchmarks.embedding_memory", ["--texts", "0"]),
        ("benchmarks.footprint", ["--namespaces", "0"]),
        ("benchmarks.forget_residue", ["--entries", "0"]),
        ("benchmarks.store_tenants", ["--namespaces", "0"]),
        ("benchmarks.soak", ["--turns", "0"]),
        ("benchmarks.sensory.segmentation", ["--streams", "0"]),
        ("benchmarks.sensory.attention_signal", ["--streams", "0"]),
    ],
)
def test_script_counts_of_zero_are_refused(module, argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        importlib.import_module(module).main(argv)
    assert exit_info.value.code == 2
    assert "0 would measure nothing" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("module", "argv"),
    [
        ("benchmarks.soak", ["--turns", "10"]),
        ("benchmarks.consolidation", ["--entries", "10"]),
        ("benchmarks.embedding_memory", ["--texts", "10", "--encoder", "plain"]),
        ("benchmarks.sensory.segmentation", ["--streams", "1"]),
    ],
)
def test_scripts_without_their_chitchat_data_exit_non_zero(module, argv, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "chitchat_dataset", None)  # import fails as if not installed
    assert importlib.import_module(module).main(argv) == 1
    assert "error: the chitchat-dataset package is not installed" in capsys.readouterr().err


@pytest.mark.parametrize("module", ["benchmarks.sensory.compression", "benchmarks.sensory.throughput"])
def test_locomo_scripts_without_data_exit_non_zero(module, tmp_path: Path, capsys):
    assert importlib.import_module(module).main(["--data", str(tmp_path)]) == 1
    assert "error: locomo data not found" in capsys.readouterr().err


def test_unknown_system_is_refused():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--systems", "bm25,nope"])


def test_data_summary_on_a_small_file(data_dir: Path, capsys):
    assert main(["data", "--data", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "1 conversations, 2 sessions, 7 turns, 6 questions" in out
    assert "evidence ids rewritten: 2, dropped (name no turn): 1" in out


def test_embedding_memory_compares_both_encoders_in_fresh_processes(capsys):
    from benchmarks import embedding_memory

    assert embedding_memory.main(["--texts", "60", "--every", "30"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith(("| plain", "| shipped"))]
    assert len(rows) == 2 and all(row.count(" MB") == 2 for row in rows)


def test_an_unreachable_endpoint_fails_the_run_in_one_line(data_dir: Path, tmp_path: Path, closed_port, capsys):
    url = f"http://127.0.0.1:{closed_port}/v1"
    options = ["--systems", "lightmem_endpoint", "--endpoint", url, "--embeddings", "static"]
    assert main(_run(data_dir, tmp_path, *options)) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: the endpoint {url} is not reachable (")
    assert not (tmp_path / "out").exists()  # it failed before running anything


def test_qa_needs_the_endpoint_even_for_offline_systems(data_dir: Path, tmp_path: Path, closed_port, capsys):
    options = ["--systems", "bm25", "--qa", "--endpoint", f"http://127.0.0.1:{closed_port}/v1"]
    assert main(_run(data_dir, tmp_path, *options)) == 1
    assert "is not reachable" in capsys.readouterr().err


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_an_endpoint_run_is_labelled_real_logs_every_call_and_judges(data_dir: Path, tmp_path: Path, fake_server):
    options = ["--systems", "lightmem_endpoint", "--endpoint", fake_server.url, "--qa", "--embeddings", "static"]
    assert main(_run(data_dir, tmp_path, *options)) == 0
    out = tmp_path / "out"
    text = (out / "results.md").read_text()
    label = f"real model: qwen at {fake_server.url}"
    assert "scripted" not in text.lower()  # no scripted system ran: nothing may say so
    assert f"> lightmem_endpoint: {label} (fake llama.cpp 9.9)." in text
    assert f"| lightmem_endpoint | {label} |" in text
    assert "A small-model plumbing number, not comparable to published accuracy" in text
    assert "## QA accuracy" in text and "| lightmem_endpoint | 1.000 | 5 / 5 | 0 | 0 | 5 | 5 |" in text
    assert "## Real-model calls" in text and "LightMem's own usage records: extract 1 calls" in text

    calls = _jsonl(out / "calls-lightmem_endpoint.jsonl")
    phases = [c["phase"] for c in calls]
    assert phases.count("ingest") == 1 and phases.count("query") == 5 and phases.count("judge") == 5
    extraction = calls[0]
    assert extraction["conversation"] == "conv-1" and extraction["method"] == "function_calling"
    assert (extraction["facts"], extraction["citations"], extraction["prompt_tokens"]) == (1, 1, 321)
    assert all(c["error"] is None and c["seconds"] is not None for c in calls)

    doc = json.loads((out / "results.json").read_text())
    (result,) = doc["systems"]
    assert result["llm_label"] == label and result["calls"]["log"] == str(out / "calls-lightmem_endpoint.jsonl")
    assert result["qa"]["accuracy"] == 1.0 and result["qa"]["judged"] == 5
    assert result["usage_records"]["stages"]["extract"]["calls"] == 1
    assert doc["spec"]["endpoint"]["model"] == "qwen" and "api_key" not in doc["spec"]["endpoint"]
    requests = fake_server.requests
    assert all(r["model"] == "qwen" for r in requests)
    # Extraction scales its output limit to the batch, never above the run's cap (1024 by default).
    assert 0 < requests[0]["max_tokens"] < 1024 and all(r["max_tokens"] <= 1024 for r in requests)


def test_scripted_systems_alone_are_labelled_scripted(data_dir: Path, tmp_path: Path):
    assert main(_run(data_dir, tmp_path, "--systems", "lightmem_scripted,bm25", "--embeddings", "static")) == 0
    text = (tmp_path / "out" / "results.md").read_text()
    assert "> LLM outputs are scripted for lightmem_scripted (" in text
    assert "real model" not in text and "| lightmem_scripted | scripted |" in text
    assert not list((tmp_path / "out").glob("calls-*.jsonl"))  # scripted calls get no per-call log
