"""Pointing every Surgewise path at a test's own data directory."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from dagster_project.core.settings import (
    AUDIT_ANCHOR_DIR_ENV,
    CONFIG_DIR_ENV,
    DATA_DIR_ENV,
    DUCKDB_PATH_ENV,
    GROUND_TRUTH_DIR_ENV,
    KEYS_DIR_ENV,
    LANDING_DIR_ENV,
    MODEL_REGISTRY_DIR_ENV,
    REPO_ROOT,
    REVIEWER_KEYS_DIR_ENV,
    apply_environment_defaults,
)


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

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def audit_anchor_dir(self) -> Path:
        return self.data_dir / "audit_anchors"

    @property
    def reviewer_keys_dir(self) -> Path:
        return self.data_dir.parent / "reviewer_keys"


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
        patch.delenv(KEYS_DIR_ENV, raising=False)
        patch.delenv(AUDIT_ANCHOR_DIR_ENV, raising=False)
        patch.setenv(REVIEWER_KEYS_DIR_ENV, str(env.reviewer_keys_dir))
        apply_environment_defaults()
        yield env
