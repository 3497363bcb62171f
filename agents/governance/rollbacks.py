"""Rollback: an executed action undone by its declared inverse, itself proposed, decided and audited like
any action, and verified: the channel state after the undo must equal the state before the action ran.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from agents.actions import ProposedAction
from agents.governance.audit import AuditEvent
from agents.governance.policy import Verdict
from agents.governance.schema import ActionStatus
from agents.governance.session import GovernanceError, GovernanceSession
from agents.governance.store import StoredAction, book_spend, load_action, load_actions, record_action, update_action
from dagster_project.core.transactions import retry_on_conflict


@dataclass(frozen=True)
class RollbackResult:
    action_id: str
    rollback_action_id: str
    restored: bool
    detail: str


def rollback(session: GovernanceSession, action_id: str, *, by: str, reason: str, now: datetime) -> RollbackResult:
    """Undo one executed action through governance and the audit log, and verify the channel state is
    what it was before the action ran."""
    session.require_human(by)
    stored = load_action(session.connection, action_id)
    if stored is None:
        raise GovernanceError(f"no action {action_id}")
    if stored.status is not ActionStatus.EXECUTED:
        raise GovernanceError(f"action {action_id} is {stored.status.value}: only executed actions roll back")
    agent = session.registry.get(stored.action.agent_id)
    inverse_type = agent.inverse_of(stored.action.action_type) if agent else None
    if agent is None or inverse_type is None:
        raise GovernanceError(f"{stored.action.action_type} of {stored.action.agent_id} declares no inverse")
    original = stored.action
    inverse = ProposedAction(
        agent_id=original.agent_id,
        action_type=inverse_type,
        channel=original.channel,
        person_id=original.person_id,
        account_id=original.account_id,
        payload={"undoes": original.action_type},
        reasoning=f"Rollback of {action_id} requested by {by}: {reason}",
        inputs={"rollback_of": action_id, "requested_by": by},
        inverse={},
        trigger_key=f"rollback:{action_id}",
        campaign_id=original.campaign_id,
        spend=-original.spend,
        rollback_of=action_id,
    )
    return retry_on_conflict(lambda: _rollback(session, stored, inverse, by, now))


def _rollback(
    session: GovernanceSession, stored: StoredAction, inverse: ProposedAction, by: str, now: datetime
) -> RollbackResult:
    original = stored.action
    with session.transaction(inverse):
        session.audit(AuditEvent.PROPOSED, inverse, now, reviewer=by, related_action_id=original.action_id)
        decision = session.decide(inverse, now, approved_by=by)
        if decision.verdict is not Verdict.ALLOWED:
            raise GovernanceError(f"governance refused the rollback: {decision.summary()}")
        record_action(
            session.connection, inverse, decision, status=ActionStatus.APPROVED, run_id=session.run_id, now=now
        )
        update_action(session.connection, inverse.action_id, reviewed_by=by, reviewed_at=now)
        adapter = session.adapter(original)
        adapter.execute(inverse, now)
        book_spend(session.connection, inverse, now)
        restored_state = adapter.state(original.action_id)
        restored = restored_state == stored.state_before
        detail = (
            f"channel state restored to {json.dumps(stored.state_before)}"
            if restored
            else f"channel state is {json.dumps(restored_state)}, expected {json.dumps(stored.state_before)}"
        )
        if not restored:
            raise GovernanceError(f"rollback of {original.action_id} did not restore the channel: {detail}")
        update_action(
            session.connection,
            inverse.action_id,
            status=ActionStatus.EXECUTED.value,
            executed_at=now,
            state_after=restored_state,
        )
        update_action(
            session.connection,
            original.action_id,
            status=ActionStatus.ROLLED_BACK.value,
            rolled_back_by=inverse.action_id,
            status_detail=detail,
        )
        session.audit(
            AuditEvent.ROLLED_BACK,
            original,
            now,
            decision=decision,
            outcome="rolled_back",
            reasoning=f"{inverse.reasoning}; {detail}",
            reviewer=by,
            related_action_id=inverse.action_id,
        )
    return RollbackResult(original.action_id, inverse.action_id, restored, detail)


def rollback_window(
    session: GovernanceSession, agent_id: str, since: datetime, until: datetime, *, by: str, reason: str, now: datetime
) -> list[RollbackResult]:
    """Undo every action the agent executed in a time window, newest first; one that cannot be undone is
    reported and the others still roll back."""
    session.require_human(by)
    executed = load_actions(
        session.connection,
        "agent_id = ? and status = ? and executed_at between ? and ? and rollback_of is null",
        [agent_id, ActionStatus.EXECUTED.value, since, until],
    )
    executed.sort(key=lambda stored: stored.executed_at or now, reverse=True)
    results = []
    for stored in executed:
        try:
            results.append(rollback(session, stored.action.action_id, by=by, reason=reason, now=now))
        except GovernanceError as refusal:
            results.append(RollbackResult(stored.action.action_id, "", False, str(refusal)))
    return results
