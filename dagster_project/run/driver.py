"""The main job end to end, as `surgewise run` does it and as a sensor-driven deployment would.

Fail the runs a crashed run left unfinished, simulate a market into the landing zone, run
`surgewise_build_job` (connectors → dbt → data checks → scoring), evaluate the `intent_model_retraining`
sensor and run the training job it asks for (train, promote, re-score), evaluate the `account_intent_surge`
sensor, run the agent job for each run request whose run key has not run before (a surge whose run failed
gets a new key), execute what reviewers approved, and report what happened from the warehouse and the
Dagster instance (`dagster_project.run.report`). `resume_main_job` does the same without simulating or
building, to finish what a crash interrupted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg

from agents.adapters.webhook import DeliveryReport, deliver_pending, load_webhook_config
from agents.config import load_agent_registry, load_surge_rules
from dagster_project.core.clock import utc_now
from dagster_project.core.settings import CONFIG_DIR_ENV, DUCKDB_PATH_ENV, MODEL_REGISTRY_DIR_ENV, env_path
from dagster_project.core.warehouse import open_warehouse
from dagster_project.lib.jobs_in_process import (
    JobRun,
    has_run,
    run_job_in_process,
    run_sensor_request,
    sensor_run_requests,
    step_seconds,
)
from dagster_project.lib.names import (
    AGENT_JOB,
    APPROVALS_JOB,
    APPROVALS_SENSOR,
    BUILD_JOB,
    RETRAINING_SENSOR,
    SURGE_SENSOR,
    TRAINING_JOB,
)
from dagster_project.lib.run_recovery import fail_dead_runs
from dagster_project.run.report import (
    MODEL_NAMES,
    MainRunReport,
    model_status,
    summarise_warehouse,
    surges_not_acted_on,
)
from dagster_project.simulator import SimulationSummary, simulate
from dagster_project.simulator.evaluation import load_buying_windows, score_surges
from models.registry import ModelRegistry


@dataclass(frozen=True)
class SensorRuns:
    """The runs one sensor evaluation started, and the requests whose run key had run before."""

    runs: list[JobRun]
    already_done: int

    @property
    def failed(self) -> int:
        return sum(0 if run.succeeded else 1 for run in self.runs)


def run_sensor_once(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    sensor_name: str,
    job_name: str,
    on_request: Callable[[int, int], None] = lambda index, total: None,
) -> SensorRuns:
    """Evaluate a sensor and run each request it makes whose run key has not run, as the daemon would."""
    requests = sensor_run_requests(defs, instance, sensor_name)
    runs: list[JobRun] = []
    already_done = 0
    for index, request in enumerate(requests, start=1):
        on_request(index, len(requests))
        if has_run(instance, request.run_key):
            already_done += 1
            continue
        runs.append(run_sensor_request(defs, instance, sensor_name, job_name, request))
    return SensorRuns(runs, already_done)


def run_approved_actions(defs: dg.Definitions, instance: dg.DagsterInstance) -> list[str]:
    """Evaluate the approved_actions sensor and run the job it asks for; the ids of the runs started."""
    return [run.run_id for run in run_sensor_once(defs, instance, APPROVALS_SENSOR, APPROVALS_JOB).runs]


def _fail_dead_runs(instance: dg.DagsterInstance, on_stage: Callable[[str], None]) -> list[str]:
    on_stage("Failing runs a crashed process left unfinished")
    stale = fail_dead_runs(instance)
    on_stage("Reconciling webhook deliveries a crashed process left in flight")
    reconcile_deliveries(env_path(DUCKDB_PATH_ENV), env_path(CONFIG_DIR_ENV))
    return stale


def reconcile_deliveries(duckdb_path: Path, config_dir: Path) -> DeliveryReport:
    """Before anything else runs, send what a crashed process left in the webhook outbox: pending rows, and rows
    it claimed but never booked (again, with the same idempotency key, once their lease lapsed). A delivery the
    receiver confirmed is never sent again."""
    config = load_webhook_config(config_dir)
    if not config.endpoints:
        return DeliveryReport()
    with open_warehouse(duckdb_path) as connection:
        return deliver_pending(connection, utc_now(), config=config)


def run_main_job(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    *,
    landing_dir: Path,
    ground_truth_dir: Path,
    seed: int,
    accounts: int,
    days: int,
    start_date: date,
    on_stage: Callable[[str], None] = lambda stage: None,
    on_day: Callable[[int, int], None] | None = None,
) -> MainRunReport:
    stale = _fail_dead_runs(instance, on_stage)
    on_stage("Simulating the market into the landing zone")
    simulation = simulate(
        landing_dir, ground_truth_dir, seed=seed, accounts=accounts, days=days, start_date=start_date, on_day=on_day
    )
    on_stage("Loading connectors, building dbt models, running data checks")
    build = run_job_in_process(defs, instance, BUILD_JOB)
    sensors = _run_sensors(defs, instance, on_stage)
    on_stage("Summarising")
    return _report(instance, simulation, build, sensors, ground_truth_dir, stale)


def resume_main_job(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    *,
    ground_truth_dir: Path,
    on_stage: Callable[[str], None] = lambda stage: None,
) -> MainRunReport:
    """The main run's sensors on the warehouse as it is, after failing what a crash left unfinished: the
    surges and approvals a killed run did not finish are answered, nothing is simulated or built."""
    stale = _fail_dead_runs(instance, on_stage)
    sensors = _run_sensors(defs, instance, on_stage)
    on_stage("Summarising")
    return _report(instance, None, None, sensors, ground_truth_dir, stale)


@dataclass(frozen=True)
class SensorRound:
    """One pass over the sensors after a build: what training, the agents and the approvals ran."""

    training: SensorRuns
    agents: SensorRuns
    approvals: SensorRuns


def _run_sensors(defs: dg.Definitions, instance: dg.DagsterInstance, on_stage: Callable[[str], None]) -> SensorRound:
    on_stage("Evaluating the intent_model_retraining sensor")
    training = run_sensor_once(
        defs,
        instance,
        RETRAINING_SENSOR,
        TRAINING_JOB,
        on_request=lambda index, total: on_stage("Training, promoting and re-scoring the models"),
    )
    on_stage("Evaluating the account_intent_surge sensor")
    agents = run_sensor_once(
        defs,
        instance,
        SURGE_SENSOR,
        AGENT_JOB,
        on_request=lambda index, total: on_stage(f"Running the SDR agent for surge {index} of {total}"),
    )
    on_stage("Evaluating the approved_actions sensor")
    return SensorRound(training, agents, run_sensor_once(defs, instance, APPROVALS_SENSOR, APPROVALS_JOB))


def _report(
    instance: dg.DagsterInstance,
    simulation: SimulationSummary | None,
    build: JobRun | None,
    sensors: SensorRound,
    ground_truth_dir: Path,
    stale_runs_failed: list[str],
) -> MainRunReport:
    training, agents, approvals = sensors.training, sensors.agents, sensors.approvals
    agent_run_ids = [run.run_id for run in agents.runs + approvals.runs]
    rule = load_surge_rules(env_path(CONFIG_DIR_ENV)).account_intent_surge
    with open_warehouse(env_path(DUCKDB_PATH_ENV)) as connection:
        warehouse = summarise_warehouse(
            connection,
            build_run_id=build.run_id if build else None,
            agent_run_ids=agent_run_ids,
            rule=rule,
            registry=load_agent_registry(env_path(CONFIG_DIR_ENV)),
        )
    registry = ModelRegistry(env_path(MODEL_REGISTRY_DIR_ENV))
    return MainRunReport(
        simulation=simulation,
        build_run_id=build.run_id if build else None,
        build_succeeded=build.succeeded if build else True,
        failed_steps=build.failed_steps if build else [],
        step_seconds=step_seconds(instance, build.run_id) if build else {},
        warehouse=warehouse,
        surge_accuracy=score_surges(warehouse.surges, load_buying_windows(ground_truth_dir), rule.account_tiers),
        agent_runs_started=len(agent_run_ids),
        agent_runs_already_done=agents.already_done,
        agent_runs_failed=agents.failed,
        training_runs=len(training.runs),
        training_failed=training.failed,
        approval_runs=len(approvals.runs),
        approval_runs_failed=approvals.failed,
        models=[model_status(registry, name) for name in MODEL_NAMES],
        stale_runs_failed=stale_runs_failed,
        surges_not_acted_on=surges_not_acted_on(instance, warehouse.surges),
    )
