"""Where Surgewise keeps its files, taken from environment variables with local defaults.

Every path a resource or dbt needs is an environment variable, so tests and deployments point the
same code at another warehouse or landing zone. `apply_environment_defaults` fills in the embedded
defaults (everything under `./data`) for the CLI and `dagster dev`; it never overrides a value set.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

DATA_DIR_ENV = "SURGEWISE_DATA_DIR"
DUCKDB_PATH_ENV = "SURGEWISE_DUCKDB_PATH"
LANDING_DIR_ENV = "SURGEWISE_LANDING_DIR"
GROUND_TRUTH_DIR_ENV = "SURGEWISE_GROUND_TRUTH_DIR"
CONFIG_DIR_ENV = "SURGEWISE_CONFIG_DIR"
MODEL_REGISTRY_DIR_ENV = "SURGEWISE_MODEL_REGISTRY_DIR"
DAGSTER_HOME_ENV = "DAGSTER_HOME"
DUCKDB_THREADS_ENV = "SURGEWISE_DUCKDB_THREADS"
"""Threads per DuckDB connection; unset, DuckDB uses every core (set to 1 where several runs share a machine)."""
DBT_TARGET_ENV = "SURGEWISE_DBT_TARGET"
KEYS_DIR_ENV = "SURGEWISE_KEYS_DIR"
"""Secrets the warehouse must never hold: the audit log's HMAC key and the anchor signing key. Unset, `keys/`
beside the warehouse file (so every warehouse, a test's included, has its own)."""
AUDIT_ANCHOR_DIR_ENV = "SURGEWISE_AUDIT_ANCHOR_DIR"
"""Signed checkpoints of the audit log's head, written outside the database. Unset, `audit_anchors/` beside the
warehouse file."""
AUDIT_ANCHOR_WEBHOOK_ENV = "SURGEWISE_AUDIT_ANCHOR_WEBHOOK_URL"
"""Where each new audit checkpoint is also POSTed as JSON, if set."""
REVIEWER_KEYS_DIR_ENV = "SURGEWISE_REVIEWER_KEYS_DIR"
"""Where `surgewise reviewers keygen` writes a reviewer's private key (only that reviewer should read it)."""

DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
EXPECTATIONS_DIR = REPO_ROOT / "expectations"
DAGSTER_INSTANCE_TEMPLATE = REPO_ROOT / "dagster_project" / "dagster.yaml"


def apply_environment_defaults() -> None:
    """Default every Surgewise path under `$SURGEWISE_DATA_DIR` (./data) and keep tools offline."""
    data_dir = Path(os.environ.setdefault(DATA_DIR_ENV, str(Path.cwd() / "data"))).resolve()
    os.environ[DATA_DIR_ENV] = str(data_dir)
    os.environ.setdefault(DUCKDB_PATH_ENV, str(data_dir / "surgewise.duckdb"))
    os.environ.setdefault(LANDING_DIR_ENV, str(data_dir / "landing"))
    os.environ.setdefault(GROUND_TRUTH_DIR_ENV, str(data_dir / "ground_truth"))
    os.environ.setdefault(CONFIG_DIR_ENV, str(REPO_ROOT / "config"))
    os.environ.setdefault(MODEL_REGISTRY_DIR_ENV, str(data_dir / "model_registry"))
    os.environ.setdefault(REVIEWER_KEYS_DIR_ENV, str(Path.home() / ".config" / "surgewise" / "reviewer_keys"))
    # No network on these machines: dbt, Dagster and Great Expectations must not phone home.
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


def ensure_dagster_home() -> Path:
    """Keep Dagster's runs and event logs under the data directory (`$DAGSTER_HOME`, default
    data/dagster_home), so `make ui` shows the runs `surgewise` started."""
    home = Path(os.environ.setdefault(DAGSTER_HOME_ENV, str(env_path(DATA_DIR_ENV) / "dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copyfile(DAGSTER_INSTANCE_TEMPLATE, home / "dagster.yaml")
    return home


def env_path(name: str) -> Path:
    """A path from the environment, after defaults were applied."""
    return Path(os.environ[name])
