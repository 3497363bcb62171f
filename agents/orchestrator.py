"""The orchestrator: decides which specialists answer a trigger and carries their proposals through
the data gates, governance, execution and the audit log."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import duckdb

from agents.actions import ProposedAction
from agents.adapters.sandbox import ExecutionOutcome, SandboxSalesEngagementAdapter
from agents.config import AccountSurgeRule, AgentRegistry, PolicySet
from agents.context import engaged_people, ensure_suppression_list, is_suppressed, recommended_send_hours
from agents.gates import ensure_check_results, failing_gates
from agents.governance import audit
from agents.governance.policy import ActionContext, PolicyDecision, Verdict, decide
from agents.specialists.sdr_sequence import SdrSequenceAgent
from agents.surge import AccountSurge
from models.config import ModelSettings
from models.registry import ModelRegistry
from models.serving import ServedIntent, served_intent_as_of


@dataclass(frozen=True)
class ActionRecord:
    action: ProposedAction
    decision: PolicyDecision
    outcome: str


@dataclass
class SurgeResponse:
    surge: AccountSurge
    blocked_reasons: list[str] = field(default_factory=list)
    actions: list[ActionRecord] = field(default_factory=list)

    def count(self, verdict: Verdict) -> int:
        return sum(1 for record in self.actions if record.decision.verdict is verdict)


def _decided(
    action: ProposedAction,
    run_id: str,
    now: datetime,
    *,
    outcome: str,
    reasoning: str,
    decision: PolicyDecision | None = None,
) -> audit.AuditEntry:
    """The audit entry that closes an action: what was decided, why, and what happened."""
    return audit.AuditEntry(
        recorded_at=now,
        run_id=run_id,
        agent_id=action.agent_id,
        event=audit.AuditEvent.DECIDED,
        action=action,
        reasoning=reasoning,
        decision=decision,
        outcome=outcome,
    )


def respond_to_surge(
    connection: duckdb.DuckDBPyConnection,
    surge: AccountSurge,
    *,
    rule: AccountSurgeRule,
    registry: AgentRegistry,
    policies: PolicySet,
    run_id: str,
    now: datetime,
    model_registry: ModelRegistry | None = None,
    model_settings: ModelSettings | None = None,
) -> SurgeResponse:
    """Answer one account surge: the SDR specialist proposes, governance decides, the adapter executes."""
    audit.ensure_audit_log(connection)
    ensure_check_results(connection)
    ensure_suppression_list(connection)
    adapter = SandboxSalesEngagementAdapter(connection)
    specialist = SdrSequenceAgent()
    response = SurgeResponse(surge=surge)
    agent = registry.get(specialist.agent_id)
    response.blocked_reasons = (
        failing_gates(connection, agent.required_checks)
        if agent
        else [f"agent {specialist.agent_id} is not in the agent registry"]
    )
    if response.blocked_reasons:
        audit.append(
            connection,
            audit.AuditEntry(
                recorded_at=now,
                run_id=run_id,
                agent_id=specialist.agent_id,
                event=audit.AuditEvent.RUN_BLOCKED,
                reasoning="Did not act: " + " | ".join(response.blocked_reasons),
                inputs={"trigger": surge.run_key, "account_id": surge.account_id},
                outcome="not_acted",
            ),
        )
        return response

    people = {
        person.person_id: person
        for person in engaged_people(connection, surge, rule.content_categories, surge.detected_on)
    }
    intent = (
        served_intent_as_of(
            connection, model_registry, model_settings, account_id=surge.account_id, snapshot_date=surge.detected_on
        )
        if model_registry is not None and model_settings is not None
        else ServedIntent(unavailable=("no model registry given",))
    )
    send_hours = recommended_send_hours(connection, list(people))
    for action in specialist.propose(surge, list(people.values()), intent, send_hours):
        audit.append(
            connection,
            audit.AuditEntry(
                recorded_at=now,
                run_id=run_id,
                agent_id=action.agent_id,
                event=audit.AuditEvent.PROPOSED,
                action=action,
            ),
        )
        if audit.was_executed(connection, action.action_id):
            audit.append(
                connection,
                _decided(
                    action,
                    run_id,
                    now,
                    outcome=ExecutionOutcome.ALREADY_EXECUTED.value,
                    reasoning="executed by an earlier run; not sent again",
                ),
            )
            continue
        person = people.get(action.person_id or "")
        cap = policies.frequency_cap(action.channel)
        context = ActionContext(
            person_known=person is not None,
            is_contactable=bool(person and person.is_contactable),
            consent_status=person.consent_status if person else "unknown",
            is_suppressed=bool(person and is_suppressed(connection, person.email)),
            recent_actions_on_channel=audit.executed_actions_since(
                connection,
                action.person_id or "",
                action.channel,
                now - timedelta(days=cap.window_days if cap else 0),
            ),
        )
        decision = decide(action, context, registry, policies)
        # The channel write and its audit record commit together: no effect without its record.
        connection.execute("begin transaction")
        try:
            outcome = adapter.execute(action, now).value if decision.verdict is Verdict.ALLOWED else "denied"
            audit.append(
                connection,
                _decided(
                    action,
                    run_id,
                    now,
                    outcome=outcome,
                    reasoning="; ".join(rule.reason for rule in decision.fired) or "all policy rules passed",
                    decision=decision,
                ),
            )
            connection.execute("commit")
        except Exception:
            connection.execute("rollback")
            raise
        response.actions.append(ActionRecord(action=action, decision=decision, outcome=outcome))
    return response
