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
    from dagster_project.run.report import MainRunReport
    from dagster_project.simulator.evaluation import GroundTruthEvaluation

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
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Do not simulate or build: finish what a crashed run left undone (its runs are failed, its "
            "surges and approvals answered) on the warehouse as it is.",
        ),
    ] = False,
) -> None:
    """Simulate → load → dbt → data checks → surge sensor → governed SDR agent → audit, then summarise.

    Exits 1 if a run failed or a detected surge was not acted on (each is named)."""
    console = make_console()
    if live:
        _run_live(console, seed=seed, accounts=accounts, days=days, start_date=start_date, interval=interval)
        return
    import dagster as dg

    from dagster_project.definitions import defs
    from dagster_project.run.driver import resume_main_job, run_main_job

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

        if resume:
            progress.update(days_task, visible=False)
            report = resume_main_job(
                defs(), instance, ground_truth_dir=env_path(GROUND_TRUTH_DIR_ENV), on_stage=on_stage
            )
        else:
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
    if not report.acted_on_everything:
        raise typer.Exit(code=1)


def evaluate_command() -> None:
    """Against the simulator's hidden ground truth: surge rules, AQL against MQL, send times against 10:00."""
    from dagster_project.core.settings import CONFIG_DIR_ENV, DUCKDB_PATH_ENV, MODEL_REGISTRY_DIR_ENV
    from dagster_project.simulator.evaluation import NoGroundTruthError, evaluate_against_ground_truth

    console = make_console()
    truth = env_path(GROUND_TRUTH_DIR_ENV)
    try:
        result = evaluate_against_ground_truth(
            truth,
            config_dir=env_path(CONFIG_DIR_ENV),
            warehouse_path=env_path(DUCKDB_PATH_ENV),
            model_registry_dir=env_path(MODEL_REGISTRY_DIR_ENV),
        )
    except NoGroundTruthError:
        console.print(f"[red]No ground truth in {truth}: run `surgewise run` (or `surgewise simulate`) first.[/red]")
        raise typer.Exit(code=1) from None
    console.print(_surge_rules_table(result))
    _print_lead_flags(console, result)
    _print_send_times(console, result)


def _surge_rules_table(result: GroundTruthEvaluation) -> Table:
    table = Table("rule", "surges", "in a true window", "precision", "windows found", "recall", "definition")
    for evaluation in result.surge_rules:
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
    return table


def _print_lead_flags(console: Console, result: GroundTruthEvaluation) -> None:
    from dagster_project.simulator.evaluation import Unavailable

    if isinstance(result.lead_flags, Unavailable):
        console.print(f"Leads: {result.lead_flags.reason}")
        return
    lead_table = Table(
        "flag",
        "people flagged",
        "became an opportunity",
        "conversion",
        "accounts",
        "accounts converted",
        title=f"Leads on the person model's held-out days: opportunity within {result.lead_horizon_days} "
        "days of the first flag (ground truth)",
    )
    for outcome in result.lead_flags:
        lead_table.add_row(
            outcome.flag,
            str(outcome.people),
            str(outcome.converted),
            f"{outcome.conversion_rate:.0%}",
            str(outcome.accounts),
            str(outcome.accounts_converted),
        )
    console.print(lead_table)


def _print_send_times(console: Console, result: GroundTruthEvaluation) -> None:
    from dagster_project.simulator.evaluation import Unavailable

    send_times = result.send_times
    if isinstance(send_times, Unavailable):
        console.print(f"Send times: {send_times.reason}")
        return
    console.print(
        f"Send times: the recommended hour is within an hour of the contact's hidden reading hour for "
        f"{_share(send_times.model_hits, send_times.contacts)} of {send_times.contacts} CRM contacts "
        f"({result.fixed_send_hour:02d}:00 for everyone: {_share(send_times.fixed_hour_hits, send_times.contacts)}); "
        f"for the {send_times.contacts_without_history} with no reads of their own (segment estimate): "
        f"{_share(send_times.model_hits_without_history, send_times.contacts_without_history)}.",
        highlight=False,
    )


def _share(hits: int, total: int) -> str:
    return f"{hits / total:.0%}" if total else "n/a"


def _run_live(console: Console, *, seed: int, accounts: int, days: int, start_date: str, interval: float) -> None:
    """Drop the simulated market into the landing zone batch by batch; `make ui`'s sensors do the rest."""
    from dagster_project.run.live import deliver_live
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
    if report.build_run_id:
        _print_build(console, report)

    from dagster_project.run.report import summary_lines

    console.print("\n".join(summary_lines(report)))


def _print_build(console: Console, report: MainRunReport) -> None:
    loads = Table("source", "files", "rows loaded", "rows quarantined", title="Connectors → raw (this run)")
    for load in report.warehouse.loads:
        loads.add_row(load.source, str(load.files), f"{load.rows_loaded:,}", f"{load.rows_quarantined:,}")
    if not report.warehouse.loads:
        loads.add_row("(no new landing files)", "0", "0", "0")
    console.print(loads)
    for source_file, line, field, reason in report.warehouse.quarantine_examples:
        console.print(
            f"  quarantined {source_file} line {line}, field {field}: {reason}", highlight=False, markup=False
        )
    steps = Table("step", "seconds", title=f"Build run {(report.build_run_id or '')[:8]}")
    for step, seconds in sorted(report.step_seconds.items(), key=lambda item: -item[1]):
        steps.add_row(step, f"{seconds:.1f}")
    console.print(steps)
