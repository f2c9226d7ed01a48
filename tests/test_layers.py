"""The shape of the package: surfaces talk to the facade only, and imports flow one way (the import-linter
contracts in pyproject.toml; docs/architecture.md, "Layers")."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "langchain_lightmem"
SURFACES = sorted([*(PACKAGE / "integrations").glob("*.py"), *(PACKAGE / "inspect").glob("*.py"), PACKAGE / "cli.py"])
# What LightMem holds behind its public methods: a surface that reaches these bypasses the facade's locks, checks
# and validation.
INTERNALS = {"journal", "store", "pipeline", "folder", "worker", "searcher", "graph", "consolidation_graph"}
MEMORY_NAMES = {"memory", "self.memory", "self._lightmem()", "lightmem"}


def test_surfaces_reach_nothing_behind_the_facade() -> None:
    found = []
    for path in SURFACES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute):
                continue
            owner = ast.unparse(node.value)
            if owner in MEMORY_NAMES and (node.attr in INTERNALS or node.attr.startswith("_")):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {owner}.{node.attr}")
    assert found == [], "surfaces must call LightMem's public methods:\n" + "\n".join(found)


def test_the_layers_contract_holds() -> None:
    """`lint-imports` (import-linter, the dev extra) keeps the layers; `make lint` runs it too."""
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint is None:
        pytest.skip("import-linter (dev extra) is not installed")
    out = subprocess.run([lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
