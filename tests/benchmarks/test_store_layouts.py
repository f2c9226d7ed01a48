from __future__ import annotations

import json

import pytest

from benchmarks.forget_residue import main


@pytest.mark.parametrize("layout", ["collections", "buckets"])
def test_no_forgotten_text_is_left_and_the_report_says_what_is(layout, capsys):
    assert main(["--layout", layout, "--entries", "5", "--sample", "5"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["layout"] == layout and report["files"]
    # Dropped collections take vectors, ids and log rows with them; a bucket's vectors are overwritten before
    # the delete and its ids are digests.
    assert not any(f["alice_texts"] or f["alice_vectors"] or f["alice_ids"] for f in report["files"].values())
    assert report["log_rows_with_alice_ids_by_operation"] == {}


@pytest.mark.integration  # starts four chroma run servers
def test_store_tenants_runs_both_layouts_on_a_server_with_no_foreign_hit(capsys):
    from benchmarks.store_tenants import main as store_tenants

    assert store_tenants(["--namespaces", "3", "--memories", "4", "--queries", "12", "--buckets", "2"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["layout"] for r in rows] == ["buckets:2", "collections"]
    assert all(r["foreign_hits"] == 0 and r["recall_at_k"] == 1.0 for r in rows)
    assert rows[0]["collections"] <= 2 and rows[1]["collections"] == 3


@pytest.mark.integration  # starts two chroma run servers
def test_store_tenants_warm_up_leaves_no_first_search_to_a_user(capsys):
    from benchmarks.store_tenants import main as store_tenants

    argv = ["--namespaces", "6", "--memories", "3", "--queries", "12", "--buckets", "3", "--layouts", "buckets"]
    assert store_tenants([*argv, "--warm-up"]) == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["warm_up_collections"] == row["collections"] > 0  # every bucket searched once, before the queries
    assert row["first_searches"] == 0 and row["foreign_hits"] == 0 and row["recall_at_k"] == 1.0
