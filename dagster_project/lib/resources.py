"""Dagster resources: the warehouse, the landing zone, the model registry and the human-owned config files."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from agents.config import (
    AgentRegistry,
    PolicySet,
    SurgeRules,
    load_agent_registry,
    load_policies,
    load_surge_rules,
)
from dagster_project.connectors.limits import LandingLimits, load_landing_limits
from dagster_project.core.warehouse import DEFAULT_LOCK_TIMEOUT_SECONDS, open_warehouse
from models.config import ModelSettings, load_model_settings
from models.registry import ModelRegistry


class DuckDBWarehouse(dg.ConfigurableResource):
    """The embedded DuckDB warehouse; a short-lived connection per use so writers take turns."""

    path: str
    lock_timeout_seconds: float = DEFAULT_LOCK_TIMEOUT_SECONDS

    @contextmanager
    def connect(
        self, read_only: bool = False, lock_timeout_seconds: float | None = None
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        timeout = self.lock_timeout_seconds if lock_timeout_seconds is None else lock_timeout_seconds
        with open_warehouse(Path(self.path), read_only=read_only, lock_timeout_seconds=timeout) as connection:
            yield connection


class LandingZone(dg.ConfigurableResource):
    """The folder connectors drop files into: one sub-folder per source."""

    path: str

    @property
    def root(self) -> Path:
        return Path(self.path)


class SurgewiseConfig(dg.ConfigurableResource):
    """The versioned config files (agents, policies, surge rules, models, landing limits), read fresh for every run."""

    config_dir: str

    def agent_registry(self) -> AgentRegistry:
        return load_agent_registry(Path(self.config_dir))

    def policies(self) -> PolicySet:
        return load_policies(Path(self.config_dir))

    def surge_rules(self) -> SurgeRules:
        return load_surge_rules(Path(self.config_dir))

    def model_settings(self) -> ModelSettings:
        return load_model_settings(Path(self.config_dir))

    def landing_limits(self) -> LandingLimits:
        return load_landing_limits(Path(self.config_dir))


class ModelStore(dg.ConfigurableResource):
    """The model registry folder: every trained model, its card, and the promoted champion."""

    path: str

    def registry(self) -> ModelRegistry:
        return ModelRegistry(Path(self.path))
