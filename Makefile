# The two commands: `make run` and `make test`. Everything else is installed by them.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NPM ?= npm

# the web UI (ui/, React + Vite) is built into api/static/ui, which `switchback up` serves
UI_DEPS := ui/node_modules/.installed-lock
UI_BUILT := api/static/ui/index.html
UI_SOURCES := $(shell find ui/src ui/public -type f 2>/dev/null) ui/index.html ui/vite.config.ts ui/tsconfig.json \
	ui/package.json

.PHONY: run test install ui ui-test chromium bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[distributed,test]'
	touch $(STAMP)

install: $(STAMP)

# npm ci only when the lock file changed; a build only when a source is newer than it
$(UI_DEPS): ui/package-lock.json
	cd ui && $(NPM) ci --no-audit --no-fund --loglevel=error
	touch $(UI_DEPS)

$(UI_BUILT): $(UI_DEPS) $(UI_SOURCES)
	cd ui && $(NPM) run build --silent

ui: $(UI_BUILT)

# the UI's unit tests (vitest, no watch)
ui-test: $(UI_DEPS)
	cd ui && CI=true $(NPM) test --silent

# the browser tests drive Debian's chromium (never a downloaded browser)
chromium:
	@command -v chromium >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)

run: install ui
	$(VENV)/bin/switchback up $(ARGS)

test: install ui chromium ui-test
	$(PY) -m pytest -n 2 -q

bench: install
	$(PY) bench/embedded.py

clean:
	rm -rf $(VENV) .switchback .pytest_cache .hypothesis ui/node_modules api/static/ui test-artifacts
