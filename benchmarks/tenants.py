"""Many tenants on one Chroma server: which collection layout holds N namespaces of M memories each.

Issue 13 asks for 10,000 namespaces of 100 memories on one ``chroma run`` server within 4 GB of RSS (server and
client together) and a search p95 of 50 ms. This writes the same synthetic tenants into each layout and measures:

* ``per_namespace``: one collection per namespace (today's ``ChromaMemoryStore``), searched without a filter;
  ``per_namespace:C`` runs the same on a server whose HNSW index cache keeps at most ``C`` collections in memory
  (Chroma's ``segment_manager.hnsw_index_pool_cache_config``; the default keeps 65,536);
* ``shared``: one collection for every namespace, each record carrying a ``namespace`` metadata key that every
  search filters on with ``where``;
* ``buckets:K``: ``K`` collections, a namespace hashed to one of them, searched with the same ``where`` filter.

Every record has the same id scheme and metadata in every layout (``namespace`` key included), so only the layout
differs. Vectors are synthetic (seeded, normalised, 384-d like MiniLM), passed explicitly: no embedding model runs,
so embedding cost is out of the measurement. Each layout runs on its own fresh server (started here on loopback,
stopped by its pid) unless ``--url`` points at a running one.

Measured per layout: time to create a tenant (its collection, when the layout has one per namespace, and one
``add`` of its M records: p50/p95), server and client RSS (psutil; the server's process tree) as tenants are
added, search latency with the namespace filter (k=10: p50/p95), recall@k against exact search within the
namespace, and isolation: every hit of every query must belong to the queried namespace. Half the queries are an
*other* namespace's stored vector, so the globally nearest record always belongs to someone else: a filter that
leaked would show. A layout stops early at ``--time-limit`` seconds or ``--rss-limit-gb`` of RSS, and says so.

    python -m benchmarks.tenants --namespaces 200 --layouts per_namespace,shared,buckets:16 --out /tmp/t200
    python -m benchmarks.tenants --namespaces 10000 --layouts shared,buckets:100 --out benchmarks/results/t10k

Writes ``results.json`` (every figure and the RSS samples) and ``results.md`` (one table) into ``--out`` after
each layout, so a run stopped midway keeps what it measured.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from benchmarks.exits import NothingMeasured, command, positive_int

DIM = 384
GOAL_RSS_MB = 4 * 1024
GOAL_P95_MS = 50.0
GOAL_NAMESPACES = 10_000
DEFAULT_BUCKETS = 100
PREFIX = "tenants"


# -- tenants: synthetic, reproducible ----------------------------------------------------------------------------


def namespace_of(tenant: int) -> str:
    """The namespace key of tenant ``tenant`` (what LightMem would store as ``namespace_key``)."""
    return f"user-{tenant:06d}"


def tenant_of(record_id: str) -> int:
    """The tenant a record id belongs to: ids are ``<tenant>:<memory>``."""
    return int(record_id.split(":", 1)[0])


def tenant_vectors(seed: int, tenant: int, memories: int) -> np.ndarray:
    """The ``memories`` unit vectors of one tenant, the same on every call (so queries need not keep them)."""
    rng = np.random.default_rng([seed, tenant])
    vectors = rng.standard_normal((memories, DIM), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def bucket_of(namespace: str, buckets: int) -> int:
    """The bucket collection a namespace lives in: a stable hash, so every process agrees without a lookup."""
    digest = hashlib.blake2b(namespace.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % buckets


# -- layouts -------------------------------------------------------------------------------------------------------


@dataclass
class LayoutSpec:
    """One layout to measure, parsed from ``--layouts`` (``per_namespace[:C]``, ``shared``, ``buckets[:K]``)."""

    kind: str
    buckets: int = 0
    hnsw_cache: int | None = None

    @property
    def name(self) -> str:
        if self.kind == "buckets":
            return f"buckets:{self.buckets}"
        if self.kind == "per_namespace" and self.hnsw_cache is not None:
            return f"per_namespace:{self.hnsw_cache}"
        return self.kind

    @classmethod
    def parse(cls, text: str) -> LayoutSpec:
        kind, _, arg = text.strip().partition(":")
        if kind not in ("per_namespace", "shared", "buckets"):
            raise argparse.ArgumentTypeError(
                f"unknown layout {text!r}: use per_namespace, per_namespace:CACHE, shared, buckets or buckets:K"
            )
        if arg and kind == "shared":
            raise argparse.ArgumentTypeError("'shared' takes no argument (it is one collection)")
        number = positive_int(arg) if arg else None
        if kind == "buckets":
            return cls(kind, buckets=number or DEFAULT_BUCKETS)
        return cls(kind, hnsw_cache=number)


def parse_layouts(text: str) -> list[LayoutSpec]:
    specs = [LayoutSpec.parse(part) for part in text.split(",") if part.strip()]
    if not specs:
        raise argparse.ArgumentTypeError("name at least one layout")
    return specs


class Layout:
    """Where a tenant's records go and how one namespace is searched."""

    def __init__(self, client: Any, spec: LayoutSpec, prefix: str) -> None:
        self.client = client
        self.spec = spec
        self.prefix = prefix
        self._collections: dict[str, Any] = {}  # cached handles, as ChromaMemoryStore caches them

    def _collection(self, name: str, metadata: dict[str, Any] | None = None) -> Any:
        collection = self._collections.get(name)
        if collection is None:
            collection = self.client.get_or_create_collection(
                name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}, metadata=metadata
            )
            self._collections[name] = collection
        return collection

    def collection_for(self, namespace: str) -> Any:
        if self.spec.kind == "per_namespace":
            digest = hashlib.blake2b(namespace.encode("utf-8"), digest_size=12).hexdigest()
            return self._collection(f"{self.prefix}_{digest}", {"lightmem_namespace": namespace})
        if self.spec.kind == "shared":
            return self._collection(f"{self.prefix}_shared")
        return self._collection(f"{self.prefix}_b{bucket_of(namespace, self.spec.buckets):04d}")

    def where(self, namespace: str) -> dict[str, Any] | None:
        # A collection of its own needs no filter; a shared one must always be filtered.
        return None if self.spec.kind == "per_namespace" else {"namespace": namespace}

    def write(self, tenants: dict[int, np.ndarray]) -> None:
        """Add the records of one or more tenants: one ``add`` per collection they fall in."""
        groups: dict[str, list[int]] = {}
        for tenant in tenants:
            groups.setdefault(self.collection_for(namespace_of(tenant)).name, []).append(tenant)
        for members in groups.values():
            collection = self.collection_for(namespace_of(members[0]))
            collection.add(
                ids=[f"{t}:{j}" for t in members for j in range(len(tenants[t]))],
                embeddings=np.concatenate([tenants[t] for t in members]),
                metadatas=[{"namespace": namespace_of(t)} for t in members for _ in range(len(tenants[t]))],
            )

    def search(self, tenant: int, query: np.ndarray, k: int) -> tuple[list[str], list[str]]:
        """Ids and the ``namespace`` metadata of the hits of one filtered query."""
        namespace = namespace_of(tenant)
        result = self.client_query(self.collection_for(namespace), query, k, self.where(namespace))
        ids = list(result["ids"][0])
        metadatas = result.get("metadatas") or [[]]
        return ids, [str((m or {}).get("namespace")) for m in metadatas[0]]

    def ids_of(self, tenant: int) -> list[str]:
        """The namespace's record ids through its filter alone (no vector search)."""
        namespace = namespace_of(tenant)
        return list(self.collection_for(namespace).get(where=self.where(namespace), include=[])["ids"])

    @staticmethod
    def client_query(collection: Any, query: np.ndarray, k: int, where: dict[str, Any] | None) -> Any:
        return collection.query(query_embeddings=[query], n_results=k, where=where, include=["metadatas", "distances"])

    @property
    def collections(self) -> int:
        return len(self._collections)

    def drop(self) -> None:
        """Delete the collections this run created (only used on a server this run did not start)."""
        for name in list(self._collections):
            with contextlib.suppress(Exception):
                self.client.delete_collection(name)
        self._collections.clear()


