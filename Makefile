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
DEMO_QUOTE ?= $(SITERISK_HOME)/demo-quote.json
DEMO_ENV   ?= $(SITERISK_HOME)/demo.env
DEMO_HOST  ?= 127.0.0.1
DEMO_PORT  ?= 8000

.PHONY: help setup test lint typecheck unit demo clean bench-train bench-feed pg pg-stop browser notebooks bench bench-profile wrk java bench-events

help:
	@echo "make demo   - set up, generate a synthetic world, train and promote a model, feed the world to the service, serve it"
	@echo "make test   - set up, then ruff, mypy and pytest"
	@echo "make notebooks - open the notebooks in JupyterLab (installed into the venv on first use)"
	@echo "make bench  - the service against mlflow models serve of the same model, over HTTP (wrk)"
	@echo "make bench-profile - one quote and a 1,000-site portfolio timed and profiled in-process"
	@echo "make bench-train - training time and peak memory at 360k and 1M site-months, scoring 100k"
	@echo "make bench-feed - 20,000 sites x 36 months pushed through the feed, regulator profiles"
	@echo "make pg     - start the throwaway PostgreSQL the tests use (make pg-stop ends it)"
	@echo "make browser - install the headless chromium the portal tests drive (apt, as root)"
	@echo "make java   - install the Java 17 runtime Spark needs (apt, as root)"
	@echo "make bench-events - a Shanghai-sized month of events aggregated by DuckDB and by Spark local[2]"

$(STAMP): pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null || PYTHON=python3; \
	  test -x $(BIN)/python || $${PYTHON:-python3} -m venv $(VENV) || \
	  { echo "python3-venv missing: run 'apt-get update && apt-get install -y python3-venv'"; exit 1; }
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev,spark]'
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

# The portal's end-to-end tests drive Debian's chromium headless (Playwright from PyPI,
# no browser download): `make browser` installs chromium and CJK fonts if missing (apt,
# as root). Under make a missing browser fails those tests instead of skipping them.
BROWSER := scripts/ensure-chromium

browser:
	@$(BROWSER) >/dev/null

# Spark (siterisk data aggregate --engine spark) runs on Debian's Java 17: `make java`
# installs openjdk-17-jre-headless if missing (apt, as root); pyspark comes with the
# [spark] extra above. Under make a missing Java or pyspark fails the Spark tests.
JAVA := scripts/ensure-java

java:
	@$(JAVA) >/dev/null

unit: setup pg browser wrk java
	pg_url=$$($(PG_SERVER) url) && \
	  SITERISK_TEST_POSTGRES_URL=$$pg_url SITERISK_REQUIRE_POSTGRES=1 SITERISK_REQUIRE_WRK=1 \
	  SITERISK_CHROMIUM=$$($(BROWSER) path) SITERISK_REQUIRE_BROWSER=1 \
	  SITERISK_REQUIRE_SPARK=1 \
	  $(BIN)/pytest -n 2 --dist loadgroup

test: lint typecheck unit

# `siterisk data push` feeds the service over HTTP only, so the demo world goes in through
# a service of its own on a free loopback port, stopped once fed (its log is
# $(SITERISK_HOME)/demo-feed.log). The demo's service then starts on DEMO_PORT holding the
# world: once it answers /health/ready, quotes by reference work.
FREE_PORT  := import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])
IS_READY   := import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)

