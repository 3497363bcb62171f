"""Submitting an agent run's proposals: the run as a whole checked against the agent's past (an anomalous
run pauses the agent first), then each new action decided once and queued, denied, escalated or executed.

Each action is decided and acted on in its own transaction, retried with fresh facts when a concurrent run
on the same contact or budget got there first; an action decided before is reported, never decided twice.

A proposal is never decided as a rollback here: an agent's proposal that names itself one (`rollback_of`) is
decided with no stored original behind it, so the policy engine denies it as `scope.rollback_forged`. Only
`rollbacks.rollback` builds an inverse.

A malformed proposal (money that is not a real number, a missing id, a payload that is not JSON) is judged on
its shape before anything is written: it is denied as `proposal.malformed`, and what is audited and stored is a
stand-in whose every value the warehouse can hold (its money NaN, its odd values described as text), so one bad
proposal never aborts the batch.

The anomaly detector judges the run so far, not one call: what this run already recorded for the agent plus
the new proposals, against the agent's earlier runs, so a runaway split across many calls is still one run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from agents.actions import MAX_EXACT_INT, ProposedAction, committed_spend, is_amount
from agents.adapters.sandbox import ExecutionOutcome
from agents.governance.anomaly import AnomalyFinding, RunBehaviour, detect_anomalies
from agents.governance.audit import AuditEvent
from agents.governance.execution import STATUS_BY_VERDICT, escalate_distress, execute
from agents.governance.facts import anomaly_paused_in_run, pause_state, run_history, run_so_far
from agents.governance.interventions import pause_on_anomaly
from agents.governance.policy import PolicyDecision, Verdict, malformed_decision
from agents.governance.proposal_shape import MAX_JSON_DEPTH, OPTIONAL_IDS, describe
from agents.governance.schema import ActionStatus
from agents.governance.session import ActionRecord, GovernanceSession
from agents.governance.store import action_exists, load_action, record_action
from dagster_project.core.crash_points import crash_point
from dagster_project.core.transactions import retry_on_conflict


@dataclass(frozen=True)
class Proposal:
    """An agent's proposal as the governor first sees it: its denial when malformed, and what is written of it."""

    action: ProposedAction
    refused: PolicyDecision | None
    """The `proposal.malformed` denial, decided on the proposal's shape alone; None when it is sound."""

    @property
    def stored(self) -> ProposedAction:
        """What the audit log and the store receive: the proposal itself, or for a malformed one a stand-in."""
        return self.action if self.refused is None else stand_in(self.action)


def stand_in(action: ProposedAction) -> ProposedAction:
    """A malformed proposal as the warehouse can hold it, with the same action id: money that is not a real
    number becomes NaN (never booked, never counted), every other odd value its type and a short rendering."""
    ids: dict[str, Any] = {}
    for name in OPTIONAL_IDS:
        value = getattr(action, name)
        ids[name] = value if value is None or isinstance(value, str) else describe(value)
    spend = float(action.spend) if is_amount(action.spend) else math.nan
    content = action.content if isinstance(action.content, dict) else {"content": action.content}
    return replace(
        action,
        **ids,
        spend=spend,
        reasoning=action.reasoning if isinstance(action.reasoning, str) else describe(action.reasoning),
        payload=_json_safe(action.payload, top=True),
        inputs=_json_safe(action.inputs, top=True),
        inverse=_json_safe(action.inverse, top=True),
        content={str(key): value if isinstance(value, str) else describe(value) for key, value in content.items()},
    )


def _json_safe(value: object, depth: int = 0, *, top: bool = False) -> Any:
    """The value with everything JSON cannot carry exactly replaced by its description."""
    if top and not isinstance(value, dict):
        return {"malformed": describe(value)}
    if depth > MAX_JSON_DEPTH:
        return f"nested more than {MAX_JSON_DEPTH} deep"
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_EXACT_INT:
        return value
    if isinstance(value, (list, tuple)):
        return [_json_safe(item, depth + 1) for item in value]
    if isinstance(value, dict):
        return {
            (key if isinstance(key, str) else describe(key)): _json_safe(item, depth + 1) for key, item in value.items()
        }
    return describe(value)


def submit(session: GovernanceSession, actions: list[ProposedAction], now: datetime) -> list[ActionRecord]:
    """Decide one agent run's proposals, pause the agent first if the run so far is anomalous, then queue, deny,
    escalate or execute each one. A malformed proposal is denied on its shape; the rest are decided as usual."""
    proposals = [Proposal(action, malformed_decision(action, session.policies)) for action in actions]
    for proposal in proposals:
        session.audit(AuditEvent.PROPOSED, proposal.stored, now)
    unique = list({proposal.action.action_id: proposal for proposal in proposals}.values())
    _check_behaviour(session, [p for p in unique if not action_exists(session.connection, p.action.action_id)], now)
    return [retry_on_conflict(lambda p=proposal: _decide_and_act(session, p, now)) for proposal in proposals]


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


def _decide_and_act(session: GovernanceSession, proposal: Proposal, now: datetime) -> ActionRecord:
    """Decide and act on a new action; one decided before (by an earlier run, a concurrent one or earlier
    in this batch) is reported, never decided twice."""
    action = proposal.stored
    with session.transaction(action):
        record = _decide_in_transaction(session, action, proposal.refused, now)
    crash_point("decision")
    return record


def _decide_in_transaction(
    session: GovernanceSession, action: ProposedAction, refused: PolicyDecision | None, now: datetime
) -> ActionRecord:
    agent = session.registry.get(action.agent_id)
    if action_exists(session.connection, action.action_id):
        return _already_decided(session, action, now)
    decision = refused or session.decide(action, now, check_gates=True)
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


def _check_behaviour(session: GovernanceSession, proposals: list[Proposal], now: datetime) -> list[AnomalyFinding]:
    """Compare the run so far (what this run already recorded for the agent and its new proposals) with the
    agent's trailing runs; pause and escalate on a breach, at most once per agent and run."""
    findings: list[AnomalyFinding] = []
    for agent_id in sorted({proposal.action.agent_id for proposal in proposals}):
        agent = session.registry.get(agent_id)
        if agent is None or pause_state(session.connection, agent_id).paused:
            continue  # a paused agent's run is all kill-switch denials: the pause's effect, not an anomaly
        if anomaly_paused_in_run(session.connection, agent_id, session.run_id):
            continue  # paused for this run already and resumed by a human: the run is not judged again
        mine = [proposal for proposal in proposals if proposal.action.agent_id == agent_id]
        decisions = [proposal.refused or session.decide(proposal.action, now) for proposal in mine]
        so_far = run_so_far(session.connection, agent_id, session.run_id)
        channels = dict(so_far.channels)
        for proposal in mine:
            channel = proposal.stored.channel
            channels[channel] = channels.get(channel, 0) + 1
        run = RunBehaviour(
            actions=so_far.actions + len(mine),
            spend=so_far.spend + committed_spend(proposal.action.spend for proposal in mine),
            denied=so_far.denied
            + sum(1 for decision in decisions if decision.verdict in (Verdict.DENIED, Verdict.ESCALATED)),
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
