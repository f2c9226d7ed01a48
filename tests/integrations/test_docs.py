"""Every Python block of the docs (docs/**/*.md and the README) runs on its own, as written, offline: each in a
fresh process and an empty folder, with the default MiniLM embeddings. A block that needs something must build it;
a block that talks to ``langgraph dev`` at its default address gets a real one (on a free port)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([*(ROOT / "docs").rglob("*.md"), ROOT / "README.md"])
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
BLOCKS = [
    pytest.param(source, id=f"{page.relative_to(ROOT)}#{number}")
    for page in PAGES
    for number, source in enumerate(BLOCK.findall(page.read_text(encoding="utf-8")), start=1)
]

RUNNER = """
import ast, asyncio, sys

source = sys.stdin.read()
code = compile(source, sys.argv[1], "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
scope = {"__name__": "__main__"}
result = eval(code, scope)
if asyncio.iscoroutine(result):
    asyncio.run(result)
for name in ("middleware", "memory"):  # let background work finish before the process ends
    if hasattr(scope.get(name), "close"):
        scope[name].close()
print("ok")
"""


def test_every_surface_has_a_page_with_snippets() -> None:
    surfaces = {p.stem: p for p in (ROOT / "docs" / "surfaces").glob("*.md")}
    assert set(surfaces) >= {"agents", "chat-history", "retriever", "store"}
    for page in surfaces.values():
        assert BLOCK.findall(page.read_text(encoding="utf-8")), page


LANGGRAPH_DEV = "127.0.0.1:2024"
POSTGRES_URL = "postgresql://app:secret@db:5432/app"  # docs/postgres.md: replaced by the tests' own server


@pytest.mark.integration
@pytest.mark.parametrize("source", BLOCKS)
def test_doc_block_runs_on_its_own(source: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if POSTGRES_URL in source:
        source = source.replace(POSTGRES_URL, request.getfixturevalue("postgres_url"))
    if LANGGRAPH_DEV in source:
        from tests.integration.servers import free_port, serve
        from tests.integration.test_platform import langgraph_dev

        port = free_port()
        env = {"LIGHTMEM_DATA_DIR": str(tmp_path / "server"), "LIGHTMEM_EMBEDDINGS": "static"}
        command = langgraph_dev(ROOT / "langgraph.json", port)
        with serve(command, f"http://127.0.0.1:{port}/ok", env=env, cwd=ROOT, timeout=120):
            run_block(source.replace(LANGGRAPH_DEV, f"127.0.0.1:{port}"), tmp_path, request.node.callspec.id)
    else:
        run_block(source, tmp_path, request.node.callspec.id)


def run_block(source: str, tmp_path: Path, name: str) -> None:
    out = subprocess.run(
        [sys.executable, "-c", RUNNER, name],
        input=source,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,  # blocks write ./memory
        check=False,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    assert out.stdout.strip().endswith("ok")
