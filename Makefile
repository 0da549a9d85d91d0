# The two set-up commands of the README. Each installs what it needs on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)
# Test-only npm tools (package.json): anvil, a local Ethereum node, and solcjs, the Solidity compiler.
NPM_STAMP := node_modules/.installed-$(shell cat package-lock.json | sha256sum | cut -c1-12)

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

$(NPM_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "make test needs Node.js 20+ with npm (for anvil and solc)" >&2; exit 1; }
	npm ci --no-audit --no-fund
	touch $(NPM_STAMP)

## make demo: write a sample chain in Bitcoin Core's blk format, ingest it, show what is stored.
demo: $(STAMP)
	$(BIN)/fundtrail --store demo-store demo --workdir demo-data

## make test: the whole test suite (what CI runs).
test: $(STAMP) $(NPM_STAMP)
	$(BIN)/python -m pytest -n 2 -q

## make bench: the ingest benchmark (figures go to docs/benchmarks.md by hand).
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_ingest_bitcoin.py

clean:
	rm -rf demo-store demo-data bench-out