# -- the server ----------------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def chroma_command() -> str:
    """The ``chroma`` CLI of this Python (it ships with the chromadb package)."""
    chroma = shutil.which("chroma", path=os.path.dirname(sys.executable)) or shutil.which("chroma")
    if not chroma:
        raise NothingMeasured("the chroma CLI was not found beside this Python: pip install chromadb")
    return chroma


@contextlib.contextmanager
def chroma_server(folder: Path, *, hnsw_cache: int | None = None, timeout: float = 120) -> Iterator[tuple[str, int]]:
    """Start ``chroma run`` on a free loopback port storing in ``folder``; yield ``(url, pid)``; stop that pid.

    ``hnsw_cache`` bounds how many collections' HNSW indexes the server keeps in memory (through a config file:
    ``chroma run`` has no flag for it).
    """
    folder.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    if hnsw_cache is None:
        command = [chroma_command(), "run", "--path", str(folder / "data"), "--host", "127.0.0.1", "--port", str(port)]
    else:
        config = folder / "chroma.yaml"
        config.write_text(
            f'persist_path: {json.dumps(str(folder / "data"))}\nport: {port}\nlisten_address: "127.0.0.1"\n'
            f"segment_manager:\n  hnsw_index_pool_cache_config:\n    memory:\n      capacity: {hnsw_cache}\n"
        )
        command = [chroma_command(), "run", str(config)]
    log = open(folder / "chroma.log", "wb")  # noqa: SIM115  (closed below)
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise NothingMeasured(
                    f"chroma run exited with {proc.returncode} before answering; see {folder / 'chroma.log'}"
                )
            try:
                with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise NothingMeasured(f"chroma run did not answer within {timeout:.0f} s; see {folder / 'chroma.log'}")
            time.sleep(0.3)
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def tree_rss(pid: int | None) -> int | None:
    """RSS in bytes of a process and its children (None when there is no process to measure)."""
    if pid is None:
        return None
    try:
        proc = psutil.Process(pid)
        total = proc.memory_info().rss
        for child in proc.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                total += child.memory_info().rss
        return int(total)
    except psutil.Error:
        return None


