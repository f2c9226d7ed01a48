"""Shared fixtures. Every test runs offline: sockets are refused except loopback, in this process and in the
processes tests start (tests/netguard is put on their PYTHONPATH)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

NETGUARD = Path(__file__).parent / "netguard"
sys.path.insert(0, str(NETGUARD))
import netguard  # noqa: E402,F401  (installs the socket guard here too)

for _key, _value in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "TOKENIZERS_PARALLELISM": "false",
}.items():
    os.environ[_key] = _value
os.environ.pop("OPENAI_API_KEY", None)
os.environ.pop("OPENAI_BASE_URL", None)
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(NETGUARD), os.environ.get("PYTHONPATH")]))

from langchain_lightmem import LightMem, LightMemConfig  # noqa: E402
from langchain_lightmem.models import CachedEmbeddings, load_embeddings  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def static_embeddings() -> CachedEmbeddings:
    """The 64-d static embedder: no torch, milliseconds per call."""
    return load_embeddings(LightMemConfig(embeddings={"backend": "static"}).embeddings)


@pytest.fixture(scope="session")
def minilm() -> CachedEmbeddings:
    """The packaged all-MiniLM-L6-v2 (loaded once per session)."""
    return load_embeddings()


@pytest.fixture
def make_memory(tmp_path: Path, static_embeddings: CachedEmbeddings) -> Iterator[Callable[..., LightMem]]:
    """Build LightMem instances on a temporary data folder (static embeddings unless given)."""
    made: list[LightMem] = []

    def factory(
        chat_model: Any = None, *, data_dir: Path | None = None, embeddings: Any = None, **config: Any
    ) -> LightMem:
        cfg = LightMemConfig(data_dir=data_dir or tmp_path / "data", **config)
        memory = LightMem(cfg, chat_model=chat_model, embeddings=embeddings or static_embeddings)
        made.append(memory)
        return memory

    yield factory
    for memory in made:
        memory.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL server for the session (tests/postgres.py); skipped only when its binaries or the
    ``postgres`` extra are missing."""
    from tests.postgres import postgres_bin, postgres_server

    if postgres_bin() is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql; .ci/run installs it)")
    pytest.importorskip("psycopg_pool", reason="the postgres extra is not installed: pip install '.[postgres]'")
    with postgres_server() as url:
        yield url


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip(f"benchmark data not found at {SHARED_DATA} (it ships beside the repository, not in it)")
    return SHARED_DATA
