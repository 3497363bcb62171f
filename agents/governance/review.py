"""Human review of queued actions: who may review what, approving or rejecting, and expiring requests
nobody decided in time. An approval only queues the action; `execution` runs it after re-checking.

Every human decision carries the reviewer's signature (`signatures`), checked here against the public key the
registry lists for them: a reviewer id alone proves nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agents.actions import ProposedAction
from agents.governance.audit import AuditEvent
from agents.governance.schema import ActionStatus
from agents.governance.session import GovernanceError, GovernanceSession
from agents.governance.signatures import SignatureError, statement, verify_statement
from agents.governance.store import StoredAction, load_action, load_actions, update_action
from dagster_project.core.transactions import retry_on_conflict


@dataclass(frozen=True)
class Signed:
    """A verified signature: the token for the audit entry's `signature`, and what it states for its inputs."""

    signature: str
    signed_at: datetime
    statement: dict[str, str | None]

    @property
    def audit_inputs(self) -> dict[str, Any]:
        return {"signed": self.statement}


def require_signature(
    session: GovernanceSession,
    verb: str,
    subject_id: str,
    reviewer_id: str,
    comment: str,
    signature: str,
    now: datetime,
    action: ProposedAction | None = None,
) -> Signed:
    """Refuse unless `signature` is the listed human `reviewer_id`'s recent signature of exactly this decision
    (verb, subject, comment and, for an action, the action as stored)."""
    session.require_human(reviewer_id)
    reviewer = session.registry.reviewer(reviewer_id)
    assert reviewer is not None
    said = statement(verb, subject_id, comment, action)
    try:
        token = verify_statement(reviewer.current_key, signature, said, reviewer_id, now=now)
    except SignatureError as error:
        raise GovernanceError(f"{verb} {subject_id} by {reviewer_id} refused: {error}") from None
    return Signed(signature, token.signed_at, said)


def _reviewer_may_review(session: GovernanceSession, stored: StoredAction, reviewer_id: str) -> None:
    registry = session.registry
    if registry.get(reviewer_id) is not None:
        raise GovernanceError(f"{reviewer_id} is an agent: an agent can never approve or reject an action")
    reviewer = registry.reviewer(reviewer_id)
    if reviewer is None:
        raise GovernanceError(f"{reviewer_id} is not a listed reviewer in the agent registry")
    agent = registry.get(stored.action.agent_id)
    route = agent.route(stored.action.action_type) if agent else None
    if reviewer_id not in stored.reviewers:
        raise GovernanceError(
            f"{reviewer.describe()} is not a reviewer of {stored.action.agent_id}'s {stored.action.action_type} "
            f"actions (reviewers: {', '.join(stored.reviewers) or 'none'})"
        )
    if route and route.roles and reviewer.role not in route.roles:
        raise GovernanceError(f"{reviewer.describe()} lacks a role that may review this ({', '.join(route.roles)})")


def review(
    session: GovernanceSession,
    action_id: str,
    reviewer_id: str,
    comment: str,
    now: datetime,
    *,
    approved: bool,
    signature: str,
) -> StoredAction:
    """Check and record an approval (which the approved-actions sensor executes after re-checking) or a
    rejection (the action never runs), in one transaction, so two reviewers deciding at once cannot both win.
    The signature must cover the action as stored, so it cannot be replayed on another one."""
    status, event = (
        (ActionStatus.APPROVED, AuditEvent.APPROVED) if approved else (ActionStatus.REJECTED, AuditEvent.REJECTED)
    )
    verb = "approve" if approved else "reject"

    def attempt() -> StoredAction:
        with session.transaction(None):
            stored = load_action(session.connection, action_id)
            if stored is None:
                raise GovernanceError(f"no action {action_id}")
            _reviewer_may_review(session, stored, reviewer_id)
            signed = require_signature(session, verb, action_id, reviewer_id, comment, signature, now, stored.action)
            if stored.status is ActionStatus.PENDING_APPROVAL and stored.expires_at and stored.expires_at <= now:
                _expire(session, stored, now)
                return stored
            if stored.status is not ActionStatus.PENDING_APPROVAL:
                raise GovernanceError(f"action {action_id} is {stored.status.value}, not waiting for approval")
            update_action(
                session.connection,
                action_id,
                status=status.value,
                reviewed_by=reviewer_id,
                reviewed_at=now,
                review_comment=comment,
            )
            session.audit(
                event,
                stored.action,
                now,
                outcome=status.value,
                reasoning=comment,
                reviewer=reviewer_id,
                inputs=signed.audit_inputs,
                signature=signed.signature,
            )
            return stored

    stored = retry_on_conflict(attempt)
    if stored.status is ActionStatus.PENDING_APPROVAL and stored.expires_at and stored.expires_at <= now:
        raise GovernanceError(f"the approval request for {action_id} expired at {stored.expires_at:%Y-%m-%d %H:%M}")
    return load_action(session.connection, action_id)  # type: ignore[return-value]


def _expire(session: GovernanceSession, stored: StoredAction, now: datetime) -> None:
    update_action(
        session.connection,
        stored.action.action_id,
        status=ActionStatus.EXPIRED.value,
        status_detail=f"no decision by {stored.expires_at:%Y-%m-%d %H:%M}",
    )
    session.audit(
        AuditEvent.EXPIRED,
        stored.action,
        now,
        outcome="expired",
        reasoning=f"no reviewer decided by {stored.expires_at:%Y-%m-%d %H:%M}; never executed",
    )


def _expire_in_transaction(session: GovernanceSession, stored: StoredAction, now: datetime) -> None:
    with session.transaction(None):
        _expire(session, stored, now)


def expire_overdue(session: GovernanceSession, now: datetime) -> list[str]:
    overdue = load_actions(
        session.connection, "status = ? and expires_at <= ?", [ActionStatus.PENDING_APPROVAL.value, now]
    )
    for stored in overdue:
        retry_on_conflict(lambda stored=stored: _expire_in_transaction(session, stored, now))
    return [stored.action.action_id for stored in overdue]
