"""The landing-zone sensor's cursor: each file once, new and fixed files picked up; a killed build does not
hold back the next batch."""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg

from dagster_project.defs.ingest.sensors import landing_file_versions
from dagster_project.lib.jobs_in_process import run_sensor_request
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


def test_a_micro_batch_selects_only_what_its_files_feed_and_a_failed_build_makes_the_next_one_full(
    surgewise_env: SurgewiseEnv, definitions: dg.Definitions, instance: dg.DagsterInstance
) -> None:
    write_jsonl(surgewise_env.landing_dir / "web_events" / "batch_20261002.jsonl", [{"event_id": "only-web"}])

    (request,) = _tick(definitions, instance, None).run_requests

    selected = {key.to_user_string() for key in request.asset_selection}
    assert request.tags["surgewise/scope"] == "micro-batch"
    assert {"raw/web_events", "marts/dim_person", "marts/fct_signals"} <= selected
    assert not [key for key in selected if "crm" in key or (key.startswith("raw/") and key != "raw/web_events")]

    failed_build = instance.create_run_for_job(job_def=definitions.resolve_job_def(BUILD_JOB))
    instance.report_run_failed(failed_build)
    (retry,) = _tick(definitions, instance, None).run_requests
    assert retry.asset_selection is None
    assert retry.tags["surgewise/scope"] == "full"


def test_a_web_only_micro_batch_builds_the_profile_without_rebuilding_the_crm_models(
    scenario_copy: SurgewiseEnv, definitions: dg.Definitions
) -> None:
    cursor = json.dumps(landing_file_versions(scenario_copy.landing_dir), sort_keys=True)
    write_jsonl(scenario_copy.landing_dir / "web_events" / "batch_20261009.jsonl", [{"event_id": "late-visit"}])
    with dg.instance_for_test() as instance:
        (request,) = _tick(definitions, instance, cursor).run_requests
        run = run_sensor_request(definitions, instance, LANDING_SENSOR, BUILD_JOB, request)
        materialized = {
            record.dagster_event.asset_key.to_user_string()
            for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
        }

    assert run.succeeded, run.failed_steps
    assert {"raw/web_events", "marts/dim_person", "marts/fct_signals"} <= materialized
    assert not [key for key in materialized if "crm" in key]


def test_the_nightly_schedule_builds_everything(definitions: dg.Definitions) -> None:
    schedule = definitions.resolve_schedule_def("nightly_full_build")

    (request,) = schedule.evaluate_tick(dg.build_schedule_context()).run_requests

    assert schedule.job_name == BUILD_JOB
    assert request.asset_selection is None
    assert request.tags["surgewise/scope"] == "full"
