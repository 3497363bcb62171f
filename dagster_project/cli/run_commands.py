"""`surgewise simulate|run|evaluate`: write a simulated market, run the main job end to end on it, and score
the result against the simulator's hidden ground truth."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from dagster_project.cli.console import make_console
from dagster_project.core.settings import (
    GROUND_TRUTH_DIR_ENV,
    LANDING_DIR_ENV,
    ensure_dagster_home,
    env_path,
)
from dagster_project.simulator.landing import DEFAULT_DAYS, DEFAULT_START_DATE

DEFAULT_START_ISO = DEFAULT_START_DATE.isoformat()

if TYPE_CHECKING:
    from dagster_project.main_run import MainRunReport

Seed = Annotated[int, typer.Option(help="Random seed of the simulated market.")]
Accounts = Annotated[int, typer.Option(min=1, help="Number of simulated accounts.")]
Days = Annotated[int, typer.Option(min=1, help="Number of simulated days (one micro-batch per day).")]
StartDate = Annotated[str, typer.Option(help="First simulated day (ISO date).")]


def simulate_command(
    seed: Seed = 42,
    accounts: Accounts = 200,
    days: Days = DEFAULT_DAYS,
    start_date: StartDate = DEFAULT_START_ISO,
) -> None:
    """Write a seeded synthetic B2B market into the landing zone (ground truth kept apart)."""
    console = make_console()
    from dagster_project.simulator import simulate

    with Progress(
        SpinnerColumn(), TextColumn("Simulating"), BarColumn(), MofNCompleteColumn(), console=console
    ) as progress:
        task = progress.add_task("days", total=days)
        summary = simulate(
            env_path(LANDING_DIR_ENV),
            env_path(GROUND_TRUTH_DIR_ENV),
            seed=seed,
            accounts=accounts,
            days=days,
            start_date=date.fromisoformat(start_date),
            on_day=lambda day, total: progress.update(task, completed=day + 1),
        )
    table = Table("source", "rows written", title=f"Landing zone {env_path(LANDING_DIR_ENV)}")
    for source, rows in sorted(summary.rows_written.items()):
        table.add_row(source, f"{rows:,}")
    console.print(table)
    console.print(
        f"{summary.accounts} accounts, {summary.contacts} contacts, {summary.buying_windows} hidden buying "
        f"windows; noise: {summary.bot_events:,} bot events, {summary.duplicate_rows:,} duplicates, "
        f"{summary.late_rows:,} late rows, {summary.malformed_rows} malformed rows."
    )


def run_command(
    seed: Seed = 42,
    accounts: Accounts = 200,
    days: Days = DEFAULT_DAYS,
    start_date: StartDate = DEFAULT_START_ISO,
    live: Annotated[
        bool, typer.Option("--live", help="Deliver one simulated batch every --interval seconds for the sensors.")
    ] = False,
    interval: Annotated[float, typer.Option(min=0, help="Seconds between live batches.")] = 5.0,
) -> None:
    """Simulate → load → dbt → data checks → surge sensor → governed SDR agent → audit, then summarise."""
    console = make_console()
    if live:
        _run_live(console, seed=seed, accounts=accounts, days=days, start_date=start_date, interval=interval)
        return
    import dagster as dg

    from dagster_project.definitions import defs
    from dagster_project.main_run import run_main_job

    ensure_dagster_home()
    with (
        dg.DagsterInstance.get() as instance,
        Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress,
    ):
        stage = progress.add_task("Starting", total=None)
        days_task = progress.add_task("Simulated days", total=days)

        def on_stage(description: str) -> None:
            progress.update(stage, description=description)

        report = run_main_job(
            defs(),
            instance,
            landing_dir=env_path(LANDING_DIR_ENV),
            ground_truth_dir=env_path(GROUND_TRUTH_DIR_ENV),
            seed=seed,
            accounts=accounts,
            days=days,
            start_date=date.fromisoformat(start_date),
            on_stage=on_stage,
            on_day=lambda day, total: progress.update(days_task, completed=day + 1),
        )
        progress.update(stage, description="Done", total=1, completed=1)
    _print_report(console, report)
    if not report.build_succeeded or report.agent_runs_failed or report.training_failed:
        raise typer.Exit(code=1)


def evaluate_command() -> None:
    """Against the simulator's hidden ground truth: surge rules, AQL against MQL, send times against 10:00."""
    console = make_console()
    from agents.config import load_surge_rules
    from dagster_project.core.settings import CONFIG_DIR_ENV, DUCKDB_PATH_ENV, MODEL_REGISTRY_DIR_ENV
    from dagster_project.core.warehouse import open_warehouse
    from dagster_project.evaluation import (
        compare_lead_flags,
        compare_send_times,
        evaluate_surge_rules,
        load_buying_windows,
    )
    from models.config import load_model_settings
    from models.registry import ModelRegistry

    truth = env_path(GROUND_TRUTH_DIR_ENV)
    if not (truth / "buying_windows.json").exists():
        console.print(f"[red]No ground truth in {truth}: run `surgewise run` (or `surgewise simulate`) first.[/red]")
        raise typer.Exit(code=1)
    rules = load_surge_rules(env_path(CONFIG_DIR_ENV))
    settings = load_model_settings(env_path(CONFIG_DIR_ENV))
    with open_warehouse(env_path(DUCKDB_PATH_ENV), read_only=True) as connection:
        evaluations = evaluate_surge_rules(
            connection, load_buying_windows(truth), rules.account_intent_surge, rules.quality_weighted_surge
        )
        leads = compare_lead_flags(connection, ModelRegistry(env_path(MODEL_REGISTRY_DIR_ENV)), settings, truth)
        send_times = compare_send_times(connection, truth, settings.send_time.fixed_baseline_local_hour)
    table = Table("rule", "surges", "in a true window", "precision", "windows found", "recall", "definition")
    for evaluation in evaluations:
        accuracy = evaluation.accuracy
        table.add_row(
            evaluation.rule,
            str(accuracy.surges),
            str(accuracy.surges_in_true_window),
            f"{accuracy.precision:.0%}",
            f"{accuracy.windows_detected} of {accuracy.windows}",
            f"{accuracy.recall:.0%}",
            evaluation.description,
        )
    console.print(table)
    if isinstance(leads, str):
        console.print(f"Leads: {leads}")
    else:
        lead_table = Table(
            "flag",
            "people flagged",
            "became an opportunity",
            "conversion",
            "accounts",
            "accounts converted",
            title=f"Leads on the person model's held-out days: opportunity within {settings.intent.horizon_days} "
            "days of the first flag (ground truth)",
        )
        for outcome in leads:
            lead_table.add_row(
                outcome.flag,
                str(outcome.people),
                str(outcome.converted),
                f"{outcome.conversion_rate:.0%}",
                str(outcome.accounts),
                str(outcome.accounts_converted),
            )
        console.print(lead_table)
    if isinstance(send_times, str):
        console.print(f"Send times: {send_times}")
    else:
        console.print(
            f"Send times: the recommended hour is within an hour of the contact's hidden reading hour for "
            f"{_share(send_times.model_hits, send_times.contacts)} of {send_times.contacts} CRM contacts "
            f"(10:00 for everyone: {_share(send_times.fixed_hour_hits, send_times.contacts)}); for the "
            f"{send_times.contacts_without_history} with no reads of their own (segment estimate): "
            f"{_share(send_times.model_hits_without_history, send_times.contacts_without_history)}.",
            highlight=False,
        )


