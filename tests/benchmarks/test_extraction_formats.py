"""The extraction-format benchmark's harness and scoring (scripted model; the real-model numbers are in
docs/local-models.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.extraction_formats import BatchScore, main, score_facts, spread
from tests.helpers import msg


def test_scoring_separates_precise_wrong_and_copied_citations():
    numbering = {
        1: msg(1, speaker="Sam", text="Hi Evan!"),
        2: msg(2, speaker="Evan", text="I went hiking in the Rockies last week with my son."),
        3: msg(3, speaker="Sam", text="I started a new job as a chef."),
    }
    facts = [
        {"text": "Evan went hiking in the Rockies with his son.", "sources": [1], "date": "2023-05-18 or null"},
        {"text": "Sam started a new job as a chef.", "sources": [3, 9], "date": "2023-05"},
        {"text": "...", "sources": [1], "date": None},
    ]
    score = BatchScore("v", 512, 0, 3, 100, 256, 1.0)
    score_facts(score, facts, numbering)
    assert (score.facts, score.pairs, score.precise_pairs, score.covered) == (3, 4, 1, 1)
    assert (score.copied, score.bad_dates) == (1, 1)
    # the extractor keeps two facts and corrects the wrong citation: both precise, lines 2 and 3 covered
    assert (score.kept, score.recited, score.kept_precise_pairs, score.kept_covered) == (2, 1, 2, 2)


def test_spread_takes_first_and_last():
    assert spread(list(range(10)), 3) == [0, 4, 9] and spread([1, 2], 5) == [1, 2] and spread([7, 8, 9], 1) == [8]


@pytest.mark.integration
def test_harness_runs_offline_with_the_scripted_model(data_dir: Path, tmp_path: Path, capsys):
    args = ["--model", "scripted", "--batches", "1", "--thresholds", "200", "--variants", "legacy_json,json,lines"]
    assert main([*args, "--data", str(data_dir), "--out", str(tmp_path)]) == 0
    (table,) = tmp_path.glob("table-*.md")
    rows = [line for line in table.read_text().splitlines() if line.startswith("| ") and "variant" not in line]
    assert [r.split(" | ")[0].strip("| ") for r in rows] == ["legacy_json", "json", "lines"]
