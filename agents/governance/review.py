"""Human review of queued actions: who may review what, approving or rejecting, and expiring requests
nobody decided in time. An approval only queues the action; `execution` runs it after re-checking.

Every human decision carries the reviewer's signature (`signatures`), checked here against the public key the
registry lists for them: a reviewer id alone proves nothing. A signature authorises one decision: it is recorded
as used (`use_signature`) in the transaction of the decision, and refused the second time. An approval's
signature is kept on the action's row and verified again before the action executes (`approval_problem`), so a
row set to approved by anyone without the reviewer's key never runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agents.actions import ProposedAction
from agents.governance.audit import AuditEvent
from agents.governance.schema import ActionStatus
from agents.governance.session import GovernanceError, GovernanceSession
from agents.governance.signatures import MAX_CLOCK_SKEW, SignatureError, statement, verify_statement
from agents.governance.store import StoredAction, load_action, load_actions, update_action, use_signature
from dagster_project.core.transactions import retry_on_conflict


@dataclass(frozen=True)
class Signed:
    """A verified signature: the token for the audit entry's `signature`, and what it states for its inputs."""

    signature: str
    signed_at: datetime
    statement: dict[str, str | None]
    reviewer: str = ""

    @property
    def audit_inputs(self) -> dict[str, Any]:
        return {"signed": self.statement}


def use_once(session: GovernanceSession, signed: Signed, now: datetime) -> None:
    """Inside the decision's transaction: record the signature as used, or refuse it if it already authorised a
    decision (a replay, however recent)."""
    verb, subject = str(signed.statement["verb"]), str(signed.statement["subject"])
    if not use_signature(
        session.connection, signed.signature, verb=verb, subject=subject, reviewer=signed.reviewer, now=now
    ):
        raise GovernanceError(
            f"{verb} {subject} by {signed.reviewer} refused: this signature was used already; a signature "
            "authorises one decision: sign again"
        )


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
    return Signed(signature, token.signed_at, said, reviewer_id)


NOT_SIGNED = "approval not signed by a listed reviewer"
"""The status detail and audit reasoning of an approved action refused at execution for want of a signature."""


def approval_problem(session: GovernanceSession, stored: StoredAction) -> str | None:
    """Why the approval recorded on `stored` is not a listed reviewer's signature of approving this action as
    stored (None if it is). Checked at execution: the freshness window does not apply then (a reviewer may
    approve days before the action runs), only that it was signed no later than the approval was recorded."""
    who = stored.reviewed_by
    if not who or stored.review_signature is None or stored.reviewed_at is None:
        return f"{NOT_SIGNED}: the approval (by {who or 'nobody'}) carries no signature"
    reviewer = session.registry.reviewer(who)
    if reviewer is None or session.registry.get(who) is not None:
        return f"{NOT_SIGNED}: {who} is not a listed human reviewer"
    if who not in stored.reviewers:
        return f"{NOT_SIGNED}: {who} is not a reviewer of this action ({', '.join(stored.reviewers) or 'none'})"
    said = statement("approve", stored.action.action_id, stored.review_comment or "", stored.action)
    try:
        token = verify_statement(reviewer.public_keys, stored.review_signature, said, who)
    except SignatureError as error:
        return f"{NOT_SIGNED}: {error}"
    if stored.review_signed_at is not None and token.signed_at != stored.review_signed_at:
        return f"{NOT_SIGNED}: the signature's moment is not the one recorded with the approval"
    if token.signed_at > stored.reviewed_at + MAX_CLOCK_SKEW:
        return f"{NOT_SIGNED}: signed at {token.signed_at:%Y-%m-%d %H:%M:%S}, after the approval was recorded"
    return None


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
            use_once(session, signed, now)
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
                review_signature=signed.signature,
                review_signed_at=signed.signed_at,
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
