"""`surgewise quarantine list` and `surgewise quarantine replay`: rows that failed their source contract."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from dagster_project.cli.console import (
    command_warehouse,
    dagster_instance,
    literal,
    log_tail,
    make_console,
    quiet_build,
    shorten,
    warehouse_path,
)
from dagster_project.core.settings import LANDING_DIR_ENV, env_path

if TYPE_CHECKING:
    from dagster_project.run.quarantine_replay import ReplayReport

quarantine_app = typer.Typer(
    help="Rows that failed their source contract: list them, and replay them once the landing file is fixed.",
    no_args_is_help=True,
)

SourceOption = Annotated[str | None, typer.Option("--source", help="Only this connector (e.g. web_events).")]


@quarantine_app.command("list")
def list_command(
    source: SourceOption = None,
    file: Annotated[
        str | None, typer.Option("--file", help="Only this landing file (`web_events/batch_….jsonl` or its name).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many rows.")] = 50,
) -> None:
    """Quarantined rows with their file, line, field and reason, and how many there are per source."""
    from dagster_project.run.quarantine_replay import UnknownSourceError, list_quarantine, quarantine_counts

    console = make_console()
    try:
        with command_warehouse(console, read_only=True) as connection:
            counts = quarantine_counts(connection, source=source, source_file=file)
            rows = list_quarantine(connection, source=source, source_file=file, limit=limit)
    except UnknownSourceError as error:
        console.print(f"[red]{error}[/red]", highlight=False)
        raise typer.Exit(code=2) from None
    if not counts:
        console.print("Nothing in quarantine" + (" for that filter." if source or file else ": every row loaded."))
        return
    totals = Table("source", "rows quarantined", "files", title="raw.quarantine")
    for source_name, (count, files) in counts.items():
        totals.add_row(literal(source_name), f"{count:,}", f"{files:,}")
    console.print(totals)
    # Everything in a row came from a landing file (its name too): shown literally, never as markup.
    table = Table("source", "file", "line", "field", "reason", "payload", title="Quarantined rows")
    for row in rows:
        table.add_row(
            literal(row.source),
            literal(row.source_file),
            _line(row.source_line),
            literal(row.field),
            literal(row.reason),
            shorten(row.raw_payload, 50),
        )
    console.print(table)
    total = sum(count for count, _ in counts.values())
    if total > len(rows):
        console.print(f"Showing {len(rows)} of {total:,} rows; use --limit, --source or --file to see others.")
    console.print(
        "Fix the rows in the landing files, then run `surgewise quarantine replay`: changed files are reloaded.",
        highlight=False,
    )


@quarantine_app.command("replay")
def replay_command(source: SourceOption = None) -> None:
    """Reload fixed landing files (the build job), then report what left quarantine and what is still there."""
    from dagster_project.definitions import defs
    from dagster_project.run.quarantine_replay import UnknownSourceError, check_source, replay_quarantine

    console = make_console()
    try:
        check_source(source)
    except UnknownSourceError as error:
        console.print(f"[red]{error}[/red]", highlight=False)
        raise typer.Exit(code=2) from None
    path = warehouse_path(console)
    if path is None:
        raise typer.Exit(code=1)
    with (
        dagster_instance() as instance,
        console.status("Reloading changed landing files, building dbt models, running data checks"),
        quiet_build() as log,
    ):
        report = replay_quarantine(
            defs(), instance, duckdb_path=path, landing_dir=env_path(LANDING_DIR_ENV), source=source
        )

    _print_replay(console, report, source)
    console.print(
        f"{report.recovered} row(s) recovered, {report.still_quarantined} still quarantined "
        "(kept in raw.quarantine; nothing is lost).",
        highlight=False,
    )
    if not report.build.succeeded:
        console.print(log_tail(log), highlight=False, markup=False)
        console.print(
            f"[red]Build failed in: {', '.join(report.build.failed_steps) or 'unknown step'}[/red]", highlight=False
        )
        raise typer.Exit(code=1)


def _print_replay(console: Console, report: ReplayReport, source: str | None) -> None:
    """Per source what left quarantine; then every row still there, with what to do about its file."""
    from dagster_project.connectors.loader import FILE_LINE
    from dagster_project.run.quarantine_replay import FileStatus

    summary = Table(
        "source",
        "recovered",
        "still quarantined",
        "line removed",
        "newly quarantined",
        title=f"Quarantine replay (build run {report.build.run_id[:8]})",
    )
    for replay in report.sources:
        summary.add_row(
            replay.source,
            str(len(replay.recovered)),
            str(len(replay.still_quarantined)),
            str(len(replay.removed)),
            str(len(replay.newly_quarantined)),
        )
    if not report.sources:
        summary.add_row(source or "(all sources)", "0", "0", "0", "0")
    console.print(summary)

    for replay in report.sources:
        for row in replay.recovered:
            where = "(the whole file)" if row.source_line == FILE_LINE else f"line {row.source_line}"
            console.print(f"  recovered {row.source_file} {where} into raw.{row.source}", highlight=False, markup=False)
    waiting = [(row, "still") for replay in report.sources for row in replay.still_quarantined]
    waiting += [(row, "new") for replay in report.sources for row in replay.newly_quarantined]
    if waiting:
        table = Table("source", "file", "line", "field", "reason", "file status", title="Still in quarantine")
        for row, kind in waiting:
            status = report.file_status.get((row.source, row.source_file), "new landing file")
            if kind == "new":
                status = f"newly quarantined ({status})"
            elif status == FileStatus.UNCHANGED:
                status = f"{status}: fix the file, then replay"
            table.add_row(
                literal(row.source),
                literal(row.source_file),
                _line(row.source_line),
                literal(row.field),
                literal(row.reason),
                status,
            )
        console.print(table)


def _line(source_line: int) -> str:
    """A line number, or `file` for an entry about the whole file (refused, over size, unreadable)."""
    from dagster_project.connectors.loader import FILE_LINE

    return "file" if source_line == FILE_LINE else str(source_line)