def _share(hits: int, total: int) -> str:
    return f"{hits / total:.0%}" if total else "n/a"


def _run_live(console: Console, *, seed: int, accounts: int, days: int, start_date: str, interval: float) -> None:
    """Drop the simulated market into the landing zone batch by batch; `make ui`'s sensors do the rest."""
    from dagster_project.live import deliver_live
    from dagster_project.simulator import simulate

    outbox = env_path("SURGEWISE_DATA_DIR") / "outbox"
    with console.status("Simulating the market into the outbox"):
        simulate(
            outbox,
            env_path(GROUND_TRUTH_DIR_ENV),
            seed=seed,
            accounts=accounts,
            days=days,
            start_date=date.fromisoformat(start_date),
        )
    console.print(
        f"Delivering {days} daily batches to {env_path(LANDING_DIR_ENV)}, one every {interval:g}s. "
        "Watch `make ui`: the landing_zone_batches sensor builds each batch and account_intent_surge "
        "starts the agents. Ctrl-C stops the delivery."
    )
    deliver_live(
        outbox,
        env_path(LANDING_DIR_ENV),
        interval_seconds=interval,
        on_batch=lambda batch, files: console.print(f"  delivered {batch} ({len(files)} files)"),
    )


def _print_report(console: Console, report: MainRunReport) -> None:
    loads = Table("source", "files", "rows loaded", "rows quarantined", title="Connectors → raw (this run)")
    for load in report.loads:
        loads.add_row(load.source, str(load.files), f"{load.rows_loaded:,}", f"{load.rows_quarantined:,}")
    if not report.loads:
        loads.add_row("(no new landing files)", "0", "0", "0")
    console.print(loads)
    for source_file, line, field, reason in report.quarantine_examples:
        console.print(f"  quarantined {source_file} line {line}, field {field}: {reason}", highlight=False)

    steps = Table("step", "seconds", title=f"Build run {report.build_run_id[:8]}")
    for step, seconds in sorted(report.step_seconds.items(), key=lambda item: -item[1]):
        steps.add_row(step, f"{seconds:.1f}")
    console.print(steps)

    accuracy = report.surge_accuracy
    outcomes = report.actions_by_outcome
    verdicts = report.actions_by_verdict
    lines = [
        f"Events loaded: {sum(load.rows_loaded for load in report.loads):,}; "
        f"quarantined: {sum(load.rows_quarantined for load in report.loads):,} (see raw.quarantine)",
        f"Profiled: {report.people:,} people, {report.accounts:,} accounts, {report.clean_signals:,} clean signals",
        "Data checks gating the agents: "
        + (
            ", ".join(
                f"{name} {'passed' if passed else 'FAILED (agents will not act)'}"
                for name, passed in sorted(report.checks.items())
            )
            or "none ran (agents will not act)"
        ),
        f"Surges detected: {accuracy.surges} ({accuracy.surges_in_true_window} in a true buying window, "
        f"precision {accuracy.precision:.0%}; {accuracy.windows_detected} of {accuracy.windows} tier-1 buying "
        f"windows found, recall {accuracy.recall:.0%})",
        f"Agent runs: {report.agent_runs_started} started, {report.agent_runs_already_done} already done "
        f"(run key), {report.agent_runs_failed} failed, {report.runs_blocked} blocked by data checks",
        f"Actions: {report.actions_proposed} proposed; decided: "
        + (", ".join(f"{count} {verdict}" for verdict, count in sorted(verdicts.items())) or "none")
        + "; outcomes: "
        + (", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items())) or "none"),
        *(
            f"Agent {row.agent.id} ({row.owner}): {row.phase}; "
            + (f"PAUSED ({row.pause.reason}); " if row.pause.paused else "")
            + f"{row.pending_approvals} waiting for approval, {row.open_escalations} open escalations"
            for row in report.agents
        ),
        f"Audit log rows: {report.audit_rows:,} (audit.audit_log)",
        f"Model training runs: {report.training_runs} ({report.training_failed} failed)",
        *(
            f"Model {status.name}: "
            + (f"champion {status.champion}: {status.headline}" if status.champion else status.headline)
            + f" (last training: {status.last_decision})"
            for status in report.models
        ),
        f"Leads today: {report.aqls} Agent-Qualified (ml.aql_leads), {report.mqls} Marketing-Qualified by points",
    ]
    if any(row.pending_approvals for row in report.agents):
        lines.append("Review the queue: surgewise approvals list (approve or reject with a comment)")
    if not report.build_succeeded:
        lines.append(f"[red]Build failed in: {', '.join(report.failed_steps) or 'unknown step'}[/red]")
    console.print("\n".join(lines))
