# The two commands: `make run` and `make test`. Everything else is installed by them.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test install ui bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[distributed,test]'
	touch $(STAMP)

install: $(STAMP)

# The web UI arrives with its own issue; until then a static page ships in api/static.
ui:
	@test -f api/static/index.html

run: install ui
	$(VENV)/bin/switchback up $(ARGS)

test: install ui
	$(PY) -m pytest -n 2 -q

bench: install
	$(PY) bench/embedded.py

clean:
	rm -rf $(VENV) .switchback .pytest_cache .hypothesis
