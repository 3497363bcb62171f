"""`surgewise audit verify`, `export` and `anchor`: prove the audit log was not changed, hand it over, and sign
its head.

`verify` recomputes the keyed chain of the warehouse's log (every hash, every MAC under the chain key), checks
it against every signed checkpoint and looks for governance effects no entry accounts for; or it verifies an
export file an auditor received, with the checkpoints (`--anchors`), the chain key (`--key-file`) or the head
hash given apart from it. `export` writes the log as JSON lines that carry every entry's hashes and MAC.
`anchor` signs the head into a checkpoint now (every operation that appends does so too).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dagster_project.cli.console import command_warehouse, make_console
from dagster_project.cli.governance_support import configured_registry
from dagster_project.core.clock import utc_now
from dagster_project.core.settings import DATA_DIR_ENV, env_path

if TYPE_CHECKING:
    from agents.governance.audit_reading import ChainReport

audit_app = typer.Typer(
    help="The keyed, anchored audit log: verify that no entry was edited, removed or added, export it, sign its head.",
    no_args_is_help=True,
)

EXPORT_NAME = "audit_export.jsonl"


def _print_problems(console: Console, report: ChainReport, source: str) -> None:
    first = f"at entry {report.problems[0][0]}: {report.problems[0][1]}" if report.problems else report.unrecorded[0]
    console.print(
        f"[red]The audit log in {source} is broken[/red]: {len(report.describe())} problem(s) in "
        f"{report.entries:,} entries; first {escape(first)}.",
        highlight=False,
    )
    if report.problems:
        table = Table("entry", "problem", title="Broken links")
        for seq, problem in report.problems:
            table.add_row(str(seq), escape(problem))
        console.print(table)
    if report.unrecorded:
        unrecorded = Table("what the warehouse holds with no audit entry", title="Unrecorded effects")
        for finding in report.unrecorded:
            unrecorded.add_row(escape(finding))
        console.print(unrecorded)


def _what_was_checked(report: ChainReport) -> str:
    macs = "every MAC checked under the chain key" if report.macs_checked else "MACs NOT checked (no chain key)"
    anchored = (
        f"{report.checkpoints:,} signed checkpoint(s) verified, the last covering {report.anchored_entries:,} entries"
        if report.checkpoints
        else "no signed checkpoint"
    )
    return f"every hash recomputed, every link checked, {macs}, {anchored}"


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
    anchors: Annotated[
        Path | None,
        typer.Option(
            "--anchors",
            help="The signed checkpoints directory (default for the warehouse: $SURGEWISE_AUDIT_ANCHOR_DIR). With "
            "--file it proves every entry up to the last checkpoint without any secret.",
        ),
    ] = None,
    public_key: Annotated[
        Path | None,
        typer.Option("--public-key", help="With --file --anchors: the anchor public key, if given apart."),
    ] = None,
    key_file: Annotated[
        Path | None,
        typer.Option("--key-file", help="With --file: the chain key, to check every entry's MAC."),
    ] = None,
) -> None:
    """Recompute every entry's hash and MAC, check the links, the chain head and the signed checkpoints, and look
    for actions or channel changes with no audit entry; exit 1 if anything is wrong."""
    from agents.governance.audit_reading import verify_chain, verify_jsonl

    console = make_console()
    if file is not None:
        for given in (file, key_file):
            if given is not None and not given.is_file():
                console.print(f"[red]No file at {given}.[/red]", highlight=False)
                raise typer.Exit(code=1)
        key = key_file.read_bytes().strip() if key_file else None
        report = verify_jsonl(file, expected_head_hash=head, key=key, anchors=anchors, public_key=public_key)
        source = str(file)
    else:
        with command_warehouse(console, read_only=True) as connection:
            report = verify_chain(connection, anchors=anchors, registry=configured_registry())
        source = "the warehouse"
    if not report.ok:
        _print_problems(console, report, source)
        raise typer.Exit(code=1)
    console.print(
        f"[green]Audit log intact[/green] ({source}): {report.entries:,} entries, {_what_was_checked(report)}"
        f"{', checked against the given head' if head else ''}. Head hash: {report.head_hash}",
        highlight=False,
    )
    if file is not None and not report.macs_checked and report.anchored_entries < report.entries:
        console.print(
            f"[yellow]Entries {report.anchored_entries + 1:,} to {report.entries:,} are only linked[/yellow]: an "
            "entry rewritten with every later hash recomputed would pass. Pass --anchors with a later checkpoint, "
            "or --key-file.",
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
    from agents.governance.audit_anchors import anchor_dir
    from agents.governance.audit_reading import export_jsonl, verify_chain

    console = make_console()
    output = output or env_path(DATA_DIR_ENV) / EXPORT_NAME
    with command_warehouse(console, read_only=True) as connection:
        count = export_jsonl(connection, output)
        report = verify_chain(connection, registry=configured_registry())
        anchors_dir = anchor_dir(connection)
    console.print(f"Exported {count:,} audit entries to {output}.", highlight=False)
    if not report.ok:
        _print_problems(console, report, "the warehouse")
        console.print("[red]The export holds the broken chain as it is; an auditor will see the same.[/red]")
        raise typer.Exit(code=1)
    console.print(
        f"Head hash: {report.head_hash}\nGive the auditor the file with a copy of the checkpoints directory "
        f"{anchors_dir} (it holds the public key, no secret); they run `surgewise audit verify --file {output} "
        f"--anchors <copy> --head <hash>`.",
        highlight=False,
    )


@audit_app.command("anchor")
def anchor_command() -> None:
    """Sign the audit log's head into a new checkpoint outside the warehouse (and POST it to the webhook, if
    one is set); exit 1 if the head does not extend the last checkpoint."""
    from agents.governance.audit_anchors import AuditAnchorError, anchor_head

    console = make_console()
    with command_warehouse(console, read_only=True) as connection:
        try:
            checkpoint = anchor_head(connection, utc_now())
        except AuditAnchorError as refusal:
            console.print(f"[red]Not signed[/red]: {escape(str(refusal))}", highlight=False)
            raise typer.Exit(code=1) from refusal
    if checkpoint is None:
        console.print("The last checkpoint already holds the head: nothing to sign.")
        return
    console.print(
        f"Checkpoint {checkpoint.sequence} signed: {checkpoint.entries:,} entries, head {checkpoint.head_hash}, "
        f"written to {checkpoint.path}.",
        highlight=False,
    )
    if checkpoint.webhook_error:
        console.print(
            f"[yellow]The webhook did not take it[/yellow] ({escape(checkpoint.webhook_error)}); the local "
            "checkpoint is kept.",
            highlight=False,
        )
