"""Benchmark: where a ~1% micro-batch spends its time, against the bare DuckDB SQL that computes the same deltas.

For each size the simulated market runs 100 days, so its last daily batch is about 1% of the events. The first
99 batches are loaded and built as the history (`surgewise_build_job`, the full build); the warehouse is copied;
then the last batch lands and is built the way the landing sensor builds it (only what the new files feed), and
the surge sensor, the agent runs and the approvals that follow are run and timed. Every stage is timed from
Dagster's event log and dbt's run_results.json: each connector load, dbt start-up, each model, the data tests,
freshness, Great Expectations, scoring, the agent sensor, the agent runs, governance.

The bare SQL: on the copy of the warehouse, the same batch is loaded by the connectors' loader (no Dagster), then
the compiled SQL of every model the micro-batch built runs directly (tables replaced, incremental models
delete+insert on their key), and separately the compiled SQL of its data tests. The micro-batch's time over the
bare SQL's is the orchestration overhead.

Run on demand: `.venv/bin/python bench/latency.py` (sizes 10k, 100k, 1M; about 15 minutes on 2 cores),
`--sizes 10000`, `--full-build 10000000` for the 10M-event full build; writes bench/results/latency.json and
bench/results/latency.md. Each size runs in its own process.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from reporting import history_scaling, write_results

DAYS = 100
EVENTS_PER_ACCOUNT_DAY = 7.0
"""Web and email events per account per simulated day at the simulator's defaults (measured)."""
SCORING_STEPS = ("intent_scores", "aql_leads", "send_time_recommendations")
COUNT_EVENTS = "select (select count(*) from raw.web_events) + (select count(*) from raw.email_events)"


def _dbt_run_results(run_id: str) -> dict[str, Any]:
    """The run_results.json and manifest.json dagster-dbt wrote for this run's dbt invocation."""
    from dagster_project.core.settings import DBT_PROJECT_DIR

    (target,) = sorted((DBT_PROJECT_DIR / "target").glob(f"*-{run_id[:7]}-*"))
    return {
        "run_results": json.loads((target / "run_results.json").read_text()),
        "manifest": json.loads((target / "manifest.json").read_text()),
    }


def _dbt_breakdown(artifacts: dict[str, Any], dbt_step_seconds: float) -> dict[str, Any]:
    """dbt's own timings: each model, the tests in total, and what is left of the step (start-up, parsing)."""
    from datetime import datetime

    results = artifacts["run_results"]["results"]
    models: dict[str, float] = {}
    tests = 0.0
    first_started, last_completed = None, None
    for result in results:
        unique_id = result["unique_id"]
        if unique_id.startswith("model."):
            models[unique_id.removeprefix("model.surgewise.")] = round(result["execution_time"], 3)
        elif unique_id.startswith(("test.", "unit_test.")):
            tests += result["execution_time"]
        for timing in result.get("timing", []):
            if timing.get("started_at"):
                started = datetime.fromisoformat(timing["started_at"].rstrip("Z"))
                first_started = min(first_started or started, started)
            if timing.get("completed_at"):
                completed = datetime.fromisoformat(timing["completed_at"].rstrip("Z"))
                last_completed = max(last_completed or completed, completed)
    nodes_seconds = (last_completed - first_started).total_seconds() if first_started and last_completed else 0.0
    return {
        "nodes": len(results),
        "models_built": len(models),
        "tests_run": sum(1 for r in results if r["unique_id"].startswith(("test.", "unit_test."))),
        "model_seconds": models,
        "test_seconds_total": round(tests, 2),
        "nodes_wall_seconds": round(nodes_seconds, 2),
        # dbt's process start, its (partial) parse, and Dagster turning dbt's events into materializations and checks
        "startup_and_parse_seconds": round(dbt_step_seconds - nodes_seconds, 2),
    }


