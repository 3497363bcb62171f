"""The retraining sensor: drift, newly matured labels or a missing champion start model training."""

import hashlib

import dagster as dg
import duckdb

from dagster_project.core.warehouse import WarehouseBusyError
from dagster_project.defs.automation.jobs import model_training_job
from dagster_project.resources import DuckDBWarehouse, ModelStore, SurgewiseConfig
from models.retraining import retraining_reasons


@dg.sensor(
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
    writing = context.instance.get_run_records(
        dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]), limit=1
    )
    if writing:
        return dg.SkipReason(f"run {writing[0].dagster_run.run_id} is writing the warehouse; next tick")
    try:
        with warehouse.connect(read_only=True, lock_timeout_seconds=5.0) as connection:
            reasons = retraining_reasons(connection, model_store.registry(), surgewise_config.model_settings())
    except WarehouseBusyError as error:
        return dg.SkipReason(f"warehouse busy, will look again next tick: {error}")
    except (duckdb.CatalogException, duckdb.IOException) as error:
        return dg.SkipReason(f"features not built yet: {error}")
    if not reasons:
        return dg.SkipReason("the champions are current and their features have not drifted")
    # The same reasons about the same data and champions train once.
    key = hashlib.sha256("|".join(reasons).encode()).hexdigest()[:16]
    return dg.RunRequest(run_key=f"retrain:{key}", tags={"surgewise/retraining_reasons": "; ".join(reasons)[:500]})
