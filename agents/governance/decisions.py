"""Submitting an agent run's proposals: the run as a whole checked against the agent's past (an anomalous
run pauses the agent first), then each new action decided once and queued, denied, escalated or executed.

Each action is decided and acted on in its own transaction, retried with fresh facts when a concurrent run
on the same contact or budget got there first; an action decided before is reported, never decided twice.

A proposal is never decided as a rollback here: an agent's proposal that names itself one (`rollback_of`) is
decided with no stored original behind it, so the policy engine denies it as `scope.rollback_forged`. Only
`rollbacks.rollback` builds an inverse.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from agents.actions import ProposedAction
from agents.adapters.sandbox import ExecutionOutcome
from agents.governance.anomaly import AnomalyFinding, RunBehaviour, detect_anomalies
from agents.governance.audit import AuditEvent
from agents.governance.execution import STATUS_BY_VERDICT, escalate_distress, execute
from agents.governance.facts import pause_state, run_history
from agents.governance.interventions import pause_on_anomaly
from agents.governance.policy import Verdict
from agents.governance.schema import ActionStatus
from agents.governance.session import ActionRecord, GovernanceSession
from agents.governance.store import action_exists, load_action, record_action
from dagster_project.core.crash_points import crash_point
from dagster_project.core.transactions import retry_on_conflict


def submit(session: GovernanceSession, actions: list[ProposedAction], now: datetime) -> list[ActionRecord]:
    """Decide one agent run's proposals, pause the agent first if the run as a whole is anomalous,
    then queue, deny, escalate or execute each one."""
    for action in actions:
        session.audit(AuditEvent.PROPOSED, action, now)
    unique = list({action.action_id: action for action in actions}.values())
    _check_behaviour(session, [a for a in unique if not action_exists(session.connection, a.action_id)], now)
    return [retry_on_conflict(lambda action=action: _decide_and_act(session, action, now)) for action in actions]


def _already_decided(session: GovernanceSession, action: ProposedAction, now: datetime) -> ActionRecord:
    stored = load_action(session.connection, action.action_id)
    status = stored.status.value if stored else "unknown"
    outcome = ExecutionOutcome.ALREADY_EXECUTED.value if status == ActionStatus.EXECUTED else f"already_{status}"
    session.audit(
        AuditEvent.DECIDED,
        action,
        now,
        outcome=outcome,
        reasoning=f"decided by an earlier run ({status}); not proposed again",
    )
    return ActionRecord(action, None, outcome)


def _decide_and_act(session: GovernanceSession, action: ProposedAction, now: datetime) -> ActionRecord:
    """Decide and act on a new action; one decided before (by an earlier run, a concurrent one or earlier
    in this batch) is reported, never decided twice."""
    with session.transaction(action):
        record = _decide_in_transaction(session, action, now)
    crash_point("decision")
    return record


def _decide_in_transaction(session: GovernanceSession, action: ProposedAction, now: datetime) -> ActionRecord:
    agent = session.registry.get(action.agent_id)
    if action_exists(session.connection, action.action_id):
        return _already_decided(session, action, now)
    decision = session.decide(action, now, check_gates=True)
    if decision.verdict is Verdict.ALLOWED:
        record_action(
            session.connection, action, decision, status=ActionStatus.APPROVED, run_id=session.run_id, now=now
        )
        outcome = execute(session, action, decision, now)
        return ActionRecord(action, decision, outcome)
    status = STATUS_BY_VERDICT[decision.verdict]
    route = agent.route(action.action_type) if agent else None
    reviewers = route.reviewers if route and status is ActionStatus.PENDING_APPROVAL else ()
    if status is ActionStatus.ESCALATED and agent:
        reviewers = (agent.owner,)
    expires_at = now + timedelta(hours=route.expires_after_hours) if route and reviewers else None
    record_action(
        session.connection,
        action,
        decision,
        status=status,
        run_id=session.run_id,
        now=now,
        reviewers=reviewers,
        expires_at=expires_at if status is ActionStatus.PENDING_APPROVAL else None,
    )
    session.audit(
        AuditEvent.DECIDED, action, now, decision=decision, outcome=status.value, reasoning=decision.summary()
    )
    if status is ActionStatus.PENDING_APPROVAL:
        session.audit(
            AuditEvent.APPROVAL_REQUESTED,
            action,
            now,
            outcome="queued",
            reasoning=f"waiting for {' or '.join(reviewers)} until {expires_at:%Y-%m-%d %H:%M} UTC",
        )
    if status is ActionStatus.ESCALATED and agent:
        escalate_distress(session, action, agent, decision, now)
    return ActionRecord(action, decision, status.value)


def _check_behaviour(session: GovernanceSession, actions: list[ProposedAction], now: datetime) -> list[AnomalyFinding]:
    """Compare this run's proposals with the agent's trailing runs; pause and escalate on a breach."""
    findings: list[AnomalyFinding] = []
    for agent_id in sorted({action.agent_id for action in actions}):
        agent = session.registry.get(agent_id)
        if agent is None or pause_state(session.connection, agent_id).paused:
            continue  # a paused agent's run is all kill-switch denials: the pause's effect, not an anomaly
        mine = [action for action in actions if action.agent_id == agent_id]
        decisions = [session.decide(action, now) for action in mine]
        channels: dict[str, int] = {}
        for action in mine:
            channels[action.channel] = channels.get(action.channel, 0) + 1
        run = RunBehaviour(
            actions=len(mine),
            spend=sum(action.spend for action in mine if math.isfinite(action.spend) and action.spend > 0),
            denied=sum(1 for decision in decisions if decision.verdict in (Verdict.DENIED, Verdict.ESCALATED)),
            channels=channels,
        )
        breaches = detect_anomalies(
            run, run_history(session.connection, agent_id, session.run_id), session.policies.anomaly
        )
        if breaches:
            reason = pause_on_anomaly(session, agent_id, breaches, now)
            session.audit(
                AuditEvent.ANOMALY,
                None,
                now,
                agent_id=agent_id,
                reasoning=reason,
                inputs={"findings": [f.__dict__ for f in breaches]},
                outcome=AuditEvent.ANOMALY,
            )
        findings += breaches
    return findings
