"""What the governance commands share: options, the config and warehouse they open, the governor, and
table cells that never read stored text as markup.

Every change goes through the Governor, so the same checks apply as everywhere else (an agent can never
approve, only a listed reviewer may pause) and every change lands in the audit log. A reviewer id names who
decides; the decision is signed with that reviewer's private key from `$SURGEWISE_REVIEWER_KEYS_DIR`, so naming
someone else is not enough to decide as them. Listing and explaining
open the warehouse read-only, so they never wait for, or block, a run that writes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, NoReturn
from uuid import uuid4

import duckdb
import typer
from rich.console import Console
from rich.markup import escape

from agents.actions import ProposedAction
from agents.config import AgentDefinition, AgentRegistry, PolicySet, load_agent_registry, load_governance_config
from agents.governance.governor import Governor
from agents.governance.schema import ACTIONS_TABLE
from agents.governance.session import GovernanceError
from agents.governance.signatures import SignatureError, read_private_key, sign_decision
from agents.governance.store import StoredAction, load_action
from dagster_project.cli.console import command_warehouse
from dagster_project.core.config_files import ConfigError
from dagster_project.core.settings import CONFIG_DIR_ENV, REVIEWER_KEYS_DIR_ENV, env_path
from dagster_project.core.warehouse import table_exists

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


def fail(console: Console, message: object, label: str = "Refused") -> NoReturn:
    console.print(f"[red]{label}:[/red] {escape(str(message))}", highlight=False)
    raise typer.Exit(code=1)


def load_config(console: Console) -> tuple[AgentRegistry, PolicySet]:
    """The registry and policies the agents run under (`$SURGEWISE_CONFIG_DIR`), read fresh like every run."""
    try:
        return load_governance_config(env_path(CONFIG_DIR_ENV))
    except ConfigError as error:
        fail(console, error, "Bad config")


def sign_as(
    console: Console,
    registry: AgentRegistry,
    reviewer_id: str,
    verb: str,
    subject_id: str,
    comment: str,
    now: datetime,
    action: ProposedAction | None = None,
) -> str:
    """Sign a decision with the reviewer's private key from `$SURGEWISE_REVIEWER_KEYS_DIR`; no key, no decision."""
    if registry.get(reviewer_id) is not None:
        fail(console, f"{reviewer_id} is an agent: an agent can never approve, reject or intervene")
    if registry.reviewer(reviewer_id) is None:
        fail(console, f"{reviewer_id} is not a listed reviewer in the agent registry")
    try:
        key = read_private_key(env_path(REVIEWER_KEYS_DIR_ENV), reviewer_id)
    except SignatureError as error:
        fail(console, error, "No signing key")
    return sign_decision(key, verb, subject_id, reviewer_id, comment, now, action)


def sign_on_action(
    console: Console,
    registry: AgentRegistry,
    connection: duckdb.DuckDBPyConnection,
    verb: str,
    action_id: str,
    reviewer_id: str,
    comment: str,
    now: datetime,
) -> str:
    """Sign a decision about an action over the action as the warehouse stores it."""
    stored = load_action(connection, action_id)
    if stored is None:
        fail(console, f"no action {action_id}", "Unknown action")
    return sign_as(console, registry, reviewer_id, verb, action_id, comment, now, stored.action)


@contextmanager
def governor_for(console: Console, command: str) -> Iterator[Governor]:
    """A Governor on the warehouse opened for writing; a refusal becomes a red message and exit code 1."""
    registry, policies = load_config(console)
    with command_warehouse(console, read_only=False) as connection:
        try:
            yield Governor(connection, registry, policies, run_id=f"cli-{command}-{uuid4().hex[:8]}")
        except GovernanceError as error:
            fail(console, error)


def known_agent(console: Console, registry: AgentRegistry, agent_id: str) -> AgentDefinition:
    agent = registry.get(agent_id)
    if agent is None:
        known = ", ".join(registered.id for registered in registry.agents)
        fail(console, f"no agent {agent_id!r} in the registry; known agents: {known}", "Unknown agent")
    return agent


def resolve_action_id(console: Console, connection: duckdb.DuckDBPyConnection, key: str) -> str:
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
        fail(console, f"no action {key!r} in {ACTIONS_TABLE}", "Unknown action")
    fail(console, f"{key!r} matches several actions ({', '.join(ids)}, …): give more of the id", "Ambiguous action")


def styled(value: str) -> str:
    style = STYLES.get(value)
    return f"[{style}]{value}[/{style}]" if style else escape(value)


def cell(value: object) -> str:
    """A table cell of stored text, never read as rich markup."""
    if value is None or value == "":
        return "—"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, dict | list):
        return escape(json.dumps(value, sort_keys=True, default=str))
    return escape(str(value))


def spend_cell(stored: StoredAction) -> str:
    action = stored.action
    if action.spend == 0:
        return "—"
    return f"{action.spend:,.2f}" + (f" on {action.campaign_id}" if action.campaign_id else "")


def what_cell(stored: StoredAction) -> str:
    return f"{stored.action.action_type} on {stored.action.channel}"


def fired_rules(stored: StoredAction) -> str:
    """The rules that did not simply allow the action: why it waits, or why it was stopped."""
    fired = [f"{rule['rule_id']}: {rule['reason']}" for rule in stored.rules if rule["verdict"] != "allowed"]
    return escape("\n".join(fired)) if fired else "—"


def parse_moment(value: str, option: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO date or time", param_hint=option) from None
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def configured_registry() -> AgentRegistry | None:
    """The registry of `$SURGEWISE_CONFIG_DIR`, whose public keys verify the audit log's signatures; None when it
    does not load (verification then reports that signatures were only found, not checked)."""
    try:
        return load_agent_registry(env_path(CONFIG_DIR_ENV))
    except (ConfigError, OSError, ValueError):
        return None
