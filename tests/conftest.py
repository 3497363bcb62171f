"""Shared fixtures: every test gets its own data directory, warehouse file and Dagster instance."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from dagster_project.core.settings import (
    CONFIG_DIR_ENV,
    DATA_DIR_ENV,
    DUCKDB_PATH_ENV,
    GROUND_TRUTH_DIR_ENV,
    LANDING_DIR_ENV,
    MODEL_REGISTRY_DIR_ENV,
    REPO_ROOT,
    apply_environment_defaults,
)
from tests.scenario import write_scenario


@dataclass(frozen=True)
class SurgewiseEnv:
    data_dir: Path
    duckdb_path: Path
    landing_dir: Path
    ground_truth_dir: Path
    config_dir: Path

    @property
    def model_registry_dir(self) -> Path:
        return self.data_dir / "model_registry"


@contextmanager
def surgewise_environment(data_dir: Path, config_dir: Path = REPO_ROOT / "config") -> Iterator[SurgewiseEnv]:
    """Point every Surgewise path at `data_dir` for the duration of a test or module."""
    env = SurgewiseEnv(
        data_dir=data_dir,
        duckdb_path=data_dir / "surgewise.duckdb",
        landing_dir=data_dir / "landing",
        ground_truth_dir=data_dir / "ground_truth",
        config_dir=config_dir,
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(DATA_DIR_ENV, str(env.data_dir))
        patch.setenv(DUCKDB_PATH_ENV, str(env.duckdb_path))
        patch.setenv(LANDING_DIR_ENV, str(env.landing_dir))
        patch.setenv(GROUND_TRUTH_DIR_ENV, str(env.ground_truth_dir))
        patch.setenv(CONFIG_DIR_ENV, str(env.config_dir))
        patch.setenv(MODEL_REGISTRY_DIR_ENV, str(env.model_registry_dir))
        apply_environment_defaults()
        yield env


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


BUILD_JOB = "surgewise_build_job"


@dataclass(frozen=True)
class Scenario:
    env: SurgewiseEnv
    instance: dg.DagsterInstance
    check_metadata: dict[str, dict]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory, definitions: dg.Definitions) -> Iterator[Scenario]:
    """The hand-built market, loaded and built once for the module."""
    with (
        surgewise_environment(tmp_path_factory.mktemp("scenario") / "data") as env,
        dg.instance_for_test() as instance,
    ):
        write_scenario(env.landing_dir)
        result = definitions.resolve_job_def(BUILD_JOB).execute_in_process(instance=instance)
        assert result.success
        yield Scenario(env, instance, {e.check_name: e.metadata for e in result.get_asset_check_evaluations()})


@pytest.fixture
def scenario_copy(scenario: Scenario, tmp_path: Path) -> Iterator[SurgewiseEnv]:
    """A private copy of the built scenario for tests that change data or act on it."""
    shutil.copytree(scenario.env.data_dir, tmp_path / "data")
    with surgewise_environment(tmp_path / "data") as env:
        yield env