def folder_mb(path: Path) -> float:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.path.getsize(os.path.join(root, name))
    return round(total / 2**20, 1)


def http_client(url: str) -> Any:
    import chromadb
    from chromadb.config import Settings

    scheme, _, rest = url.partition("://")
    host, _, port = rest.rstrip("/").partition(":")
    return chromadb.HttpClient(
        host=host, port=int(port or (443 if scheme == "https" else 80)), ssl=scheme == "https",
        settings=Settings(anonymized_telemetry=False),
    )  # fmt: skip


def embedded_client(folder: Path) -> Any:
    import chromadb
    from chromadb.config import Settings

    folder.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(folder), settings=Settings(anonymized_telemetry=False))


# -- measuring -----------------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if values else None


def mb(value: int | None) -> float | None:
    return None if value is None else round(value / 2**20, 1)


@dataclass
class Options:
    namespaces: int
    memories: int
    queries: int
    k: int
    seed: int
    time_limit: float
    search_time_limit: float
    rss_limit_mb: float
    progress: bool
    load_batch: int = 1
    probe: int = 200


@dataclass
class Run:
    """What one layout measured (the JSON written for it)."""

    layout: str
    namespaces_target: int
    memories_per_namespace: int
    namespaces_created: int = 0
    collections: int = 0
    stopped: str | None = None
    create_s: float = 0.0
    create_ms: list[float] = field(default_factory=list)
    search_ms: list[float] = field(default_factory=list)
    warm_ms: list[float] = field(default_factory=list)  # the collection had been searched before
    cold_ms: list[float] = field(default_factory=list)  # its first search since the server started
    filter_ms: list[float] = field(default_factory=list)  # the metadata half alone: get(where=namespace)
    samples: list[dict[str, Any]] = field(default_factory=list)
    recall: list[float] = field(default_factory=list)
    short_results: int = 0
    foreign_hits: int = 0
    queries_with_foreign_hits: int = 0
    search_stopped: str | None = None
    search_errors: int = 0
    first_error: str | None = None
    server_rss_mb: dict[str, float | None] = field(default_factory=dict)
    client_rss_mb: dict[str, float | None] = field(default_factory=dict)
    disk_mb: float | None = None
    server: str = ""

    def summary(self) -> dict[str, Any]:
        peaks = [s["total_rss_mb"] for s in self.samples if s.get("total_rss_mb") is not None]
        total_end = None
        if self.server_rss_mb.get("after_search") is not None:
            total_end = round((self.server_rss_mb["after_search"] or 0) + (self.client_rss_mb["after_search"] or 0), 1)
        p95 = percentile(self.warm_ms, 95)
        at_goal_scale = self.namespaces_created >= GOAL_NAMESPACES
        return {
            "layout": self.layout,
            "server": self.server,
            "namespaces_target": self.namespaces_target,
            "namespaces_created": self.namespaces_created,
            "memories_per_namespace": self.memories_per_namespace,
            "records": self.namespaces_created * self.memories_per_namespace,
            "collections": self.collections,
            "stopped": self.stopped,
            "create_s_total": round(self.create_s, 1),
            "create_timed_namespaces": len(self.create_ms),
            "create_ms_p50": percentile(self.create_ms, 50),
            "create_ms_p95": percentile(self.create_ms, 95),
            "create_ms_max": round(max(self.create_ms), 1) if self.create_ms else None,
            "server_rss_mb": self.server_rss_mb,
            "client_rss_mb": self.client_rss_mb,
            "total_rss_mb_end": total_end,
            "total_rss_mb_peak": max(peaks) if peaks else None,
            "disk_mb": self.disk_mb,
            "search": {
                "queries": len(self.search_ms),
                "k": None,
                "ms_p50": percentile(self.search_ms, 50),
                "ms_p95": percentile(self.search_ms, 95),
                "ms_p99": percentile(self.search_ms, 99),
                "ms_mean": round(float(np.mean(self.search_ms)), 2) if self.search_ms else None,
                "warm_queries": len(self.warm_ms),
                "warm_ms_p50": percentile(self.warm_ms, 50),
                "warm_ms_p95": p95,
                "cold_queries": len(self.cold_ms),
                "cold_ms_p50": percentile(self.cold_ms, 50),
                "cold_ms_p95": percentile(self.cold_ms, 95),
                "filter_get_ms_p50": percentile(self.filter_ms, 50),
                "filter_get_ms_p95": percentile(self.filter_ms, 95),
                "recall_at_k": round(float(np.mean(self.recall)), 4) if self.recall else None,
                "short_results": self.short_results,
                "errors": self.search_errors,
                "first_error": self.first_error,
                "stopped": self.search_stopped,
            },
            "isolation": {
                "queries": len(self.search_ms),
                "foreign_hits": self.foreign_hits,
                "queries_with_foreign_hits": self.queries_with_foreign_hits,
                "ok": bool(self.search_ms) and self.foreign_hits == 0 and self.search_errors == 0,
            },
            "goal": {
                "at_10k_namespaces": at_goal_scale,
                "rss_ok": (total_end is not None and total_end <= GOAL_RSS_MB) if at_goal_scale else None,
                "p95_ok": (p95 is not None and p95 <= GOAL_P95_MS) if at_goal_scale else None,
            },
            "samples": self.samples,
        }


