"""The ML models as assets: trained, judged against the rules, promoted, and scored with explanations.

Lineage runs from the connectors through the dbt feature marts to every score an agent reads; each
model's held-out metrics, charts and card are the asset's metadata, so RevOps sees model quality in the UI.
"""

import json
from datetime import datetime

import dagster as dg
import pandas as pd

from dagster_project.core.clock import utc_now
from dagster_project.lib.resources import DuckDBWarehouse, ModelStore, SurgewiseConfig
from models.aql import qualify_leads
from models.charts import model_report
from models.features import ACCOUNT_LEVEL, PERSON_LEVEL, latest_rows
from models.send_time import (
    SEND_TIME_MODEL,
    load_read_events,
    load_recipients,
    recommendations,
    train_send_time_challenger,
)
from models.serving import (
    AQL_TABLE,
    INTENT_SCORES_TABLE,
    SEND_TIMES_TABLE,
    replace_rows,
    score_rows,
    served_latest_scores,
)
from models.training import intent_model_name, load_labelled_rows, train_challenger

FEATURE_MARTS = [
    dg.AssetKey(["marts", "fct_account_features_daily"]),
    dg.AssetKey(["marts", "fct_person_features_daily"]),
]
READ_SOURCES = [
    dg.AssetKey(["marts", "fct_signals"]),
    dg.AssetKey(["marts", "dim_person"]),
    dg.AssetKey(["marts", "dim_account"]),
]


def _now() -> datetime:
    return utc_now()


@dg.asset(
    group_name="ml",
    kinds={"scikit-learn", "python"},
    deps=FEATURE_MARTS,
    description=(
        "Account- and person-level purchase-intent models (calibrated gradient boosting): trained on past "
        "snapshot days, judged on later held-out days against the engagement-points rule, registered with "
        "a model card, and promoted only if they beat the champion."
    ),
)
def intent_model(
    context: dg.AssetExecutionContext,
    warehouse: DuckDBWarehouse,
    surgewise_config: SurgewiseConfig,
    model_store: ModelStore,
) -> dg.MaterializeResult:
    settings = surgewise_config.model_settings()
    registry = model_store.registry()
    with warehouse.connect(read_only=True) as connection:
        labelled = load_labelled_rows(connection, settings)
    metadata: dict[str, object] = {}
    trained_at = _now()
    for level, rows in labelled.items():
        outcome = train_challenger(level, rows, settings, registry, trained_at)
        name = outcome.model_name
        metadata[f"{name}_champion"] = registry.champion_version(name) or "none"
        if outcome.card is None or outcome.decision is None:
            context.log.warning(f"{name} not trained: {outcome.skipped_reason}")
            metadata[f"{name}_status"] = f"not trained: {outcome.skipped_reason}"
            continue
        card, decision = outcome.card, outcome.decision
        context.log.info(f"{name} {card.version}: {decision.reason}")
        metadata[f"{name}_status"] = ("promoted: " if decision.promoted else "not promoted: ") + decision.reason
        for side in ("model", "rule"):
            for metric in ("roc_auc", "pr_auc", "brier", "lift_top_decile"):
                metadata[f"{name}_{side}_{metric}"] = float(card.metrics[side][metric])
        metadata[f"{name}_report"] = dg.MetadataValue.md(model_report(card, decision))
        metadata[f"{name}_card"] = dg.MetadataValue.path(str(registry.card_path(name, card.version)))
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    group_name="ml",
    kinds={"scikit-learn", "duckdb"},
    deps=[intent_model, *FEATURE_MARTS],
    description=(
        "Today's intent probability for every account and person from each level's champion, with the top "
        "contributing features (baseline Shapley values) that agents copy into their reasoning. "
        "Table ml.intent_scores."
    ),
)
def intent_scores(
    context: dg.AssetExecutionContext,
    warehouse: DuckDBWarehouse,
    surgewise_config: SurgewiseConfig,
    model_store: ModelStore,
) -> dg.MaterializeResult:
    settings = surgewise_config.model_settings()
    registry = model_store.registry()
    with warehouse.connect(read_only=True) as connection:
        rows = {
            level: latest_rows(level_rows) for level, level_rows in load_labelled_rows(connection, settings).items()
        }
    scored_at = _now()
    frames, metadata = [], {}
    for level, level_rows in rows.items():
        name = intent_model_name(level)
        champion = registry.champion(name)
        if champion is None:
            context.log.warning(f"{name}: no promoted model, nothing scored")
            metadata[f"{name}_scored"] = 0
            continue
        model, card = champion
        scores = score_rows(model, card, level_rows, settings, scored_at)
        frames.append(scores)
        metadata[f"{name}_version"] = card.version
        metadata[f"{name}_scored"] = len(scores)
    scores = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    with warehouse.connect() as connection:
        replace_rows(connection, INTENT_SCORES_TABLE, scores)
    if len(scores):
        accounts = scores[scores["entity_type"] == ACCOUNT_LEVEL].sort_values("probability", ascending=False)
        metadata["top_accounts"] = dg.MetadataValue.md(
            "| account | probability | top drivers |\n|---|---|---|\n"
            + "\n".join(
                f"| {row.entity_id} | {row.probability:.2f} | {_drivers(row.top_features)} |"
                for row in accounts.head(10).itertuples()
            )
        )
    return dg.MaterializeResult(metadata=metadata)


