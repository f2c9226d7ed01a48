"""Many namespaces through ``ChromaMemoryStore`` itself on one ``chroma run`` server, per ``chroma.layout``.

``benchmarks.tenants`` measures raw Chroma layouts; this runs the store the library ships (its collection names,
metadata, namespace scoping, reads of the found entries) for each layout on its own fresh server:

* **create**: one ``upsert`` of a namespace's ``--memories`` entries (seeded synthetic 384-d unit vectors passed
  explicitly: no embedding model runs, so embedding cost is in no figure);
* **search**: ``--queries`` dense ``store.search(namespace, vector, k)`` calls on random namespaces, half of them
  another namespace's stored vector (the nearest record overall is then foreign); every hit's namespace is checked
  (foreign hits must be 0) and recall@k is against exact search within the namespace. A collection's first search
  after the restart (Chroma loads it then) is timed apart from warm ones;
* **RSS**: the server's process tree idle, after creating, and (searches run on the server restarted over the same
  folder, so each collection's first search loads it, as after a deployment) after searching; and this process.
* **warm-up** (``--warm-up``): after the restart, ``store.warm_up()`` searches every collection once before the
  timed queries (its seconds are reported); a query whose collection was warmed counts as warm.

    python -m benchmarks.store_tenants --namespaces 200 --memories 20 --layouts buckets,collections
    python -m benchmarks.store_tenants --namespaces 10000 --memories 100 --layouts buckets --warm-up
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from benchmarks.exits import command, positive_int
from benchmarks.tenants import DIM, chroma_server, mb, namespace_of, percentile, tenant_vectors, tree_rss
from langchain_lightmem.config import ChromaConfig, LightMemConfig
from langchain_lightmem.config import chroma_server as chroma_section
from langchain_lightmem.long_term.store import ChromaMemoryStore
from langchain_lightmem.models import load_embeddings
from langchain_lightmem.types import MemoryEntry

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def entries_of(tenant: int, memories: int) -> list[MemoryEntry]:
    ns = (namespace_of(tenant),)
    return [
        MemoryEntry(
            id=f"{tenant}:{j}",
            namespace=ns,
            text=f"memory {j} of tenant {tenant}",
            source_ids=[],
            event_time=T0 + timedelta(minutes=j),
        )
        for j in range(memories)
    ]


def measure(layout: str, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    embeddings = load_embeddings(LightMemConfig(embeddings={"backend": "static"}).embeddings)  # never called

    def open_store(url: str) -> ChromaMemoryStore:
        config = ChromaConfig(**chroma_section(url), layout=layout, buckets=args.buckets)
        return ChromaMemoryStore(config, folder / "unused", embeddings)

    create_ms: list[float] = []
    with chroma_server(folder / layout) as (url, pid):
        store = open_store(url)
        idle = tree_rss(pid)
        for tenant in range(args.namespaces):
            vectors = tenant_vectors(args.seed, tenant, args.memories)
            entries = entries_of(tenant, args.memories)
            t0 = time.perf_counter()
            store.upsert(entries, vectors={e.id: v for e, v in zip(entries, vectors, strict=True)})
            create_ms.append((time.perf_counter() - t0) * 1000)
            if (tenant + 1) % 500 == 0:
                print(f"{layout}: {tenant + 1}/{args.namespaces} namespaces created", file=sys.stderr, flush=True)
        created_rss = tree_rss(pid)
    # Searched on a restarted server over the same folder: each collection's first search loads it, as after a
    # deployment; the RSS after searching is what the loaded indexes cost.
    with chroma_server(folder / layout) as (url, pid):
        store = open_store(url)
        rng = np.random.default_rng([args.seed, 7])
        warm: list[float] = []
        first: list[float] = []
        searched: set[str] = set()
        warm_up_s = warmed = None
        if args.warm_up:
            t0 = time.perf_counter()
            warmed = store.warm_up()
            warm_up_s = round(time.perf_counter() - t0, 1)
            searched.update(store.collection_name((namespace_of(t),)) for t in range(args.namespaces))
        foreign = recall_sum = 0.0
        k = min(args.k, args.memories)
        for q in range(args.queries):
            tenant = int(rng.integers(args.namespaces))
            own = tenant_vectors(args.seed, tenant, args.memories)
            if q % 2 == 0 or args.namespaces == 1:
                query = own[int(rng.integers(args.memories))] + rng.standard_normal(DIM).astype(np.float32) * 0.05
                query /= np.linalg.norm(query)
            else:  # exactly another namespace's memory: the nearest record overall is foreign
                other = int(rng.integers(args.namespaces - 1))
                other += other >= tenant
                query = tenant_vectors(args.seed, other, args.memories)[int(rng.integers(args.memories))]
            ns = (namespace_of(tenant),)
            t0 = time.perf_counter()
            hits = store.search(ns, [float(x) for x in query], k=k)
            ms = (time.perf_counter() - t0) * 1000
            name = store.collection_name(ns)
            (warm if name in searched else first).append(ms)
            searched.add(name)
            foreign += sum(h.entry.namespace != ns for h in hits)
            exact = {f"{tenant}:{j}" for j in np.argsort(-(own @ query))[:k]}
            recall_sum += len(exact & {h.entry.id for h in hits}) / k
        searched_rss = tree_rss(pid)
        collections = sum(1 for c in store.client.list_collections() if c.name.startswith(store.config.collection))
    every = warm + first
    return {
        "layout": layout if layout == "collections" else f"buckets:{args.buckets}",
        "namespaces": args.namespaces,
        "memories": args.memories,
        "collections": collections,
        "create_p50_p95_ms": [percentile(create_ms, 50), percentile(create_ms, 95)],
        "server_rss_mb_idle": mb(idle),
        "server_rss_mb_after_create": mb(created_rss),
        "server_rss_mb_after_restart_and_search": mb(searched_rss),
        "client_rss_mb": mb(psutil.Process().memory_info().rss),
        "search_p50_p95_ms": [percentile(every, 50), percentile(every, 95)],
        "warm_p50_p95_ms": [percentile(warm, 50), percentile(warm, 95)],
        "first_p50_p95_ms": [percentile(first, 50), percentile(first, 95)],
        "first_searches": len(first),
        "warm_up_collections": warmed,
        "warm_up_seconds": warm_up_s,
        "recall_at_k": round(recall_sum / args.queries, 4),
        "foreign_hits": int(foreign),
        "queries": args.queries,
    }


@command
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.store_tenants",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--namespaces", type=positive_int, default=200)
    parser.add_argument("--memories", type=positive_int, default=20, help="entries per namespace")
    parser.add_argument("--layouts", default="buckets,collections", help="comma-separated: buckets, collections")
    parser.add_argument("--buckets", type=positive_int, default=256)
    parser.add_argument("--queries", type=positive_int, default=1000)
    parser.add_argument("--k", type=positive_int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--warm-up", action="store_true", help="call store.warm_up() after the restart, before the timed searches"
    )
    args = parser.parse_args(argv)
    layouts = [name.strip() for name in args.layouts.split(",") if name.strip()]
    for name in layouts:
        if name not in ("buckets", "collections"):
            parser.error(f"unknown layout {name!r}: use buckets or collections")
    with tempfile.TemporaryDirectory(prefix="lightmem-store-tenants-") as tmp:
        for layout in layouts:
            print(json.dumps(measure(layout, args, Path(tmp))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
