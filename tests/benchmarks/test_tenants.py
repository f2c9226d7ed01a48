"""The many-tenants benchmark (benchmarks/tenants.py): result shape, isolation, and that a leak would be caught."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks import tenants
from benchmarks.tenants import LayoutSpec, bucket_of, main, tenant_vectors

TINY = ["--namespaces", "6", "--memories", "8", "--queries", "40", "--no-progress"]


def run(tmp_path: Path, *args: str) -> dict[str, Any]:
    out = tmp_path / "out"
    assert main([*TINY, *args, "--data-dir", str(tmp_path / "chroma"), "--out", str(out)]) == 0
    assert (out / "results.md").read_text().count("\n| ") >= 2
    return json.loads((out / "results.json").read_text())


def check_layout(result: dict[str, Any], name: str, collections: int) -> None:
    assert result["layout"] == name
    assert result["namespaces_created"] == result["namespaces_target"] == 6
    assert result["records"] == 48
    assert result["collections"] == collections
    assert result["stopped"] is None
    assert len([ms for ms in (result["create_ms_p50"], result["create_ms_p95"]) if ms > 0]) == 2
    search = result["search"]
    assert search["queries"] == 40 and search["errors"] == 0 and search["k"] == 8
    assert 0 < search["ms_p50"] <= search["ms_p95"]
    assert search["warm_queries"] + search["cold_queries"] == 40
    assert 1 <= search["cold_queries"] <= collections  # one first search per collection searched
    assert search["filter_get_ms_p50"] > 0
    assert search["recall_at_k"] == pytest.approx(1.0)  # 8 records per namespace, k=8: every one comes back
    assert result["isolation"] == {"queries": 40, "foreign_hits": 0, "queries_with_foreign_hits": 0, "ok": True}
    assert result["client_rss_mb"]["after_search"] > 0
    assert result["goal"]["at_10k_namespaces"] is False


def test_in_process_layouts_keep_namespaces_apart(tmp_path: Path):
    results = run(tmp_path, "--in-process", "--layouts", "per_namespace,shared,buckets:2")
    assert results["settings"]["vectors"].startswith("synthetic")
    per_namespace, shared, buckets = results["layouts"]
    check_layout(per_namespace, "per_namespace", 6)
    check_layout(shared, "shared", 1)
    check_layout(buckets, "buckets:2", len({bucket_of(tenants.namespace_of(t), 2) for t in range(6)}))
    assert shared["server_rss_mb"]["after_search"] is None  # no server in process


def test_batched_loading_times_the_last_tenants_alone(tmp_path: Path):
    results = run(tmp_path, "--in-process", "--layouts", "per_namespace,buckets:2", "--load-batch", "3", "--probe", "2")
    per_namespace, buckets = results["layouts"]
    assert per_namespace["create_timed_namespaces"] == 6  # its own collection each: never batched
    assert buckets["create_timed_namespaces"] == 2
    check_layout(buckets, "buckets:2", buckets["collections"])
    assert "created one at a time at full scale" in (tmp_path / "out" / "results.md").read_text()


def test_a_time_limit_stops_batched_loading_but_still_times_tenants_alone(tmp_path: Path):
    out = tmp_path / "out"
    argv = ["--in-process", "--namespaces", "6", "--memories", "8", "--queries", "10", "--no-progress"]
    argv += ["--layouts", "shared", "--load-batch", "3", "--probe", "2", "--time-limit", "0", "--out", str(out)]
    assert main(argv) == 0
    shared = json.loads((out / "results.json").read_text())["layouts"][0]
    assert shared["namespaces_created"] == 2 and shared["create_timed_namespaces"] == 2
    assert shared["stopped"] == "time limit: 0 s reached after 0 namespaces, then 2 more created alone and timed"
    assert shared["isolation"]["ok"] is True
    assert "time limit: 0 s" in (out / "results.md").read_text()


def test_nothing_created_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    argv = ["--in-process", "--namespaces", "3", "--layouts", "per_namespace", "--time-limit", "0", "--no-progress"]
    assert main([*argv, "--out", str(tmp_path)]) == 1
    assert "no layout created a tenant" in capsys.readouterr().err


def test_a_shared_collection_searched_without_its_filter_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(tenants.Layout, "where", lambda self, namespace: None)
    results = run(tmp_path, "--in-process", "--layouts", "shared")
    isolation = results["layouts"][0]["isolation"]
    # Half the queries are another namespace's stored vector: unfiltered, that record is the first hit.
    assert isolation["ok"] is False
    assert isolation["queries_with_foreign_hits"] >= 20


@pytest.mark.integration
def test_layouts_on_a_chroma_server(tmp_path: Path):
    results = run(tmp_path, "--layouts", "per_namespace,shared")
    for result, (name, collections) in zip(results["layouts"], [("per_namespace", 6), ("shared", 1)], strict=True):
        check_layout(result, name, collections)
        assert result["server_rss_mb"]["after_search"] > 50  # the server's own process, measured by pid
        assert result["total_rss_mb_end"] > result["server_rss_mb"]["after_search"]
        assert result["disk_mb"] > 0


def test_tenants_are_reproducible_and_buckets_stable():
    first, again = tenant_vectors(0, 3, 5), tenant_vectors(0, 3, 5)
    assert (first == again).all() and first.shape == (5, 384)
    assert abs(float((first**2).sum(axis=1).mean()) - 1.0) < 1e-5
    assert not (tenant_vectors(0, 4, 5) == first).all()
    assert bucket_of("user-000001", 100) == bucket_of("user-000001", 100) < 100


def test_layout_names_parse():
    assert LayoutSpec.parse("buckets").name == "buckets:100"
    assert LayoutSpec.parse("buckets:7").buckets == 7
    assert LayoutSpec.parse("per_namespace:500").hnsw_cache == 500
    for bad in ("shared:3", "buckets:0", "everything"):
        with pytest.raises(Exception, match=r"layout|argument|at least"):
            LayoutSpec.parse(bad)


def test_a_wrong_command_line_exits_2(tmp_path: Path):
    with pytest.raises(SystemExit) as exc:
        main(["--namespaces", "0", "--out", str(tmp_path)])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["--in-process", "--layouts", "per_namespace:10", "--out", str(tmp_path)])
    assert exc.value.code == 2
