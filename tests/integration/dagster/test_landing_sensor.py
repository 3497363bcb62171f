"""The landing-zone sensor's cursor: each file once, new and fixed files picked up; a killed build does not
hold back the next batch."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from dagster_project.lib.names import BUILD_JOB, LANDING_SENSOR
from tests.crash import kill, start_run_elsewhere
from tests.environment import SurgewiseEnv
from tests.scenario import write_jsonl, write_scenario


def _tick(definitions: dg.Definitions, instance: dg.DagsterInstance, cursor: str | None) -> dg.SensorResult:
    sensor = definitions.resolve_sensor_def(LANDING_SENSOR)
    context = dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        definitions=definitions,
        resources=definitions.get_repository_def().get_top_level_resources(),
    )
    return sensor(context)


def test_each_landing_file_triggers_once_and_new_or_fixed_files_trigger_again(
    surgewise_env: SurgewiseEnv, definitions: dg.Definitions, instance: dg.DagsterInstance
) -> None:
    assert _tick(definitions, instance, None).run_requests == []

    write_scenario(surgewise_env.landing_dir)
    first = _tick(definitions, instance, None)
    (request,) = first.run_requests
    assert request.job_name in (None, BUILD_JOB)
    assert request.tags["surgewise/batches"] == "batch_20261001"
    assert request.tags["surgewise/files"] == "5"

    repeat = _tick(definitions, instance, first.cursor)
    assert repeat.run_requests == []

    new_batch = surgewise_env.landing_dir / "web_events" / "batch_20261002.jsonl"
    write_jsonl(new_batch, [{"event_id": "late"}])
    second = _tick(definitions, instance, first.cursor)
    (request,) = second.run_requests
    assert request.tags["surgewise/batches"] == "batch_20261002"
    assert request.run_key != first.run_requests[0].run_key

    fixed = surgewise_env.landing_dir / "form_fills" / "batch_20261001.jsonl"
    fixed.write_text(fixed.read_text() + "\n")
    os.utime(fixed, ns=(fixed.stat().st_atime_ns, fixed.stat().st_mtime_ns + 1_000_000))
    third = _tick(definitions, instance, second.cursor)
    (request,) = third.run_requests
    assert request.tags["surgewise/files"] == "1"


def test_a_build_killed_mid_run_does_not_hold_back_the_next_batch(
    surgewise_env: SurgewiseEnv, definitions: dg.Definitions, tmp_path: Path
) -> None:
    dagster_dir = tmp_path / "dagster"
    dagster_dir.mkdir()
    build = start_run_elsewhere(dagster_dir, BUILD_JOB)
    kill(build)
    instance = dg.DagsterInstance.local_temp(str(dagster_dir))
    write_scenario(surgewise_env.landing_dir)

    (request,) = _tick(definitions, instance, None).run_requests

    assert request.tags["surgewise/batches"] == "batch_20261001"
    assert instance.get_run_by_id(build.run_id).status == dg.DagsterRunStatus.FAILURE
