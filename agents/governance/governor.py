"""The governor: the only path from a proposed action to a channel.

It decides every proposal with the policy engine, queues what needs a human, executes what is allowed
through the channel adapters, and writes the audit log — with the facts re-read, the rules re-applied,
the budget booked and the channel written inside one transaction per action. Each transaction first
writes lock rows for the action's contact and budgets, so two runs that interleave on the same person or
campaign conflict and the loser retries with fresh facts: no interleaving can overspend a cap or exceed
a frequency cap. Approvals, expiry, pause and rollback go through here too.

This class is the one door; each operation is a function of its session in its own module (`decisions`,
`review`, `execution`, `interventions`, `rollbacks`).
"""

from __future__ import annotations

from datetime import datetime

from agents.actions import ProposedAction
from agents.governance import decisions, execution, interventions, review, rollbacks
from agents.governance.rollbacks import RollbackResult
from agents.governance.session import ActionRecord, GovernanceSession
from agents.governance.store import StoredAction


class Governor(GovernanceSession):
    def submit(self, actions: list[ProposedAction], now: datetime) -> list[ActionRecord]:
        return decisions.submit(self, actions, now)

    def approve(self, action_id: str, reviewer_id: str, comment: str, now: datetime) -> StoredAction:
        return review.review(self, action_id, reviewer_id, comment, now, approved=True)

    def reject(self, action_id: str, reviewer_id: str, comment: str, now: datetime) -> StoredAction:
        return review.review(self, action_id, reviewer_id, comment, now, approved=False)

    def expire_overdue(self, now: datetime) -> list[str]:
        return review.expire_overdue(self, now)

    def execute_approved(self, now: datetime) -> list[ActionRecord]:
        return execution.execute_approved(self, now)

    def pause(self, agent_id: str, *, by: str, reason: str, now: datetime, escalate_to: str | None = None) -> None:
        interventions.switch(self, agent_id, paused=True, by=by, reason=reason, now=now, escalate_to=escalate_to)

    def resume(self, agent_id: str, *, by: str, reason: str, now: datetime) -> None:
        interventions.switch(self, agent_id, paused=False, by=by, reason=reason, now=now)

    def mark_do_not_contact(self, email: str, *, by: str, reason: str, now: datetime) -> bool:
        return interventions.mark_do_not_contact(self, email, by=by, reason=reason, now=now)

    def resolve_escalation(self, escalation_id: int, *, by: str, resolution: str, now: datetime) -> None:
        interventions.resolve_escalation(self, escalation_id, by=by, resolution=resolution, now=now)

    def rollback(self, action_id: str, *, by: str, reason: str, now: datetime) -> RollbackResult:
        return rollbacks.rollback(self, action_id, by=by, reason=reason, now=now)

    def rollback_window(
        self, agent_id: str, since: datetime, until: datetime, *, by: str, reason: str, now: datetime
    ) -> list[RollbackResult]:
        return rollbacks.rollback_window(self, agent_id, since, until, by=by, reason=reason, now=now)
