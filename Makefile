# The two commands of the README, `make run` and `make test`, plus `make ui` and `make lint`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
INSTALLED := $(VENV)/.installed
MANIFEST := dbt_project/target/manifest.json
DBT_SOURCES := $(shell find dbt_project -path dbt_project/target -prune -o -type f \( -name '*.sql' -o -name '*.yml' -o -name '*.md' -o -name '*.csv' \) -print)

# The venv's tools first: dagster-dbt looks for `dbt` on PATH when `dagster dev` prepares the project.
export PATH := $(BIN):$(PATH)
export SURGEWISE_DATA_DIR ?= $(CURDIR)/data
export SURGEWISE_DUCKDB_PATH ?= $(SURGEWISE_DATA_DIR)/surgewise.duckdb
export DAGSTER_HOME ?= $(SURGEWISE_DATA_DIR)/dagster_home
export DO_NOT_TRACK := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export GX_ANALYTICS_ENABLED := false

.PHONY: install run test lint format ui bench clean crash-test

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

# dagster-dbt loads the manifest; parse it at install time, never at import time.
$(MANIFEST): $(INSTALLED) $(DBT_SOURCES)
	$(BIN)/dbt parse --project-dir $(CURDIR)/dbt_project --profiles-dir $(CURDIR)/dbt_project --quiet
	touch $@

install: $(INSTALLED) $(MANIFEST)

run: install
	$(BIN)/surgewise run

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/sqlfluff lint dbt_project/models --config pyproject.toml
	$(BIN)/lint-imports

format: $(INSTALLED)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: install lint
	$(BIN)/python -m pytest

# At least 100 kills of `surgewise run` at random points, then restarts: lost, duplicated, stuck (not in `make test`).
crash-test: install
	$(BIN)/python bench/crash_campaign.py --kills 100

ui: install
	mkdir -p $(DAGSTER_HOME)
	test -f $(DAGSTER_HOME)/dagster.yaml || cp dagster_project/dagster.yaml $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -w workspace.yaml

clean:
	rm -rf data dbt_project/target dbt_project/logs