def _bare_sql(
    warehouse_copy: Path, artifacts: dict[str, Any], landing: Path, limits: Any, batch_files: list[Path]
) -> dict[str, float]:
    """The same delta without Dagster or dbt: load the batch with the loader, run the models' compiled SQL."""
    from dagster_project.connectors.loader import load_source
    from dagster_project.connectors.sources import SOURCES
    from dagster_project.core.warehouse import open_warehouse

    manifest = artifacts["manifest"]["nodes"]
    executed = [result["unique_id"] for result in artifacts["run_results"]["results"]]
    touched = {path.parent.name for path in batch_files}
    with open_warehouse(warehouse_copy) as connection:
        started = time.perf_counter()
        for spec in SOURCES:
            if spec.name in touched:
                load_source(connection, spec, landing, batch_id="bare-sql", limits=limits)
        load_seconds = time.perf_counter() - started
        started = time.perf_counter()
        for unique_id in executed:
            node = manifest.get(unique_id)
            if not node or node["resource_type"] != "model":
                continue
            relation = f"{node['schema']}.{node['alias']}"
            sql = node["compiled_code"]
            materialized = node["config"]["materialized"]
            if materialized == "view":
                connection.execute(f"create or replace view {relation} as {sql}")
            elif materialized == "incremental":
                key = node["config"]["unique_key"]
                connection.execute(f"create or replace temp table bare_delta as {sql}")
                connection.execute(f"delete from {relation} where {key} in (select {key} from bare_delta)")
                connection.execute(f"insert into {relation} by name select * from bare_delta")
            else:
                connection.execute(f"create or replace table {relation} as {sql}")
        model_seconds = time.perf_counter() - started
        started = time.perf_counter()
        for unique_id in executed:
            node = manifest.get(unique_id)
            if node and node["resource_type"] == "test":
                connection.execute(f"select count(*) from ({node['compiled_code']}) as failures").fetchone()
        test_seconds = time.perf_counter() - started
    return {
        "load_seconds": round(load_seconds, 3),
        "model_seconds": round(model_seconds, 3),
        "test_seconds": round(test_seconds, 3),
        "total_seconds": round(load_seconds + model_seconds + test_seconds, 3),
    }


def _measure(target_events: int) -> dict[str, Any]:
    """Runs inside a worker process with SURGEWISE_* pointing at a scratch directory."""
    import dagster as dg

    from dagster_project.core.settings import (
        CONFIG_DIR_ENV,
        DUCKDB_PATH_ENV,
        GROUND_TRUTH_DIR_ENV,
        LANDING_DIR_ENV,
        env_path,
    )
    from dagster_project.core.warehouse import open_warehouse
    from dagster_project.definitions import defs
    from dagster_project.lib.jobs_in_process import run_sensor_request, sensor_run_requests, step_seconds
    from dagster_project.lib.names import AGENT_JOB, BUILD_JOB, LANDING_SENSOR, SURGE_SENSOR
    from dagster_project.lib.resources import SurgewiseConfig
    from dagster_project.run.driver import run_approved_actions
    from dagster_project.run.live import pending_batches, release_batch
    from dagster_project.simulator import simulate

    definitions = defs()
    accounts = max(2, round(target_events / (DAYS * EVENTS_PER_ACCOUNT_DAY)))
    outbox = env_path("SURGEWISE_DATA_DIR") / "outbox"
    landing = env_path(LANDING_DIR_ENV)
    duckdb_path = env_path(DUCKDB_PATH_ENV)
    simulate(outbox, env_path(GROUND_TRUTH_DIR_ENV), seed=11, accounts=accounts, days=DAYS)
    batches = pending_batches(outbox)
    for batch in batches[:-1]:
        release_batch(outbox, landing, batch)

    def sensor_build(instance: dg.DagsterInstance) -> tuple[str, float, float]:
        """The landing sensor's request, run as the daemon would: (run id, sensor seconds, run seconds)."""
        started = time.perf_counter()
        (request,) = sensor_run_requests(definitions, instance, LANDING_SENSOR)
        sensor_seconds = time.perf_counter() - started
        started = time.perf_counter()
        run = run_sensor_request(definitions, instance, LANDING_SENSOR, BUILD_JOB, request)
        if not run.succeeded:
            raise RuntimeError(f"build failed at {target_events} events: {run.failed_steps}")
        return run.run_id, sensor_seconds, time.perf_counter() - started

    with dg.instance_for_test() as instance:
        full_run_id, _, full_seconds = sensor_build(instance)
        with open_warehouse(duckdb_path, read_only=True) as connection:
            (history_events,) = connection.execute(COUNT_EVENTS).fetchone()
        # Same file name, so the compiled SQL's catalog (the file's stem) resolves in the copy.
        warehouse_copy = duckdb_path.parent / "bare_sql" / duckdb_path.name
        warehouse_copy.parent.mkdir()
        shutil.copyfile(duckdb_path, warehouse_copy)
        batch_files = release_batch(outbox, landing, batches[-1])
        batch_run_id, landing_sensor_seconds, batch_seconds = sensor_build(instance)
        with open_warehouse(duckdb_path, read_only=True) as connection:
            (total_events,) = connection.execute(COUNT_EVENTS).fetchone()
        steps = step_seconds(instance, batch_run_id)
        started = time.perf_counter()
        surge_requests = sensor_run_requests(definitions, instance, SURGE_SENSOR)
        surge_sensor_seconds = time.perf_counter() - started
        agent_seconds = []
        for request in surge_requests:
            started = time.perf_counter()
            run_sensor_request(definitions, instance, SURGE_SENSOR, AGENT_JOB, request)
            agent_seconds.append(time.perf_counter() - started)
        started = time.perf_counter()
        run_approved_actions(definitions, instance)
        approvals_seconds = time.perf_counter() - started

    artifacts = _dbt_run_results(batch_run_id)
    dbt_step = next(seconds for step, seconds in steps.items() if "dbt" in step)
    limits = SurgewiseConfig(config_dir=str(env_path(CONFIG_DIR_ENV))).landing_limits()
    bare = _bare_sql(warehouse_copy, artifacts, landing, limits, batch_files)
    stages: dict[str, float] = defaultdict(float)
    for step, seconds in steps.items():
        stages[_stage(step)] += seconds
    return {
        "target_events": target_events,
        "accounts": accounts,
        "history_events": history_events,
        "batch_events": total_events - history_events,
        "full_build_seconds": round(full_seconds, 1),
        "full_build_run_id": full_run_id,
        "micro_batch_seconds": round(batch_seconds, 2),
        "landing_sensor_seconds": round(landing_sensor_seconds, 2),
        "step_seconds": {step: round(seconds, 2) for step, seconds in sorted(steps.items())},
        "stage_seconds": {stage: round(seconds, 2) for stage, seconds in sorted(stages.items())},
        "dbt": _dbt_breakdown(artifacts, dbt_step),
        "surge_sensor_seconds": round(surge_sensor_seconds, 2),
        "agent_runs": len(agent_seconds),
        "agent_run_seconds": [round(seconds, 2) for seconds in agent_seconds],
        "approvals_seconds": round(approvals_seconds, 2),
        "bare_sql": bare,
        "overhead_ratio": round(batch_seconds / bare["total_seconds"], 1) if bare["total_seconds"] else None,
    }


