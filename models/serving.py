"""Scores in the warehouse, and the rule for when agents may read them.

Scores, send times and leads are tables in the `ml` schema, each row naming the model version that
produced it. Agents read an intent score only from a trusted champion: promoted, and the latest drift
check on its scores passed after they were written; otherwise they act without one and say why.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime

import duckdb
import pandas as pd

from dagster_project.core.check_results import CHECK_RESULTS_TABLE, latest_check_result
from dagster_project.core.clock import utc_now
from dagster_project.core.transactions import transaction
from dagster_project.core.warehouse import table_exists
from models.config import ModelSettings
from models.features import ACCOUNT_LEVEL, PERSON_LEVEL
from models.intent import IntentModel
from models.registry import ModelCard, ModelRegistry
from models.training import intent_model_name, load_labelled_rows

INTENT_SCORES_TABLE = "ml.intent_scores"
SEND_TIMES_TABLE = "ml.send_time_recommendations"
AQL_TABLE = "ml.aql_leads"
DRIFT_CHECK = "intent_feature_drift"

TABLES = {
    INTENT_SCORES_TABLE: """
        entity_type varchar not null, entity_id varchar not null, account_id varchar, person_id varchar,
        snapshot_date date not null, probability double not null, reference_probability double not null,
        top_features json not null, has_prior_opportunity boolean not null, model_name varchar not null,
        model_version varchar not null, scored_at timestamp not null""",
    SEND_TIMES_TABLE: """
        person_id varchar not null, timezone varchar not null, segment varchar not null,
        best_local_hour integer not null, recommended_local_hour integer not null,
        is_exploration boolean not null, own_reads integer not null, own_weight double not null,
        model_version varchar not null, recommended_at timestamp not null""",
    AQL_TABLE: """
        person_id varchar not null, account_id varchar not null, snapshot_date date not null,
        intent_probability double, has_intent boolean not null, icp_fit boolean not null,
        qualifying_engagement boolean not null, is_aql boolean not null, aql_reasons varchar[] not null,
        engagement_points double not null, is_mql boolean not null, intent_model_version varchar,
        qualified_at timestamp not null""",
}


def ensure_tables(connection: duckdb.DuckDBPyConnection) -> None:
    connection.execute("create schema if not exists ml")
    for table, columns in TABLES.items():
        connection.execute(f"create table if not exists {table} ({columns})")


def replace_rows(connection: duckdb.DuckDBPyConnection, table: str, rows: pd.DataFrame, where: str = "true") -> None:
    """Swap a table's rows (or those matching `where`) for new ones in one transaction."""
    ensure_tables(connection)
    with transaction(connection):
        connection.execute(f"delete from {table} where {where}")
        if not rows.empty:
            connection.register("new_rows", rows)
            connection.execute(f"insert into {table} by name select * from new_rows")
            connection.unregister("new_rows")


def score_rows(
    model: IntentModel, card: ModelCard, rows: pd.DataFrame, settings: ModelSettings, scored_at: datetime
) -> pd.DataFrame:
    """Probabilities with each row's top contributing features, ready for `ml.intent_scores`."""
    contributions, tops = model.explain(rows, settings.intent)
    level = model.features.level
    return pd.DataFrame(
        {
            "entity_type": level,
            "entity_id": rows[model.features.entity_column].to_numpy(),
            "account_id": rows["account_id"].to_numpy(),
            "person_id": rows["person_id"].to_numpy() if level == PERSON_LEVEL else None,
            "snapshot_date": rows["snapshot_date"].to_numpy(),
            "probability": contributions.probabilities,
            "reference_probability": contributions.reference_probability,
            "top_features": [json.dumps(top) for top in tops],
            "has_prior_opportunity": (rows["prior_opportunities"] > 0).to_numpy(),
            "model_name": card.name,
            "model_version": card.version,
            "scored_at": scored_at,
        }
    )


@dataclass(frozen=True)
class IntentScore:
    probability: float
    reference_probability: float
    top_features: tuple[dict[str, object], ...]
    model_version: str
    snapshot_date: date

    def describe(self) -> str:
        """`0.62 (typical 0.04): buying_content_contacts_14d=3 (+0.31), ...` for reasoning and the CLI."""
        drivers = ", ".join(
            f"{item['feature']}={item['value']} ({float(item['contribution']):+.2f})" for item in self.top_features
        )
        return f"{self.probability:.2f} (typical {self.reference_probability:.2f}): {drivers or 'no driver'}"


