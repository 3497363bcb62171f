"""Executing an allowed action: the channel written, the money booked and the outcome recorded, all inside
the action's transaction; and the approved actions executed later, with every rule re-applied first.

An escalated action calls its owner and, for distress, suppresses the contact: that happens here too, for
an action escalated when proposed or only at execution.
"""

from __future__ import annotations

from datetime import datetime

from agents.actions import ProposedAction
from agents.config import AgentDefinition
from agents.governance.audit import AuditEvent
from agents.governance.policy import PolicyDecision, Verdict
from agents.governance.schema import ActionStatus
from agents.governance.session import ActionRecord, GovernanceSession
from agents.governance.store import (
    StoredAction,
    book_spend,
    load_actions,
    open_escalation,
    rules_json,
    suppress_person,
    update_action,
)
from dagster_project.core.transactions import retry_on_conflict

STATUS_BY_VERDICT = {
    Verdict.NEEDS_APPROVAL: ActionStatus.PENDING_APPROVAL,
    Verdict.DENIED: ActionStatus.DENIED,
    Verdict.ESCALATED: ActionStatus.ESCALATED,
}


def execute(
    session: GovernanceSession,
    action: ProposedAction,
    decision: PolicyDecision,
    now: datetime,
    reviewer: str | None = None,
) -> str:
    """Inside the caller's transaction: write the channel, book the money, record the outcome."""
    adapter = session.adapter(action)
    before = adapter.state(action.action_id)
    outcome = adapter.execute(action, now)
    book_spend(session.connection, action, now)
    update_action(
        session.connection,
        action.action_id,
        status=ActionStatus.EXECUTED.value,
        executed_at=now,
        state_before=before,
        state_after=adapter.state(action.action_id),
        execution_rules=rules_json(decision),
    )
    session.audit(
        AuditEvent.DECIDED,
        action,
        now,
        decision=decision,
        outcome=outcome.value,
        reasoning=decision.summary(),
        reviewer=reviewer,
    )
    return outcome.value


def escalate_distress(
    session: GovernanceSession,
    action: ProposedAction,
    agent: AgentDefinition,
    decision: PolicyDecision,
    now: datetime,
) -> None:
    reason = decision.summary()
    open_escalation(
        session.connection,
        agent_id=agent.id,
        escalated_to=agent.owner,
        reason=reason,
        action_id=action.action_id,
        now=now,
    )
    if any(rule.rule_id == "distress.signals" for rule in decision.fired) and action.person_id:
        suppress_person(session.connection, action.person_id, "distress", now)
    session.audit(
        AuditEvent.ESCALATED,
        action,
        now,
        outcome="escalated",
        reasoning=f"escalated to {agent.owner}; contact suppressed: {reason}",
    )


def execute_approved(session: GovernanceSession, now: datetime) -> list[ActionRecord]:
    """Execute every approved action not yet executed, re-applying every rule with fresh facts: an
    approval satisfies the approval rules, never a denial (consent withdrawn since, cap reached, agent
    paused)."""
    approved = load_actions(session.connection, "status = ? and executed_at is null", [ActionStatus.APPROVED.value])
    return [retry_on_conflict(lambda stored=stored: _execute_approved(session, stored, now)) for stored in approved]


def _execute_approved(session: GovernanceSession, stored: StoredAction, now: datetime) -> ActionRecord:
    action = stored.action
    with session.transaction(action):
        decision = session.decide(action, now, approved_by=stored.reviewed_by)
        if decision.verdict is Verdict.ALLOWED:
            return ActionRecord(action, decision, execute(session, action, decision, now, stored.reviewed_by))
        status = STATUS_BY_VERDICT[decision.verdict]
        status = ActionStatus.DENIED if status is ActionStatus.PENDING_APPROVAL else status
        update_action(
            session.connection,
            action.action_id,
            status=status.value,
            status_detail=f"blocked at execution: {decision.summary()}",
        )
        session.audit(
            AuditEvent.DECIDED,
            action,
            now,
            decision=decision,
            outcome=status.value,
            reasoning=f"approved by {stored.reviewed_by} but blocked at execution: {decision.summary()}",
            reviewer=stored.reviewed_by,
        )
        agent = session.registry.get(action.agent_id)
        if status is ActionStatus.ESCALATED and agent:
            escalate_distress(session, action, agent, decision, now)
        return ActionRecord(action, decision, status.value)
