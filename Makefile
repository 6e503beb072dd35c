# Two commands do everything on a fresh Debian machine with Python 3.11:
#   make demo   set up, generate a world, train, register, serve (embedded defaults)
#   make test   set up, then ruff, mypy and the whole test suite
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export SITERISK_HOME ?= $(CURDIR)/var
# Chart tests, browser tests and Postgres tests look here for what `make` installed.
export PATH := $(CURDIR)/$(BIN):$(PATH)

DEMO_SITES ?= 2000
DEMO_DIR   ?= $(SITERISK_HOME)/demo-world

.PHONY: help setup test lint typecheck unit demo clean bench-train pg pg-stop notebooks

help:
	@echo "make demo   - set up, generate a synthetic world, train, register and promote a model"
	@echo "make test   - set up, then ruff, mypy and pytest"
	@echo "make notebooks - open the notebooks in JupyterLab (installed into the venv on first use)"
	@echo "make bench-train - training time and peak memory at 360k and 1M site-months"
	@echo "make pg     - start the throwaway PostgreSQL the tests use (make pg-stop ends it)"

$(STAMP): pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null || PYTHON=python3; \
	  test -x $(BIN)/python || $${PYTHON:-python3} -m venv $(VENV) || \
	  { echo "python3-venv missing: run 'apt-get update && apt-get install -y python3-venv'"; exit 1; }
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

# The tests need a real PostgreSQL: `make pg` installs one if missing (apt, as root),
# starts a throwaway cluster in var/pg on 127.0.0.1 and leaves it running, so the next
# run reuses it at once; `make pg-stop` (or `make clean`) ends it. Under make a missing
# server fails the PostgreSQL tests instead of skipping them.
PG_SERVER := scripts/pg-test-server

pg:
	@$(PG_SERVER) start

pg-stop:
	@$(PG_SERVER) stop

unit: setup pg
	pg_url=$$($(PG_SERVER) url) && \
	  SITERISK_TEST_POSTGRES_URL=$$pg_url SITERISK_REQUIRE_POSTGRES=1 $(BIN)/pytest -n 2 --dist loadgroup

test: lint typecheck unit

demo: setup
	$(BIN)/siterisk data generate --sites $(DEMO_SITES) --seed 7 --out $(DEMO_DIR) --format parquet
	$(BIN)/siterisk data validate $(DEMO_DIR)
	$(BIN)/siterisk train --data $(DEMO_DIR)
	$(BIN)/siterisk model promote --data $(DEMO_DIR)
	$(BIN)/siterisk score --data $(DEMO_DIR) --out $(SITERISK_HOME)/demo-scores.csv
	@echo ""
	@echo "Done: a synthetic world of $(DEMO_SITES) sites is in $(DEMO_DIR); a model was trained on it,"
	@echo "logged to MLflow ($(SITERISK_HOME)/mlflow.db), registered and promoted to champion, and"
	@echo "every site-month was scored into $(SITERISK_HOME)/demo-scores.csv."
	@echo "Next: '.venv/bin/mlflow ui --backend-store-uri sqlite:///$(SITERISK_HOME)/mlflow.db' to compare runs,"
	@echo "      '.venv/bin/siterisk --help' for everything else."

# JupyterLab is not a project dependency: the first run installs it into the venv. The
# notebooks read SITERISK_HOME (exported above), so they study the store 'make demo' fills.
# Jupyter refuses root unless told; JUPYTER_ARGS=--no-browser etc. pass more options.
JUPYTER_ARGS ?= $(if $(filter 0,$(shell id -u)),--allow-root)
notebooks: setup
	@test -x $(BIN)/jupyter-lab || $(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock jupyterlab
	$(BIN)/jupyter-lab --ServerApp.root_dir=$(CURDIR)/notebooks $(JUPYTER_ARGS)

bench-train: setup
	$(BIN)/python -m training.bench

clean: pg-stop
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
