"""The main job end to end, as `surgewise run` does it and as a sensor-driven deployment would.

Simulate a market into the landing zone, run `surgewise_build_job` (connectors → dbt → data checks →
scoring), evaluate the `intent_model_retraining` sensor and run the training job it asks for (train,
promote, re-score), evaluate the `account_intent_surge` sensor, run the agent job for each run request
whose run key has not run before, and report what happened from the warehouse and the Dagster instance.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb

from agents.config import load_agent_registry, load_surge_rules
from agents.governance.audit import AUDIT_TABLE, AuditEvent, ensure_audit_log
from agents.governance.overview import AgentOverview, governance_overview
from agents.surge import AccountSurge, detect_account_surges
from dagster_project.connectors.loader import LOADED_FILES_TABLE, QUARANTINE_TABLE
from dagster_project.core.check_results import CHECK_RESULTS_TABLE, ensure_check_results
from dagster_project.core.clock import utc_now
from dagster_project.core.settings import CONFIG_DIR_ENV, DUCKDB_PATH_ENV, MODEL_REGISTRY_DIR_ENV, env_path
from dagster_project.core.warehouse import open_warehouse
from dagster_project.evaluation import SurgeAccuracy, load_buying_windows, score_surges
from dagster_project.simulator import SimulationSummary, simulate
from models.registry import ModelRegistry
from models.send_time import SEND_TIME_MODEL
from models.serving import AQL_TABLE
from models.training import intent_model_name

BUILD_JOB = "surgewise_build_job"
AGENT_JOB = "account_surge_agent_job"
SURGE_SENSOR = "account_intent_surge"
TRAINING_JOB = "model_training_job"
RETRAINING_SENSOR = "intent_model_retraining"
APPROVALS_JOB = "approved_actions_job"
APPROVALS_SENSOR = "approved_actions"
MODEL_NAMES = (intent_model_name("account"), intent_model_name("person"), SEND_TIME_MODEL)
RUN_KEY_TAG = "dagster/run_key"
SENSOR_NAME_TAG = "dagster/sensor_name"
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
"""The summary says what happened; Dagster's step-by-step log stays in the run (and the UI)."""


@dataclass(frozen=True)
class SourceLoad:
    source: str
    files: int
    rows_loaded: int
    rows_quarantined: int


@dataclass(frozen=True)
class ModelStatus:
    name: str
    champion: str | None
    last_decision: str
    """What the latest training attempt did (trained and promoted or not, or why it could not train)."""
    headline: str
    """The champion's held-out figures against its baseline, in one line."""


@dataclass
class MainRunReport:
    simulation: SimulationSummary
    build_run_id: str
    build_succeeded: bool
    failed_steps: list[str]
    step_seconds: dict[str, float]
    loads: list[SourceLoad]
    quarantine_examples: list[tuple[str, int, str, str]]
    people: int
    accounts: int
    clean_signals: int
    checks: dict[str, bool]
    """Each data check's result in this build; a check that did not run is absent."""
    surges: list[AccountSurge]
    surge_accuracy: SurgeAccuracy
    agent_runs_started: int
    agent_runs_already_done: int
    agent_runs_failed: int
    actions_proposed: int = 0
    actions_by_verdict: dict[str, int] = field(default_factory=dict)
    actions_by_outcome: dict[str, int] = field(default_factory=dict)
    runs_blocked: int = 0
    audit_rows: int = 0
    training_runs: int = 0
    training_failed: int = 0
    models: list[ModelStatus] = field(default_factory=list)
    aqls: int = 0
    mqls: int = 0
    approval_runs: int = 0
    agents: list[AgentOverview] = field(default_factory=list)


