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

.PHONY: demo test bench system apt-system browser apt-browser clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench,spark]'
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

## Debian packages. `system`: what the demo needs (Pango for WeasyPrint's case reports and letters as PDF, and a
## Chinese font for their zh_CN text and for the workbench's screenshots; no font is ever fetched from outside).
## `browser`: what the tests add (chromium and chromium-driver for the browser tests of tests/web, poppler-utils'
## pdftotext and pdftoppm to read reports back). Nothing is done when all are present; apt-get update only when
## the install fails without it.
SYSTEM_PKGS  := libpango-1.0-0 libpangoft2-1.0-0 fonts-wqy-microhei
BROWSER_PKGS := $(SYSTEM_PKGS) chromium chromium-driver poppler-utils
define apt_install
	@if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; else \
	  echo "fundtrail needs Debian's $(1): neither root nor sudo is available here, so install them as root" \
	       "(apt-get install $(1))" >&2; exit 1; fi; \
	echo "installing Debian's $(1)"; \
	export DEBIAN_FRONTEND=noninteractive; \
	$$SUDO apt-get install -y -q $(1) \
	  || { $$SUDO apt-get update -q && $$SUDO apt-get install -y -q $(1); } \
	  || { echo "could not install $(1) with apt-get; install them by hand" >&2; exit 1; }
endef
HAVE_SYSTEM  := ldconfig -p | grep -q libpangoft2-1.0 && fc-list :lang=zh 2>/dev/null | grep -q .
HAVE_BROWSER := $(HAVE_SYSTEM) && command -v chromium >/dev/null && command -v chromedriver >/dev/null \
                && command -v pdftotext >/dev/null && command -v pdftoppm >/dev/null

system:
	@if $(HAVE_SYSTEM); then exit 0; fi; $(MAKE) --no-print-directory apt-system

apt-system:
	$(call apt_install,$(SYSTEM_PKGS))

browser:
	@if $(HAVE_BROWSER); then exit 0; fi; $(MAKE) --no-print-directory apt-browser

apt-browser:
	$(call apt_install,$(BROWSER_PKGS))

## make demo: simulate a ransomware case, ingest and investigate it; leave the store ready for the workbench.
demo: $(STAMP) $(NPM_WEB) system
	$(BIN)/fundtrail --store demo-store demo --workdir demo-data

## make test: the whole test suite (what CI runs).
test: $(STAMP) $(NPM_ALL) browser
	$(BIN)/python -m pytest -n 2 -q

## make bench: the ingest benchmark (figures go to docs/benchmarks.md by hand).
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_ingest_bitcoin.py

clean:
	rm -rf demo-store demo-data bench-out test-artifacts