demo: setup
	$(BIN)/siterisk data generate --sites $(DEMO_SITES) --seed 7 --out $(DEMO_DIR) --format parquet
	$(BIN)/siterisk data validate $(DEMO_DIR)
	$(BIN)/siterisk train --data $(DEMO_DIR)
	$(BIN)/siterisk model promote --data $(DEMO_DIR)
	$(BIN)/siterisk score --data $(DEMO_DIR) --out $(SITERISK_HOME)/demo-scores.csv
	$(BIN)/siterisk quotes example --data $(DEMO_DIR) --out $(DEMO_QUOTE)
	$(BIN)/siterisk db upgrade
	@rm -f $(DEMO_ENV)
	@platform=$$($(BIN)/siterisk keys create --role platform --label demo-platform) && \
	  key=$$($(BIN)/siterisk keys create --role insurer --insurer-id demo-insurer --label demo) && \
	  feed=http://127.0.0.1:$$($(BIN)/python -c '$(FREE_PORT)') && \
	  log=$(SITERISK_HOME)/demo-feed.log && \
	  echo "Feeding $(DEMO_DIR) to the service's store through a service on $$feed (log: $$log)" && \
	  { $(BIN)/siterisk serve --host 127.0.0.1 --port $${feed##*:} >$$log 2>&1 & server=$$!; } && \
	  trap 'kill $$server 2>/dev/null; wait $$server 2>/dev/null' EXIT && \
	  for _ in $$(seq 240); do \
	    $(BIN)/python -c '$(IS_READY)' $$feed/health/ready 2>/dev/null && break; \
	    kill -0 $$server 2>/dev/null || { tail -n 20 $$log; echo "the service stopped"; exit 1; }; \
	    sleep 0.5; \
	  done && \
	  $(BIN)/siterisk data push $(DEMO_DIR) --url $$feed --key $$platform && \
	  $(BIN)/siterisk data push $(DEMO_DIR) --url $$feed --key $$key && \
	  url=http://$(DEMO_HOST):$(DEMO_PORT) && \
	  ( umask 077 && printf '%s\n' \
	    "# make demo: the demo's service and its insurer key. In a shell: source $(DEMO_ENV)" \
	    "export SITERISK_URL=$$url" "export SITERISK_API_KEY=$$key" >$(DEMO_ENV) ) && \
	  echo "" && \
	  echo "Done: a synthetic world of $(DEMO_SITES) sites is in $(DEMO_DIR); a model was trained on it," && \
	  echo "logged to MLflow ($(SITERISK_HOME)/mlflow.db), registered and promoted to champion;" && \
	  echo "every site-month was scored into $(SITERISK_HOME)/demo-scores.csv; and the world was fed" && \
	  echo "to the service's store: its sites and months as the city platform, its claims as the" && \
	  echo "insurer demo-insurer." && \
	  echo "" && \
	  echo "The pricing service starts below on $$url (Ctrl-C stops it). An insurer API key" && \
	  echo "(shown once, stored hashed; 'siterisk keys create' makes more):" && \
	  echo "" && \
	  echo "  $$key" && \
	  echo "" && \
	  echo "It and the service's address are in $(DEMO_ENV). From another terminal, price one site of" && \
	  echo "the demo world (its request is $(DEMO_QUOTE)):" && \
	  echo "" && \
	  echo "  source $(DEMO_ENV)" && \
	  echo '  curl --fail-with-body -sS -X POST "$$SITERISK_URL/v1/quotes" -H "Authorization: Bearer $$SITERISK_API_KEY" \' && \
	  echo "       -H 'Content-Type: application/json' --data @$(DEMO_QUOTE)" && \
	  echo "" && \
	  echo "API docs: $$url/schema   Model card: curl -H \"Authorization: Bearer $$key\" $$url/v1/model" && \
	  echo "MLflow: .venv/bin/mlflow ui --backend-store-uri sqlite:///$(SITERISK_HOME)/mlflow.db" && \
	  echo ""
	exec $(BIN)/siterisk serve --host $(DEMO_HOST) --port $(DEMO_PORT)

# JupyterLab is not a project dependency: the first run installs it into the venv. The
# notebooks read SITERISK_HOME (exported above), so they study the store 'make demo' fills.
# Jupyter refuses root unless told; JUPYTER_ARGS=--no-browser etc. pass more options.
JUPYTER_ARGS ?= $(if $(filter 0,$(shell id -u)),--allow-root)
notebooks: setup
	@test -x $(BIN)/jupyter-lab || $(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock jupyterlab
	$(BIN)/jupyter-lab --ServerApp.root_dir=$(CURDIR)/notebooks $(JUPYTER_ARGS)

bench-train: setup
	$(BIN)/python -m bench.train

# wrk, the HTTP load generator, comes from Debian: installed if missing (apt, as root).
wrk:
	@command -v wrk >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq wrk >/dev/null; \
	  else echo "wrk is missing: run 'sudo apt-get install -y wrk'"; exit 1; fi; }

# Trains a reference-size model first if $(SITERISK_HOME) has no champion (tens of minutes);
# BENCH_ARGS passes options, e.g. BENCH_ARGS="--duration 10 --workers 1".
BENCH_ARGS ?=
bench: setup wrk
	$(BIN)/python -m bench.serve $(BENCH_ARGS)

bench-profile: setup
	$(BIN)/python -m bench.profile

bench-feed: setup
	$(BIN)/python -m bench.feed

# A Shanghai-sized month of raw events (5,000 sites, 30 million attendance rows, 5 million
# device and video events) generated as Parquet in $(SITERISK_HOME)/bench-events, then
# aggregated by DuckDB and by Spark local[2], each on 2 cores: time and peak memory.
# BENCH_EVENTS_ARGS passes options, e.g. BENCH_EVENTS_ARGS="--engines duckdb".
BENCH_EVENTS_ARGS ?=
bench-events: setup java
	$(BIN)/python -m bench.events $(BENCH_EVENTS_ARGS)

clean: pg-stop
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
