# Quick start: `make demo` (serves http://127.0.0.1:8000) and `make test`. Both are idempotent.
# `make lint`: ruff's linter and formatter check (configuration in pyproject.toml).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install -q -c constraints.txt
STAMP := $(VENV)/.installed

.PHONY: demo test lint venv bench-deps screenshots chromium clean

$(STAMP): requirements.txt requirements-dev.txt requirements-nodeps.txt constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) torch==2.13.0
	$(PIP) -r requirements-dev.txt
	$(PIP) --no-deps -r requirements-nodeps.txt
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) manage.py migrate --noinput
	HF_HUB_OFFLINE=1 $(PY) manage.py bootstrap_demo
	@echo "Serving the annotator app on http://127.0.0.1:8000 (admin: http://127.0.0.1:8000/admin/)"
	HF_HUB_OFFLINE=1 $(PY) manage.py runserver 127.0.0.1:8000

test: $(STAMP) chromium
	OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 $(PY) -m pytest -q --durations=10

# Lint and format check only (nothing is rewritten): `$(PY) -m ruff format .` and `$(PY) -m ruff check --fix .` fix.
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# The browser tests drive Debian's Chromium (never `playwright install`, which downloads a browser).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
chromium:
	@test -x /usr/bin/chromium || { echo "installing chromium with apt for the browser tests"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

# Refresh the committed screenshots in docs/screenshots/ (landing, comparison, safety, dashboard batch, annotator and model-version pages) from a live stack.
screenshots: $(STAMP) chromium
	UPDATE_SCREENSHOTS=1 OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 $(PY) -m pytest -q tests/browser/test_screenshots.py tests/browser/test_dashboard.py tests/browser/test_model_version_page.py

bench-deps: $(STAMP)
	$(PIP) -r requirements-bench.txt

clean:
	rm -rf $(VENV) var artifacts
