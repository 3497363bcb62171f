"""The governor: the only path from a proposed action to a channel.

It decides every proposal with the policy engine, queues what needs a human, executes what is allowed
through the channel adapters, and writes the audit log — with the facts re-read, the rules re-applied,
the budget booked and the channel written inside one transaction per action. Each transaction first
writes lock rows for the action's contact and budgets, so two runs that interleave on the same person or
campaign conflict and the loser retries with fresh facts: no interleaving can overspend a cap or exceed
a frequency cap. Approvals, expiry, pause and rollback go through here too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import duckdb

from agents.actions import ProposedAction
from agents.adapters.sandbox import ChannelAdapter, ExecutionOutcome, sandbox_adapters
from agents.config import AgentDefinition, AgentRegistry, PolicySet
from agents.governance import audit
from agents.governance.anomaly import AnomalyFinding, RunBehaviour, detect_anomalies
from agents.governance.policy import ActionContext, AgentState, PolicyDecision, Verdict, decide
from agents.governance.store import (
    ACTIONS_TABLE,
    ESCALATIONS_TABLE,
    GLOBAL_CONTROL,
    ActionStatus,
    StoredAction,
    account_facts,
    action_exists,
    action_resources,
    agent_state,
    book_spend,
    budget_usage,
    contact_facts,
    ensure_governance_tables,
    load_action,
    load_actions,
    lock_resources,
    open_escalation,
    record_action,
    rules_json,
    set_pause,
    suppress_email,
    suppress_person,
    update_action,
)
from dagster_project.core.suppression import email_fingerprint
from dagster_project.core.transactions import retry_on_conflict, transaction

ANOMALY_DETECTOR = "surgewise-anomaly-detector"
"""Who pauses an agent on an anomaly; only a human reviewer may resume it."""


STATUS_BY_VERDICT = {
    Verdict.NEEDS_APPROVAL: ActionStatus.PENDING_APPROVAL,
    Verdict.DENIED: ActionStatus.DENIED,
    Verdict.ESCALATED: ActionStatus.ESCALATED,
}


class GovernanceError(ValueError):
    """A request governance refuses: an unknown reviewer, an agent approving, a closed action."""


@dataclass(frozen=True)
class ActionRecord:
    action: ProposedAction
    decision: PolicyDecision | None
    """None when an earlier run already decided the action."""
    outcome: str


@dataclass(frozen=True)
class RollbackResult:
    action_id: str
    rollback_action_id: str
    restored: bool
    detail: str


@dataclass
class Governor:
    connection: duckdb.DuckDBPyConnection
    registry: AgentRegistry
    policies: PolicySet
    run_id: str
    adapters: dict[str, ChannelAdapter] | None = None

    def __post_init__(self) -> None:
        ensure_governance_tables(self.connection)
        audit.ensure_audit_log(self.connection)
        if self.adapters is None:
            self.adapters = sandbox_adapters(self.connection)

    # --- proposals ------------------------------------------------------------------------------------

    def submit(self, actions: list[ProposedAction], now: datetime) -> list[ActionRecord]:
        """Decide one agent run's proposals, pause the agent first if the run as a whole is anomalous,
        then queue, deny, escalate or execute each one."""
        for action in actions:
            self._audit(audit.AuditEvent.PROPOSED, action, now)
        unique = list({action.action_id: action for action in actions}.values())
        self._check_behaviour([a for a in unique if not action_exists(self.connection, a.action_id)], now)
        return [retry_on_conflict(lambda action=action: self._decide_and_act(action, now)) for action in actions]

    def _already_decided(self, action: ProposedAction, now: datetime) -> ActionRecord:
        stored = load_action(self.connection, action.action_id)
        status = stored.status.value if stored else "unknown"
        outcome = ExecutionOutcome.ALREADY_EXECUTED.value if status == ActionStatus.EXECUTED else f"already_{status}"
        self._audit(
            audit.AuditEvent.DECIDED,
            action,
            now,
            outcome=outcome,
            reasoning=f"decided by an earlier run ({status}); not proposed again",
        )
        return ActionRecord(action, None, outcome)

    def _facts(
        self, action: ProposedAction, agent: AgentDefinition | None, now: datetime, approved_by: str | None
    ) -> ActionContext:
        """Everything the rules need about the action, read fresh (inside the action's transaction)."""
        contact = contact_facts(self.connection, action, self.policies, now) if action.person_id else None
        return ActionContext(
            now=now,
            agent_state=agent_state(self.connection, agent, now)[0] if agent else AgentState(),
            contact=contact,
            person_known=action.person_id is None or contact is not None,
            account=account_facts(self.connection, action.account_id),
            budget_usage=budget_usage(self.connection, action, self.policies, now),
            approved_by=approved_by,
        )

    def decide(self, action: ProposedAction, now: datetime, approved_by: str | None = None) -> PolicyDecision:
        agent = self.registry.get(action.agent_id)
        return decide(action, self._facts(action, agent, now, approved_by), self.registry, self.policies)

    def _decide_and_act(self, action: ProposedAction, now: datetime) -> ActionRecord:
        """Decide and act on a new action; one decided before (by an earlier run, a concurrent one or earlier
        in this batch) is reported, never decided twice."""
        agent = self.registry.get(action.agent_id)
        with self._transaction(action):
            if action_exists(self.connection, action.action_id):
                return self._already_decided(action, now)
            decision = self.decide(action, now)
            if decision.verdict is Verdict.ALLOWED:
                record_action(
                    self.connection, action, decision, status=ActionStatus.APPROVED, run_id=self.run_id, now=now
                )
                outcome = self._execute(action, decision, now)
                return ActionRecord(action, decision, outcome)
            status = STATUS_BY_VERDICT[decision.verdict]
            route = agent.route(action.action_type) if agent else None
            reviewers = route.reviewers if route and status is ActionStatus.PENDING_APPROVAL else ()
            if status is ActionStatus.ESCALATED and agent:
                reviewers = (agent.owner,)
            expires_at = now + timedelta(hours=route.expires_after_hours) if route and reviewers else None
            record_action(
                self.connection,
                action,
                decision,
                status=status,
                run_id=self.run_id,
                now=now,
                reviewers=reviewers,
                expires_at=expires_at if status is ActionStatus.PENDING_APPROVAL else None,
            )
            self._audit(
                audit.AuditEvent.DECIDED,
                action,
                now,
                decision=decision,
                outcome=status.value,
                reasoning=decision.summary(),
            )
            if status is ActionStatus.PENDING_APPROVAL:
                self._audit(
                    audit.AuditEvent.APPROVAL_REQUESTED,
                    action,
                    now,
                    outcome="queued",
                    reasoning=f"waiting for {' or '.join(reviewers)} until {expires_at:%Y-%m-%d %H:%M} UTC",
                )
            if status is ActionStatus.ESCALATED and agent:
                self._escalate_distress(action, agent, decision, now)
            return ActionRecord(action, decision, status.value)

    def _execute(
        self, action: ProposedAction, decision: PolicyDecision, now: datetime, reviewer: str | None = None
    ) -> str:
        """Inside the caller's transaction: write the channel, book the money, record the outcome."""
        adapter = self._adapter(action)
        before = adapter.state(action.action_id)
        outcome = adapter.execute(action, now)
        book_spend(self.connection, action, now)
        update_action(
            self.connection,
            action.action_id,
            status=ActionStatus.EXECUTED.value,
            executed_at=now,
            state_before=before,
            state_after=adapter.state(action.action_id),
            execution_rules=rules_json(decision),
        )
        self._audit(
            audit.AuditEvent.DECIDED,
            action,
            now,
            decision=decision,
            outcome=outcome.value,
            reasoning=decision.summary(),
            reviewer=reviewer,
        )
        return outcome.value

    def _escalate_distress(
        self, action: ProposedAction, agent: AgentDefinition, decision: PolicyDecision, now: datetime
    ) -> None:
        reason = decision.summary()
        open_escalation(
            self.connection,
            agent_id=agent.id,
            escalated_to=agent.owner,
            reason=reason,
            action_id=action.action_id,
            now=now,
        )
        if any(rule.rule_id == "distress.signals" for rule in decision.fired) and action.person_id:
            suppress_person(self.connection, action.person_id, "distress", now)
        self._audit(
            audit.AuditEvent.ESCALATED,
            action,
            now,
            outcome="escalated",
            reasoning=f"escalated to {agent.owner}; contact suppressed: {reason}",
        )

    # --- behaviour --------------------------------------------------------------------------------------

    def _check_behaviour(self, actions: list[ProposedAction], now: datetime) -> list[AnomalyFinding]:
        """Compare this run's proposals with the agent's trailing runs; pause and escalate on a breach."""
        findings: list[AnomalyFinding] = []
        for agent_id in sorted({action.agent_id for action in actions}):
            agent = self.registry.get(agent_id)
            if agent is None:
                continue
            mine = [action for action in actions if action.agent_id == agent_id]
            decisions = [self.decide(action, now) for action in mine]
            channels: dict[str, int] = {}
            for action in mine:
                channels[action.channel] = channels.get(action.channel, 0) + 1
            run = RunBehaviour(
                actions=len(mine),
                spend=sum(max(action.spend, 0.0) for action in mine),
                denied=sum(1 for decision in decisions if decision.verdict in (Verdict.DENIED, Verdict.ESCALATED)),
                channels=channels,
            )
            breaches = detect_anomalies(run, run_history(self.connection, agent_id), self.policies.anomaly)
            if breaches:
                reason = "anomaly: " + "; ".join(finding.reason for finding in breaches)
                self.pause(agent_id, by=ANOMALY_DETECTOR, reason=reason, now=now, escalate_to=agent.owner)
                self._audit(
                    audit.AuditEvent.ANOMALY,
                    None,
                    now,
                    agent_id=agent_id,
                    reasoning=reason,
                    inputs={"findings": [f.__dict__ for f in breaches]},
                    outcome=audit.AuditEvent.ANOMALY,
                )
            findings += breaches
        return findings

    # --- approvals --------------------------------------------------------------------------------------

    def _reviewer_may_review(self, stored: StoredAction, reviewer_id: str) -> None:
        if self.registry.get(reviewer_id) is not None:
            raise GovernanceError(f"{reviewer_id} is an agent: an agent can never approve or reject an action")
        reviewer = self.registry.reviewer(reviewer_id)
        if reviewer is None:
            raise GovernanceError(f"{reviewer_id} is not a listed reviewer in the agent registry")
        agent = self.registry.get(stored.action.agent_id)
        route = agent.route(stored.action.action_type) if agent else None
        if reviewer_id not in stored.reviewers:
            raise GovernanceError(
                f"{reviewer.describe()} is not a reviewer of {stored.action.agent_id}'s {stored.action.action_type} "
                f"actions (reviewers: {', '.join(stored.reviewers) or 'none'})"
            )
        if route and route.roles and reviewer.role not in route.roles:
            raise GovernanceError(f"{reviewer.describe()} lacks a role that may review this ({', '.join(route.roles)})")

    def approve(self, action_id: str, reviewer_id: str, comment: str, now: datetime) -> StoredAction:
        """Record a reviewer's approval; the approved-actions sensor executes it after re-checking."""
        return self._review(action_id, reviewer_id, comment, now, approved=True)

    def reject(self, action_id: str, reviewer_id: str, comment: str, now: datetime) -> StoredAction:
        """Record a rejection: the action never runs."""
        return self._review(action_id, reviewer_id, comment, now, approved=False)

    def _review(self, action_id: str, reviewer_id: str, comment: str, now: datetime, *, approved: bool) -> StoredAction:
        """Check and record a review in one transaction, so two reviewers deciding at once cannot both win."""
        status, event = (
            (ActionStatus.APPROVED, audit.AuditEvent.APPROVED)
            if approved
            else (ActionStatus.REJECTED, audit.AuditEvent.REJECTED)
        )

        def attempt() -> StoredAction:
            with self._transaction(None):
                stored = load_action(self.connection, action_id)
                if stored is None:
                    raise GovernanceError(f"no action {action_id}")
                self._reviewer_may_review(stored, reviewer_id)
                if stored.status is ActionStatus.PENDING_APPROVAL and stored.expires_at and stored.expires_at <= now:
                    self._expire(stored, now)
                    return stored
                if stored.status is not ActionStatus.PENDING_APPROVAL:
                    raise GovernanceError(f"action {action_id} is {stored.status.value}, not waiting for approval")
                update_action(
                    self.connection,
                    action_id,
                    status=status.value,
                    reviewed_by=reviewer_id,
                    reviewed_at=now,
                    review_comment=comment,
                )
                self._audit(event, stored.action, now, outcome=status.value, reasoning=comment, reviewer=reviewer_id)
                return stored

        stored = retry_on_conflict(attempt)
        if stored.status is ActionStatus.PENDING_APPROVAL and stored.expires_at and stored.expires_at <= now:
            raise GovernanceError(f"the approval request for {action_id} expired at {stored.expires_at:%Y-%m-%d %H:%M}")
        return load_action(self.connection, action_id)  # type: ignore[return-value]

    def _expire(self, stored: StoredAction, now: datetime) -> None:
        update_action(
            self.connection,
            stored.action.action_id,
            status=ActionStatus.EXPIRED.value,
            status_detail=f"no decision by {stored.expires_at:%Y-%m-%d %H:%M}",
        )
        self._audit(
            audit.AuditEvent.EXPIRED,
            stored.action,
            now,
            outcome="expired",
            reasoning=f"no reviewer decided by {stored.expires_at:%Y-%m-%d %H:%M}; never executed",
        )

    def _expire_in_transaction(self, stored: StoredAction, now: datetime) -> None:
        with self._transaction(None):
            self._expire(stored, now)

    def expire_overdue(self, now: datetime) -> list[str]:
        overdue = load_actions(
            self.connection, "status = ? and expires_at <= ?", [ActionStatus.PENDING_APPROVAL.value, now]
        )
        for stored in overdue:
            retry_on_conflict(lambda stored=stored: self._expire_in_transaction(stored, now))
        return [stored.action.action_id for stored in overdue]

    def execute_approved(self, now: datetime) -> list[ActionRecord]:
        """Execute every approved action not yet executed, re-applying every rule with fresh facts: an
        approval satisfies the approval rules, never a denial (consent withdrawn since, cap reached, agent
        paused)."""
        approved = load_actions(self.connection, "status = ? and executed_at is null", [ActionStatus.APPROVED.value])
        return [retry_on_conflict(lambda stored=stored: self._execute_approved(stored, now)) for stored in approved]

    def _execute_approved(self, stored: StoredAction, now: datetime) -> ActionRecord:
        action = stored.action
        with self._transaction(action):
            decision = self.decide(action, now, approved_by=stored.reviewed_by)
            if decision.verdict is Verdict.ALLOWED:
                return ActionRecord(action, decision, self._execute(action, decision, now, stored.reviewed_by))
            status = STATUS_BY_VERDICT[decision.verdict]
            status = ActionStatus.DENIED if status is ActionStatus.PENDING_APPROVAL else status
            update_action(
                self.connection,
                action.action_id,
                status=status.value,
                status_detail=f"blocked at execution: {decision.summary()}",
            )
            self._audit(
                audit.AuditEvent.DECIDED,
                action,
                now,
                decision=decision,
                outcome=status.value,
                reasoning=f"approved by {stored.reviewed_by} but blocked at execution: {decision.summary()}",
                reviewer=stored.reviewed_by,
            )
            agent = self.registry.get(action.agent_id)
            if status is ActionStatus.ESCALATED and agent:
                self._escalate_distress(action, agent, decision, now)
            return ActionRecord(action, decision, status.value)

    # --- kill switch --------------------------------------------------------------------------------------

    def pause(self, agent_id: str, *, by: str, reason: str, now: datetime, escalate_to: str | None = None) -> None:
        """Pause one agent (or every agent with `*`): it proposes nothing and nothing of it executes."""
        self._switch(agent_id, paused=True, by=by, reason=reason, now=now, escalate_to=escalate_to)

    def resume(self, agent_id: str, *, by: str, reason: str, now: datetime) -> None:
        """Let a paused agent act again; only a listed human may, never the anomaly detector."""
        self._switch(agent_id, paused=False, by=by, reason=reason, now=now)

    def _switch(
        self, agent_id: str, *, paused: bool, by: str, reason: str, now: datetime, escalate_to: str | None = None
    ) -> None:
        self._require_agent(agent_id)
        if not (paused and by == ANOMALY_DETECTOR):
            self._require_human(by)
        event = audit.AuditEvent.AGENT_PAUSED if paused else audit.AuditEvent.AGENT_RESUMED

        def attempt() -> None:
            with self._switching(agent_id):
                set_pause(self.connection, agent_id, paused=paused, reason=reason, by=by, now=now)
                if escalate_to:
                    open_escalation(
                        self.connection,
                        agent_id=agent_id,
                        escalated_to=escalate_to,
                        reason=reason,
                        action_id=None,
                        now=now,
                    )
                self._audit(
                    event, None, now, agent_id=agent_id, reasoning=reason, inputs={"by": by}, outcome=event, reviewer=by
                )

        retry_on_conflict(attempt)

    @contextmanager
    def _switching(self, agent_id: str) -> Iterator[None]:
        """A transaction holding the agent's lock row (every agent's for `*`), so an execution in flight
        either commits before the switch or retries and sees it."""
        agents = [agent.id for agent in self.registry.agents] if agent_id == GLOBAL_CONTROL else [agent_id]
        with transaction(self.connection):
            lock_resources(self.connection, [f"agent:{agent}" for agent in agents])
            yield

    def mark_do_not_contact(self, email: str, *, by: str, reason: str, now: datetime) -> bool:
        """A human's do-not-contact request: the address goes on the suppression list, which every rule check
        reads, at proposal and again at execution. The audit entry names the address only by its fingerprint."""
        self._require_human(by)

        def attempt() -> bool:
            with self._transaction(None):
                added = suppress_email(self.connection, email, f"do_not_contact: {reason}", now) > 0
                self._audit(
                    audit.AuditEvent.DO_NOT_CONTACT,
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

    def _require_agent(self, agent_id: str) -> None:
        if agent_id != GLOBAL_CONTROL and self.registry.get(agent_id) is None:
            known = ", ".join(agent.id for agent in self.registry.agents)
            raise GovernanceError(f"no agent {agent_id!r} in the registry (agents: {known}; {GLOBAL_CONTROL} for all)")

    def resolve_escalation(self, escalation_id: int, *, by: str, resolution: str, now: datetime) -> None:
        """Close an escalation with what the owner did about it; only a listed human may."""
        self._require_human(by)
        with self._transaction(None):
            row = self.connection.execute(
                f"update {ESCALATIONS_TABLE} set resolved_at = ?, resolved_by = ?, resolution = ? "
                "where escalation_id = ? and resolved_at is null returning agent_id, action_id, reason",
                [now, by, resolution, escalation_id],
            ).fetchone()
            if row is None:
                raise GovernanceError(f"no open escalation {escalation_id}")
            agent_id, action_id, reason = row
            self._audit(
                audit.AuditEvent.ESCALATION_RESOLVED,
                None,
                now,
                agent_id=agent_id,
                reasoning=f"{resolution} (escalated: {reason})",
                inputs={"escalation_id": escalation_id, "action_id": action_id},
                outcome="resolved",
                reviewer=by,
                related_action_id=action_id,
            )

    def _require_human(self, who: str) -> None:
        if self.registry.get(who) is not None:
            raise GovernanceError(f"{who} is an agent: only a listed human reviewer may do this")
        if self.registry.reviewer(who) is None:
            raise GovernanceError(f"{who} is not a listed reviewer in the agent registry")

    # --- rollback -----------------------------------------------------------------------------------------

    def rollback(self, action_id: str, *, by: str, reason: str, now: datetime) -> RollbackResult:
        """Undo one executed action through governance and the audit log, and verify the channel state is
        what it was before the action ran."""
        self._require_human(by)
        stored = load_action(self.connection, action_id)
        if stored is None:
            raise GovernanceError(f"no action {action_id}")
        if stored.status is not ActionStatus.EXECUTED:
            raise GovernanceError(f"action {action_id} is {stored.status.value}: only executed actions roll back")
        agent = self.registry.get(stored.action.agent_id)
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
        return retry_on_conflict(lambda: self._rollback(stored, inverse, by, now))

    def _rollback(self, stored: StoredAction, inverse: ProposedAction, by: str, now: datetime) -> RollbackResult:
        original = stored.action
        with self._transaction(inverse):
            self._audit(audit.AuditEvent.PROPOSED, inverse, now, reviewer=by, related_action_id=original.action_id)
            decision = self.decide(inverse, now, approved_by=by)
            if decision.verdict is not Verdict.ALLOWED:
                raise GovernanceError(f"governance refused the rollback: {decision.summary()}")
            record_action(self.connection, inverse, decision, status=ActionStatus.APPROVED, run_id=self.run_id, now=now)
            update_action(self.connection, inverse.action_id, reviewed_by=by, reviewed_at=now)
            adapter = self._adapter(original)
            adapter.execute(inverse, now)
            book_spend(self.connection, inverse, now)
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
                self.connection,
                inverse.action_id,
                status=ActionStatus.EXECUTED.value,
                executed_at=now,
                state_after=restored_state,
            )
            update_action(
                self.connection,
                original.action_id,
                status=ActionStatus.ROLLED_BACK.value,
                rolled_back_by=inverse.action_id,
                status_detail=detail,
            )
            self._audit(
                audit.AuditEvent.ROLLED_BACK,
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
        self, agent_id: str, since: datetime, until: datetime, *, by: str, reason: str, now: datetime
    ) -> list[RollbackResult]:
        """Undo every action the agent executed in a time window, newest first; one that cannot be undone is
        reported and the others still roll back."""
        self._require_human(by)
        executed = load_actions(
            self.connection,
            "agent_id = ? and status = ? and executed_at between ? and ? and rollback_of is null",
            [agent_id, ActionStatus.EXECUTED.value, since, until],
        )
        executed.sort(key=lambda stored: stored.executed_at or now, reverse=True)
        results = []
        for stored in executed:
            try:
                results.append(self.rollback(stored.action.action_id, by=by, reason=reason, now=now))
            except GovernanceError as refusal:
                results.append(RollbackResult(stored.action.action_id, "", False, str(refusal)))
        return results

    # --- plumbing ----------------------------------------------------------------------------------------

    def _adapter(self, action: ProposedAction) -> ChannelAdapter:
        adapter = (self.adapters or {}).get(action.channel)
        if adapter is None:
            raise GovernanceError(f"no adapter for channel {action.channel}")
        return adapter

    @contextmanager
    def _transaction(self, action: ProposedAction | None) -> Iterator[None]:
        """One write transaction; for an action it first takes the action's lock rows."""
        with transaction(self.connection):
            if action is not None:
                lock_resources(self.connection, action_resources(action, self.policies))
            yield

    def _audit(
        self,
        event: str,
        action: ProposedAction | None,
        now: datetime,
        *,
        agent_id: str | None = None,
        inputs: dict[str, Any] | None = None,
        decision: PolicyDecision | None = None,
        outcome: str | None = None,
        reasoning: str | None = None,
        reviewer: str | None = None,
        related_action_id: str | None = None,
    ) -> None:
        """One audit entry about an action, or (with agent_id and no action) about the agent itself."""
        audit.append(
            self.connection,
            audit.AuditEntry(
                recorded_at=now,
                run_id=self.run_id,
                agent_id=agent_id or (action.agent_id if action else ""),
                event=event,
                action=action,
                reasoning=reasoning,
                inputs=inputs,
                decision=decision,
                outcome=outcome,
                reviewer=reviewer,
                related_action_id=related_action_id or (action.rollback_of if action else None),
                policy_version=decision.policy_version if decision else self.policies.policy_version,
            ),
        )


def run_history(connection: duckdb.DuckDBPyConnection, agent_id: str) -> list[RunBehaviour]:
    """The agent's earlier runs, oldest first, as the anomaly detector's baseline."""
    rows = connection.execute(
        f"""
        select run_id, channel, count(*), sum(greatest(spend, 0)),
            count(case when verdict in ('denied', 'escalated') then 1 end), min(proposed_at) as started
        from {ACTIONS_TABLE}
        where agent_id = ? and rollback_of is null
        group by run_id, channel
        order by started, run_id
        """,
        [agent_id],
    ).fetchall()
    runs: dict[str, RunBehaviour] = {}
    for run_id, channel, count, spend, denied, _ in rows:
        earlier = runs.get(run_id, RunBehaviour(0, 0.0, 0, {}))
        runs[run_id] = RunBehaviour(
            actions=earlier.actions + int(count),
            spend=earlier.spend + float(spend or 0),
            denied=earlier.denied + int(denied),
            channels={**earlier.channels, channel: int(count)},
        )
    return list(runs.values())
