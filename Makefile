# The two set-up commands of the README. Each installs what it needs on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)
# npm packages (package.json): the workbench's front-end library (dependencies: cytoscape),
# served by `fundtrail serve` from node_modules, and test-only tools (devDependencies: anvil, solc).
# `make demo` installs the first only; `make test` installs everything. `npm ci` empties node_modules
# first, so the stamps live there and are written after it; the full install stamps both.
NPM_HASH := $(shell cat package-lock.json | sha256sum | cut -c1-12)
NPM_WEB  := node_modules/.installed-web-$(NPM_HASH)
NPM_ALL  := node_modules/.installed-all-$(NPM_HASH)
NPM_CI   := npm ci --no-audit --no-fund

.PHONY: demo test bench browser clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

$(NPM_WEB): package.json package-lock.json
	@command -v npm >/dev/null || { echo "make demo needs Node.js 20+ with npm (for the workbench's cytoscape)" >&2; exit 1; }
	test -e $(NPM_ALL) || $(NPM_CI) --omit=dev
	touch $(NPM_WEB)

$(NPM_ALL): package.json package-lock.json
	@command -v npm >/dev/null || { echo "make test needs Node.js 20+ with npm (for cytoscape, anvil and solc)" >&2; exit 1; }
	$(NPM_CI)
	touch $(NPM_WEB) $(NPM_ALL)

## browser: Debian's chromium and chromium-driver for the browser tests (tests/web), and a Chinese font so
## that their screenshots of the zh_CN pages show characters (the pages load no font from outside).
## Nothing when present; apt-get update only when the install fails without it.
BROWSER_PKGS := chromium chromium-driver fonts-wqy-microhei
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null \
	  && fc-list :lang=zh 2>/dev/null | grep -q .; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; else \
	  echo "make test needs Debian's $(BROWSER_PKGS) for the browser tests: neither root nor sudo is" \
	       "available here, so install them as root (apt-get install $(BROWSER_PKGS))" >&2; exit 1; fi; \
	echo "installing Debian's $(BROWSER_PKGS) (browser tests)"; \
	export DEBIAN_FRONTEND=noninteractive; \
	$$SUDO apt-get install -y -q $(BROWSER_PKGS) \
	  || { $$SUDO apt-get update -q && $$SUDO apt-get install -y -q $(BROWSER_PKGS); } \
	  || { echo "could not install $(BROWSER_PKGS) with apt-get; install them by hand" \
	            "(the browser tests need /usr/bin/chromium and /usr/bin/chromedriver)" >&2; exit 1; }

## make demo: simulate a ransomware case, ingest and investigate it; leave the store ready for the workbench.
demo: $(STAMP) $(NPM_WEB)
	$(BIN)/fundtrail --store demo-store demo --workdir demo-data

## make test: the whole test suite (what CI runs).
test: $(STAMP) $(NPM_ALL) browser
	$(BIN)/python -m pytest -n 2 -q

## make bench: the ingest benchmark (figures go to docs/benchmarks.md by hand).
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_ingest_bitcoin.py

clean:
	rm -rf demo-store demo-data bench-out test-artifacts
