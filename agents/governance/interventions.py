"""Interventions outside a review: pausing and resuming agents (the kill switch), a do-not-contact request,
and closing an escalation. Only a listed human may intervene; the anomaly detector may only pause.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from agents.governance.audit import AuditEvent
from agents.governance.schema import ESCALATIONS_TABLE, GLOBAL_CONTROL
from agents.governance.session import GovernanceError, GovernanceSession
from agents.governance.store import lock_resources, open_escalation, set_pause, suppress_email
from dagster_project.core.suppression import email_fingerprint
from dagster_project.core.transactions import retry_on_conflict, transaction

ANOMALY_DETECTOR = "surgewise-anomaly-detector"
"""Who pauses an agent on an anomaly; only a human reviewer may resume it."""


def switch(
    session: GovernanceSession,
    agent_id: str,
    *,
    paused: bool,
    by: str,
    reason: str,
    now: datetime,
    escalate_to: str | None = None,
) -> None:
    """Pause (or resume) one agent, or every agent with `*`: a paused agent proposes nothing and nothing of it
    executes. Only a listed human may resume, never the anomaly detector."""
    session.require_agent(agent_id)
    if not (paused and by == ANOMALY_DETECTOR):
        session.require_human(by)
    event = AuditEvent.AGENT_PAUSED if paused else AuditEvent.AGENT_RESUMED

    def attempt() -> None:
        with _switching(session, agent_id):
            set_pause(session.connection, agent_id, paused=paused, reason=reason, by=by, now=now)
            if escalate_to:
                open_escalation(
                    session.connection,
                    agent_id=agent_id,
                    escalated_to=escalate_to,
                    reason=reason,
                    action_id=None,
                    now=now,
                )
            session.audit(
                event, None, now, agent_id=agent_id, reasoning=reason, inputs={"by": by}, outcome=event, reviewer=by
            )

    retry_on_conflict(attempt)


@contextmanager
def _switching(session: GovernanceSession, agent_id: str) -> Iterator[None]:
    """A transaction holding the agent's lock row (every agent's for `*`), so an execution in flight
    either commits before the switch or retries and sees it."""
    agents = [agent.id for agent in session.registry.agents] if agent_id == GLOBAL_CONTROL else [agent_id]
    with transaction(session.connection):
        lock_resources(session.connection, [f"agent:{agent}" for agent in agents])
        yield


def mark_do_not_contact(session: GovernanceSession, email: str, *, by: str, reason: str, now: datetime) -> bool:
    """A human's do-not-contact request: the address goes on the suppression list, which every rule check
    reads, at proposal and again at execution. The audit entry names the address only by its fingerprint."""
    session.require_human(by)

    def attempt() -> bool:
        with session.transaction(None):
            added = suppress_email(session.connection, email, f"do_not_contact: {reason}", now) > 0
            session.audit(
                AuditEvent.DO_NOT_CONTACT,
                None,
                now,
                agent_id=GLOBAL_CONTROL,
                reasoning=reason,
                inputs={"email_sha256": email_fingerprint(email), "newly_added": added},
                outcome="suppressed",
                reviewer=by,
            )
            return added

    return retry_on_conflict(attempt)


def resolve_escalation(
    session: GovernanceSession, escalation_id: int, *, by: str, resolution: str, now: datetime
) -> None:
    """Close an escalation with what the owner did about it; only a listed human may."""
    session.require_human(by)
    with session.transaction(None):
        row = session.connection.execute(
            f"update {ESCALATIONS_TABLE} set resolved_at = ?, resolved_by = ?, resolution = ? "
            "where escalation_id = ? and resolved_at is null returning agent_id, action_id, reason",
            [now, by, resolution, escalation_id],
        ).fetchone()
        if row is None:
            raise GovernanceError(f"no open escalation {escalation_id}")
        agent_id, action_id, reason = row
        session.audit(
            AuditEvent.ESCALATION_RESOLVED,
            None,
            now,
            agent_id=agent_id,
            reasoning=f"{resolution} (escalated: {reason})",
            inputs={"escalation_id": escalation_id, "action_id": action_id},
            outcome="resolved",
            reviewer=by,
            related_action_id=action_id,
        )
