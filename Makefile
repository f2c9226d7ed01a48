# Two commands on a fresh machine:  `make demo` (the main job) and `make test` (the test suite).
# Both create .venv on first use: CPU torch first (pinned, so nothing pulls a multi-GB CUDA build), then the
# package with every extra (bench: the peers the benchmark smoke test drives). The install re-runs only when
# pyproject.toml changes.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install demo test lint typecheck docs pytest clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[all,dev,bench]'
	rm -f $(VENV)/.installed-*
	touch $@

demo: $(STAMP)
	$(BIN)/lightmem demo

test: lint typecheck docs pytest

lint: $(STAMP)
	$(BIN)/ruff check langchain_lightmem tests benchmarks examples
	$(BIN)/ruff format --check langchain_lightmem tests benchmarks examples
	$(BIN)/lint-imports  # the layers contract in pyproject.toml (docs/architecture.md, "Layers")

typecheck: $(STAMP)
	$(BIN)/mypy

# The docs site (mkdocs.yml); --strict fails on broken links. Built outside the tree.
docs: $(STAMP)
	$(BIN)/mkdocs build --strict --quiet --site-dir $(VENV)/site

pytest: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) lightmem_data .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
