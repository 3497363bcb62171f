"""Rollback: an executed action undone by its declared inverse, itself proposed, decided and audited like
any action, and verified: the channel state after the undo must equal the state before the action ran.

Only this module builds inverses, and the policy engine lets an inverse skip the contact and budget rules only
with the stored original beside it. The original is claimed inside the transaction, so two rollbacks of one
action at once undo it (and release its money) once.

Only the agent's owner or a reviewer on one of its approval routes may roll its actions back, and the signature
that asks for it is used once: a single rollback's in the rollback's own transaction, a window's in a transaction
that fixes the list of actions it covers, so replaying a window's signature later undoes nothing new.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime

from agents.actions import ProposedAction
from agents.governance.audit import AuditEvent
from agents.governance.facts import rollback_facts
from agents.governance.policy import Verdict
from agents.governance.review import Signed, use_once
from agents.governance.schema import ActionStatus
from agents.governance.session import GovernanceError, GovernanceSession
from agents.governance.store import (
    StoredAction,
    book_spend,
    claim_action,
    load_action,
    load_actions,
    record_action,
    update_action,
)
from dagster_project.core.transactions import retry_on_conflict


@dataclass(frozen=True)
class RollbackResult:
    action_id: str
    rollback_action_id: str
    restored: bool
    detail: str


def require_may_roll_back(session: GovernanceSession, agent_id: str, by: str) -> None:
    """Refuse unless `by` is a listed human who owns the agent or reviews one of its approval routes."""
    session.require_human(by)
    agent = session.registry.get(agent_id)
    if agent is None:
        raise GovernanceError(f"no agent {agent_id!r} in the registry: its actions cannot be rolled back")
    allowed = [agent.owner, *(r for route in agent.approvals for r in route.reviewers if r != agent.owner)]
    allowed = list(dict.fromkeys(allowed))
    if by not in allowed:
        raise GovernanceError(
            f"{by} may not roll back {agent_id}'s actions: only its owner ({agent.owner}) or a reviewer on its "
            f"approval routes ({', '.join(allowed)}) may"
        )


def rollback(
    session: GovernanceSession,
    action_id: str,
    *,
    by: str,
    reason: str,
    now: datetime,
    signature: str | None = None,
    signed: Signed | None = None,
) -> RollbackResult:
    """Undo one executed action through governance and the audit log, and verify the channel state is
    what it was before the action ran. The caller has verified the signature (`signed`, used here once, in the
    rollback's transaction; or a window's, used already); the audit entry keeps it."""
    session.require_human(by)
    listed = load_action(session.connection, action_id)
    if listed is None:
        raise GovernanceError(f"no action {action_id}")
    require_may_roll_back(session, listed.action.agent_id, by)
    signature = signed.signature if signed is not None else signature
    return retry_on_conflict(lambda: _rollback(session, action_id, by, reason, now, signature, signed))


def _inverse(session: GovernanceSession, stored: StoredAction, by: str, reason: str, now: datetime) -> ProposedAction:
    """The one way an inverse is built: the agent's declared undo of an executed action of its own, releasing
    exactly the money booked for it. Its trigger names the request, so no proposal made earlier can hold its id."""
    original = stored.action
    action_id = original.action_id
    if stored.status is not ActionStatus.EXECUTED or stored.rolled_back_by is not None:
        raise GovernanceError(f"action {action_id} is {stored.status.value}: only executed actions roll back")
    if original.rollback_of is not None:
        raise GovernanceError(f"action {action_id} is itself a rollback: it cannot be undone")
    agent = session.registry.get(original.agent_id)
    inverse_type = agent.inverse_of(original.action_type) if agent else None
    if agent is None or inverse_type is None:
        raise GovernanceError(f"{original.action_type} of {original.agent_id} declares no inverse")
    facts = rollback_facts(session.connection, action_id)
    booked = facts.booked_spend if facts else 0.0
    if not math.isfinite(booked):
        raise GovernanceError(f"the ledger holds {booked!r} for {action_id}: it cannot be reversed exactly")
    return ProposedAction(
        agent_id=original.agent_id,
        action_type=inverse_type,
        channel=original.channel,
        person_id=original.person_id,
        account_id=original.account_id,
        payload={"undoes": original.action_type},
        reasoning=f"Rollback of {action_id} requested by {by}: {reason}",
        inputs={"rollback_of": action_id, "requested_by": by},
        inverse={},
        trigger_key=f"rollback:{action_id}:{by}:{now.isoformat()}",
        campaign_id=original.campaign_id,
        spend=-booked,
        rollback_of=action_id,
    )


def _rollback(
    session: GovernanceSession,
    action_id: str,
    by: str,
    reason: str,
    now: datetime,
    signature: str | None,
    signed: Signed | None = None,
) -> RollbackResult:
    """One attempt: the original read, its inverse built and decided against the stored original, and the
    original claimed (still executed, never undone) inside the transaction before anything is written."""
    listed = load_action(session.connection, action_id)
    if listed is None:
        raise GovernanceError(f"no action {action_id}")
    inverse = _inverse(session, listed, by, reason, now)
    with session.transaction(inverse):
        stored = load_action(session.connection, action_id)
        if stored is None:
            raise GovernanceError(f"no action {action_id}")
        if _inverse(session, stored, by, reason, now) != inverse:
            raise GovernanceError(f"action {action_id} changed while its rollback was prepared")
        if signed is not None:
            use_once(session, signed, now)
        original = stored.action
        decision = session.decide(inverse, now, approved_by=by, rollback=rollback_facts(session.connection, action_id))
        if decision.verdict is not Verdict.ALLOWED:
            raise GovernanceError(f"governance refused the rollback: {decision.summary()}")
        if not claim_action(
            session.connection, action_id, claimable=ActionStatus.EXECUTED, rolled_back_by=inverse.action_id
        ):
            raise GovernanceError(f"action {action_id} was rolled back by a concurrent request")
        session.audit(AuditEvent.PROPOSED, inverse, now, reviewer=by, related_action_id=action_id)
        record_action(
            session.connection, inverse, decision, status=ActionStatus.APPROVED, run_id=session.run_id, now=now
        )
        update_action(session.connection, inverse.action_id, reviewed_by=by, reviewed_at=now)
        adapter = session.adapter(original)
        adapter.execute(inverse, now)
        book_spend(session.connection, inverse, now)
        restored_state = adapter.state(action_id)
        restored = restored_state == stored.state_before
        detail = (
            f"channel state restored to {json.dumps(stored.state_before)}"
            if restored
            else f"channel state is {json.dumps(restored_state)}, expected {json.dumps(stored.state_before)}"
        )
        if not restored:
            raise GovernanceError(f"rollback of {action_id} did not restore the channel: {detail}")
        update_action(
            session.connection,
            inverse.action_id,
            status=ActionStatus.EXECUTED.value,
            executed_at=now,
            state_after=restored_state,
        )
        update_action(session.connection, action_id, status=ActionStatus.ROLLED_BACK.value, status_detail=detail)
        session.audit(
            AuditEvent.ROLLED_BACK,
            original,
            now,
            decision=decision,
            outcome="rolled_back",
            reasoning=f"{inverse.reasoning}; {detail}",
            reviewer=by,
            related_action_id=inverse.action_id,
            signature=signature,
        )
    return RollbackResult(action_id, inverse.action_id, restored, detail)


def rollback_window(
    session: GovernanceSession,
    agent_id: str,
    since: datetime,
    until: datetime,
    *,
    by: str,
    reason: str,
    now: datetime,
    signature: str | None = None,
    signed: Signed | None = None,
) -> list[RollbackResult]:
    """Undo every action the agent executed in a time window, newest first; one that cannot be undone is
    reported and the others still roll back. Each rollback's audit entry keeps the window's signature, which
    (`signed`) is used once, in the transaction that lists the actions it covers."""
    require_may_roll_back(session, agent_id, by)
    signature = signed.signature if signed is not None else signature

    def listed() -> list[StoredAction]:
        with session.transaction(None):
            if signed is not None:
                use_once(session, signed, now)
            return load_actions(
                session.connection,
                "agent_id = ? and status = ? and executed_at between ? and ? and rollback_of is null",
                [agent_id, ActionStatus.EXECUTED.value, since, until],
            )

    executed = retry_on_conflict(listed)
    executed.sort(key=lambda stored: stored.executed_at or now, reverse=True)
    results = []
    for stored in executed:
        try:
            results.append(
                rollback(session, stored.action.action_id, by=by, reason=reason, now=now, signature=signature)
            )
        except GovernanceError as refusal:
            results.append(RollbackResult(stored.action.action_id, "", False, str(refusal)))
    return results