def _tally(pairs: Iterable[tuple[str, int]]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for key, count in pairs:
        if key:
            totals[key] = totals.get(key, 0) + count
    return totals


def _step_seconds(instance: dg.DagsterInstance, run_id: str) -> dict[str, float]:
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
    on_stage("Simulating the market into the landing zone")
    simulation = simulate(
        landing_dir,
        ground_truth_dir,
        seed=seed,
        accounts=accounts,
        days=days,
        start_date=start_date,
        on_day=on_day,
    )

    on_stage("Loading connectors, building dbt models, running data checks")
    build = defs.resolve_job_def(BUILD_JOB).execute_in_process(
        run_config=QUIET_CONSOLE, instance=instance, raise_on_error=False
    )

    on_stage("Evaluating the intent_model_retraining sensor")
    training_runs = training_failed = 0
    for request in _run_requests(defs, instance, RETRAINING_SENSOR):
        if instance.get_run_records(dg.RunsFilter(tags={RUN_KEY_TAG: request.run_key}), limit=1):
            continue
        on_stage("Training, promoting and re-scoring the models")
        training = defs.resolve_job_def(TRAINING_JOB).execute_in_process(
            run_config=QUIET_CONSOLE,
            instance=instance,
            tags={**request.tags, RUN_KEY_TAG: request.run_key, SENSOR_NAME_TAG: RETRAINING_SENSOR},
            raise_on_error=False,
        )
        training_runs += 1
        training_failed += 0 if training.success else 1

    on_stage("Evaluating the account_intent_surge sensor")
    run_requests = _run_requests(defs, instance, SURGE_SENSOR)

    agent_job = defs.resolve_job_def(AGENT_JOB)
    agent_run_ids: list[str] = []
    already_done = failed = 0
    for index, request in enumerate(run_requests, start=1):
        on_stage(f"Running the SDR agent for surge {index} of {len(run_requests)}")
        if instance.get_run_records(dg.RunsFilter(tags={RUN_KEY_TAG: request.run_key}), limit=1):
            already_done += 1
            continue
        result = agent_job.execute_in_process(
            run_config={**request.run_config, **QUIET_CONSOLE},
            instance=instance,
            tags={**request.tags, RUN_KEY_TAG: request.run_key, SENSOR_NAME_TAG: SURGE_SENSOR},
            raise_on_error=False,
        )
        agent_run_ids.append(result.run_id)
        failed += 0 if result.success else 1

    on_stage("Evaluating the approved_actions sensor")
    approval_run_ids = run_approved_actions(defs, instance)
    agent_run_ids += approval_run_ids

    on_stage("Summarising")
    rule = load_surge_rules(env_path(CONFIG_DIR_ENV)).account_intent_surge
    with open_warehouse(env_path(DUCKDB_PATH_ENV)) as connection:
        ensure_audit_log(connection)
        ensure_check_results(connection)
        loads = [
            SourceLoad(*row)
            for row in connection.execute(
                f"""
                select source, count(*), sum(rows_loaded), sum(rows_quarantined)
                from {LOADED_FILES_TABLE} where batch_id = ? group by source order by source
                """,
                [build.run_id],
            ).fetchall()
        ]
        quarantine_examples = connection.execute(
            f"""
            select source_file, source_line, field, reason from {QUARANTINE_TABLE}
            where batch_id = ? order by source_file, source_line limit 5
            """,
            [build.run_id],
        ).fetchall()
        try:
            people, accounts_profiled, clean_signals = connection.execute(
                """
                select
                    (select count(*) from marts.dim_person),
                    (select count(*) from marts.dim_account),
                    (select count(*) from marts.fct_signals)
                """
            ).fetchone()
            surges = detect_account_surges(connection, rule)
        except duckdb.CatalogException:
            people = accounts_profiled = clean_signals = 0
            surges = []
        checks = dict(
            connection.execute(
                f"select check_name, bool_and(passed) from {CHECK_RESULTS_TABLE} where run_id = ? group by 1",
                [build.run_id],
            ).fetchall()
        )
        audit_counts = connection.execute(
            f"""
            select event, coalesce(policy_verdict, ''), coalesce(outcome, ''), count(*)
            from {AUDIT_TABLE} where list_contains(?, run_id) group by all
            """,
            [agent_run_ids],
        ).fetchall()
        (audit_rows,) = connection.execute(f"select count(*) from {AUDIT_TABLE}").fetchone()
        try:
            aqls, mqls = connection.execute(f"select count_if(is_aql), count_if(is_mql) from {AQL_TABLE}").fetchone()
        except duckdb.CatalogException:
            aqls = mqls = 0
        agents = governance_overview(connection, load_agent_registry(env_path(CONFIG_DIR_ENV)), utc_now())

    return MainRunReport(
        simulation=simulation,
        build_run_id=build.run_id,
        build_succeeded=build.success,
        failed_steps=sorted(event.step_key for event in build.all_events if event.is_step_failure and event.step_key),
        step_seconds=_step_seconds(instance, build.run_id),
        loads=loads,
        quarantine_examples=quarantine_examples,
        people=people,
        accounts=accounts_profiled,
        clean_signals=clean_signals,
        checks=checks,
        surges=surges,
        surge_accuracy=score_surges(surges, load_buying_windows(ground_truth_dir), rule.account_tiers),
        agent_runs_started=len(agent_run_ids),
        agent_runs_already_done=already_done,
        agent_runs_failed=failed,
        actions_proposed=sum(n for event, _, _, n in audit_counts if event == AuditEvent.PROPOSED),
        actions_by_verdict=_tally((verdict, n) for event, verdict, _, n in audit_counts if event == AuditEvent.DECIDED),
        actions_by_outcome=_tally((outcome, n) for event, _, outcome, n in audit_counts if event == AuditEvent.DECIDED),
        runs_blocked=sum(n for event, _, _, n in audit_counts if event == AuditEvent.RUN_BLOCKED),
        audit_rows=audit_rows,
        training_runs=training_runs,
        training_failed=training_failed,
        models=[model_status(ModelRegistry(env_path(MODEL_REGISTRY_DIR_ENV)), name) for name in MODEL_NAMES],
        aqls=aqls or 0,
        mqls=mqls or 0,
        approval_runs=len(approval_run_ids),
        agents=agents,
    )


def run_approved_actions(defs: dg.Definitions, instance: dg.DagsterInstance) -> list[str]:
    """Evaluate the approved_actions sensor and run the job it asks for, as the daemon would."""
    run_ids = []
    for request in _run_requests(defs, instance, APPROVALS_SENSOR):
        if instance.get_run_records(dg.RunsFilter(tags={RUN_KEY_TAG: request.run_key}), limit=1):
            continue
        result = defs.resolve_job_def(APPROVALS_JOB).execute_in_process(
            run_config=QUIET_CONSOLE,
            instance=instance,
            tags={**request.tags, RUN_KEY_TAG: request.run_key, SENSOR_NAME_TAG: APPROVALS_SENSOR},
            raise_on_error=False,
        )
        run_ids.append(result.run_id)
    return run_ids


def _run_requests(defs: dg.Definitions, instance: dg.DagsterInstance, sensor_name: str) -> list[dg.RunRequest]:
    """What a sensor asks for right now, as the daemon would see it."""
    result = defs.resolve_sensor_def(sensor_name)(
        dg.build_sensor_context(
            instance=instance, definitions=defs, resources=defs.get_repository_def().get_top_level_resources()
        )
    )
    if isinstance(result, dg.SensorResult):
        return list(result.run_requests or [])
    return [result] if isinstance(result, dg.RunRequest) else []


def model_status(registry: ModelRegistry, name: str) -> ModelStatus:
    last_decision = registry.last_attempt(name) or "never trained"
    champion = registry.champion_version(name)
    if champion is None:
        return ModelStatus(name, None, last_decision, "no promoted model")
    metrics = registry.card(name, champion).metrics
    if name == SEND_TIME_MODEL:
        headline = (
            f"expected open rate {metrics['expected_open_rate']:.1%} vs {metrics['fixed_hour_open_rate']:.1%} "
            f"sending at 10:00 local ({metrics['open_rate_uplift']:+.0%}), {metrics['holdout_reads']} held-out reads"
        )
    else:
        model, rule = metrics["model"], metrics["rule"]
        headline = (
            f"PR AUC {model['pr_auc']:.2f} vs rule {rule['pr_auc']:.2f}, ROC AUC {model['roc_auc']:.2f} vs "
            f"{rule['roc_auc']:.2f}, Brier {model['brier']:.3f} vs {rule['brier']:.3f}, top-decile lift "
            f"{model['lift_top_decile']:.1f} vs {rule['lift_top_decile']:.1f}"
        )
    return ModelStatus(name, champion, last_decision, headline)
