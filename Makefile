# corpus-monitor: `make demo` runs the pipeline on the bundled demo site, `make test` the suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Prefect keeps its database and settings in the project, and sends no telemetry.
export PREFECT_HOME ?= $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export DO_NOT_TRACK ?= 1
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 120
# pip's and other tools' caches stay in the project too.
export XDG_CACHE_HOME ?= $(CURDIR)/.cache

# The clock moved by libfaketime (its FAKETIME_DONT_FAKE_MONOTONIC breaks Python's time.sleep).
SHIFTED := faketime -f

.DEFAULT_GOAL := help
.PHONY: help install demo test test-clock faketime lint format clean bench bench-pipeline bench-dedup server serve-demo chromium bench-topics

help: ## Show this help
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -c 'import sys; sys.exit("Python >= 3.11 is needed, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install corpus-monitor with pinned dependencies

demo: $(STAMP) ## Serve the bundled demo news site on loopback and run the pipeline on it (offline)
	$(BIN)/corpus-monitor demo

server: $(STAMP) ## Start the Prefect server and UI on http://127.0.0.1:4200 (state in ./.prefect)
	$(BIN)/corpus-monitor server

serve-demo: $(STAMP) ## Serve the scheduled deployment on the demo site (needs `make server`)
	$(BIN)/corpus-monitor serve --demo

test: $(STAMP) chromium faketime ## Run the test suite (offline; real DuckDB, Prefect, browser), the dated tests again a year ahead
	$(BIN)/python -m pytest -q
	@echo "the date-dependent tests (-m clock) again, with the clock a year ahead:"
	$(SHIFTED) '+1y' $(BIN)/python -m pytest -q -m clock -p no:cacheprovider

test-clock: $(STAMP) chromium faketime ## The whole suite with the clock a year ahead, then a year back
	$(SHIFTED) '+1y' $(BIN)/python -m pytest -q -p no:cacheprovider
	$(SHIFTED) '-1y' $(BIN)/python -m pytest -q -p no:cacheprovider

# The browser test drives Debian's headless Chromium; the shifted-clock run uses Debian's
# libfaketime. Both are installed here when missing (needs root or sudo, and Debian's registry).
faketime:
	@command -v faketime >/dev/null 2>&1 || { \
	  echo "installing Debian's faketime for the shifted-clock tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq faketime >/dev/null; }

chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser test"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

lint: $(STAMP) ## ruff (lint + format check) and mypy
	$(BIN)/ruff check flows tests benchmarks
	$(BIN)/ruff format --check flows tests benchmarks
	$(BIN)/mypy flows

format: $(STAMP) ## Format the code with ruff
	$(BIN)/ruff format flows tests
	$(BIN)/ruff check --fix flows tests

clean: ## Remove the demo warehouse, Prefect's local home and caches (keeps .venv)
	rm -rf .prefect .cache warehouse/demo.duckdb warehouse/demo.duckdb.* .pytest_cache .mypy_cache .ruff_cache

BENCH_STAMP := $(VENV)/.installed-bench
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP) ## Benchmarks: pipeline throughput, rerun and memory; near-duplicate accuracy and index cost; topic queries
	$(BIN)/python benchmarks/bench_pipeline.py
	$(BIN)/python benchmarks/bench_dedup.py
	$(BIN)/python benchmarks/bench_topics.py

bench-pipeline: $(STAMP) ## Pipeline: end-to-end/bare-extraction ratio, no-change rerun, peak memory vs history
	$(BIN)/python benchmarks/bench_pipeline.py

bench-topics: $(STAMP) ## Topic analytics: retag and topic_daily vs a text scan at 100k (BENCH_SCALE=full: 1M)
	$(BIN)/python benchmarks/bench_topics.py

bench-dedup: $(BENCH_STAMP) ## Near-duplicate accuracy (P/R by kind) and index cost vs datasketch (BENCH_SCALE=full: 1M)
	$(BIN)/python benchmarks/bench_dedup.py
