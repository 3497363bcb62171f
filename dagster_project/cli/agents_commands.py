"""`surgewise agents list|pause|resume|graduate`: what each agent may do, how far its rollout has got, its kill
switch, and a signed graduation for agents.yaml."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from agents.config import GRADUATE_VERB, AgentRegistry, graduation_statement
from agents.governance.facts import pause_state
from agents.governance.overview import AgentOverview, governance_overview
from agents.governance.schema import ACTIONS_TABLE, GLOBAL_CONTROL
from dagster_project.cli.console import command_warehouse, make_console
from dagster_project.cli.governance_support import (
    By,
    Reason,
    ReviewerOption,
    cell,
    fail,
    governor_for,
    known_agent,
    load_config,
    sign_as,
)
from dagster_project.core.clock import utc_now
from dagster_project.core.warehouse import table_exists

agents_app = typer.Typer(
    help="The registered agents: their scope, rollout phase and kill switch.", no_args_is_help=True
)


@agents_app.command("list")
def list_agents() -> None:
    """Every agent: owner, scope, rollout phase, pause, and what waits for a human."""
    console = make_console()
    registry, _ = load_config(console)
    now = utc_now()
    with command_warehouse(console, read_only=True) as connection:
        if table_exists(connection, ACTIONS_TABLE) and (everyone := pause_state(connection, GLOBAL_CONTROL)).paused:
            console.print(f"[red]Global kill switch on[/red]: {escape(everyone.reason)}", highlight=False)
        for overview in governance_overview(connection, registry, now):
            console.print(_agent_table(registry, overview))


def _agent_table(registry: AgentRegistry, overview: AgentOverview) -> Table:
    agent, pause, rollout = overview.agent, overview.pause, overview.rollout
    owner = registry.reviewer(agent.owner)
    table = Table("", "", title=f"[bold]{agent.id}[/bold]", show_header=False, title_justify="left")
    table.add_row("owner", f"{owner.describe() if owner else '?'}, {agent.owner}")
    table.add_row("purpose", cell(" ".join(agent.purpose.split())))
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
        fail(console, "name one agent, or pass --all for every agent", "Usage")
    now = utc_now()
    with governor_for(console, "pause" if pause else "resume") as governor:
        target = GLOBAL_CONTROL if all_agents else known_agent(console, governor.registry, agent_id or "").id
        signature = sign_as(console, governor.registry, by, "pause" if pause else "resume", target, reason, now)
        switch = governor.pause if pause else governor.resume
        switch(target, by=by, reason=reason, now=now, signature=signature)
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


@agents_app.command("graduate")
def graduate_agent(
    agent_id: Annotated[str, typer.Argument(help="The agent's id.", show_default=False)],
    reviewer: ReviewerOption,
    phase: Annotated[int, typer.Option("--to-phase", min=2, max=3, help="The rollout phase it moves to.")] = 3,
) -> None:
    """Sign the agent's graduation to a later rollout phase as its owner, and print the lines for agents.yaml
    (the registry refuses a graduation whose signature does not verify)."""
    console = make_console()
    registry, _ = load_config(console)
    agent = known_agent(console, registry, agent_id)
    if reviewer != agent.owner:
        fail(console, f"only {agent.id}'s owner {agent.owner} may graduate it, not {reviewer}")
    now = utc_now()
    today = date(now.year, now.month, now.day)
    subject, comment = graduation_statement(agent.id, phase, today)
    signature = sign_as(console, registry, reviewer, GRADUATE_VERB, subject, comment, now)
    console.print(f"Put these lines under agents[{agent.id}].rollout in config/agents.yaml:", highlight=False)
    console.print(
        f"      graduated_to_phase: {phase}\n      graduated_by: {reviewer}\n      graduated_on: {today.isoformat()}\n"
        f"      graduation_signature: {signature}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
