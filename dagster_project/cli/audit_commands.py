"""`surgewise audit verify` and `surgewise audit export`: prove the audit log was not changed, and hand it over.

`verify` recomputes the hash chain of the warehouse's log, or of an export file an auditor received (with the
head hash they were given apart from it, which shows a file cut short). `export` writes the log as JSON lines
that carry every entry's hashes, and prints the head hash to pass on separately.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from dagster_project.cli.console import command_warehouse, make_console
from dagster_project.core.settings import DATA_DIR_ENV, env_path

if TYPE_CHECKING:
    from agents.governance.audit_reading import ChainReport

audit_app = typer.Typer(
    help="The hash-chained audit log: verify that no entry was edited, removed or added, and export it.",
    no_args_is_help=True,
)

EXPORT_NAME = "audit_export.jsonl"


def _print_problems(console: Console, report: ChainReport, source: str) -> None:
    first_seq, first_problem = report.problems[0]
    console.print(
        f"[red]The audit log in {source} is broken[/red]: {len(report.problems)} problem(s) in {report.entries:,} "
        f"entries; first at entry {first_seq}: {first_problem}.",
        highlight=False,
    )
    table = Table("entry", "problem", title="Broken links")
    for seq, problem in report.problems:
        table.add_row(str(seq), problem)
    console.print(table)


@audit_app.command("verify")
def verify_command(
    file: Annotated[
        Path | None,
        typer.Option("--file", help="Verify this export (from `surgewise audit export`) instead of the warehouse."),
    ] = None,
    head: Annotated[
        str | None,
        typer.Option("--head", help="With --file: the head hash given with the export, to catch a file cut short."),
    ] = None,
) -> None:
    """Recompute every entry's hash in order and check the links between them; exit 1 if anything was changed."""
    from agents.governance.audit_reading import verify_chain, verify_jsonl

    console = make_console()
    if file is not None:
        if not file.is_file():
            console.print(f"[red]No export at {file}.[/red]", highlight=False)
            raise typer.Exit(code=1)
        report, source = verify_jsonl(file, expected_head_hash=head), str(file)
    else:
        with command_warehouse(console, read_only=True) as connection:
            report = verify_chain(connection)
        source = "the warehouse"
    if not report.ok:
        _print_problems(console, report, source)
        raise typer.Exit(code=1)
    console.print(
        f"[green]Audit log intact[/green] ({source}): {report.entries:,} entries, every hash recomputed and "
        f"every link checked{' against the given head' if head else ''}. Head hash: {report.head_hash}",
        highlight=False,
    )


@audit_app.command("export")
def export_command(
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help=f"Where to write the JSON lines (default: the data directory's {EXPORT_NAME})."
        ),
    ] = None,
) -> None:
    """Write every entry in order, with its hashes, for an auditor to re-verify without the warehouse."""
    from agents.governance.audit_reading import export_jsonl, verify_chain

    console = make_console()
    output = output or env_path(DATA_DIR_ENV) / EXPORT_NAME
    with command_warehouse(console, read_only=True) as connection:
        count = export_jsonl(connection, output)
        report = verify_chain(connection)
    console.print(f"Exported {count:,} audit entries to {output}.", highlight=False)
    if not report.ok:
        _print_problems(console, report, "the warehouse")
        console.print("[red]The export holds the broken chain as it is; an auditor will see the same.[/red]")
        raise typer.Exit(code=1)
    console.print(
        f"Head hash: {report.head_hash}\nGive it to the auditor apart from the file; they run "
        f"`surgewise audit verify --file {output} --head <hash>`.",
        highlight=False,
    )
