"""What `surgewise run` reports: read back from the warehouse and the Dagster instance after the runs, so the
summary states what the data says happened, not what the driver meant to do."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import dagster as dg
import duckdb
from rich.markup import escape

from agents.config import AccountSurgeRule, AgentRegistry
from agents.governance.audit import AuditEvent, ensure_audit_log
from agents.governance.audit_schema import AUDIT_TABLE
from agents.governance.overview import AgentOverview, governance_overview
from agents.surge import AccountSurge, detect_account_surges
from dagster_project.connectors.loader import LOADED_FILES_TABLE, QUARANTINE_TABLE
from dagster_project.core.check_results import CHECK_RESULTS_TABLE, ensure_check_results
from dagster_project.core.clock import utc_now
from dagster_project.lib.run_recovery import SURGE_TAG, TRIGGER_KEY_TAG
from dagster_project.simulator import SimulationSummary
from dagster_project.simulator.evaluation import SurgeAccuracy
from models.registry import ModelRegistry
from models.send_time import SEND_TIME_MODEL
from models.serving import AQL_TABLE
from models.training import intent_model_name

MODEL_NAMES = (intent_model_name("account"), intent_model_name("person"), SEND_TIME_MODEL)


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


@dataclass(frozen=True)
class WarehouseSummary:
    """What the warehouse holds after the runs: this build's loads and checks, the profile, the agents' audit."""

    loads: list[SourceLoad]
    quarantine_examples: list[tuple[str, int, str, str]]
    people: int
    accounts: int
    clean_signals: int
    checks: dict[str, bool]
    surges: list[AccountSurge]
    actions_proposed: int
    actions_by_verdict: dict[str, int]
    actions_by_outcome: dict[str, int]
    runs_blocked: int
    audit_rows: int
    aqls: int
    mqls: int
    agents: list[AgentOverview]


@dataclass(frozen=True)
class SurgeNotActedOn:
    """A detected surge no successful agent run answered, and why."""

    surge: AccountSurge
    reason: str


@dataclass
class MainRunReport:
    simulation: SimulationSummary | None
    """None when the run resumed without simulating or building (`surgewise run --resume`)."""
    build_run_id: str | None
    build_succeeded: bool
    """False only when this run's build failed."""
    failed_steps: list[str]
    step_seconds: dict[str, float]
    warehouse: WarehouseSummary
    surge_accuracy: SurgeAccuracy
    agent_runs_started: int
    agent_runs_already_done: int
    agent_runs_failed: int
    training_runs: int = 0
    training_failed: int = 0
    approval_runs: int = 0
    approval_runs_failed: int = 0
    models: list[ModelStatus] = field(default_factory=list)
    stale_runs_failed: list[str] = field(default_factory=list)
    """Runs a dead process had left unfinished, failed at start-up so their triggers run again."""
    surges_not_acted_on: list[SurgeNotActedOn] = field(default_factory=list)

    @property
    def acted_on_everything(self) -> bool:
        """Whether every run succeeded and every detected surge was answered by an agent allowed to act."""
        return (
            self.build_succeeded
            and not (self.agent_runs_failed or self.training_failed or self.approval_runs_failed)
            and not self.surges_not_acted_on
        )