def _stage(step_key: str) -> str:
    """A build step's stage: connectors, dbt, data checks or scoring."""
    if step_key.startswith("raw__"):
        return "connector loads"
    if "dbt" in step_key:
        return "dbt build"
    if "expectations" in step_key:
        return "great expectations"
    if "freshness" in step_key:
        return "freshness"
    if step_key.startswith(SCORING_STEPS):
        return "scoring and ml checks"
    if step_key.startswith("agent_governance"):
        return "governance view"
    return step_key


def _full_build(target_events: int) -> dict[str, Any]:
    """Only the full build, for sizes whose micro-batch is not measured (10M)."""
    import dagster as dg

    from dagster_project.core.settings import DUCKDB_PATH_ENV, GROUND_TRUTH_DIR_ENV, LANDING_DIR_ENV, env_path
    from dagster_project.core.warehouse import open_warehouse
    from dagster_project.definitions import defs
    from dagster_project.lib.jobs_in_process import run_job_in_process, step_seconds
    from dagster_project.lib.names import BUILD_JOB
    from dagster_project.simulator import simulate

    accounts = max(2, round(target_events / (DAYS * EVENTS_PER_ACCOUNT_DAY)))
    started = time.perf_counter()
    simulate(env_path(LANDING_DIR_ENV), env_path(GROUND_TRUTH_DIR_ENV), seed=11, accounts=accounts, days=DAYS)
    simulate_seconds = time.perf_counter() - started
    with dg.instance_for_test() as instance:
        started = time.perf_counter()
        run = run_job_in_process(defs(), instance, BUILD_JOB)
        seconds = time.perf_counter() - started
        steps = step_seconds(instance, run.run_id)
    with open_warehouse(env_path(DUCKDB_PATH_ENV), read_only=True) as connection:
        (events,) = connection.execute(COUNT_EVENTS).fetchone()
    return {
        "target_events": target_events,
        "full_build_only": True,
        "succeeded": run.succeeded,
        "history_events": events,
        "simulate_seconds": round(simulate_seconds, 1),
        "full_build_seconds": round(seconds, 1),
        "step_seconds": {step: round(value, 2) for step, value in sorted(steps.items())},
    }


