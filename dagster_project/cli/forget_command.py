"""`surgewise forget`: the data side of a GDPR erasure request, verified by a scan of the whole warehouse."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from dagster_project.cli.console import dagster_instance, log_tail, make_console, quiet_build, warehouse_path
from dagster_project.cli.explain_commands import identity_table
from dagster_project.core.settings import (
    AUDIT_ANCHOR_DIR_ENV,
    DATA_DIR_ENV,
    GROUND_TRUTH_DIR_ENV,
    LANDING_DIR_ENV,
    MODEL_REGISTRY_DIR_ENV,
    env_path,
)
from dagster_project.core.warehouse import DEFAULT_LOCK_TIMEOUT_SECONDS, WarehouseBusyError

OUTBOX_DIR_NAME = "outbox"
"""Live mode's outbox under the data directory (as `surgewise run --live` writes it)."""

PersonKey = Annotated[
    str, typer.Argument(help="E-mail address, person id, CRM contact id or cookie id.", show_default=False)
]


def _print_forget_report(console: Console, report: Any) -> None:
    erased = Table("table", "rows erased", title="Erased")
    for table, count in sorted(report.erased.items()):
        erased.add_row(table, f"{count:,}")
    for column, count in sorted(report.pseudonymised.items()):
        erased.add_row(f"{column} (mentions pseudonymised)", f"{count:,}")
    for source_file, lines in sorted(report.landing_lines.items()):
        erased.add_row(f"landing/{source_file} (lines erased or pseudonymised)", f"{lines:,}")
    for source_file, lines in sorted(report.outbox_lines.items()):
        erased.add_row(f"outbox/{source_file} (lines erased or pseudonymised)", f"{lines:,}")
    for version in report.model_versions_scrubbed:
        erased.add_row(f"model_registry/send_time/{version} (read history)", "1")
    for storage_file, count in sorted(report.dagster_storage.items()):
        erased.add_row(f"dagster storage {storage_file} (mentions pseudonymised)", f"{count:,}")
    if not (
        report.erased
        or report.pseudonymised
        or report.landing_lines
        or report.outbox_lines
        or report.model_versions_scrubbed
        or report.dagster_storage
    ):
        erased.add_row("(nothing held)", "0")
    console.print(erased)
    emails = sum(1 for identity in report.identities if identity.identity_type == "email")
    console.print(
        f"Suppression list: {emails} e-mail fingerprint(s), {report.suppressed_emails} newly added: "
        "never re-created or contacted.\n"
        f"Audit log: tombstone entry {report.tombstone_entry_id} (person_forgotten); earlier entries kept.",
        highlight=False,
    )
    build = report.build
    if build is not None:
        console.print(
            f"Rebuild (run {build.run_id[:8]}): "
            + (
                "succeeded"
                if build.succeeded
                else f"[yellow]failed in {', '.join(build.failed_steps) or '?'}[/yellow] (log above); "
                "the erasure does not depend on it, the scan below does"
            ),
            highlight=False,
        )
    if report.rewrite is not None:
        rewrite = report.rewrite
        console.print(
            f"Warehouse rewritten into a fresh file in {rewrite.seconds:.1f}s "
            f"({rewrite.bytes_before / 1e6:,.1f} MB → {rewrite.bytes_after / 1e6:,.1f} MB): "
            "no free block keeps an erased row.",
            highlight=False,
        )
    if report.rewrite_error is not None:
        console.print(
            f"[red]The warehouse was not rewritten[/red] (its free blocks may keep erased rows): "
            f"{report.rewrite_error}. Run `surgewise forget` again when nothing else uses it.",
            highlight=False,
        )
    if report.file_traces:
        files = Table("file", "value", "copies in its bytes", title="[red]Still found in files[/red]")
        for trace in report.file_traces:
            files.add_row(Text(trace.path), Text(trace.value), str(trace.copies) if trace.copies >= 0 else "?")
        console.print(files)
    if report.remaining:
        traces = Table("table", "column", "value", "rows", title="[red]Still found after erasure[/red]")
        for trace in report.remaining:
            traces.add_row(trace.relation, trace.column, trace.value, str(trace.rows) if trace.rows >= 0 else "?")
        console.print(traces)
        if any(trace.relation.startswith("audit.") for trace in report.remaining):
            console.print(
                "The audit log is never rewritten: the entries above hold personal data and need a "
                "governance decision.",
                highlight=False,
            )
    else:
        console.print("Verified: no table or view in the warehouse mentions the person any more.")
    if not report.file_traces:
        console.print(
            "Verified: no byte of the warehouse file, Dagster's storage or the data directory's files holds "
            "the person's e-mail, ids or person id.",
            highlight=False,
        )


