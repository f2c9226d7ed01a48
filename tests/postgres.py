"""A real PostgreSQL server for tests, started from Debian's ``postgresql`` binaries in a temporary folder.

PostgreSQL refuses to run as root: when the tests run as root (CI machines do), the cluster is created and run as
``nobody`` in a folder handed to it. Loopback only, a free port, trust authentication, stopped afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.integration.servers import free_port


def postgres_bin() -> Path | None:
    """The folder of ``initdb`` / ``pg_ctl`` (Debian keeps them out of PATH), or ``None`` when not installed."""
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _as_owner(command: list[str], owner: str | None) -> list[str]:
    return ["runuser", "-u", owner, "--", *command] if owner else command


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Start a throwaway PostgreSQL; yields its URL ``postgresql://postgres@127.0.0.1:PORT/postgres``."""
    binaries = postgres_bin()
    if binaries is None:
        raise RuntimeError("PostgreSQL is not installed: apt-get install -y postgresql (.ci/run does)")
    owner = "nobody" if os.geteuid() == 0 else None
    folder = Path(tempfile.mkdtemp(prefix="lightmem-pg-"))
    data = folder / "data"
    if owner:
        shutil.chown(folder, user=owner)
    port = free_port()
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    subprocess.run(
        _as_owner([str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8"], owner),
        check=True,
        capture_output=True,
        env=env,
        cwd=folder,
    )
    options = f"-k {folder} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    subprocess.run(
        _as_owner(
            [str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start"], owner
        ),
        check=True,
        capture_output=True,
        env=env,
        cwd=folder,
    )
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    try:
        yield url
    finally:
        subprocess.run(
            _as_owner([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], owner),
            capture_output=True,
            env=env,
            cwd=folder,
            check=False,
        )
        time.sleep(0.1)
        shutil.rmtree(folder, ignore_errors=True)
