"""The drift check on the intent scores: agents read scores only while it passes."""

import dagster as dg

from dagster_project.defs.ml.assets import intent_scores
from dagster_project.lib.check_recording import record_gate
from dagster_project.lib.markdown import markdown_table
from dagster_project.lib.resources import DuckDBWarehouse, ModelStore, SurgewiseConfig
from models.drift import population_stability
from models.features import latest_rows
from models.serving import DRIFT_CHECK
from models.training import intent_model_name, load_labelled_rows


@dg.asset_check(
    asset=intent_scores,
    name=DRIFT_CHECK,
    blocking=True,
    description=(
        "Population stability index of the key features (config/models.yaml) between each champion's "
        "training rows and today's scored rows. Drift keeps agents off the scores and triggers retraining."
    ),
)
def intent_feature_drift(
    context: dg.AssetCheckExecutionContext,
    warehouse: DuckDBWarehouse,
    surgewise_config: SurgewiseConfig,
    model_store: ModelStore,
) -> dg.AssetCheckResult:
    settings = surgewise_config.model_settings()
    registry = model_store.registry()
    threshold = settings.drift.psi_threshold
    stability: dict[str, float] = {}
    failures = []
    with warehouse.connect(read_only=True) as connection:
        labelled = load_labelled_rows(connection, settings)
    for level, rows in labelled.items():
        name = intent_model_name(level)
        version = registry.champion_version(name)
        if version is None:
            continue
        today = latest_rows(rows)
        for feature, reference in registry.card(name, version).drift_reference.items():
            psi = population_stability(reference, today[feature])
            stability[f"{name}.{feature}"] = round(psi, 4)
            if psi > threshold:
                failures.append(f"{name} {feature} PSI {psi:.3f} > {threshold}")
    passed = record_gate(context, warehouse, check_name=DRIFT_CHECK, asset="intent_scores", failures=failures)
    return dg.AssetCheckResult(
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "psi_threshold": threshold,
            "features_checked": len(stability),
            "max_psi": max(stability.values(), default=0.0),
            "psi": dg.MetadataValue.md(
                markdown_table(
                    ("model.feature", "PSI"), ((key, f"{value:.3f}") for key, value in sorted(stability.items()))
                )
                if stability
                else "no promoted model: nothing to compare"
            ),
            "failures": "; ".join(failures) or "none",
        },
    )
