"""`surgewise agents|approvals|actions` and `surgewise explain action`: the human side of governance.

Reviewers see what each agent may do and how far its rollout has got, pause and resume agents, decide the
approval queue, roll back what was executed, and read the whole story of one action. Every change goes
through the Governor, so the same checks apply as everywhere else (an agent can never approve, only a listed
reviewer may pause) and every change lands in the audit log. Listing and explaining open the warehouse
read-only, so they never wait for, or block, a run that writes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, NoReturn
from uuid import uuid4

import duckdb
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agents.config import AgentDefinition, AgentRegistry, PolicySet, load_agent_registry, load_policies
from agents.governance.audit import AUDIT_TABLE, verify_chain
from agents.governance.governor import GovernanceError, Governor, RollbackResult
from agents.governance.overview import AgentOverview, governance_overview
from agents.governance.store import (
    ACTIONS_TABLE,
    ESCALATIONS_TABLE,
    GLOBAL_CONTROL,
    ActionStatus,
    StoredAction,
    load_action,
    load_actions,
    pause_state,
)
from dagster_project.commands import make_console, warehouse_path
from dagster_project.core.clock import utc_now
from dagster_project.core.config_files import ConfigError
from dagster_project.core.settings import CONFIG_DIR_ENV, env_path
from dagster_project.core.warehouse import open_warehouse, table_exists

agents_app = typer.Typer(
    help="The registered agents: their scope, rollout phase and kill switch.", no_args_is_help=True
)
approvals_app = typer.Typer(help="Actions waiting for a human: list, approve, reject.", no_args_is_help=True)
actions_app = typer.Typer(help="What the agents did: list actions and roll them back.", no_args_is_help=True)
contacts_app = typer.Typer(help="People no agent may contact.", no_args_is_help=True)

REVIEWER_ENV = "SURGEWISE_REVIEWER"
SHORT_ID = 12
"""Characters of an action id shown in lists; every command accepts any unique prefix."""

STYLES = {
    "allowed": "green",
    "executed": "green",
    "approved": "cyan",
    "needs_approval": "yellow",
    "pending_approval": "yellow",
    "denied": "red",
    "rejected": "red",
    "failed": "red",
    "escalated": "magenta",
    "expired": "dim",
    "rolled_back": "blue",
}

ActionKey = Annotated[str, typer.Argument(help="Action id, or a unique prefix of it.", show_default=False)]
AgentFilter = Annotated[str | None, typer.Option("--agent", help="Only this agent's.")]
By = Annotated[
    str, typer.Option("--by", envvar=REVIEWER_ENV, help="Your reviewer id from config/agents.yaml.", show_default=False)
]
Reason = Annotated[str, typer.Option("--reason", help="Why (kept in the audit log).", show_default=False)]
ReviewerOption = Annotated[
    str,
    typer.Option(
        "--reviewer", envvar=REVIEWER_ENV, help="Your reviewer id from config/agents.yaml.", show_default=False
    ),
]
Comment = Annotated[str, typer.Option("--comment", help="Why you decided so (kept in the audit log).")]


# --- shared plumbing ----------------------------------------------------------------------------------


def _now() -> datetime:
    """Naive UTC, as every governance timestamp is stored."""
    return utc_now()


def _fail(console: Console, message: object, label: str = "Refused") -> NoReturn:
    console.print(f"[red]{label}:[/red] {escape(str(message))}", highlight=False)
    raise typer.Exit(code=1)


def _config(console: Console) -> tuple[AgentRegistry, PolicySet]:
    """The registry and policies the agents run under (`$SURGEWISE_CONFIG_DIR`), read fresh like every run."""
    try:
        return load_agent_registry(env_path(CONFIG_DIR_ENV)), load_policies(env_path(CONFIG_DIR_ENV))
    except ConfigError as error:
        _fail(console, error, "Bad config")


@contextmanager
def _warehouse(console: Console, *, read_only: bool) -> Iterator[duckdb.DuckDBPyConnection]:
    path = warehouse_path(console)
    if path is None:
        raise typer.Exit(code=1)
    with open_warehouse(path, read_only=read_only) as connection:
        yield connection


@contextmanager
def _governor(console: Console, command: str) -> Iterator[Governor]:
    """A Governor on the warehouse opened for writing; a refusal becomes a red message and exit code 1."""
    registry, policies = _config(console)
    with _warehouse(console, read_only=False) as connection:
        try:
            yield Governor(connection, registry, policies, run_id=f"cli-{command}-{uuid4().hex[:8]}")
        except GovernanceError as error:
            _fail(console, error)


def _known_agent(console: Console, registry: AgentRegistry, agent_id: str) -> AgentDefinition:
    agent = registry.get(agent_id)
    if agent is None:
        known = ", ".join(registered.id for registered in registry.agents)
        _fail(console, f"no agent {agent_id!r} in the registry; known agents: {known}", "Unknown agent")
    return agent


def _resolve(console: Console, connection: duckdb.DuckDBPyConnection, key: str) -> str:
    """The full action id for an id or a unique prefix, as lists show ids shortened."""
    matches = (
        connection.execute(
            f"select action_id from {ACTIONS_TABLE} where starts_with(action_id, ?) order by action_id limit 3",
            [key],
        ).fetchall()
        if key and table_exists(connection, ACTIONS_TABLE)
        else []
    )
    ids = [action_id for (action_id,) in matches]
    if key in ids:
        return key
    if len(ids) == 1:
        return ids[0]
    if not ids:
        _fail(console, f"no action {key!r} in {ACTIONS_TABLE}", "Unknown action")
    _fail(console, f"{key!r} matches several actions ({', '.join(ids)}, …): give more of the id", "Ambiguous action")


def _styled(value: str) -> str:
    style = STYLES.get(value)
    return f"[{style}]{value}[/{style}]" if style else escape(value)


def _text(value: object) -> str:
    """A table cell of stored text, never read as rich markup."""
    if value is None or value == "":
        return "—"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, dict | list):
        return escape(json.dumps(value, sort_keys=True, default=str))
    return escape(str(value))


def _spend(stored: StoredAction) -> str:
    action = stored.action
    if action.spend == 0:
        return "—"
    return f"{action.spend:,.2f}" + (f" on {action.campaign_id}" if action.campaign_id else "")


def _what(stored: StoredAction) -> str:
    return f"{stored.action.action_type} on {stored.action.channel}"


def _fired(stored: StoredAction) -> str:
    """The rules that did not simply allow the action: why it waits, or why it was stopped."""
    fired = [f"{rule['rule_id']}: {rule['reason']}" for rule in stored.rules if rule["verdict"] != "allowed"]
    return escape("\n".join(fired)) if fired else "—"


def _moment(value: str, option: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO date or time", param_hint=option) from None
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


# --- surgewise agents ---------------------------------------------------------------------------------


@agents_app.command("list")
def list_agents() -> None:
    """Every agent: owner, scope, rollout phase, pause, and what waits for a human."""
    console = make_console()
    registry, _ = _config(console)
    now = _now()
    with _warehouse(console, read_only=True) as connection:
        if table_exists(connection, ACTIONS_TABLE) and (everyone := pause_state(connection, GLOBAL_CONTROL)).paused:
            console.print(f"[red]Global kill switch on[/red]: {escape(everyone.reason)}", highlight=False)
        for overview in governance_overview(connection, registry, now):
            console.print(_agent_table(registry, overview))


def _agent_table(registry: AgentRegistry, overview: AgentOverview) -> Table:
    agent, pause, rollout = overview.agent, overview.pause, overview.rollout
    owner = registry.reviewer(agent.owner)
    table = Table("", "", title=f"[bold]{agent.id}[/bold]", show_header=False, title_justify="left")
    table.add_row("owner", f"{owner.describe() if owner else '?'}, {agent.owner}")
    table.add_row("purpose", _text(" ".join(agent.purpose.split())))
    table.add_row(
        "may do",
        "\n".join(
            f"{allowed.action_type} on {', '.join(allowed.channels)}"
            + (f", to {', '.join(allowed.handoff_to)}" if allowed.handoff_to else "")
            + (f" (undone by {allowed.inverse})" if allowed.inverse else " (no undo)")
            for allowed in agent.allowed_actions
        ),
    )
    scope = agent.budget_scope
    table.add_row(
        "budget scope",
        f"{', '.join(scope.campaigns)}; at most {scope.max_change_per_action:,.2f} per action"
        if scope
        else "none: moves no money",
    )
    table.add_row(
        "approvals",
        "\n".join(
            f"{', '.join(route.action_types)}: {' or '.join(route.reviewers)}"
            + (f" (roles {', '.join(route.roles)})" if route.roles else "")
            + (", always" if route.always else "")
            + f", expires after {route.expires_after_hours}h"
            for route in agent.approvals
        ),
    )
    checkpoints = agent.rollout.checkpoints
    table.add_row(
        "rollout",
        f"phase {rollout.phase}: {escape(rollout.note)}"
        + (f"\ncheckpoints needing approval in phase 3: {', '.join(checkpoints)}" if checkpoints else ""),
    )
    table.add_row("reviewed decisions", f"{rollout.reviewed_decisions} of {rollout.review_target}")
    table.add_row("required checks", ", ".join(agent.required_checks) or "—")
    table.add_row("paused", f"[red]yes[/red]: {escape(pause.reason)}" if pause.paused else "no")
    table.add_row("pending approvals", str(overview.pending_approvals))
    table.add_row("open escalations", str(overview.open_escalations))
    return table


def _switch(agent_id: str | None, all_agents: bool, *, by: str, reason: str, pause: bool) -> None:
    """Pause or resume one agent, or every agent through the global `*` control."""
    console = make_console()
    if (agent_id is None) == (not all_agents):
        _fail(console, "name one agent, or pass --all for every agent", "Usage")
    with _governor(console, "pause" if pause else "resume") as governor:
        target = GLOBAL_CONTROL if all_agents else _known_agent(console, governor.registry, agent_id or "").id
        switch = governor.pause if pause else governor.resume
        switch(target, by=by, reason=reason, now=_now())
        still = pause_state(governor.connection, target)
    who = "every agent" if all_agents else target
    if pause:
        console.print(
            f"[red]Paused[/red] {who} by {by}: {escape(reason)}. Nothing is proposed or executed until a reviewer "
            "resumes it; rollbacks still run.",
            highlight=False,
        )
    elif still.paused:
        console.print(f"Resumed {who}, but it is [red]still paused[/red]: {escape(still.reason)}", highlight=False)
    else:
        console.print(f"[green]Resumed[/green] {who} by {by}: {escape(reason)}.", highlight=False)


AgentArgument = Annotated[str | None, typer.Argument(help="The agent's id.", show_default=False)]
AllAgents = Annotated[bool, typer.Option("--all", help="Every agent (the global kill switch).")]


@agents_app.command("pause")
def pause_agent(by: By, reason: Reason, agent_id: AgentArgument = None, all_agents: AllAgents = False) -> None:
    """Stop an agent at once (or every agent with --all): it proposes nothing and nothing of it executes."""
    _switch(agent_id, all_agents, by=by, reason=reason, pause=True)


@agents_app.command("resume")
def resume_agent(by: By, reason: Reason, agent_id: AgentArgument = None, all_agents: AllAgents = False) -> None:
    """Let a paused agent (or, with --all, every agent) act again; only a listed human reviewer may."""
    _switch(agent_id, all_agents, by=by, reason=reason, pause=False)


# --- surgewise approvals ------------------------------------------------------------------------------


@approvals_app.command("list")
def list_approvals(
    agent: AgentFilter = None,
    decided: Annotated[bool, typer.Option("--all", help="Also requests already decided, with their reviewer.")] = False,
) -> None:
    """Approval requests waiting for a reviewer and the rules that sent them there, then open escalations."""
    console = make_console()
    registry, _ = _config(console)
    if agent is not None:
        _known_agent(console, registry, agent)
    now = _now()
    with _warehouse(console, read_only=True) as connection:
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
            _text(reason),
            _text(action_id[:SHORT_ID] if action_id else None),
            _text(created_at),
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
        expires = _text(stored.expires_at)
        if waiting and stored.expires_at is not None and stored.expires_at <= now:
            expires += " [red](overdue)[/red]"
        row = [
            action.action_id[:SHORT_ID],
            action.agent_id,
            _what(stored),
            _text(action.account_id),
            _text(action.person_id),
            _spend(stored),
            " or ".join(stored.reviewers) or "—",
            expires,
            _fired(stored),
        ]
        if decided:
            row += [_styled(stored.status.value), _text(stored.reviewed_by), _text(stored.review_comment)]
        table.add_row(*row)
    return table


@approvals_app.command("approve")
def approve(action_id: ActionKey, reviewer: ReviewerOption, comment: Comment) -> None:
    """Approve a queued action as one of its listed reviewers; it executes only after every rule is re-checked."""
    console = make_console()
    with _governor(console, "approve") as governor:
        stored = governor.approve(_resolve(console, governor.connection, action_id), reviewer, comment, _now())
    console.print(
        f"[green]Approved[/green] {stored.action.action_id} ({stored.action.agent_id}: {_what(stored)}) by "
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
    """Reject a queued action as one of its listed reviewers: it never executes."""
    console = make_console()
    with _governor(console, "reject") as governor:
        stored = governor.reject(_resolve(console, governor.connection, action_id), reviewer, comment, _now())
    console.print(
        f"[red]Rejected[/red] {stored.action.action_id} ({stored.action.agent_id}: {_what(stored)}) by {reviewer}: "
        f"{escape(comment)}. It will never execute.",
        highlight=False,
    )


@approvals_app.command("execute")
def execute_approved() -> None:
    """Do now what the approved_actions sensor does on its next tick: evaluate it and run its job in-process
    (approved actions execute after every rule is re-checked; overdue requests expire)."""
    from dagster_project.commands import dagster_instance
    from dagster_project.definitions import defs
    from dagster_project.main_run import run_approved_actions

    console = make_console()
    if warehouse_path(console) is None:
        raise typer.Exit(code=1)
    with dagster_instance() as instance:
        run_ids = run_approved_actions(defs(), instance)
    if not run_ids:
        console.print("Nothing approved or overdue: the approved_actions sensor had nothing to run.")
        return
    with _warehouse(console, read_only=True) as connection:
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
    """Close an escalation with what you did about it (the owner's answer goes to the audit log)."""
    console = make_console()
    with _governor(console, "resolve") as governor:
        governor.resolve_escalation(escalation_id, by=by, resolution=comment, now=_now())
    console.print(f"[green]Resolved[/green] escalation {escalation_id} by {by}: {escape(comment)}", highlight=False)


# --- surgewise actions --------------------------------------------------------------------------------


@actions_app.command("list")
def list_actions(
    agent: AgentFilter = None,
    status: Annotated[ActionStatus | None, typer.Option("--status", help="Only actions in this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many of the most recent actions.")] = 20,
) -> None:
    """The most recent actions, oldest first, with where each one stands."""
    console = make_console()
    registry, _ = _config(console)
    if agent is not None:
        _known_agent(console, registry, agent)
    with _warehouse(console, read_only=True) as connection:
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
            _text(stored.proposed_at),
            action.agent_id,
            _what(stored),
            _text(action.account_id),
            _text(action.person_id),
            _spend(stored),
            _styled(stored.status.value),
            _text(detail) if detail else _fired(stored),
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
        _fail(console, "name one action, or pass --agent with --since for a window", "Usage")
    if agent is not None and since is None:
        raise typer.BadParameter("a window needs a start", param_hint="--since")
    if action_id is not None and (since or until):
        raise typer.BadParameter("only with --agent", param_hint="--since/--until")
    now = _now()
    start = _moment(since, "--since") if since else now
    end = _moment(until, "--until") if until else now
    if start > end:
        raise typer.BadParameter(f"the window ends ({end}) before it starts ({start})", param_hint="--until")
    with _governor(console, "rollback") as governor:
        if action_id is not None:
            key = _resolve(console, governor.connection, action_id)
            results = [governor.rollback(key, by=by, reason=reason, now=now)]
        else:
            agent_id = _known_agent(console, governor.registry, agent or "").id
            results = governor.rollback_window(agent_id, start, end, by=by, reason=reason, now=now)
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
            _text(result.detail),
        )
    return table


