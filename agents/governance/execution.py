"""Executing an allowed action: the channel written, the money booked and the outcome recorded, all inside
the action's transaction; and the approved actions executed later, with every rule re-applied first.

Exactly once: inside its transaction an execution claims the action's row (still approved, never executed)
before it writes anything, so two governors executing the same approval at once cannot both book it, overwrite
its `state_before`, or turn an executed action into a denied one; the one that finds it claimed does nothing.

An approval is trusted only as far as its signature: before an approved action executes, the reviewer's
signature kept on its row is verified again over the action as stored (`review.approval_problem`), so a row
set to approved by a warehouse writer without the reviewer's key is blocked and audited, never executed.

An escalated action calls its owner and, for distress, suppresses the contact: that happens here too, for
an action escalated when proposed or only at execution.
"""

from __future__ import annotations

from datetime import datetime

from agents.actions import ProposedAction
from agents.adapters.sandbox import ExecutionOutcome
from agents.config import AgentDefinition
from agents.governance.audit import AuditEvent
from agents.governance.policy import PolicyDecision, Verdict
from agents.governance.review import approval_problem
from agents.governance.schema import ActionStatus
from agents.governance.session import ActionRecord, GovernanceSession
from agents.governance.store import (
    StoredAction,
    book_spend,
    claim_action,
    load_action,
    load_actions,
    open_escalation,
    rules_json,
    suppress_person,
    update_action,
)
from dagster_project.core.crash_points import crash_point
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
    """Inside the caller's transaction: claim the approved row, write the channel, book the money, record the
    outcome. An action already claimed by another execution is left alone."""
    adapter = session.adapter(action)
    before = adapter.state(action.action_id)
    claimed = claim_action(
        session.connection,
        action.action_id,
        claimable=ActionStatus.APPROVED,
        status=ActionStatus.EXECUTED.value,
        executed_at=now,
        state_before=before,
        execution_rules=rules_json(decision),
    )
    if not claimed:
        return ExecutionOutcome.ALREADY_EXECUTED.value
    outcome = adapter.execute(action, now)
    crash_point("channel")
    book_spend(session.connection, action, now)
    crash_point("ledger")
    update_action(session.connection, action.action_id, state_after=adapter.state(action.action_id))
    session.audit(
        AuditEvent.DECIDED,
        action,
        now,
        decision=decision,
        outcome=outcome.value,
        reasoning=decision.summary(),
        reviewer=reviewer,
    )
    crash_point("audit")
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
    paused, a required data check failing now). The list read here is only a list of candidates: each is read
    again and claimed inside its own transaction."""
    candidates = load_actions(session.connection, "status = ? and executed_at is null", [ActionStatus.APPROVED.value])
    return [
        retry_on_conflict(lambda candidate=candidate: _execute_approved(session, candidate.action, now))
        for candidate in candidates
    ]


def _execute_approved(session: GovernanceSession, action: ProposedAction, now: datetime) -> ActionRecord:
    with session.transaction(action):
        stored = load_action(session.connection, action.action_id)
        if stored is None or stored.status is not ActionStatus.APPROVED or stored.executed_at is not None:
            return _skipped(action, stored)
        unsigned = approval_problem(session, stored)
        if unsigned is not None:
            return _block_unsigned(session, stored, unsigned, now)
        decision = session.decide(action, now, approved_by=stored.reviewed_by, check_gates=True)
        if decision.verdict is Verdict.ALLOWED:
            outcome = execute(session, action, decision, now, stored.reviewed_by)
            return ActionRecord(action, decision, outcome)
        status = STATUS_BY_VERDICT[decision.verdict]
        status = ActionStatus.DENIED if status is ActionStatus.PENDING_APPROVAL else status
        claimed = claim_action(
            session.connection,
            action.action_id,
            claimable=ActionStatus.APPROVED,
            status=status.value,
            status_detail=f"blocked at execution: {decision.summary()}",
        )
        if not claimed:
            return _skipped(action, stored)
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


def _block_unsigned(session: GovernanceSession, stored: StoredAction, problem: str, now: datetime) -> ActionRecord:
    """An approval no listed reviewer signed (written into the warehouse some other way): denied, audited."""
    action = stored.action
    if not claim_action(
        session.connection,
        action.action_id,
        claimable=ActionStatus.APPROVED,
        status=ActionStatus.DENIED.value,
        status_detail=f"blocked at execution: {problem}",
    ):
        return _skipped(action, stored)
    session.audit(
        AuditEvent.DECIDED,
        action,
        now,
        outcome=ActionStatus.DENIED.value,
        reasoning=f"blocked at execution, never executed: {problem}",
        inputs={"claimed_reviewer": stored.reviewed_by},
    )
    return ActionRecord(action, None, ActionStatus.DENIED.value)


def _skipped(action: ProposedAction, stored: StoredAction | None) -> ActionRecord:
    """Another execution (or a rollback) took the action since it was listed: nothing is written."""
    status = stored.status.value if stored else "unknown"
    outcome = ExecutionOutcome.ALREADY_EXECUTED.value if status == ActionStatus.EXECUTED else f"already_{status}"
    return ActionRecord(action, None, outcome)