def _tally(pairs: Iterable[tuple[str, int]]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for key, count in pairs:
        if key:
            totals[key] = totals.get(key, 0) + count
    return totals


def _build_loads(
    connection: duckdb.DuckDBPyConnection, build_run_id: str | None
) -> tuple[list[SourceLoad], list[tuple[str, int, str, str]]]:
    """What the build loaded per source, and a few of the rows it quarantined."""
    loads = [
        SourceLoad(*row)
        for row in connection.execute(
            f"""
            select source, count(*), sum(rows_loaded), sum(rows_quarantined)
            from {LOADED_FILES_TABLE} where batch_id = ? group by source order by source
            """,
            [build_run_id],
        ).fetchall()
    ]
    quarantine_examples = connection.execute(
        f"""
        select source_file, source_line, field, reason from {QUARANTINE_TABLE}
        where batch_id = ? order by source_file, source_line limit 5
        """,
        [build_run_id],
    ).fetchall()
    return loads, quarantine_examples


def _profile_counts(connection: duckdb.DuckDBPyConnection, rule: AccountSurgeRule) -> tuple[int, int, int, list]:
    """People, accounts and clean signals in the marts, and today's surges; zeros before the first build."""
    try:
        people, accounts, clean_signals = connection.execute(
            """
            select
                (select count(*) from marts.dim_person),
                (select count(*) from marts.dim_account),
                (select count(*) from marts.fct_signals)
            """
        ).fetchone()
        return people, accounts, clean_signals, detect_account_surges(connection, rule)
    except duckdb.CatalogException:
        return 0, 0, 0, []


def _lead_counts(connection: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    try:
        aqls, mqls = connection.execute(f"select count_if(is_aql), count_if(is_mql) from {AQL_TABLE}").fetchone()
    except duckdb.CatalogException:
        return 0, 0
    return aqls or 0, mqls or 0


def summarise_warehouse(
    connection: duckdb.DuckDBPyConnection,
    *,
    build_run_id: str | None,
    agent_run_ids: list[str],
    rule: AccountSurgeRule,
    registry: AgentRegistry,
) -> WarehouseSummary:
    """Read back what one main run did: the build's loads and checks (none without a build), and the agent
    runs' audit entries."""
    ensure_audit_log(connection)
    ensure_check_results(connection)
    loads, quarantine_examples = _build_loads(connection, build_run_id)
    people, accounts, clean_signals, surges = _profile_counts(connection, rule)
    checks = dict(
        connection.execute(
            f"select check_name, bool_and(passed) from {CHECK_RESULTS_TABLE} where run_id = ? group by 1",
            [build_run_id],
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
    aqls, mqls = _lead_counts(connection)
    return WarehouseSummary(
        loads=loads,
        quarantine_examples=quarantine_examples,
        people=people,
        accounts=accounts,
        clean_signals=clean_signals,
        checks=checks,
        surges=surges,
        actions_proposed=sum(n for event, _, _, n in audit_counts if event == AuditEvent.PROPOSED),
        actions_by_verdict=_tally((verdict, n) for event, verdict, _, n in audit_counts if event == AuditEvent.DECIDED),
        actions_by_outcome=_tally((outcome, n) for event, _, outcome, n in audit_counts if event == AuditEvent.DECIDED),
        runs_blocked=sum(n for event, _, _, n in audit_counts if event == AuditEvent.RUN_BLOCKED),
        audit_rows=audit_rows,
        aqls=aqls,
        mqls=mqls,
        agents=governance_overview(connection, registry, utc_now()),
    )


def surges_not_acted_on(instance: dg.DagsterInstance, surges: list[AccountSurge]) -> list[SurgeNotActedOn]:
    """The surges no successful agent run answered with the agent allowed to act: their runs failed or were
    killed, a failing data check blocked the agent, or no run started."""
    missed: list[SurgeNotActedOn] = []
    for surge in surges:
        records = instance.get_run_records(dg.RunsFilter(tags={SURGE_TAG: surge.run_key}))
        runs = [record.dagster_run for record in records]
        succeeded = [run for run in runs if run.status == dg.DagsterRunStatus.SUCCESS]
        if any(run.tags.get(TRIGGER_KEY_TAG) == surge.run_key for run in succeeded):
            continue
        if succeeded:
            reason = "blocked by a failing data check"
        elif runs:
            statuses = ", ".join(sorted({run.status.value for run in runs}))
            reason = f"{len(runs)} agent run(s), none succeeded ({statuses})"
        else:
            reason = "no agent run started"
        missed.append(SurgeNotActedOn(surge, reason))
    return missed


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


def summary_lines(report: MainRunReport) -> list[str]:
    """The run's summary in plain lines (rich markup only for a failed build), as `surgewise run` prints it."""
    accuracy = report.surge_accuracy
    summary = report.warehouse
    outcomes = summary.actions_by_outcome
    verdicts = summary.actions_by_verdict
    lines = [
        *(
            [f"Stale runs failed (their process had died): {', '.join(run[:8] for run in report.stale_runs_failed)}"]
            if report.stale_runs_failed
            else []
        ),
        f"Events loaded: {sum(load.rows_loaded for load in summary.loads):,}; "
        f"quarantined: {sum(load.rows_quarantined for load in summary.loads):,} (see raw.quarantine)",
        f"Profiled: {summary.people:,} people, {summary.accounts:,} accounts, {summary.clean_signals:,} clean signals",
        "Data checks gating the agents: "
        + (
            ", ".join(
                f"{name} {'passed' if passed else 'FAILED (agents will not act)'}"
                for name, passed in sorted(summary.checks.items())
            )
            or ("none ran (agents will not act)" if report.build_run_id else "not run (resumed without a build)")
        ),
        f"Surges detected: {accuracy.surges} ({accuracy.surges_in_true_window} in a true buying window, "
        f"precision {accuracy.precision:.0%}; {accuracy.windows_detected} of {accuracy.windows} tier-1 buying "
        f"windows found, recall {accuracy.recall:.0%})",
        f"Agent runs: {report.agent_runs_started} started, {report.agent_runs_already_done} already done "
        f"(run key), {report.agent_runs_failed} failed, {summary.runs_blocked} blocked by data checks; "
        f"approval runs: {report.approval_runs} ({report.approval_runs_failed} failed)",
        f"Actions: {summary.actions_proposed} proposed; decided: "
        + (", ".join(f"{count} {verdict}" for verdict, count in sorted(verdicts.items())) or "none")
        + "; outcomes: "
        + (", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items())) or "none"),
        *(
            f"Agent {row.agent.id} ({row.owner}): {row.phase}; "
            + (f"PAUSED ({row.pause.reason}); " if row.pause.paused else "")
            + f"{row.pending_approvals} waiting for approval, {row.open_escalations} open escalations"
            for row in summary.agents
        ),
        f"Audit log rows: {summary.audit_rows:,} (audit.audit_log)",
        f"Model training runs: {report.training_runs} ({report.training_failed} failed)",
        *(
            f"Model {status.name}: "
            + (f"champion {status.champion}: {status.headline}" if status.champion else status.headline)
            + f" (last training: {status.last_decision})"
            for status in report.models
        ),
        f"Leads today: {summary.aqls} Agent-Qualified (ml.aql_leads), {summary.mqls} Marketing-Qualified by points",
    ]
    if any(row.pending_approvals for row in summary.agents):
        lines.append("Review the queue: surgewise approvals list (approve or reject with a comment)")
    if not report.build_succeeded:
        lines.append(f"[red]Build failed in: {', '.join(report.failed_steps) or 'unknown step'}[/red]")
    for missed in report.surges_not_acted_on:
        lines.append(
            f"[red]Surge not acted on[/red]: {escape(missed.surge.account_name)} ({escape(missed.surge.run_key)}): "
            f"{missed.reason}"
        )
    return lines
