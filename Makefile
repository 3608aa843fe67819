# The front door: `make serve` and `make test` work from a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
MADE   := $(VENV)/.created
APP    := $(VENV)/.installed-app
DEV    := $(VENV)/.installed-test
BENCH  := $(VENV)/.installed-bench

.PHONY: serve test test-fast lint format browser wrk vnu nginx bench bench-quick bench-clean screenshots audit clean

# The virtualenv, made whole or not at all (a half-made one would fool every later run).
$(MADE):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	  echo "cms needs Python 3.11 or newer; '$(PYTHON)' is $$($(PYTHON) --version 2>&1)." \
	       "Try: make $(MAKECMDGOALS) PYTHON=python3.11"; exit 1; }
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; \
	  else echo "Python's venv module is missing: sudo apt-get install python3-venv"; exit 1; fi; }
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip || { rm -rf $(VENV); exit 1; }
	touch $(MADE)

$(APP): pyproject.toml | $(MADE)
	$(BIN)/python -m pip install --quiet -e .
	touch $(APP)

$(DEV): pyproject.toml | $(MADE)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(DEV) $(APP)

$(BENCH): pyproject.toml | $(MADE)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $(BENCH) $(APP)

serve: $(APP)
	$(BIN)/cms serve

# Debian's chromium for the browser tests (Playwright cannot download its own here).
browser:
	@command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "chromium is missing: sudo apt-get install chromium (browser tests will skip)"; fi; }

# Debian's wrk, the load generator of `make bench` (and of its smoke test in the suite).
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; \
	  else echo "wrk is missing: sudo apt-get install wrk (the bench smoke test will skip)"; fi; }

# Debian's nginx, for the deployment test (tests/test_deployment.py runs deploy/nginx/cms.conf).
# RUNLEVEL=1: the package's own nginx service (port 80) is not started where the install
# would start it.
nginx:
	@command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light; \
	  else echo "nginx is missing: sudo apt-get install nginx-light (the deployment test will skip)"; fi; }

# The W3C Nu HTML checker (npm's vnu-jar) on Debian's Java, for tests/test_valid_pages.py.
VNU_JAR := .vnu/node_modules/vnu-jar/build/dist/vnu.jar
vnu:
	@command -v java >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless; \
	  else echo "java is missing: sudo apt-get install default-jre-headless (page validation will skip)"; fi; }
	@test -f $(VNU_JAR) || { command -v npm >/dev/null 2>&1 && \
	  npm install --silent --no-audit --no-fund --ignore-scripts -E --prefix .vnu vnu-jar@26.9.27 || \
	  echo "npm could not install vnu-jar (page validation will skip)"; }

# The suite on every core (pytest-xdist): tests are independent, each worker has its own
# PostgreSQL database, Redis key prefix and temporary folders. Python may write its
# bytecode caches here, whatever the environment says (PYTHONDONTWRITEBYTECODE): the suite
# starts hundreds of cms processes, and without the caches each compiled cms and its
# plugins from source again, a fifth of its start-up.
PYTEST := PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -n auto

test: $(DEV) browser wrk vnu nginx
	$(PYTEST)

# The suite without the browser and bench tests: the quick loop while working.
test-fast: $(DEV)
	$(PYTEST) -m "not browser and not bench"

# Speed against a bare aiohttp ceiling (bench/README.md); results in bench/results/.
bench: $(BENCH) wrk
	@command -v wrk >/dev/null 2>&1 || { echo "make bench needs wrk: sudo apt-get install wrk"; exit 1; }
	$(BIN)/python -m bench.run

bench-quick: $(BENCH) wrk
	@command -v wrk >/dev/null 2>&1 || { echo "make bench needs wrk: sudo apt-get install wrk"; exit 1; }
	$(BIN)/python -m bench.run --quick

# The bench sites are kept between runs (building the 100,000-post ones takes minutes).
bench-clean: $(APP)
	rm -rf bench/results/data
	-$(BIN)/python -m bench.dataset --drop-postgres

# README pictures of the bundled themes: a real `cms serve` on a sample site, shot by chromium.
screenshots: $(DEV) browser
	$(BIN)/python scripts/screenshots.py --out docs/screenshots

# Lighthouse 12.2.3 (13.x needs Node 22) on home, post, tag and search pages of both themes.
audit: $(DEV) browser
	@test -f .audit/node_modules/lighthouse/cli/index.js || npm install --silent --no-audit --no-fund -E --prefix .audit lighthouse@12.2.3
	$(BIN)/python -m scripts.audit

lint: $(DEV)
	$(BIN)/ruff check cms plugins tests examples scripts bench
	$(BIN)/ruff format --check cms plugins tests examples scripts bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python scripts/check_plugin_imports.py

format: $(DEV)
	$(BIN)/ruff format cms plugins tests examples scripts bench
	$(BIN)/ruff check --fix cms plugins tests examples scripts bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