# --- surgewise explain action -------------------------------------------------------------------------


def explain_action(action_id: ActionKey) -> None:
    """One action's whole story: what, why, policy decision, approval, execution, rollback, audit entries.

    It also says whether the audit chain still verifies, so the entries shown can be trusted."""
    console = make_console()
    with _warehouse(console, read_only=True) as connection:
        stored = load_action(connection, _resolve(console, connection, action_id))
        if stored is None:
            _fail(console, f"no action {action_id!r}", "Unknown action")
        entries = _audit_entries(connection, stored.action.action_id)
        chain = verify_chain(connection)
    action = stored.action
    detail = f": {escape(stored.status_detail)}" if stored.status_detail else ""
    console.print(f"[bold]Action {action.action_id}[/bold] is {_styled(stored.status.value)}{detail}", highlight=False)
    console.print(_what_table(stored))
    console.print(f"[bold]Why[/bold]: {escape(action.reasoning or '—')}", highlight=False)
    console.print(_inputs_table(action.inputs))
    for table in _decision_tables(stored, entries):
        console.print(table)
    console.print(_review_table(stored))
    _print_links(console, stored)
    console.print(_audit_table(action.action_id, entries))
    if chain.ok:
        console.print(f"[green]Audit chain verifies[/green]: {chain.entries:,} entries recomputed and linked.")
    else:
        console.print(f"[red]Audit chain BROKEN[/red]: {escape('; '.join(chain.describe()[:3]))}", highlight=False)


