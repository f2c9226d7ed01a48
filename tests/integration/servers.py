"""Start real servers on loopback for integration tests."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(
    command: Sequence[str],
    health_url: str,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 90,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` until ``health_url`` answers 200; stop it afterwards."""
    log = open(os.devnull, "wb")  # noqa: SIM115  (closed below)
    proc = subprocess.Popen(
        list(command), stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, cwd=cwd
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{command[0]} exited with {proc.returncode} before answering {health_url}")
            try:
                with urllib.request.urlopen(health_url, timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{command[0]} did not answer {health_url} within {timeout} s")
            time.sleep(0.5)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@contextmanager
def chroma_server(path: Path) -> Iterator[str]:
    """A ``chroma run`` server on a free loopback port, storing in ``path``; yields its URL."""
    import shutil
    import sys

    chroma = shutil.which("chroma", path=os.path.dirname(sys.executable))
    assert chroma, "the chroma CLI ships with the chromadb package"
    port = free_port()
    command = [chroma, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)]
    with serve(command, f"http://127.0.0.1:{port}/api/v2/heartbeat"):
        yield f"http://127.0.0.1:{port}"