def _run_worker(target_events: int, full_build_only: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="surgewise-latency-bench-") as scratch:
        env = {**os.environ, "SURGEWISE_DATA_DIR": str(Path(scratch) / "data")}
        for name in ("SURGEWISE_DUCKDB_PATH", "SURGEWISE_LANDING_DIR", "SURGEWISE_GROUND_TRUTH_DIR", "DAGSTER_HOME"):
            env.pop(name, None)
        mode = "--full-build-worker" if full_build_only else "--worker"
        completed = subprocess.run(
            [sys.executable, __file__, mode, str(target_events)], env=env, capture_output=True, text=True, check=False
        )
    if completed.returncode != 0:
        return {"target_events": target_events, "error": completed.stderr[-3000:]}
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _markdown(runs: list[dict[str, Any]]) -> list[str]:
    batches = [run for run in runs if "error" not in run and not run.get("full_build_only")]
    lines = [
        f"{DAYS} simulated days; the micro-batch is the last day (~1% of events), built as the landing sensor "
        "requests it. Seconds.",
        "",
        "| history events | batch events | full build | micro-batch | connectors | dbt build (start-up / models / "
        "tests) | GX | freshness | scoring | bare SQL (load / models / tests) | overhead x |",
        "| ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- | ---: |",
    ]
    for run in batches:
        stages, dbt, bare = run["stage_seconds"], run["dbt"], run["bare_sql"]
        lines.append(
            f"| {run['history_events']:,} | {run['batch_events']:,} | {run['full_build_seconds']} | "
            f"{run['micro_batch_seconds']} | {stages.get('connector loads', 0)} | {stages.get('dbt build', 0)} "
            f"({dbt['startup_and_parse_seconds']} / {sum(dbt['model_seconds'].values()):.2f} / "
            f"{dbt['test_seconds_total']}; {dbt['models_built']} models, {dbt['tests_run']} tests) | "
            f"{stages.get('great expectations', 0)} | {stages.get('freshness', 0)} | "
            f"{stages.get('scoring and ml checks', 0)} | {bare['total_seconds']} ({bare['load_seconds']} / "
            f"{bare['model_seconds']} / {bare['test_seconds']}) | {run['overhead_ratio']} |"
        )
    lines += history_scaling(batches, aim=1.5)
    lines += ["", "After the build (in process, as `surgewise run` runs them):", ""]
    lines += [
        f"- {run['history_events']:,} events: landing sensor {run['landing_sensor_seconds']} s, surge sensor "
        f"{run['surge_sensor_seconds']} s, {run['agent_runs']} agent runs {run['agent_run_seconds']} s, approvals "
        f"{run['approvals_seconds']} s"
        for run in batches
    ]
    for run in runs:
        if run.get("full_build_only") and "error" not in run:
            lines += [
                "",
                f"Full build of {run['history_events']:,} events: {run['full_build_seconds']} s "
                f"(simulating them {run['simulate_seconds']} s).",
            ]
        elif "error" in run:
            lines += ["", f"{run['target_events']:,} events failed: `{run['error'][-300:]}`"]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--full-build", type=int, nargs="*", default=[], help="sizes to measure the full build of")
    parser.add_argument("--name", default="latency", help="results file name under bench/results/")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--full-build-worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker or args.full_build_worker:
        from dagster_project.core.settings import apply_environment_defaults

        apply_environment_defaults()
        result = _measure(args.worker) if args.worker else _full_build(args.full_build_worker)
        print(json.dumps(result))
        return
    runs = [_run_worker(size, False) for size in args.sizes]
    runs += [_run_worker(size, True) for size in args.full_build]
    write_results(
        args.name,
        "stages of a ~1% micro-batch against the bare SQL of the same deltas",
        "Micro-batch latency: every stage, and the bare SQL",
        runs,
        _markdown(runs),
    )


if __name__ == "__main__":
    main()
