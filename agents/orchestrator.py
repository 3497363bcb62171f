"""The orchestrator: decides which specialists answer a trigger and hands their proposals to the governor,
which decides, queues, executes and audits them. Handoffs that execute wake the receiving agent."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import duckdb

from agents.adapters.sandbox import ExecutionOutcome
from agents.config import AccountSurgeRule, AgentRegistry, PolicySet
from agents.context import engaged_people, recommended_send_hours
from agents.gates import failing_gates
from agents.governance import audit
from agents.governance.facts import pause_state
from agents.governance.governor import Governor
from agents.governance.policy import HANDOFF_ACTION
from agents.governance.session import ActionRecord
from agents.governance.store import escalate_once
from agents.specialists.account_ads import AccountAdsAgent, HandoffBrief
from agents.specialists.sdr_sequence import SdrSequenceAgent
from agents.surge import AccountSurge
from dagster_project.core.check_results import ensure_check_results
from dagster_project.core.crash_points import crash_point
from models.config import ModelSettings
from models.registry import ModelRegistry
from models.serving import ServedIntent, served_intent_as_of


@dataclass
class SurgeResponse:
    surge: AccountSurge
    blocked_reasons: list[str] = field(default_factory=list)
    actions: list[ActionRecord] = field(default_factory=list)

    def outcomes(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for record in self.actions:
            counts[record.outcome] = counts.get(record.outcome, 0) + 1
        return counts


def _blocked(
    connection: duckdb.DuckDBPyConnection,
    registry: AgentRegistry,
    agent_id: str,
    trigger: dict[str, str],
    run_id: str,
    now: datetime,
) -> list[str]:
    """Why the agent may not act at all: not registered, paused, or a data check it depends on is not green.
    A refusal is itself audited, and failing data escalates to the agent's owner (once per distinct reason,
    however many triggers it blocks)."""
    agent = registry.get(agent_id)
    if agent is None:
        reasons = [f"agent {agent_id} is not in the agent registry"]
    else:
        pause = pause_state(connection, agent_id)
        reasons = [f"agent is {pause.reason}"] if pause.paused else failing_gates(connection, agent.required_checks)
        if reasons and not pause.paused:
            for reason in reasons:
                escalate_once(connection, agent_id=agent_id, escalated_to=agent.owner, reason=reason, now=now)
    if reasons:
        audit.append(
            connection,
            audit.AuditEntry(
                recorded_at=now,
                run_id=run_id,
                agent_id=agent_id,
                event=audit.AuditEvent.RUN_BLOCKED,
                reasoning="Did not act: " + " | ".join(reasons),
                inputs=trigger,
                outcome="not_acted",
            ),
        )
    return reasons


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
    """Answer one account surge: the SDR specialist proposes enrolments and a handoff, the governor decides
    and executes, and an executed handoff wakes the ads specialist."""
    audit.ensure_audit_log(connection)
    ensure_check_results(connection)
    governor = Governor(connection, registry, policies, run_id)
    specialist = SdrSequenceAgent()
    response = SurgeResponse(surge=surge)
    response.blocked_reasons = _blocked(
        connection,
        registry,
        specialist.agent_id,
        {"trigger": surge.run_key, "account_id": surge.account_id},
        run_id,
        now,
    )
    if response.blocked_reasons:
        return response

    people = engaged_people(connection, surge, rule.content_categories, surge.detected_on)
    intent = (
        served_intent_as_of(
            connection, model_registry, model_settings, account_id=surge.account_id, snapshot_date=surge.detected_on
        )
        if model_registry is not None and model_settings is not None
        else ServedIntent(unavailable=("no model registry given",))
    )
    send_hours = recommended_send_hours(connection, [person.person_id for person in people])
    industry = connection.execute(
        "select industry from marts.dim_account where account_id = ?", [surge.account_id]
    ).fetchone()
    proposals = specialist.propose(surge, people, intent, send_hours)
    proposals.append(specialist.hand_off(surge, len(people), industry[0] if industry else None, intent))
    crash_point("proposal")
    response.actions = governor.submit(proposals, now)
    response.actions += follow_handoffs(governor, response.actions, now)
    return response


HANDOFF_DONE = frozenset({ExecutionOutcome.EXECUTED.value, ExecutionOutcome.ALREADY_EXECUTED.value})


def follow_handoffs(governor: Governor, records: list[ActionRecord], now: datetime) -> list[ActionRecord]:
    """Wake the receiving agent of every handoff that executed, now or in an earlier run that died before the
    receiver proposed (its proposals' idempotency keys make waking it twice harmless); they go through the
    governor."""
    followed: list[ActionRecord] = []
    for record in records:
        action = record.action
        if action.action_type != HANDOFF_ACTION or record.outcome not in HANDOFF_DONE:
            continue
        if action.handoff_to != AccountAdsAgent.agent_id:
            continue
        trigger = {"trigger": f"handoff:{action.action_id}", "account_id": action.account_id}
        if _blocked(governor.connection, governor.registry, action.handoff_to, trigger, governor.run_id, now):
            continue
        proposals = AccountAdsAgent().propose(HandoffBrief.from_handoff(action))
        crash_point("proposal")
        followed += governor.submit(proposals, now)
    return followed


def execute_approved_actions(
    connection: duckdb.DuckDBPyConnection, *, registry: AgentRegistry, policies: PolicySet, run_id: str, now: datetime
) -> tuple[list[str], list[ActionRecord]]:
    """Expire overdue approval requests, execute approved actions after re-checking them, and wake the
    agents whose handoffs were approved. Returns the expired ids and the execution records."""
    audit.ensure_audit_log(connection)
    governor = Governor(connection, registry, policies, run_id)
    expired = governor.expire_overdue(now)
    records = governor.execute_approved(now)
    return expired, records + follow_handoffs(governor, records, now)
