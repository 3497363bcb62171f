"""`surgewise deliveries list|retry`: what the webhook adapter sent to real systems, and its dead letters."""

from __future__ import annotations

import getpass
from typing import Annotated
from urllib.parse import urlsplit

import duckdb
import typer
from rich.console import Console
from rich.table import Table

from agents.adapters.deliveries import (
    BreakerState,
    DeliveryStatus,
    RetryRefused,
    delivery_counts,
    list_breakers,
    list_deliveries,
    matching_keys,
    retry_dead_letters,
)
from agents.adapters.webhook import DeliveryReport, deliver_pending, load_webhook_config
from dagster_project.cli.console import command_warehouse, make_console
from dagster_project.cli.governance_support import SHORT_ID, cell, fail, styled
from dagster_project.core.clock import utc_now
from dagster_project.core.config_files import ConfigError

deliveries_app = typer.Typer(
    help="Webhook deliveries to real systems: list them, and send dead letters again.", no_args_is_help=True
)


@deliveries_app.command("list")
def list_command(
    status: Annotated[DeliveryStatus | None, typer.Option("--status", help="Only deliveries in this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many of the most recent deliveries.")] = 50,
) -> None:
    """The most recent deliveries, newest first, with where each stands, and any breaker not closed."""
    console = make_console()
    with command_warehouse(console, read_only=True) as connection:
        counts = delivery_counts(connection)
        rows = list_deliveries(connection, status=status, limit=limit)
        breakers = [breaker for breaker in list_breakers(connection) if breaker.state is not BreakerState.CLOSED]
    if not rows:
        console.print("No webhook deliveries" + (" in that status." if status else " yet."))
        return
    table = Table(
        "delivery",
        "channel",
        "endpoint",
        "event",
        "status",
        "attempts",
        "last error",
        "next attempt",
        title="Deliveries",
    )
    for row in rows:
        table.add_row(
            row.idempotency_key[:SHORT_ID],
            cell(row.channel),
            cell(row.endpoint_url and urlsplit(row.endpoint_url).netloc),
            cell(f"{row.event} ({row.action_type})"),
            styled(row.status.value),
            str(row.attempts),
            cell(row.last_error),
            f"{row.next_attempt_at:%Y-%m-%d %H:%M:%S}" if row.next_attempt_at else "—",
        )
    console.print(table)
    console.print(", ".join(f"{count} {name}" for name, count in counts.items()), highlight=False)
    for breaker in breakers:
        console.print(
            f"[yellow]Circuit breaker {breaker.state.value}[/yellow] for {cell(breaker.endpoint)} after "
            f"{breaker.consecutive_failures} failed attempt(s); next probe from {cell(breaker.open_until)}.",
            highlight=False,
        )
    if counts.get(DeliveryStatus.DEAD_LETTERED.value):
        console.print("Send dead letters again with `surgewise deliveries retry ID` or `--all-dead`.")


@deliveries_app.command("retry")
def retry_command(
    keys: Annotated[
        list[str] | None, typer.Argument(help="Delivery ids (or unique prefixes) of dead letters.", show_default=False)
    ] = None,
    all_dead: Annotated[bool, typer.Option("--all-dead", help="Every dead letter.")] = False,
) -> None:
    """Move dead letters back to pending with a fresh attempt budget, then send what is due now."""
    console = make_console()
    if bool(keys) == all_dead:
        fail(console, "give delivery ids or --all-dead (not both)", "Nothing to retry")
    try:
        config = load_webhook_config()
    except ConfigError as error:
        fail(console, error, "Bad config")
    with command_warehouse(console, read_only=False) as connection:
        full_keys = None if all_dead else [_resolve(console, connection, key) for key in keys or []]
        try:
            moved = retry_dead_letters(connection, full_keys, by=getpass.getuser(), now=utc_now())
        except RetryRefused as error:
            fail(console, error)
        report = deliver_pending(connection, utc_now(), config=config)
    console.print(f"{len(moved)} dead letter(s) back to pending.", highlight=False)
    _print_report(console, report)


def _resolve(console: Console, connection: duckdb.DuckDBPyConnection, key: str) -> str:
    """The full delivery id for an id or a unique prefix, as the list shows ids shortened."""
    keys = matching_keys(connection, key)
    if key in keys:
        return key
    if len(keys) == 1:
        return keys[0]
    if not keys:
        fail(console, f"no delivery {key!r}", "Unknown delivery")
    fail(console, f"{key!r} matches several deliveries ({', '.join(keys)}, …): give more of the id", "Ambiguous")


def _print_report(console: Console, report: DeliveryReport) -> None:
    console.print(
        f"Sent: {report.delivered} delivered, {report.retrying} to retry, {report.dead_lettered} dead-lettered"
        + (f", {report.recovered} recovered after a crash" if report.recovered else "")
        + (f", {report.skipped_open_breaker} held by an open circuit breaker" if report.skipped_open_breaker else "")
        + ".",
        highlight=False,
    )
    for problem in report.problems:
        console.print(f"[red]Not sent:[/red] {cell(problem)}", highlight=False)
