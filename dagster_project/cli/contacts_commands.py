"""`surgewise contacts do-not-contact`: people no agent may contact."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from dagster_project.cli.console import make_console
from dagster_project.cli.governance_support import (
    By,
    Reason,
    governor_for,
)
from dagster_project.core.clock import utc_now

contacts_app = typer.Typer(help="People no agent may contact.", no_args_is_help=True)


@contacts_app.command("do-not-contact")
def do_not_contact(
    email: Annotated[str, typer.Argument(help="The person's e-mail address.", show_default=False)],
    by: By,
    reason: Reason,
) -> None:
    """Record a do-not-contact request: no agent proposal or execution reaches this address from now on."""
    console = make_console()
    with governor_for(console, "do-not-contact") as governor:
        added = governor.mark_do_not_contact(email, by=by, reason=reason, now=utc_now())
    state = "added to" if added else "already on"
    console.print(
        f"{escape(email)} {state} the suppression list (kept as a fingerprint) by {by}: {escape(reason)}. Every "
        "agent action is checked against it when proposed and again when executed.",
        highlight=False,
    )