def measure_layout(
    layout: Layout, options: Options, *, server_pid: int | None, server_label: str, data_folder: Path | None
) -> Run:
    """Create the tenants (until done or a limit), then time filtered searches and check isolation and recall."""
    from tqdm import tqdm

    me = psutil.Process()
    run = Run(layout.spec.name, options.namespaces, options.memories, server=server_label)

    def sample(done: int, elapsed: float) -> dict[str, Any]:
        server, client = tree_rss(server_pid), me.memory_info().rss
        point = {
            "namespaces": done,
            "seconds": round(elapsed, 1),
            "server_rss_mb": mb(server),
            "client_rss_mb": mb(client),
            "total_rss_mb": mb((server or 0) + client) if server is not None else None,
            "load_average_1m": round(os.getloadavg()[0], 2),  # the machine is shared: how busy it was
        }
        run.samples.append(point)
        return point

    first = sample(0, 0.0)
    run.server_rss_mb["before"], run.client_rss_mb["before"] = first["server_rss_mb"], first["client_rss_mb"]
    every = max(1, options.namespaces // 100)
    bar = tqdm(
        total=options.namespaces, desc=f"{layout.spec.name} create", unit="ns", file=sys.stderr,
        disable=not options.progress, smoothing=0.05,
    )  # fmt: skip
    # With --load-batch > 1 (shared and bucket layouts only) the first tenants are loaded several per `add`, to
    # reach the scale sooner; the last --probe tenants are then created one at a time and timed, at full scale.
    batch = 1 if layout.spec.kind == "per_namespace" else options.load_batch
    batched_until = options.namespaces - options.probe if batch > 1 else 0
    started = time.perf_counter()
    tenant, last = 0, options.namespaces
    while tenant < last:
        if run.stopped is None and time.perf_counter() - started > options.time_limit:
            run.stopped = f"time limit: {options.time_limit:.0f} s reached after {tenant:,} namespaces"
            if tenant >= batched_until:
                break
            # Batched loading stopped short: still time --probe tenants created alone, at the scale reached.
            batched_until, last = tenant, min(options.namespaces, tenant + options.probe)
            run.stopped += f", then {last - tenant:,} more created alone and timed"
        step = min(batch, batched_until - tenant) if tenant < batched_until else 1
        tenants = {t: tenant_vectors(options.seed, t, options.memories) for t in range(tenant, tenant + step)}
        t0 = time.perf_counter()
        try:
            layout.write(tenants)
        except Exception as exc:  # the server gave up: record why this layout stopped, measure the rest
            run.stopped = f"error after {tenant:,} namespaces: {type(exc).__name__}: {exc}"[:300]
            break
        if tenant >= batched_until:  # created alone: a tenant arriving at a server that holds the others
            run.create_ms.append((time.perf_counter() - t0) * 1000)
        before, tenant = tenant, tenant + step
        run.namespaces_created = tenant
        bar.update(step)
        if tenant // every != before // every or tenant == options.namespaces:
            point = sample(tenant, time.perf_counter() - started)
            bar.set_postfix(server_mb=point["server_rss_mb"], client_mb=point["client_rss_mb"], refresh=False)
            total = point["total_rss_mb"] if point["total_rss_mb"] is not None else point["client_rss_mb"]
            if total > options.rss_limit_mb and tenant < options.namespaces:
                run.stopped = f"RSS limit: {total:,.0f} MB > {options.rss_limit_mb:,.0f} MB after {tenant:,} namespaces"
                break
    bar.close()
    run.create_s = time.perf_counter() - started
    run.collections = layout.collections
    end = sample(run.namespaces_created, run.create_s)
    run.server_rss_mb["after_create"], run.client_rss_mb["after_create"] = end["server_rss_mb"], end["client_rss_mb"]
    if run.namespaces_created:
        search(layout, options, run)
    end = sample(run.namespaces_created, time.perf_counter() - started)
    run.server_rss_mb["after_search"], run.client_rss_mb["after_search"] = end["server_rss_mb"], end["client_rss_mb"]
    run.server_rss_mb["peak"] = max(
        (s["server_rss_mb"] for s in run.samples if s["server_rss_mb"] is not None), default=None
    )
    run.client_rss_mb["peak"] = max(s["client_rss_mb"] for s in run.samples)
    if data_folder is not None:
        run.disk_mb = folder_mb(data_folder)
    return run


def search(layout: Layout, options: Options, run: Run) -> None:
    """Filtered k-NN queries on random tenants: latency, recall against exact search, isolation."""
    from tqdm import tqdm

    rng = np.random.default_rng([options.seed, 1_000_003])
    created = run.namespaces_created
    k = min(options.k, options.memories)
    bar = tqdm(total=options.queries, desc=f"{layout.spec.name} search", unit="q", file=sys.stderr,
               disable=not options.progress)  # fmt: skip
    searched: set[str] = set()
    started = time.perf_counter()
    for q in range(options.queries):
        if time.perf_counter() - started > options.search_time_limit:
            run.search_stopped = f"search time limit: {options.search_time_limit:.0f} s reached after {q:,} queries"
            break
        tenant = int(rng.integers(created))
        own = tenant_vectors(options.seed, tenant, options.memories)
        if q % 2 == 0 or created == 1:
            # Near one of the tenant's own memories: the ordinary case.
            query = own[int(rng.integers(options.memories))] + rng.standard_normal(DIM).astype(np.float32) * 0.05
            query /= np.linalg.norm(query)
        else:
            # Exactly another tenant's memory: the nearest record overall is foreign, so a leak cannot hide.
            other = int(rng.integers(created - 1))
            other += other >= tenant
            query = tenant_vectors(options.seed, other, options.memories)[int(rng.integers(options.memories))]
        t0 = time.perf_counter()
        try:
            ids, namespaces = layout.search(tenant, query, k)
        except Exception as exc:  # counted, not timed: a failed search is not a fast one
            run.search_errors += 1
            run.first_error = run.first_error or f"{type(exc).__name__}: {exc}"[:300]
            bar.update(1)
            continue
        ms = (time.perf_counter() - t0) * 1000
        run.search_ms.append(ms)
        # A collection's first search after the server starts loads it (Chroma "backfills" it): timed apart.
        name = layout.collection_for(namespace_of(tenant)).name
        (run.warm_ms if name in searched else run.cold_ms).append(ms)
        searched.add(name)
        if q % 10 == 1:
            # Where the time goes: the same namespace filter as a plain get (Chroma's SQLite half of a query).
            t0 = time.perf_counter()
            layout.ids_of(tenant)
            run.filter_ms.append((time.perf_counter() - t0) * 1000)
        foreign = sum(
            1 for rid, ns in zip(ids, namespaces, strict=True) if tenant_of(rid) != tenant or ns != namespace_of(tenant)
        )
        run.foreign_hits += foreign
        run.queries_with_foreign_hits += foreign > 0
        run.short_results += len(ids) < k
        exact = {f"{tenant}:{j}" for j in np.argsort(-(own @ query))[:k]}
        run.recall.append(len(exact & set(ids)) / k)
        bar.update(1)
    bar.close()


# -- reporting -----------------------------------------------------------------------------------------------------


def _fmt(value: Any, spec: str = ",.1f") -> str:
    return "–" if value is None else format(value, spec)


def markdown(results: dict[str, Any]) -> str:
    """The results as one markdown table plus the run's settings."""
    meta = results["settings"]
    lines = [
        f"`{meta['command']}`",
        "",
        f"{meta['namespaces']:,} namespaces × {meta['memories']} memories, synthetic normalised {DIM}-d vectors "
        f"(seed {meta['seed']}; no embedding model runs), k={meta['k']}, {meta['queries']:,} queries "
        f"(half of them another namespace's stored vector); chromadb {meta['chromadb']}, {meta['machine']}.",
        "",
        *(
            [
                f"Shared and bucket layouts were loaded {meta['load_batch']} namespaces per `add`; their create "
                f"p50/p95 are the last {meta['probe']:,} namespaces, created one at a time at full scale "
                "(per_namespace: every namespace, one at a time).",
                "",
            ]
            if meta.get("load_batch", 1) > 1
            else []
        ),
        "| layout | namespaces | collections | create total s | create p50 / p95 ms | server RSS MB | "
        "client RSS MB | total RSS MB | search p50 / p95 ms | warm p50 / p95 ms | first per collection p50 / p95 ms "
        "| filter-only get p50 ms | recall@k | foreign hits | stopped |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["layouts"]:
        s = r["search"]
        failed = f"{s['errors']:,} searches failed: {s['first_error']}" if s["errors"] else None
        stopped = "; ".join(x for x in (r["stopped"], s["stopped"], failed) if x) or "–"
        lines.append(
            f"| {r['layout']} | {r['namespaces_created']:,} / {r['namespaces_target']:,} | {r['collections']:,} "
            f"| {_fmt(r['create_s_total'])} | {_fmt(r['create_ms_p50'])} / {_fmt(r['create_ms_p95'])} "
            f"| {_fmt(r['server_rss_mb'].get('after_search'), ',.0f')} "
            f"| {_fmt(r['client_rss_mb'].get('after_search'), ',.0f')} | {_fmt(r['total_rss_mb_end'], ',.0f')} "
            f"| {_fmt(s['ms_p50'])} / {_fmt(s['ms_p95'])} | {_fmt(s['warm_ms_p50'])} / {_fmt(s['warm_ms_p95'])} "
            f"| {_fmt(s['cold_ms_p50'])} / {_fmt(s['cold_ms_p95'])} ({s['cold_queries']:,}) "
            f"| {_fmt(s['filter_get_ms_p50'])} | {_fmt(s['recall_at_k'], '.3f')} "
            f"| {r['isolation']['foreign_hits']} in {r['isolation']['queries']:,} queries | {stopped} |"
        )
    loads = []
    for r in results["layouts"]:
        seen = [x["load_average_1m"] for x in r["samples"] if "load_average_1m" in x]
        if seen:
            loads.append(f"{r['layout']} {min(seen):.1f}–{max(seen):.1f}")
    lines += [
        "",
        *(
            [f"Load average (1 min) while each layout ran (2 CPUs, shared machine): {'; '.join(loads)}.", ""]
            if loads
            else []
        ),
        "RSS after the searches; the server's is its whole process tree. Create = the namespace's collection "
        "(when it has its own) and one `add` of its records. Search = every timed query; warm = queries to a "
        "collection searched before; first per collection = its first query since the server started (Chroma "
        "loads the collection then), with their count. Filter-only get = `get(where=namespace)` without a vector, "
        "on every tenth query's namespace: the SQLite half of a filtered query. Goal (issue 13): total RSS "
        "≤ 4,096 MB and warm search p95 ≤ 50 ms at 10,000 namespaces.",
    ]
    return "\n".join(lines) + "\n"


def write_results(out: Path, results: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    (out / "results.md").write_text(markdown(results))


def _chromadb_version() -> str:
    import chromadb

    return str(chromadb.__version__)


@command
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.tenants", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--namespaces", type=positive_int, default=10_000, help="tenants to create (default 10,000)")
    parser.add_argument("--memories", type=positive_int, default=100, help="memories per tenant (default 100)")
    parser.add_argument(
        "--layouts",
        type=parse_layouts,
        default=parse_layouts(f"per_namespace,shared,buckets:{DEFAULT_BUCKETS}"),
        help="comma-separated: per_namespace, per_namespace:CACHE (server keeps at most CACHE collections' "
        f"indexes in memory), shared, buckets:K (default per_namespace,shared,buckets:{DEFAULT_BUCKETS})",
    )
    parser.add_argument("--queries", type=positive_int, default=1_000, help="timed searches per layout")
    parser.add_argument("--k", type=positive_int, default=10, help="hits per search")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--load-batch",
        type=positive_int,
        default=1,
        help="shared and bucket layouts: load this many tenants per add, then time the last --probe tenants one "
        "at a time (default 1: every tenant is created and timed alone)",
    )
    parser.add_argument("--probe", type=positive_int, default=200, help="tenants timed alone with --load-batch")
    parser.add_argument("--time-limit", type=float, default=900, help="seconds of tenant creation per layout")
    parser.add_argument("--search-time-limit", type=float, default=180, help="seconds of searching per layout")
    parser.add_argument("--rss-limit-gb", type=float, default=8, help="stop creating past this server+client RSS")
    parser.add_argument("--url", help="use this running Chroma server (default: start one per layout on loopback)")
    parser.add_argument("--server-pid", type=int, help="with --url: the server's pid, to measure its RSS")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="no server: chromadb's embedded client in this process (for quick checks; RSS is all 'client')",
    )
    parser.add_argument("--data-dir", type=Path, help="where started servers store (default: a temporary folder)")
    parser.add_argument("--out", type=Path, required=True, help="folder for results.json and results.md")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if (args.url or args.in_process) and any(spec.hnsw_cache is not None for spec in args.layouts):
        parser.error("per_namespace:CACHE configures a server this command starts: not with --url or --in-process")
    if args.url and args.in_process:
        parser.error("--url and --in-process exclude each other")

    options = Options(
        namespaces=args.namespaces,
        memories=args.memories,
        queries=args.queries,
        k=args.k,
        seed=args.seed,
        time_limit=args.time_limit,
        search_time_limit=args.search_time_limit,
        rss_limit_mb=args.rss_limit_gb * 1024,
        progress=not args.no_progress,
        load_batch=args.load_batch,
        probe=min(args.probe, args.namespaces),
    )
    results: dict[str, Any] = {
        "settings": {
            "command": "python -m benchmarks.tenants " + shlex.join(argv if argv is not None else sys.argv[1:]),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "namespaces": args.namespaces,
            "memories": args.memories,
            "queries": args.queries,
            "k": min(args.k, args.memories),
            "seed": args.seed,
            "load_batch": args.load_batch,
            "probe": min(args.probe, args.namespaces) if args.load_batch > 1 else None,
            "dim": DIM,
            "vectors": "synthetic, seeded, normalised; no embedding model runs",
            "chromadb": _chromadb_version(),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, nice {os.nice(0)}",
            "server": "in process (chromadb.PersistentClient)"
            if args.in_process
            else args.url or "chroma run on loopback, one fresh server per layout",
            "goal": {"namespaces": GOAL_NAMESPACES, "total_rss_mb": GOAL_RSS_MB, "search_p95_ms": GOAL_P95_MS},
        },
        "layouts": [],
    }
    with contextlib.ExitStack() as stack:
        base = args.data_dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lightmem-tenants-")))
        for index, spec in enumerate(args.layouts):
            run_id = f"{index}-{datetime.now(UTC):%H%M%S}"
            if args.url:
                layout = Layout(http_client(args.url), spec, f"{PREFIX}_{run_id}")
                try:
                    run = measure_layout(
                        layout, options, server_pid=args.server_pid, server_label=args.url, data_folder=None
                    )
                finally:
                    layout.drop()
            elif args.in_process:
                folder = base / f"{run_id}-{spec.name.replace(':', '-')}"
                layout = Layout(embedded_client(folder / "data"), spec, PREFIX)
                run = measure_layout(layout, options, server_pid=None, server_label="in process", data_folder=None)
                layout.client.clear_system_cache()  # let the next layout start from a fresh client
            else:
                folder = base / f"{run_id}-{spec.name.replace(':', '-')}"
                with chroma_server(folder, hnsw_cache=spec.hnsw_cache) as (url, pid):
                    layout = Layout(http_client(url), spec, PREFIX)
                    run = measure_layout(
                        layout, options, server_pid=pid, server_label="chroma run (fresh)", data_folder=folder / "data"
                    )
                if args.data_dir is None:
                    shutil.rmtree(folder, ignore_errors=True)  # 10k tenants take GBs; the next layout needs room
            summary = run.summary()
            summary["search"]["k"] = results["settings"]["k"]
            results["layouts"].append(summary)
            write_results(args.out, results)
            print(
                f"{spec.name}: {run.namespaces_created:,} namespaces in {run.create_s:.0f} s; search p95 "
                f"{summary['search']['ms_p95']} ms (warm {summary['search']['warm_ms_p95']} ms); "
                f"total RSS {summary['total_rss_mb_end']} MB; "
                f"foreign hits {run.foreign_hits}" + (f"; stopped: {run.stopped}" if run.stopped else ""),
                file=sys.stderr,
                flush=True,
            )
    if not any(r["search"]["queries"] for r in results["layouts"]):
        raise NothingMeasured("no layout created a tenant and searched it: raise --time-limit or --rss-limit-gb")
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
