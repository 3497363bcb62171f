"""The surge sensor: it watches the marts and wakes the agents when a human-set threshold is crossed."""

import hashlib

import dagster as dg

from agents.gates import failing_gates
from agents.specialists.sdr_sequence import SdrSequenceAgent
from agents.surge import detect_account_surges
from dagster_project.defs.agents.assets import sdr_sequence_enrolments
from dagster_project.defs.agents.jobs import account_surge_agent_job
from dagster_project.lib.names import SURGE_SENSOR
from dagster_project.lib.resources import DuckDBWarehouse, SurgewiseConfig
from dagster_project.lib.run_recovery import SURGE_TAG, TRIGGER_KEY_TAG, attempt_run_key
from dagster_project.lib.sensor_guard import read_warehouse, run_writing_warehouse


@dg.sensor(
    name=SURGE_SENSOR,
    job=account_surge_agent_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Fires the SDR agent for every account intent surge (thresholds in config/surge_rules.yaml); "
        "the run key dedupes per account and surge window, and changes after a failed run so the surge is "
        "answered again."
    ),
)
def account_intent_surge(
    context: dg.SensorEvaluationContext, warehouse: DuckDBWarehouse, surgewise_config: SurgewiseConfig
) -> dg.SensorResult | dg.SkipReason:
    if writing := run_writing_warehouse(context):
        return writing
    rule = surgewise_config.surge_rules().account_intent_surge
    agent = surgewise_config.agent_registry().get(SdrSequenceAgent.agent_id)
    found = read_warehouse(
        warehouse,
        lambda connection: (
            detect_account_surges(connection, rule),
            failing_gates(connection, agent.required_checks if agent else ()),
        ),
        not_built="marts not built yet",
    )
    if isinstance(found, dg.SkipReason):
        return found
    surges, gates = found
    if not surges:
        return dg.SkipReason("no account is surging")
    # While a gate fails the agent still runs (and logs why it did not act) under a key tied to that
    # failure, so the surge's own key stays free for the run that acts once the data is fixed.
    blocked_suffix = f":blocked:{hashlib.sha256('|'.join(gates).encode()).hexdigest()[:12]}" if gates else ""
    requests = []
    for surge in surges:
        trigger_key = surge.run_key + blocked_suffix
        requests.append(
            dg.RunRequest(
                run_key=attempt_run_key(context.instance, trigger_key),
                run_config=dg.RunConfig(
                    ops={
                        sdr_sequence_enrolments.op.name: {
                            "config": {"account_id": surge.account_id, "detected_on": surge.detected_on.isoformat()}
                        }
                    }
                ),
                tags={
                    "surgewise/account_id": surge.account_id,
                    "surgewise/trigger": "account_intent_surge",
                    SURGE_TAG: surge.run_key,
                    TRIGGER_KEY_TAG: trigger_key,
                },
            )
        )
    return dg.SensorResult(run_requests=requests)
