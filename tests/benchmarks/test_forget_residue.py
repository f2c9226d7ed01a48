from __future__ import annotations

import json

import pytest

from benchmarks.forget_residue import main


@pytest.mark.parametrize("layout", ["collections", "buckets"])
def test_no_forgotten_text_is_left_and_the_report_says_what_is(layout, capsys):
    assert main(["--layout", layout, "--entries", "5", "--sample", "5"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["layout"] == layout and report["files"]
    assert not any(f["alice_texts"] for f in report["files"].values())
    if layout == "collections":  # the dropped collections take vectors, ids and log rows with them
        assert not any(f["alice_vectors"] or f["alice_ids"] for f in report["files"].values())
        assert report["log_rows_with_alice_ids_by_operation"] == {}
