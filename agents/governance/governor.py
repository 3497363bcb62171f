"""The governor: the only path from a proposed action to a channel.

It decides every proposal with the policy engine, queues what needs a human, executes what is allowed
through the channel adapters, and writes the audit log — with the facts re-read, the rules re-applied,
the budget booked and the channel written inside one transaction per action. Each transaction first
writes lock rows for the action's contact and budgets, so two runs that interleave on the same person or
campaign conflict and the loser retries with fresh facts: no interleaving can overspend a cap or exceed
a frequency cap. Approvals, expiry, pause and rollback go through here too, each signed by the reviewer
(`signatures`) and verified against their public key before anything changes; each signature is used once, and
an approval's is verified again before the action executes.

This class is the one door; each operation is a function of its session in its own module (`decisions`,
`review`, `execution`, `interventions`, `rollbacks`).
"""

from __future__ import annotations

from datetime import datetime

from agents.actions import ProposedAction
from agents.adapters.webhook import DeliveryReport, deliver_pending
from agents.governance import decisions, execution, interventions, review, rollbacks
from agents.governance.audit_anchors import anchor_head
from agents.governance.rollbacks import RollbackResult
from agents.governance.schema import ActionStatus
from agents.governance.session import ActionRecord, GovernanceError, GovernanceSession
from agents.governance.store import StoredAction, load_action


def rollback_window_subject(agent_id: str, since: datetime, until: datetime) -> str:
    """What a signature of a window rollback covers: the agent and the exact window."""
    return f"{agent_id}:{since.isoformat()}..{until.isoformat()}"


class Governor(GovernanceSession):
    def submit(self, actions: list[ProposedAction], now: datetime) -> list[ActionRecord]:
        records = decisions.submit(self, actions, now)
        self.settle(now)
        return records

    def settle(self, now: datetime) -> DeliveryReport:
        """Send the webhook outbox and sign the audit log's head into a checkpoint outside the warehouse: only
        after the governor's transactions committed, never inside one, so a transaction retried on a write
        conflict never calls a real system twice."""
        report = deliver_pending(self.connection, now, config=self.webhooks)
        anchor_head(self.connection, now)
        return report

    def approve(self, action_id: str, reviewer_id: str, comment: str, now: datetime, *, signature: str) -> StoredAction:
        stored = review.review(self, action_id, reviewer_id, comment, now, approved=True, signature=signature)
        self.settle(now)
        return stored

    def reject(self, action_id: str, reviewer_id: str, comment: str, now: datetime, *, signature: str) -> StoredAction:
        stored = review.review(self, action_id, reviewer_id, comment, now, approved=False, signature=signature)
        self.settle(now)
        return stored

    def expire_overdue(self, now: datetime) -> list[str]:
        expired = review.expire_overdue(self, now)
        self.settle(now)
        return expired

    def execute_approved(self, now: datetime) -> list[ActionRecord]:
        records = execution.execute_approved(self, now)
        self.settle(now)
        return records

    def pause(self, agent_id: str, *, by: str, reason: str, now: datetime, signature: str) -> None:
        interventions.signed_switch(self, agent_id, paused=True, by=by, reason=reason, now=now, signature=signature)
        self.settle(now)

    def resume(self, agent_id: str, *, by: str, reason: str, now: datetime, signature: str) -> None:
        interventions.signed_switch(self, agent_id, paused=False, by=by, reason=reason, now=now, signature=signature)
        self.settle(now)

    def mark_do_not_contact(self, email: str, *, by: str, reason: str, now: datetime) -> bool:
        marked = interventions.mark_do_not_contact(self, email, by=by, reason=reason, now=now)
        self.settle(now)
        return marked

    def resolve_escalation(
        self, escalation_id: int, *, by: str, resolution: str, now: datetime, signature: str
    ) -> None:
        interventions.resolve_escalation(
            self, escalation_id, by=by, resolution=resolution, now=now, signature=signature
        )
        self.settle(now)

    def rollback(self, action_id: str, *, by: str, reason: str, now: datetime, signature: str) -> RollbackResult:
        """Verify the reviewer's signature over the executed action as stored, then undo it."""
        stored = load_action(self.connection, action_id)
        if stored is None:
            raise GovernanceError(f"no action {action_id}")
        if stored.status is not ActionStatus.EXECUTED:
            raise GovernanceError(f"action {action_id} is {stored.status.value}: only executed actions roll back")
        rollbacks.require_may_roll_back(self, stored.action.agent_id, by)
        signed = review.require_signature(self, "rollback", action_id, by, reason, signature, now, stored.action)
        result = rollbacks.rollback(self, action_id, by=by, reason=reason, now=now, signed=signed)
        self.settle(now)
        return result

    def rollback_window(
        self, agent_id: str, since: datetime, until: datetime, *, by: str, reason: str, now: datetime, signature: str
    ) -> list[RollbackResult]:
        subject = rollback_window_subject(agent_id, since, until)
        rollbacks.require_may_roll_back(self, agent_id, by)
        signed = review.require_signature(self, "rollback_window", subject, by, reason, signature, now)
        results = rollbacks.rollback_window(self, agent_id, since, until, by=by, reason=reason, now=now, signed=signed)
        self.settle(now)
        return results
