from __future__ import annotations

import importlib
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
