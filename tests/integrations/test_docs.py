"""The snippets of docs/surfaces/*.md run as written, page by page, offline (one process, default MiniLM)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = sorted((DOCS / "surfaces").glob("*.md"))
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)

RUNNER = """
import ast, asyncio, json, sys

scope = {"__name__": "__docs__"}
for number, source in enumerate(json.loads(sys.stdin.read()), start=1):
    code = compile(source, f"{sys.argv[1]} block {number}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(code, scope)
    if asyncio.iscoroutine(result):
        asyncio.run(result)
if "middleware" in scope:
    scope["middleware"].close()
print("ok")
"""


def test_every_surface_has_a_page_with_snippets() -> None:
    assert {p.stem for p in PAGES} >= {"agents", "chat-history", "retriever", "store"}
    for page in PAGES:
        assert BLOCK.findall(page.read_text(encoding="utf-8")), page


@pytest.mark.integration
@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_doc_snippets_run(page: Path, tmp_path: Path) -> None:
    blocks = BLOCK.findall(page.read_text(encoding="utf-8"))
    out = subprocess.run(
        [sys.executable, "-c", RUNNER, page.name],
        input=json.dumps(blocks),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,  # the snippets write ./memory
        check=False,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    assert out.stdout.strip().endswith("ok")
