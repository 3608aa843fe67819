# The front door: `make serve` and `make test` work from a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
APP    := $(VENV)/.installed-app
DEV    := $(VENV)/.installed-test

.PHONY: serve test lint format browser screenshots clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(APP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $(APP)

$(DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(DEV) $(APP)

serve: $(APP)
	$(BIN)/cms serve

# Debian's chromium for the browser tests (Playwright cannot download its own here).
browser:
	@command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "chromium is missing: sudo apt-get install chromium (browser tests will skip)"; fi; }

test: $(DEV) browser
	$(BIN)/python -m pytest

# README pictures of the bundled themes: a real `cms serve` on a sample site, shot by chromium.
screenshots: $(DEV) browser
	$(BIN)/python scripts/screenshots.py --out docs/screenshots

lint: $(DEV)
	$(BIN)/ruff check cms plugins tests examples
	$(BIN)/ruff format --check cms plugins tests examples
	$(BIN)/mypy

format: $(DEV)
	$(BIN)/ruff format cms plugins tests examples
	$(BIN)/ruff check --fix cms plugins tests examples

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
