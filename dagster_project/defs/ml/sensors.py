"""The retraining sensor: drift, newly matured labels or a missing champion start model training."""

import hashlib

import dagster as dg

from dagster_project.defs.ml.jobs import model_training_job
from dagster_project.lib.names import RETRAINING_SENSOR
from dagster_project.lib.resources import DuckDBWarehouse, ModelStore, SurgewiseConfig
from dagster_project.lib.sensor_guard import read_warehouse, run_writing_warehouse
from models.retraining import retraining_reasons


@dg.sensor(
    name=RETRAINING_SENSOR,
    job=model_training_job,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Starts model_training_job when a model has no champion, the intent_feature_drift check failed, or "
        "enough new labels matured since the champion was trained (config/models.yaml)."
    ),
)
def intent_model_retraining(
    context: dg.SensorEvaluationContext,
    warehouse: DuckDBWarehouse,
    surgewise_config: SurgewiseConfig,
    model_store: ModelStore,
) -> dg.RunRequest | dg.SkipReason:
    if writing := run_writing_warehouse(context):
        return writing
    reasons = read_warehouse(
        warehouse,
        lambda connection: retraining_reasons(connection, model_store.registry(), surgewise_config.model_settings()),
        not_built="features not built yet",
    )
    if isinstance(reasons, dg.SkipReason):
        return reasons
    if not reasons:
        return dg.SkipReason("the champions are current and their features have not drifted")
    # The same reasons about the same data and champions train once.
    key = hashlib.sha256("|".join(reasons).encode()).hexdigest()[:16]
    return dg.RunRequest(run_key=f"retrain:{key}", tags={"surgewise/retraining_reasons": "; ".join(reasons)[:500]})
