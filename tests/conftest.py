"""Shared fixtures: every test gets its own data directory, warehouse file and Dagster instance.

Tests under `tests/unit/` exercise pure code and real DuckDB files; tests under `tests/integration/` run
real dbt builds and Dagster jobs and sensors (see `tests/integration/conftest.py` for the markets they
build once per session). `pytest -m "not slow"` skips the ones that build a warehouse.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from dagster_project.core.settings import DBT_TARGET_ENV, DUCKDB_THREADS_ENV
from tests.environment import SurgewiseEnv, surgewise_environment

IN_MEMORY_TEMP = Path("/dev/shm")


def pytest_configure(config: pytest.Config) -> None:
    """Workers build warehouses side by side on a small machine: one DuckDB thread per connection (and per
    dbt thread) so they do not fight over the cores; test files in memory where the machine has a tmpfs,
    as nothing a test writes needs to survive it. Workers inherit both from the controller."""
    if config.getoption("numprocesses", default=None) or os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ.setdefault(DUCKDB_THREADS_ENV, "1")
        os.environ.setdefault(DBT_TARGET_ENV, "parallel")
    if IN_MEMORY_TEMP.is_dir() and os.access(IN_MEMORY_TEMP, os.W_OK):
        tempfile.tempdir = str(IN_MEMORY_TEMP)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/integration is marked `integration`."""
    for item in items:
        if "integration" in Path(str(item.path)).parts:
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def surgewise_env(tmp_path: Path) -> Iterator[SurgewiseEnv]:
    with surgewise_environment(tmp_path / "data") as env:
        yield env


@pytest.fixture(scope="session")
def definitions() -> dg.Definitions:
    from dagster_project.definitions import defs

    return defs()


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as test_instance:
        yield test_instance