def _drivers(top_features: str) -> str:
    return ", ".join(
        f"{item['feature']}={item['value']} ({item['contribution']:+.2f})" for item in json.loads(top_features)
    )


@dg.asset(
    group_name="ml",
    kinds={"python"},
    deps=READ_SOURCES,
    description=(
        "Best local send hour per contact from past opens and clicks, shrunk towards the contact's segment "
        "and everyone; judged on held-out reads against a fixed 10:00 local send, promoted if it beats the "
        "champion."
    ),
)
def send_time_model(
    context: dg.AssetExecutionContext,
    warehouse: DuckDBWarehouse,
    surgewise_config: SurgewiseConfig,
    model_store: ModelStore,
) -> dg.MaterializeResult:
    settings = surgewise_config.model_settings().send_time
    registry = model_store.registry()
    with warehouse.connect(read_only=True) as connection:
        events = load_read_events(connection)
    outcome = train_send_time_challenger(events, settings, registry, _now())
    if outcome.card is None or outcome.decision is None:
        context.log.warning(f"{SEND_TIME_MODEL} not trained: {outcome.skipped_reason}")
        return dg.MaterializeResult(metadata={"status": f"not trained: {outcome.skipped_reason}"})
    card, decision = outcome.card, outcome.decision
    metrics = card.metrics
    return dg.MaterializeResult(
        metadata={
            "status": ("promoted: " if decision.promoted else "not promoted: ") + decision.reason,
            "champion": registry.champion_version(SEND_TIME_MODEL) or "none",
            "expected_open_rate": metrics["expected_open_rate"],
            "fixed_hour_open_rate": metrics["fixed_hour_open_rate"],
            "open_rate_uplift": metrics["open_rate_uplift"],
            "holdout_reads": metrics["holdout_reads"],
            "new_contact_open_rate": metrics["new_contact_open_rate"],
            "model_card": dg.MetadataValue.path(str(registry.card_path(SEND_TIME_MODEL, card.version))),
        }
    )


@dg.asset(
    group_name="ml",
    kinds={"python", "duckdb"},
    deps=[send_time_model, *READ_SOURCES],
    description=(
        "Recommended local send hour for every known contact with a time zone, from the champion send-time "
        "model; about one in ten is an exploration hour. Table ml.send_time_recommendations."
    ),
)
def send_time_recommendations(
    context: dg.AssetExecutionContext, warehouse: DuckDBWarehouse, model_store: ModelStore
) -> dg.MaterializeResult:
    champion = model_store.registry().champion(SEND_TIME_MODEL)
    with warehouse.connect(read_only=True) as connection:
        recipients = load_recipients(connection)
        (as_of,) = connection.execute("select max(occurred_at)::date from marts.fct_signals").fetchone()
    if champion is None or as_of is None:
        context.log.warning("no promoted send-time model: no recommendations")
        return dg.MaterializeResult(metadata={"recommended": 0})
    model, card = champion
    recommended = recommendations(model, recipients, as_of).assign(model_version=card.version, recommended_at=_now())
    with warehouse.connect() as connection:
        replace_rows(connection, SEND_TIMES_TABLE, recommended)
    return dg.MaterializeResult(
        metadata={
            "recommended": len(recommended),
            "model_version": card.version,
            "exploring": int(recommended["is_exploration"].sum()) if len(recommended) else 0,
            "from_own_history": int((recommended["own_reads"] > 0).sum()) if len(recommended) else 0,
        }
    )


@dg.asset(
    group_name="ml",
    kinds={"python", "duckdb"},
    deps=[intent_scores, dg.AssetKey(["marts", "fct_person_features_daily"])],
    description=(
        "Agent-Qualified Leads (intent probability, ICP fit and a qualifying engagement, each with its "
        "reason) beside the classic MQL flag (engagement points over 80). Table ml.aql_leads."
    ),
)
def aql_leads(
    warehouse: DuckDBWarehouse, surgewise_config: SurgewiseConfig, model_store: ModelStore
) -> dg.MaterializeResult:
    settings = surgewise_config.model_settings()
    with warehouse.connect(read_only=True) as connection:
        people = latest_rows(load_labelled_rows(connection, settings)[PERSON_LEVEL])
        served = served_latest_scores(connection, model_store.registry())
    probabilities = people["person_id"].map(
        {person_id: score.probability for person_id, score in served.persons.items()}
    )
    versions = {score.model_version for score in served.persons.values()}
    leads = qualify_leads(people, probabilities, settings)
    if len(leads):
        leads = leads.assign(intent_model_version=next(iter(versions), None), qualified_at=_now())
    with warehouse.connect() as connection:
        replace_rows(connection, AQL_TABLE, leads)
    return dg.MaterializeResult(
        metadata={
            "people": len(leads),
            "aql": int(leads["is_aql"].sum()) if len(leads) else 0,
            "mql": int(leads["is_mql"].sum()) if len(leads) else 0,
            "intent_scores_used": "; ".join(served.unavailable) or "champion scores, drift check passed",
        }
    )
