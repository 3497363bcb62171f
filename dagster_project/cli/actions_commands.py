"""`surgewise actions list|rollback`: what the agents did, and undoing it."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from agents.governance.governor import rollback_window_subject
from agents.governance.rollbacks import RollbackResult
from agents.governance.schema import ACTIONS_TABLE, ActionStatus
from agents.governance.store import load_actions
from dagster_project.cli.console import command_warehouse, make_console
from dagster_project.cli.governance_support import (
    SHORT_ID,
    AgentFilter,
    By,
    Reason,
    cell,
    fail,
    fired_rules,
    governor_for,
    known_agent,
    load_config,
    parse_moment,
    resolve_action_id,
    sign_as,
    sign_on_action,
    spend_cell,
    styled,
    what_cell,
)
from dagster_project.core.clock import utc_now
from dagster_project.core.warehouse import table_exists

actions_app = typer.Typer(help="What the agents did: list actions and roll them back.", no_args_is_help=True)


@actions_app.command("list")
def list_actions(
    agent: AgentFilter = None,
    status: Annotated[ActionStatus | None, typer.Option("--status", help="Only actions in this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many of the most recent actions.")] = 20,
) -> None:
    """The most recent actions, oldest first, with where each one stands."""
    console = make_console()
    registry, _ = load_config(console)
    if agent is not None:
        known_agent(console, registry, agent)
    with command_warehouse(console, read_only=True) as connection:
        recent = (
            load_actions(
                connection,
                f"action_id in (select action_id from {ACTIONS_TABLE} where (? is null or agent_id = ?) "
                "and (? is null or status = ?) order by proposed_at desc, action_id desc limit ?)",
                [agent, agent, status, status, limit],
            )
            if table_exists(connection, ACTIONS_TABLE)
            else []
        )
    if not recent:
        console.print("No actions" + (" match those filters." if agent or status else " yet."))
        return
    table = Table("action", "proposed at", "agent", "action type", "account", "person", "spend", "status", "detail")
    for stored in recent:
        action = stored.action
        links = [
            f"undoes {action.rollback_of[:SHORT_ID]}" if action.rollback_of else "",
            f"rolled back by {stored.rolled_back_by[:SHORT_ID]}" if stored.rolled_back_by else "",
        ]
        detail = "; ".join(part for part in links if part) or stored.status_detail
        table.add_row(
            action.action_id[:SHORT_ID],
            cell(stored.proposed_at),
            action.agent_id,
            what_cell(stored),
            cell(action.account_id),
            cell(action.person_id),
            spend_cell(stored),
            styled(stored.status.value),
            cell(detail) if detail else fired_rules(stored),
        )
    console.print(table)
    console.print("`surgewise explain action <id>` tells one action's whole story.", highlight=False)


@actions_app.command("rollback")
def rollback(
    by: By,
    reason: Reason,
    action_id: Annotated[str | None, typer.Argument(help="The executed action to undo (id or prefix).")] = None,
    agent: Annotated[
        str | None, typer.Option("--agent", help="Undo everything this agent executed in a window.")
    ] = None,
    since: Annotated[str | None, typer.Option(help="With --agent: window start, ISO time (UTC).")] = None,
    until: Annotated[str | None, typer.Option(help="With --agent: window end, ISO time (UTC); default now.")] = None,
) -> None:
    """Undo one executed action, or all an agent executed in a window, and check each channel is restored.

    Each undo goes through governance and the audit log; a window is undone newest first."""
    console = make_console()
    if (action_id is None) == (agent is None):
        fail(console, "name one action, or pass --agent with --since for a window", "Usage")
    if agent is not None and since is None:
        raise typer.BadParameter("a window needs a start", param_hint="--since")
    if action_id is not None and (since or until):
        raise typer.BadParameter("only with --agent", param_hint="--since/--until")
    now = utc_now()
    start = parse_moment(since, "--since") if since else now
    end = parse_moment(until, "--until") if until else now
    if start > end:
        raise typer.BadParameter(f"the window ends ({end}) before it starts ({start})", param_hint="--until")
    with governor_for(console, "rollback") as governor:
        if action_id is not None:
            key = resolve_action_id(console, governor.connection, action_id)
            signature = sign_on_action(
                console, governor.registry, governor.connection, "rollback", key, by, reason, now
            )
            results = [governor.rollback(key, by=by, reason=reason, now=now, signature=signature)]
        else:
            agent_id = known_agent(console, governor.registry, agent or "").id
            subject = rollback_window_subject(agent_id, start, end)
            signature = sign_as(console, governor.registry, by, "rollback_window", subject, reason, now)
            results = governor.rollback_window(agent_id, start, end, by=by, reason=reason, now=now, signature=signature)
            if not results:
                console.print(
                    f"Nothing to roll back: {agent_id} executed no action between {start:%Y-%m-%d %H:%M} and "
                    f"{end:%Y-%m-%d %H:%M}.",
                    highlight=False,
                )
                return
    console.print(_rollback_table(results))
    if not all(result.restored for result in results):
        raise typer.Exit(code=1)


def _rollback_table(results: list[RollbackResult]) -> Table:
    table = Table("action", "undone by", "channel restored", "detail", title="Rolled back")
    for result in results:
        table.add_row(
            result.action_id,
            result.rollback_action_id,
            "[green]yes[/green]" if result.restored else "[red]no[/red]",
            cell(result.detail),
        )
    return table
