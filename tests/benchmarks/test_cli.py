from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.__main__ import build_parser, main


def test_every_command_has_help(capsys):
    for command in ("run", "report", "systems", "data", "throughput"):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0
        assert "usage: python -m benchmarks" in capsys.readouterr().out


def test_missing_data_is_a_clear_skip(tmp_path: Path, capsys):
    assert main(["data", "--data", str(tmp_path)]) == 0
    assert "skipped: locomo data not found" in capsys.readouterr().err


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
