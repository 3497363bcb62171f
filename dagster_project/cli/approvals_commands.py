"""`surgewise approvals list|approve|reject|execute|resolve`: the queue of actions waiting for a human."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from agents.governance.audit_schema import AUDIT_TABLE
from agents.governance.schema import ACTIONS_TABLE, ESCALATIONS_TABLE, ActionStatus
from agents.governance.store import StoredAction, load_actions
from dagster_project.cli.console import command_warehouse, make_console, warehouse_path
from dagster_project.cli.governance_support import (
    SHORT_ID,
    ActionKey,
    AgentFilter,
    By,
    Comment,
    ReviewerOption,
    cell,
    fired_rules,
    governor_for,
    known_agent,
    load_config,
    resolve_action_id,
    sign_as,
    sign_on_action,
    spend_cell,
    styled,
    what_cell,
)
from dagster_project.core.clock import utc_now
from dagster_project.core.warehouse import table_exists

approvals_app = typer.Typer(help="Actions waiting for a human: list, approve, reject.", no_args_is_help=True)


@approvals_app.command("list")
def list_approvals(
    agent: AgentFilter = None,
    decided: Annotated[bool, typer.Option("--all", help="Also requests already decided, with their reviewer.")] = False,
) -> None:
    """Approval requests waiting for a reviewer and the rules that sent them there, then open escalations."""
    console = make_console()
    registry, _ = load_config(console)
    if agent is not None:
        known_agent(console, registry, agent)
    now = utc_now()
    with command_warehouse(console, read_only=True) as connection:
        if not table_exists(connection, ACTIONS_TABLE):
            console.print("No approval requests: the governor has not run on this warehouse yet.")
            return
        # Only queued actions get an expiry, so it marks every action that ever waited for a reviewer.
        requests = load_actions(
            connection,
            "(status = ? or (? and expires_at is not null)) and (? is null or agent_id = ?)",
            [ActionStatus.PENDING_APPROVAL.value, decided, agent, agent],
        )
        escalations = connection.execute(
            f"select escalation_id, agent_id, escalated_to, reason, action_id, created_at from {ESCALATIONS_TABLE} "
            "where resolved_at is null and (? is null or agent_id = ?) order by created_at, escalation_id",
            [agent, agent],
        ).fetchall()
    if requests:
        console.print(_requests_table(requests, decided, now))
    else:
        console.print("No approval request is waiting" + (f" for {agent}." if agent else "."))
    if not escalations:
        console.print("No open escalations.")
        return
    table = Table("escalation", "agent", "escalated to", "reason", "action", "since", title="Open escalations")
    for escalation_id, agent_id, escalated_to, reason, action_id, created_at in escalations:
        table.add_row(
            str(escalation_id),
            agent_id,
            escalated_to,
            cell(reason),
            cell(action_id[:SHORT_ID] if action_id else None),
            cell(created_at),
        )
    console.print(table)


def _requests_table(requests: list[StoredAction], decided: bool, now: datetime) -> Table:
    columns = ["action", "agent", "action type", "account", "person", "spend", "reviewers", "expires at", "why"]
    if decided:
        columns += ["status", "reviewed by", "comment"]
    table = Table(*columns, title="Approval requests" if decided else "Waiting for a reviewer")
    for stored in requests:
        action = stored.action
        waiting = stored.status is ActionStatus.PENDING_APPROVAL
        expires = cell(stored.expires_at)
        if waiting and stored.expires_at is not None and stored.expires_at <= now:
            expires += " [red](overdue)[/red]"
        row = [
            action.action_id[:SHORT_ID],
            action.agent_id,
            what_cell(stored),
            cell(action.account_id),
            cell(action.person_id),
            spend_cell(stored),
            " or ".join(stored.reviewers) or "—",
            expires,
            fired_rules(stored),
        ]
        if decided:
            row += [styled(stored.status.value), cell(stored.reviewed_by), cell(stored.review_comment)]
        table.add_row(*row)
    return table


@approvals_app.command("approve")
def approve(action_id: ActionKey, reviewer: ReviewerOption, comment: Comment) -> None:
    """Approve a queued action as one of its listed reviewers, signed with your key; it executes only after every
    rule is re-checked."""
    console = make_console()
    now = utc_now()
    with governor_for(console, "approve") as governor:
        full_id = resolve_action_id(console, governor.connection, action_id)
        signature = sign_on_action(
            console, governor.registry, governor.connection, "approve", full_id, reviewer, comment, now
        )
        stored = governor.approve(full_id, reviewer, comment, now, signature=signature)
    console.print(
        f"[green]Approved[/green] {stored.action.action_id} ({stored.action.agent_id}: {what_cell(stored)}) by "
        f"{reviewer}: {escape(comment)}",
        highlight=False,
    )
    console.print(
        "The approved_actions sensor executes it on its next tick, after re-applying every rule with fresh facts: "
        "an approval never overrides consent withdrawn since, a cap reached or a paused agent.",
        highlight=False,
    )


@approvals_app.command("reject")
def reject(action_id: ActionKey, reviewer: ReviewerOption, comment: Comment) -> None:
    """Reject a queued action as one of its listed reviewers, signed with your key: it never executes."""
    console = make_console()
    now = utc_now()
    with governor_for(console, "reject") as governor:
        full_id = resolve_action_id(console, governor.connection, action_id)
        signature = sign_on_action(
            console, governor.registry, governor.connection, "reject", full_id, reviewer, comment, now
        )
        stored = governor.reject(full_id, reviewer, comment, now, signature=signature)
    console.print(
        f"[red]Rejected[/red] {stored.action.action_id} ({stored.action.agent_id}: {what_cell(stored)}) by {reviewer}: "
        f"{escape(comment)}. It will never execute.",
        highlight=False,
    )


@approvals_app.command("execute")
def execute_approved() -> None:
    """Do now what the approved_actions sensor does on its next tick: evaluate it and run its job in-process
    (approved actions execute after every rule is re-checked; overdue requests expire)."""
    from dagster_project.cli.console import dagster_instance
    from dagster_project.definitions import defs
    from dagster_project.run.driver import run_approved_actions

    console = make_console()
    if warehouse_path(console) is None:
        raise typer.Exit(code=1)
    with dagster_instance() as instance:
        run_ids = run_approved_actions(defs(), instance)
    if not run_ids:
        console.print("Nothing approved or overdue: the approved_actions sensor had nothing to run.")
        return
    with command_warehouse(console, read_only=True) as connection:
        outcomes = connection.execute(
            f"select event, outcome, count(*) from {AUDIT_TABLE} where list_contains(?, run_id) group by all "
            "order by all",
            [run_ids],
        ).fetchall()
    console.print(f"approved_actions_job run {', '.join(run_id[:8] for run_id in run_ids)}:", highlight=False)
    for event, outcome, count in outcomes:
        console.print(f"  {count} {event} → {outcome}", highlight=False)


@approvals_app.command("resolve")
def resolve_escalation(
    escalation_id: Annotated[int, typer.Argument(help="The escalation's id (see `approvals list`).")],
    by: By,
    comment: Comment,
) -> None:
    """Close an escalation with what you did about it, signed with your key (the answer goes to the audit log)."""
    console = make_console()
    now = utc_now()
    with governor_for(console, "resolve") as governor:
        signature = sign_as(console, governor.registry, by, "resolve", str(escalation_id), comment, now)
        governor.resolve_escalation(escalation_id, by=by, resolution=comment, now=now, signature=signature)
    console.print(f"[green]Resolved[/green] escalation {escalation_id} by {by}: {escape(comment)}", highlight=False)