def _what_table(stored: StoredAction) -> Table:
    action = stored.action
    table = Table("", "", title="What", show_header=False, title_justify="left")
    rows = {
        "agent": action.agent_id,
        "action": _what(stored),
        "account": action.account_id,
        "person": action.person_id,
        "campaign": action.campaign_id,
        "spend": _spend(stored),
        "hands off to": action.handoff_to,
        "proposed at": stored.proposed_at,
        "run": stored.run_id,
        "payload": action.payload or None,
        **{f"content: {name}": text for name, text in action.content.items()},
    }
    for name, value in rows.items():
        table.add_row(escape(name), _text(value))
    return table


def _flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Nested inputs as dotted keys, so an intent score's probability and model version each get a row."""
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _flatten(item, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, value


def _inputs_table(inputs: dict[str, Any]) -> Table:
    table = Table("input", "value", title="Inputs the agent read")
    for key, value in _flatten(inputs):
        table.add_row(escape(key), _text(value))
    if not inputs:
        table.add_row("—", "none recorded")
    return table


def _decision_tables(stored: StoredAction, entries: list[dict[str, Any]]) -> list[Table]:
    """Every policy decision on the action as the audit log recorded it (at proposal, at execution after an
    approval, at rollback), or the one governance.actions holds when the log has none."""
    decisions = [
        (f"{entry['event']} at {entry['recorded_at']:%Y-%m-%d %H:%M}", entry)
        for entry in entries
        if entry["action_id"] == stored.action.action_id and entry["policy_rules"] is not None
    ] or [
        (
            "recorded",
            {"policy_verdict": stored.verdict, "policy_version": stored.policy_version, "policy_rules": stored.rules},
        )
    ]
    tables = []
    for when, decision in decisions:
        table = Table(
            "rule",
            "verdict",
            "reason",
            title=f"Policy decision ({when}): {_styled(decision['policy_verdict'] or '—')}, "
            f"policy {escape(decision['policy_version'] or '?')}",
        )
        for rule in decision["policy_rules"]:
            table.add_row(escape(rule["rule_id"]), _styled(rule["verdict"]), _text(rule["reason"]))
        tables.append(table)
    return tables


def _review_table(stored: StoredAction) -> Table:
    table = Table("", "", title="Approval and execution", show_header=False, title_justify="left")
    table.add_row("reviewers", " or ".join(stored.reviewers) or "none: no human review was asked for")
    table.add_row("expires at", _text(stored.expires_at))
    table.add_row("reviewed by", _text(stored.reviewed_by))
    table.add_row("reviewed at", _text(stored.reviewed_at))
    table.add_row("comment", _text(stored.review_comment))
    table.add_row("executed at", _text(stored.executed_at) if stored.executed_at else "not executed")
    table.add_row("channel state before", _text(stored.state_before))
    table.add_row("channel state after", _text(stored.state_after))
    return table


def _print_links(console: Console, stored: StoredAction) -> None:
    if stored.rolled_back_by:
        console.print(
            f"Rolled back by {stored.rolled_back_by} (`surgewise explain action {stored.rolled_back_by}`).",
            highlight=False,
        )
    if stored.action.rollback_of:
        console.print(
            f"Rollback of {stored.action.rollback_of} (`surgewise explain action {stored.action.rollback_of}`).",
            highlight=False,
        )


def _audit_entries(connection: duckdb.DuckDBPyConnection, action_id: str) -> list[dict[str, Any]]:
    """The action's own entries and those of the rollback linking to it, in chain order."""
    if not table_exists(connection, AUDIT_TABLE):
        return []
    cursor = connection.execute(
        f"""
        select seq, recorded_at, event, action_id, outcome, reviewer, entry_hash, policy_verdict, policy_rules,
            policy_version
        from {AUDIT_TABLE} where action_id = ? or related_action_id = ? order by seq
        """,
        [action_id, action_id],
    )
    names = [column[0] for column in cursor.description]
    entries = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    for entry in entries:
        entry["policy_rules"] = json.loads(entry["policy_rules"]) if entry["policy_rules"] else None
    return entries


def _audit_table(action_id: str, entries: list[dict[str, Any]]) -> Table:
    table = Table(
        "seq", "recorded at", "event", "outcome", "reviewer", "entry hash", title=f"Audit log ({AUDIT_TABLE})"
    )
    for entry in entries:
        event = entry["event"]
        if entry["action_id"] != action_id:
            event += f" (of {(entry['action_id'] or '')[:SHORT_ID]})"
        table.add_row(
            str(entry["seq"]),
            _text(entry["recorded_at"]),
            _text(event),
            _text(entry["outcome"]),
            _text(entry["reviewer"]),
            entry["entry_hash"][:SHORT_ID] + "…",
        )
    if not entries:
        table.add_row("—", "—", "no audit entry names this action", "—", "—", "—")
    return table


# --- surgewise contacts -------------------------------------------------------------------------------


@contacts_app.command("do-not-contact")
def do_not_contact(
    email: Annotated[str, typer.Argument(help="The person's e-mail address.", show_default=False)],
    by: By,
    reason: Reason,
) -> None:
    """Record a do-not-contact request: no agent proposal or execution reaches this address from now on."""
    console = make_console()
    with _governor(console, "do-not-contact") as governor:
        added = governor.mark_do_not_contact(email, by=by, reason=reason, now=_now())
    state = "added to" if added else "already on"
    console.print(
        f"{escape(email)} {state} the suppression list (kept as a fingerprint) by {by}: {escape(reason)}. Every "
        "agent action is checked against it when proposed and again when executed.",
        highlight=False,
    )
