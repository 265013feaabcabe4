# Payerbridge: `make run` for the whole stack, `make test` for the suite.
# Both start from nothing: a virtualenv, the pinned dependencies, and embedded
# PostgreSQL/Redis unless DATABASE_URL / REDIS_URL point at servers of yours.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SERVICES := $(BIN)/python -m config.devservices run --

export DEBUG ?= 1
export PYTHONUNBUFFERED := 1

.PHONY: install run test lint services-down browser js clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,quickstart]'
	touch $(STAMP)

install: $(STAMP)

# Migrate and seed first (honcho stops every process when one exits, so the
# one-shot `release` step cannot run beside the long-running ones). Once the
# stack answers, the quickstart's URL is printed last: the page to open first.
run: install
	$(SERVICES) sh -c 'PATH="$(CURDIR)/$(BIN):$$PATH"; \
	  python manage.py migrate --noinput && python manage.py seed_demo && \
	  { python -m examples.quickstart.announce & } && \
	  exec honcho start $$(grep -v "^release:" Procfile | cut -d: -f1 | tr "\n" " ")'

test: install browser js
	$(SERVICES) $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Browser tests drive Debian's chromium; install it when apt can.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "warning: could not install chromium; browser tests will be skipped"; \
	  else echo "note: chromium not found and apt unavailable; browser tests will be skipped"; fi; }

# The SMART JS client tests (tests/js) need node and npm; skipped without them.
# Installed again only when the lockfile changes.
JS_STAMP := tests/js/node_modules/.installed

js:
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory $(JS_STAMP); \
	else echo "note: npm not found; the JS client tests will be skipped"; fi

$(JS_STAMP): tests/js/package-lock.json
	npm ci --prefix tests/js --no-audit --no-fund --silent
	touch $(JS_STAMP)

services-down: install
	$(BIN)/python -m config.devservices down

clean: services-down
	rm -rf $(VENV) .local
