"""Where every agent stands: scope, rollout phase, pause state and what waits for a human.

One read for the CLI (`surgewise agents list`) and the Dagster UI (the `agent_governance` asset)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

from agents.config import AgentDefinition, AgentRegistry
from agents.governance.facts import PauseState, RolloutStatus, agent_state, pause_state, rollout_phase
from agents.governance.schema import ACTIONS_TABLE, ESCALATIONS_TABLE, ActionStatus
from dagster_project.core.warehouse import table_exists


@dataclass(frozen=True)
class AgentOverview:
    agent: AgentDefinition
    owner: str
    rollout: RolloutStatus
    pause: PauseState
    pending_approvals: int
    open_escalations: int
    actions_by_status: dict[str, int]

    @property
    def scope(self) -> str:
        return "; ".join(f"{a.action_type} on {', '.join(a.channels)}" for a in self.agent.allowed_actions)

    @property
    def budget(self) -> str:
        scope = self.agent.budget_scope
        if scope is None:
            return "no budget"
        return f"{', '.join(scope.campaigns)} (at most {scope.max_change_per_action:,.0f} per change)"

    @property
    def phase(self) -> str:
        return f"phase {self.rollout.phase}: {self.rollout.note}"


def governance_overview(
    connection: duckdb.DuckDBPyConnection, registry: AgentRegistry, now: datetime
) -> list[AgentOverview]:
    """Reads only (so `agents list` works on a read-only connection); a warehouse where no agent ever acted
    shows every agent with nothing queued."""
    governed = table_exists(connection, "governance.actions")
    overviews = []
    for agent in registry.agents:
        statuses: dict[str, int] = {}
        escalations = 0
        if governed:
            statuses = dict(
                connection.execute(
                    f"select status, count(*) from {ACTIONS_TABLE} where agent_id = ? and rollback_of is null "
                    "group by 1",
                    [agent.id],
                ).fetchall()
            )
            (escalations,) = connection.execute(
                f"select count(*) from {ESCALATIONS_TABLE} where agent_id = ? and resolved_at is null", [agent.id]
            ).fetchone()
        owner = registry.reviewer(agent.owner)
        overviews.append(
            AgentOverview(
                agent=agent,
                owner=owner.describe() if owner else agent.owner,
                rollout=agent_state(connection, agent, now)[1] if governed else rollout_phase(agent.rollout, [], now),
                pause=pause_state(connection, agent.id) if governed else PauseState(False, "", None, None),
                pending_approvals=int(statuses.get(ActionStatus.PENDING_APPROVAL.value, 0)),
                open_escalations=int(escalations),
                actions_by_status={str(status): int(count) for status, count in statuses.items()},
            )
        )
    return overviews
