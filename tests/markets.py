"""The markets integration tests read: a data directory built once, with the Dagster storage of the runs
that built it, and typed views of the hand-built scenario and the default market."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from dagster_project.run.report import MainRunReport
from models.config import ModelSettings
from models.registry import ModelRegistry
from models.training import load_labelled_rows
from tests.environment import SurgewiseEnv, surgewise_environment


@dataclass(frozen=True)
class BuiltMarket:
    """A data directory built once, with the Dagster storage of the runs that built it."""

    data_dir: Path
    dagster_dir: Path
    facts: dict[str, Any] = field(default_factory=dict)
    """What the build returned that tests assert on (check metadata, the run report)."""

    @contextmanager
    def opened(self) -> Iterator[tuple[SurgewiseEnv, dg.DagsterInstance]]:
        with (
            surgewise_environment(self.data_dir) as env,
            dg.instance_for_test(temp_dir=str(self.dagster_dir)) as instance,
        ):
            yield env, instance


@dataclass(frozen=True)
class Scenario:
    env: SurgewiseEnv
    instance: dg.DagsterInstance
    check_metadata: dict[str, dict]


@dataclass(frozen=True)
class DefaultMarket:
    env: SurgewiseEnv
    report: MainRunReport
    settings: ModelSettings
    instance: dg.DagsterInstance

    @property
    def registry(self) -> ModelRegistry:
        return ModelRegistry(self.env.model_registry_dir)

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        with duckdb.connect(str(self.env.duckdb_path), read_only=True) as connection:
            return connection.execute(sql, params or []).fetchall()

    def labelled(self) -> dict:
        with duckdb.connect(str(self.env.duckdb_path), read_only=True) as connection:
            return load_labelled_rows(connection, self.settings)