@dataclass(frozen=True)
class ServedIntent:
    """The intent scores agents may read, or why there are none."""

    accounts: dict[str, IntentScore] = field(default_factory=dict)
    persons: dict[str, IntentScore] = field(default_factory=dict)
    unavailable: tuple[str, ...] = ()


def trusted_champions(
    connection: duckdb.DuckDBPyConnection, registry: ModelRegistry
) -> tuple[dict[str, tuple[IntentModel, ModelCard]], list[str]]:
    """Each level's champion whose latest scores passed the drift check, and why any other is not trusted."""
    if not table_exists(connection, "ml.intent_scores"):
        return {}, ["no intent scores have been written"]
    trusted, unavailable = {}, []
    for level in (ACCOUNT_LEVEL, PERSON_LEVEL):
        name = intent_model_name(level)
        champion = registry.champion(name)
        if champion is None:
            unavailable.append(f"{name}: no promoted model")
            continue
        (scored_at,) = connection.execute(
            f"select max(scored_at) from {INTENT_SCORES_TABLE} where model_name = ? and model_version = ?",
            [name, champion[1].version],
        ).fetchone()
        problem = (
            f"the champion {champion[1].version} has scored nothing yet"
            if scored_at is None
            else _drift_check_problem(connection, scored_at)
        )
        if problem:
            unavailable.append(f"{name}: {problem}")
        else:
            trusted[level] = champion
    return trusted, unavailable


def served_latest_scores(connection: duckdb.DuckDBPyConnection, registry: ModelRegistry) -> ServedIntent:
    """Today's scores in `ml.intent_scores` from the trusted champions."""
    trusted, unavailable = trusted_champions(connection, registry)
    served: dict[str, dict[str, IntentScore]] = {}
    for level, (_, card) in trusted.items():
        rows = connection.execute(
            f"""
            select entity_id, probability, reference_probability, top_features, model_version, snapshot_date
            from {INTENT_SCORES_TABLE} where model_name = ? and model_version = ?
            """,
            [card.name, card.version],
        ).fetchall()
        served[level] = {row[0]: IntentScore(row[1], row[2], tuple(json.loads(row[3])), row[4], row[5]) for row in rows}
    return ServedIntent(served.get(ACCOUNT_LEVEL, {}), served.get(PERSON_LEVEL, {}), tuple(unavailable))


def served_intent_as_of(
    connection: duckdb.DuckDBPyConnection,
    registry: ModelRegistry,
    settings: ModelSettings,
    *,
    account_id: str,
    snapshot_date: date,
) -> ServedIntent:
    """An account's and its people's scores as of the day an agent acts on (a surge's day may be before
    today's scores), from the trusted champions only, with the same explanations as the scores table."""
    trusted, unavailable = trusted_champions(connection, registry)
    if not trusted:
        return ServedIntent(unavailable=tuple(unavailable))
    rows = load_labelled_rows(connection, settings, account_id=account_id, snapshot_date=snapshot_date)
    served: dict[str, dict[str, IntentScore]] = {}
    for level, (model, card) in trusted.items():
        if rows[level].empty:
            continue
        scores = score_rows(model, card, rows[level], settings, utc_now())
        served[level] = {
            row.entity_id: IntentScore(
                row.probability,
                row.reference_probability,
                tuple(json.loads(row.top_features)),
                row.model_version,
                row.snapshot_date,
            )
            for row in scores.itertuples()
        }
    return ServedIntent(served.get(ACCOUNT_LEVEL, {}), served.get(PERSON_LEVEL, {}), tuple(unavailable))


def _drift_check_problem(connection: duckdb.DuckDBPyConnection, scored_at: datetime) -> str | None:
    latest = latest_check_result(connection, DRIFT_CHECK)
    if latest is None and not table_exists(connection, CHECK_RESULTS_TABLE):
        return f"the {DRIFT_CHECK} check has never run"
    if latest is None or latest.evaluated_at < scored_at:
        return f"the {DRIFT_CHECK} check has not run on the latest scores"
    if not latest.passed:
        return f"the {DRIFT_CHECK} check failed: {'; '.join(latest.failures)}"
    return None
