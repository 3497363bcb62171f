"""Interventions outside a review: pausing and resuming agents (the kill switch), a do-not-contact request,
and closing an escalation. A human intervenes only with a signed request; the anomaly detector pauses only
through `pause_on_anomaly`, which takes its findings, never a claimed name. Every signature is used once
(`review.use_once`), in the transaction of the switch or resolution it authorises.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from agents.governance.anomaly import AnomalyFinding
from agents.governance.audit import AuditEvent
from agents.governance.review import Signed, require_signature, use_once
from agents.governance.schema import CONTROLS_TABLE, ESCALATIONS_TABLE, GLOBAL_CONTROL
from agents.governance.session import GovernanceError, GovernanceSession
from agents.governance.store import lock_resources, open_escalation, set_pause, suppress_email
from dagster_project.core.suppression import email_fingerprint
from dagster_project.core.transactions import retry_on_conflict, transaction

ANOMALY_DETECTOR = "surgewise-anomaly-detector"
"""Who pauses an agent on an anomaly; only a human reviewer may resume it."""


def signed_switch(
    session: GovernanceSession, agent_id: str, *, paused: bool, by: str, reason: str, now: datetime, signature: str
) -> None:
    """A human pauses (or resumes) one agent, or every agent with `*`, with a signed request: a paused agent
    proposes nothing and nothing of it executes. An old resume cannot be replayed to lift a newer pause: a
    signature is used once; the order of switches is the server's (a request whose `now` is not after the last
    switch's `changed_at` is refused, whatever the signer's clock says); and a token dated before the last switch
    is refused too."""
    if by == ANOMALY_DETECTOR:
        raise GovernanceError(f"{ANOMALY_DETECTOR} is not a person: only the detector itself pauses in its name")
    session.require_agent(agent_id)
    verb = "pause" if paused else "resume"
    signed = require_signature(session, verb, agent_id, by, reason, signature, now)

    def check_fresh() -> None:
        use_once(session, signed, now)
        row = session.connection.execute(
            f"select changed_at from {CONTROLS_TABLE} where agent_id = ?", [agent_id]
        ).fetchone()
        if row is None:
            return
        if now <= row[0]:
            raise GovernanceError(
                f"{verb} {agent_id} by {by} refused: the agent's last switch at {row[0]:%Y-%m-%d %H:%M:%S} (the "
                f"governor's clock) is not before this request at {now:%Y-%m-%d %H:%M:%S}"
            )
        if signed.signed_at <= row[0]:
            raise GovernanceError(
                f"{verb} {agent_id} by {by} refused: signed at {signed.signed_at:%Y-%m-%d %H:%M:%S}, before the "
                f"agent's last switch at {row[0]:%Y-%m-%d %H:%M:%S}: sign again"
            )

    _switch(session, agent_id, paused=paused, by=by, reason=reason, now=now, check=check_fresh, signed=signed)


def pause_on_anomaly(session: GovernanceSession, agent_id: str, findings: list[AnomalyFinding], now: datetime) -> str:
    """The anomaly detector's pause: the agent stops and its owner gets an escalation; returns the reason."""
    agent = session.registry.get(agent_id)
    if agent is None or not findings:
        raise GovernanceError(f"the anomaly detector pauses a registered agent on a finding, not {agent_id!r}")
    reason = "anomaly: " + "; ".join(finding.reason for finding in findings)
    _switch(session, agent_id, paused=True, by=ANOMALY_DETECTOR, reason=reason, now=now, escalate_to=agent.owner)
    return reason


def _switch(
    session: GovernanceSession,
    agent_id: str,
    *,
    paused: bool,
    by: str,
    reason: str,
    now: datetime,
    escalate_to: str | None = None,
    check: Callable[[], None] | None = None,
    signed: Signed | None = None,
) -> None:
    event = AuditEvent.AGENT_PAUSED if paused else AuditEvent.AGENT_RESUMED

    def attempt() -> None:
        with _switching(session, agent_id):
            if check is not None:
                check()
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
                event,
                None,
                now,
                agent_id=agent_id,
                reasoning=reason,
                inputs={"by": by, **(signed.audit_inputs if signed else {})},
                outcome=event,
                reviewer=by,
                signature=signed.signature if signed else None,
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
    reads, at proposal and again at execution. The audit entry names the address only by its fingerprint.

    Deliberately unsigned, unlike every other human decision: it can only make Surgewise contact fewer people
    (never lift a suppression), so a forged request does no harm a signature would prevent, and a person's
    request to stop must never wait for a reviewer's key. `by` is recorded as claimed, not proven."""
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
    session: GovernanceSession, escalation_id: int, *, by: str, resolution: str, now: datetime, signature: str
) -> None:
    """Close an escalation with what the owner did about it, with a signed request: only the person it is
    escalated to or the agent's owner may resolve it."""
    signed = require_signature(session, "resolve", str(escalation_id), by, resolution, signature, now)
    with session.transaction(None):
        found = session.connection.execute(
            f"select agent_id, escalated_to from {ESCALATIONS_TABLE} where escalation_id = ? and resolved_at is null",
            [escalation_id],
        ).fetchone()
        if found is None:
            raise GovernanceError(f"no open escalation {escalation_id}")
        agent = session.registry.get(found[0])
        allowed = [found[1], *([agent.owner] if agent and agent.owner != found[1] else [])]
        if by not in allowed:
            raise GovernanceError(
                f"{by} may not resolve escalation {escalation_id}: only {found[1]} (it is escalated to them)"
                + (f" or {agent.owner} (the owner of {agent.id})" if len(allowed) > 1 and agent else "")
                + " may"
            )
        use_once(session, signed, now)
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
            inputs={"escalation_id": escalation_id, "action_id": action_id, **signed.audit_inputs},
            outcome="resolved",
            reviewer=by,
            related_action_id=action_id,
            signature=signed.signature,
        )
