"""The markets integration tests read, each built once per test session (per xdist worker; the modules that
share one carry the same `xdist_group`, so it is built once in all).

A session fixture builds into its own folder and keeps the Dagster instance's storage beside it; module
fixtures then point the environment at it and reopen that instance. Tests that change data work on a copy.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pytest

from dagster_project.lib.jobs_in_process import QUIET_CONSOLE, run_sensor_request, sensor_run_requests
from dagster_project.lib.names import AGENT_JOB, BUILD_JOB, SURGE_SENSOR
from dagster_project.run.driver import run_main_job
from dagster_project.simulator.landing import DEFAULT_DAYS, DEFAULT_START_DATE
from models.config import load_model_settings
from tests.environment import SurgewiseEnv, surgewise_environment
from tests.markets import BuiltMarket, DefaultMarket, Scenario
from tests.scenario import write_bad_rows, write_scenario


@contextmanager
def _building(
    tmp_path_factory: pytest.TempPathFactory, name: str
) -> Iterator[tuple[BuiltMarket, SurgewiseEnv, dg.DagsterInstance]]:
    root = tmp_path_factory.mktemp(name)
    market = BuiltMarket(root / "data", root / "dagster")
    market.dagster_dir.mkdir()
    with market.opened() as (env, instance):
        yield market, env, instance


def _answer_surges(definitions: dg.Definitions, instance: dg.DagsterInstance) -> None:
    """Run the agent job for the one surge the hand-built market has, as the sensor asks."""
    requests = sensor_run_requests(definitions, instance, SURGE_SENSOR)
    assert len(requests) == 1
    for request in requests:
        assert run_sensor_request(definitions, instance, SURGE_SENSOR, AGENT_JOB, request).succeeded


# --- the hand-built scenario (tests/scenario.py) ---------------------------------------------------------


@pytest.fixture(scope="session")
def scenario_build(tmp_path_factory: pytest.TempPathFactory, definitions: dg.Definitions) -> BuiltMarket:
    """The hand-built market, loaded and built."""
    with _building(tmp_path_factory, "scenario") as (market, env, instance):
        write_scenario(env.landing_dir)
        result = definitions.resolve_job_def(BUILD_JOB).execute_in_process(instance=instance)
        assert result.success
        market.facts["check_metadata"] = {e.check_name: e.metadata for e in result.get_asset_check_evaluations()}
    return market


@pytest.fixture(scope="module")
def scenario(scenario_build: BuiltMarket) -> Iterator[Scenario]:
    """The built scenario, read only."""
    with scenario_build.opened() as (env, instance):
        yield Scenario(env, instance, scenario_build.facts["check_metadata"])


@pytest.fixture
def scenario_copy(scenario_build: BuiltMarket, tmp_path: Path) -> Iterator[SurgewiseEnv]:
    """A private copy of the built scenario for tests that change data or act on it."""
    shutil.copytree(scenario_build.data_dir, tmp_path / "data")
    with surgewise_environment(tmp_path / "data") as env:
        yield env


# --- the scenario with rows that fail their contract, after the agents acted -------------------------------


@pytest.fixture(scope="session")
def quarantine_market(tmp_path_factory: pytest.TempPathFactory, definitions: dg.Definitions) -> BuiltMarket:
    """The hand-built market plus the bad batch, with the SDR agent's run on its surge (so the audit log and
    channel state have actions)."""
    with _building(tmp_path_factory, "quarantine_market") as (market, env, instance):
        write_scenario(env.landing_dir)
        write_bad_rows(env.landing_dir)
        build = definitions.resolve_job_def(BUILD_JOB).execute_in_process(instance=instance, run_config=QUIET_CONSOLE)
        assert build.success
        _answer_surges(definitions, instance)
    return market


# --- the default market: `surgewise run` with its defaults ---------------------------------------------------


@pytest.fixture(scope="session")
def default_market_build(tmp_path_factory: pytest.TempPathFactory, definitions: dg.Definitions) -> BuiltMarket:
    """`surgewise run` on the default market (seed 42, 200 accounts, 75 days)."""
    with _building(tmp_path_factory, "default_market") as (market, env, instance):
        market.facts["report"] = run_main_job(
            definitions,
            instance,
            landing_dir=env.landing_dir,
            ground_truth_dir=env.ground_truth_dir,
            seed=42,
            accounts=200,
            days=DEFAULT_DAYS,
            start_date=DEFAULT_START_DATE,
        )
    return market


@pytest.fixture(scope="module")
def market(default_market_build: BuiltMarket) -> Iterator[DefaultMarket]:
    """The default market, read only: copy `market.env.data_dir` to change it."""
    with default_market_build.opened() as (env, instance):
        yield DefaultMarket(env, default_market_build.facts["report"], load_model_settings(env.config_dir), instance)
