"""Running jobs and sensors in this process, as the Dagster daemon would: `surgewise run`, the quarantine
replay and `surgewise forget` rebuild without a daemon, and still leave their runs in the instance for the UI.
Each run carries the identity of this process, so a run left unfinished by a crash can be told from a live one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dagster as dg

from dagster_project.lib.run_recovery import PROCESS_TAG, current_process

QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
"""The CLI says what happened; Dagster's step-by-step log stays in the run (and the UI)."""
RUN_KEY_TAG = "dagster/run_key"
SENSOR_NAME_TAG = "dagster/sensor_name"


@dataclass(frozen=True)
class JobRun:
    run_id: str
    succeeded: bool
    failed_steps: list[str]


def run_job_in_process(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    job_name: str,
    *,
    run_config: dict[str, Any] | None = None,
    tags: dict[str, str] | None = None,
    asset_selection: list[dg.AssetKey] | None = None,
) -> JobRun:
    """Run one job (or the assets of it a sensor selected) here with the console kept quiet, tagged with this
    process; a failure is reported (with its steps), never raised."""
    result = defs.resolve_job_def(job_name).execute_in_process(
        asset_selection=asset_selection,
        run_config={**(run_config or {}), **QUIET_CONSOLE},
        instance=instance,
        tags={**(tags or {}), PROCESS_TAG: current_process()},
        raise_on_error=False,
    )
    failed = sorted(event.step_key for event in result.all_events if event.is_step_failure and event.step_key)
    return JobRun(run_id=result.run_id, succeeded=result.success, failed_steps=failed)


def sensor_run_requests(defs: dg.Definitions, instance: dg.DagsterInstance, sensor_name: str) -> list[dg.RunRequest]:
    """What a sensor asks for right now, as the daemon would see it."""
    result = defs.resolve_sensor_def(sensor_name)(
        dg.build_sensor_context(
            instance=instance, definitions=defs, resources=defs.get_repository_def().get_top_level_resources()
        )
    )
    if isinstance(result, dg.SensorResult):
        return list(result.run_requests or [])
    return [result] if isinstance(result, dg.RunRequest) else []


def has_run(instance: dg.DagsterInstance, run_key: str) -> bool:
    """Whether a run with this run key exists, so a sensor's request runs once, as the daemon ensures."""
    return bool(instance.get_run_records(dg.RunsFilter(tags={RUN_KEY_TAG: run_key}), limit=1))


def run_sensor_request(
    defs: dg.Definitions, instance: dg.DagsterInstance, sensor_name: str, job_name: str, request: dg.RunRequest
) -> JobRun:
    """Run the job a sensor's request asks for, tagged with its run key and sensor like a daemon launch."""
    return run_job_in_process(
        defs,
        instance,
        job_name,
        run_config=dict(request.run_config or {}),
        tags={**request.tags, RUN_KEY_TAG: request.run_key, SENSOR_NAME_TAG: sensor_name},
        asset_selection=list(request.asset_selection) if request.asset_selection else None,
    )


def step_seconds(instance: dg.DagsterInstance, run_id: str) -> dict[str, float]:
    """Wall time per step of a finished run, from its event log."""
    started: dict[str, float] = {}
    seconds: dict[str, float] = {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type == dg.DagsterEventType.STEP_START:
            started[event.step_key] = record.timestamp
        elif event.event_type in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
            seconds[event.step_key] = record.timestamp - started.get(event.step_key, record.timestamp)
    return seconds
