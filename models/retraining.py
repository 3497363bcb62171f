"""When to retrain: no champion yet, drifted features, or enough newly matured labels or reads.

Pure reads of the warehouse and the registry, so the retraining sensor can ask every tick.
"""

from __future__ import annotations

from datetime import date, timedelta

import duckdb

from dagster_project.core.check_results import latest_check_result
from dagster_project.core.warehouse import table_exists
from models.config import ModelSettings
from models.features import ACCOUNT_LEVEL, PERSON_LEVEL
from models.registry import ModelRegistry
from models.send_time import SEND_TIME_MODEL
from models.serving import DRIFT_CHECK
from models.training import intent_model_name


def retraining_reasons(
    connection: duckdb.DuckDBPyConnection, registry: ModelRegistry, settings: ModelSettings
) -> list[str]:
    """Why the models should be retrained now; empty when the champions are current."""
    if not table_exists(connection, "marts.fct_account_features_daily"):
        return []
    (data_as_of,) = connection.execute("select max(data_as_of) from marts.fct_account_features_daily").fetchone()
    if data_as_of is None:
        return []
    reasons = []
    labels_mature_through = data_as_of - timedelta(days=settings.intent.horizon_days)
    for level in (ACCOUNT_LEVEL, PERSON_LEVEL):
        name = intent_model_name(level)
        reasons += _staleness(registry, name, "labels_known_through", labels_mature_through, settings, "labels")
    reasons += _staleness(registry, SEND_TIME_MODEL, "holdout_end", data_as_of, settings, "email reads")
    latest = latest_check_result(connection, DRIFT_CHECK)
    if latest is not None and not latest.passed:
        reasons.append(f"feature drift: {'; '.join(latest.failures)}")
    return reasons


def _staleness(
    registry: ModelRegistry, name: str, field: str, available_through: date, settings: ModelSettings, what: str
) -> list[str]:
    version = registry.champion_version(name)
    if version is None:
        return [f"{name}: no promoted model yet (data through {available_through})"]
    trained_through = date.fromisoformat(str(registry.card(name, version).training[field])[:10])
    new_days = (available_through - trained_through).days
    if new_days >= settings.retraining.new_label_days:
        return [f"{name}: {new_days} days of new {what} since {version} was trained"]
    return []
