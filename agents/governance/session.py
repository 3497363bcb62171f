"""What every governance operation shares: the warehouse connection, the registry and policies, the run, the
channel adapters, and the plumbing between them — fresh facts for a decision, a transaction that first takes
an action's lock rows, the adapter of a channel, an audit entry, a check that someone is a listed human.

The operations themselves (deciding, reviewing, executing, intervening, rolling back) live in their own
modules as functions of a session; `Governor` is the session that offers them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

import duckdb

from agents.actions import ProposedAction
from agents.adapters.sandbox import ChannelAdapter, sandbox_adapters
from agents.adapters.webhook import WebhookConfig, load_webhook_config, webhook_adapters
from agents.config import AgentDefinition, AgentRegistry, PolicySet
from agents.gates import failing_gates
from agents.governance.audit import AuditEntry, append, ensure_audit_log
from agents.governance.facts import account_facts, agent_state, budget_usage, contact_facts
from agents.governance.policy import ActionContext, AgentState, PolicyDecision, RollbackFacts, decide
from agents.governance.schema import GLOBAL_CONTROL, ensure_governance_tables
from agents.governance.store import action_resources, lock_resources
from dagster_project.core.transactions import transaction


class GovernanceError(ValueError):
    """A request governance refuses: an unknown reviewer, an agent approving, a closed action."""


@dataclass(frozen=True)
class ActionRecord:
    action: ProposedAction
    decision: PolicyDecision | None
    """None when an earlier run already decided the action."""
    outcome: str


@dataclass
class GovernanceSession:
    connection: duckdb.DuckDBPyConnection
    registry: AgentRegistry
    policies: PolicySet
    run_id: str
    adapters: dict[str, ChannelAdapter] | None = None

    def __post_init__(self) -> None:
        ensure_governance_tables(self.connection)
        ensure_audit_log(self.connection)
        if self.adapters is None:
            self.adapters = {**sandbox_adapters(self.connection), **self._webhook_adapters()}

    @cached_property
    def webhooks(self) -> WebhookConfig:
        """`webhooks.yaml` beside the policies the session was given; none for policies built in code."""
        config_dir = self.policies.config_dir
        return load_webhook_config(config_dir) if config_dir else WebhookConfig(version=1)

    def _webhook_adapters(self) -> dict[str, ChannelAdapter]:
        """The channels `webhooks.yaml` sends to a real system; a channel the catalogue does not know is refused,
        as it would never receive an action."""
        adapters = webhook_adapters(self.connection, self.webhooks)
        unknown = sorted(set(adapters) - set(self.policies.catalogue.channels))
        if unknown:
            raise GovernanceError(
                f"webhooks.yaml: endpoints for unknown channel(s) {', '.join(unknown)}; "
                f"known channels: {', '.join(self.policies.catalogue.channels)}"
            )
        return adapters

    def facts(
        self,
        action: ProposedAction,
        agent: AgentDefinition | None,
        now: datetime,
        approved_by: str | None,
        *,
        rollback: RollbackFacts | None = None,
        check_gates: bool = False,
    ) -> ActionContext:
        """Everything the rules need about the action, read fresh (inside the action's transaction). Only the
        governor's rollback passes `rollback`; `check_gates` re-reads the agent's required data checks, for an
        approved action whose data may have failed its checks since it was proposed."""
        contact = contact_facts(self.connection, action, self.policies, now) if action.person_id else None
        failing = tuple(failing_gates(self.connection, agent.required_checks)) if check_gates and agent else ()
        return ActionContext(
            now=now,
            agent_state=agent_state(self.connection, agent, now)[0] if agent else AgentState(),
            contact=contact,
            person_known=action.person_id is None or contact is not None,
            account=account_facts(self.connection, action.account_id),
            budget_usage=budget_usage(self.connection, action, self.policies, now),
            approved_by=approved_by,
            rollback=rollback,
            failing_checks=failing,
        )

    def decide(
        self,
        action: ProposedAction,
        now: datetime,
        approved_by: str | None = None,
        *,
        rollback: RollbackFacts | None = None,
        check_gates: bool = False,
    ) -> PolicyDecision:
        agent = self.registry.get(action.agent_id)
        context = self.facts(action, agent, now, approved_by, rollback=rollback, check_gates=check_gates)
        return decide(action, context, self.registry, self.policies)

    def adapter(self, action: ProposedAction) -> ChannelAdapter:
        adapter = (self.adapters or {}).get(action.channel)
        if adapter is None:
            raise GovernanceError(f"no adapter for channel {action.channel}")
        return adapter

    @contextmanager
    def transaction(self, action: ProposedAction | None) -> Iterator[None]:
        """One write transaction; for an action it first takes the action's lock rows."""
        with transaction(self.connection):
            if action is not None:
                lock_resources(self.connection, action_resources(action, self.policies))
            yield

    def audit(
        self,
        event: str,
        action: ProposedAction | None,
        now: datetime,
        *,
        agent_id: str | None = None,
        inputs: dict[str, Any] | None = None,
        decision: PolicyDecision | None = None,
        outcome: str | None = None,
        reasoning: str | None = None,
        reviewer: str | None = None,
        related_action_id: str | None = None,
        signature: str | None = None,
    ) -> None:
        """One audit entry about an action, or (with agent_id and no action) about the agent itself; a human
        decision carries the reviewer's signature."""
        append(
            self.connection,
            AuditEntry(
                recorded_at=now,
                run_id=self.run_id,
                agent_id=agent_id or (action.agent_id if action else ""),
                event=event,
                action=action,
                reasoning=reasoning,
                inputs=inputs,
                decision=decision,
                outcome=outcome,
                reviewer=reviewer,
                related_action_id=related_action_id or (action.rollback_of if action else None),
                policy_version=decision.policy_version if decision else self.policies.policy_version,
                signature=signature,
            ),
        )

    def require_human(self, who: str) -> None:
        if self.registry.get(who) is not None:
            raise GovernanceError(f"{who} is an agent: only a listed human reviewer may do this")
        if self.registry.reviewer(who) is None:
            raise GovernanceError(f"{who} is not a listed reviewer in the agent registry")

    def require_agent(self, agent_id: str) -> None:
        if agent_id != GLOBAL_CONTROL and self.registry.get(agent_id) is None:
            known = ", ".join(agent.id for agent in self.registry.agents)
            raise GovernanceError(f"no agent {agent_id!r} in the registry (agents: {known}; {GLOBAL_CONTROL} for all)")
