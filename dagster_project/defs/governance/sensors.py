"""The approvals sensor: approved actions execute (after every rule is applied again), overdue requests expire."""

import hashlib

import dagster as dg

from agents.governance.schema import ACTIONS_TABLE, ActionStatus
from dagster_project.core.clock import utc_now
from dagster_project.defs.governance.jobs import approved_actions_job
from dagster_project.lib.names import APPROVALS_SENSOR
from dagster_project.lib.resources import DuckDBWarehouse
from dagster_project.lib.run_recovery import TRIGGER_KEY_TAG, attempt_run_key
from dagster_project.lib.sensor_guard import read_warehouse, run_writing_warehouse


@dg.sensor(
    name=APPROVALS_SENSOR,
    job=approved_actions_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Executes actions a reviewer approved (after re-checking every rule) and expires approval requests "
        "nobody decided in time; rejected and expired actions never run. A due set whose run failed is run again."
    ),
)
def approved_actions(context: dg.SensorEvaluationContext, warehouse: DuckDBWarehouse) -> dg.RunRequest | dg.SkipReason:
    if writing := run_writing_warehouse(context):
        return writing
    now = utc_now()
    due = read_warehouse(
        warehouse,
        lambda connection: connection.execute(
            f"""
            select action_id, status from {ACTIONS_TABLE}
            where (status = ? and executed_at is null) or (status = ? and expires_at <= ?)
            order by action_id
            """,
            [ActionStatus.APPROVED.value, ActionStatus.PENDING_APPROVAL.value, now],
        ).fetchall(),
        not_built="no governed action yet",
    )
    if isinstance(due, dg.SkipReason):
        return due
    if not due:
        return dg.SkipReason("nothing approved or overdue")
    digest = hashlib.sha256("|".join(f"{action_id}:{status}" for action_id, status in due).encode()).hexdigest()
    trigger_key = f"approved_actions:{digest[:16]}"
    return dg.RunRequest(
        run_key=attempt_run_key(context.instance, trigger_key),
        tags={"surgewise/trigger": "approved_actions", "surgewise/due": str(len(due)), TRIGGER_KEY_TAG: trigger_key},
    )
