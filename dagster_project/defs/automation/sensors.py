"""Sensors that watch the marts and wake the agents when a human-set threshold is crossed."""

import hashlib

import dagster as dg
import duckdb

from agents.gates import failing_gates
from agents.governance.store import ACTIONS_TABLE, ActionStatus
from agents.specialists.sdr_sequence import SdrSequenceAgent
from agents.surge import detect_account_surges
from dagster_project.core.clock import utc_now
from dagster_project.core.warehouse import WarehouseBusyError
from dagster_project.defs.agents.assets import account_surge_agent_job, approved_actions_job, sdr_sequence_enrolments
from dagster_project.resources import DuckDBWarehouse, SurgewiseConfig


@dg.sensor(
    job=account_surge_agent_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Fires the SDR agent for every account intent surge (thresholds in config/surge_rules.yaml); "
        "the run key dedupes per account and surge window."
    ),
)
def account_intent_surge(
    context: dg.SensorEvaluationContext, warehouse: DuckDBWarehouse, surgewise_config: SurgewiseConfig
) -> dg.SensorResult | dg.SkipReason:
    writing = context.instance.get_run_records(
        dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]), limit=1
    )
    if writing:
        # Reading now could hold DuckDB's lock just as that run's dbt step opens the file.
        return dg.SkipReason(f"run {writing[0].dagster_run.run_id} is writing the warehouse; next tick")
    rule = surgewise_config.surge_rules().account_intent_surge
    agent = surgewise_config.agent_registry().get(SdrSequenceAgent.agent_id)
    try:
        with warehouse.connect(read_only=True, lock_timeout_seconds=5.0) as connection:
            surges = detect_account_surges(connection, rule)
            gates = failing_gates(connection, agent.required_checks if agent else ())
    except WarehouseBusyError as error:
        return dg.SkipReason(f"warehouse busy, will look again next tick: {error}")
    except (duckdb.CatalogException, duckdb.IOException) as error:
        return dg.SkipReason(f"marts not built yet: {error}")
    if not surges:
        return dg.SkipReason("no account is surging")
    # While a gate fails the agent still runs (and logs why it did not act) under a key tied to that
    # failure, so the surge's own key stays free for the run that acts once the data is fixed.
    blocked_suffix = f":blocked:{hashlib.sha256('|'.join(gates).encode()).hexdigest()[:12]}" if gates else ""
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=surge.run_key + blocked_suffix,
                run_config=dg.RunConfig(
                    ops={
                        sdr_sequence_enrolments.op.name: {
                            "config": {
                                "account_id": surge.account_id,
                                "detected_on": surge.detected_on.isoformat(),
                            }
                        }
                    }
                ),
                tags={"surgewise/account_id": surge.account_id, "surgewise/trigger": "account_intent_surge"},
            )
            for surge in surges
        ]
    )


@dg.sensor(
    job=approved_actions_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Executes actions a reviewer approved (after re-checking every rule) and expires approval requests "
        "nobody decided in time; rejected and expired actions never run."
    ),
)
def approved_actions(context: dg.SensorEvaluationContext, warehouse: DuckDBWarehouse) -> dg.RunRequest | dg.SkipReason:
    now = utc_now()
    try:
        with warehouse.connect(read_only=True, lock_timeout_seconds=5.0) as connection:
            due = connection.execute(
                f"""
                select action_id, status from {ACTIONS_TABLE}
                where (status = ? and executed_at is null) or (status = ? and expires_at <= ?)
                order by action_id
                """,
                [ActionStatus.APPROVED.value, ActionStatus.PENDING_APPROVAL.value, now],
            ).fetchall()
    except WarehouseBusyError as error:
        return dg.SkipReason(f"warehouse busy, will look again next tick: {error}")
    except (duckdb.CatalogException, duckdb.IOException):
        return dg.SkipReason("no governed action yet")
    if not due:
        return dg.SkipReason("nothing approved or overdue")
    digest = hashlib.sha256("|".join(f"{action_id}:{status}" for action_id, status in due).encode()).hexdigest()
    return dg.RunRequest(
        run_key=f"approved_actions:{digest[:16]}",
        tags={"surgewise/trigger": "approved_actions", "surgewise/due": str(len(due))},
    )