def forget(
    key: PersonKey,
    reason: Annotated[str, typer.Option(help="Why (kept on the suppression list and the tombstone).")] = (
        "erasure request (GDPR art. 17)"
    ),
    keep_landing: Annotated[
        bool,
        typer.Option(
            "--keep-landing",
            help="Leave the landing zone and the outbox untouched (default: erase the person's lines there too).",
        ),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    lock_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for another process to release the warehouse before refusing.")
    ] = DEFAULT_LOCK_TIMEOUT_SECONDS,
) -> None:
    """Erase a person everywhere, add them to the suppression list, leave a tombstone in the audit log, verify."""
    from dagster_project.definitions import defs
    from dagster_project.privacy.forget import forget_person
    from dagster_project.privacy.resolve import UnknownPersonError
    from models.registry import ModelRegistry

    console = make_console()
    path = warehouse_path(console)
    if path is None:
        raise typer.Exit(code=1)
    data_dir = env_path(DATA_DIR_ENV)
    try:
        _confirm_who(console, path, key, yes, lock_timeout)
        with (
            dagster_instance() as instance,
            console.status("Erasing, rebuilding the marts, verifying"),
            quiet_build() as log,
        ):
            anchor_dirs = [Path(os.environ[AUDIT_ANCHOR_DIR_ENV])] if os.environ.get(AUDIT_ANCHOR_DIR_ENV) else []
            report = forget_person(
                defs(),
                instance,
                key,
                duckdb_path=path,
                landing_dir=None if keep_landing else env_path(LANDING_DIR_ENV),
                reason=reason,
                model_registry=ModelRegistry(env_path(MODEL_REGISTRY_DIR_ENV)),
                outbox_dir=None if keep_landing else data_dir / OUTBOX_DIR_NAME,
                scan_dirs=(data_dir, *anchor_dirs),
                # The simulator's answer key about its simulated people, which it never gives the platform.
                unscanned_dirs=(env_path(GROUND_TRUTH_DIR_ENV),),
                lock_timeout_seconds=lock_timeout,
            )
    except UnknownPersonError as error:
        console.print(f"[red]Unknown person:[/red] {error}.", highlight=False)
        raise typer.Exit(code=1) from None
    except WarehouseBusyError as error:
        console.print("[red]Refused, nothing was changed:[/red]", Text(str(error)), highlight=False)
        raise typer.Exit(code=1) from None
    if report.build is not None and not report.build.succeeded:
        console.print(log_tail(log), highlight=False, markup=False)
    _print_forget_report(console, report)
    if not report.verified:
        console.print("[red]Forget is NOT complete: see above.[/red]")
        raise typer.Exit(code=1)


def _confirm_who(console: Console, path: Path, key: str, yes: bool, lock_timeout: float) -> None:
    """Show whose identities will be erased (or that the key is unknown) and ask, unless --yes."""
    from dagster_project.core.warehouse import open_warehouse
    from dagster_project.privacy.resolve import is_email, resolve_person

    with open_warehouse(path, read_only=True, lock_timeout_seconds=lock_timeout) as connection:
        person = resolve_person(connection, key)
    if person is None and not is_email(key):
        console.print(
            f"[red]Unknown person:[/red] no person found for {key!r} (looked up person id, CRM contact and cookie).",
            highlight=False,
        )
        raise typer.Exit(code=1)
    if person is None:
        console.print(f"No profile for {key}: it will be suppressed and any trace of it erased.", highlight=False)
    else:
        console.print(identity_table(person.identities, f"Person {person.person_id}: identities to erase"))
    if not yes:
        typer.confirm(
            "Erase this person from the warehouse, the landing zone and the outbox? This cannot be undone", abort=True
        )
