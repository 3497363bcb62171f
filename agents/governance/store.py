"""Governance state in the warehouse: every action's lifecycle, the budget ledger, agent controls and
escalations, and the reads that turn them into the facts the policy engine decides on.

The audit log says what happened, append-only; these tables say where things stand now (an action
waiting for a reviewer, an agent paused). Personal data lives here, not in the audit log, so `forget`
can erase it without touching the hash chain.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import duckdb

from agents.actions import ProposedAction
from agents.config import AgentDefinition, PolicySet, RolloutPlan
from agents.governance.policy import (
    AccountFacts,
    AgentState,
    BudgetUsage,
    ContactFacts,
    PolicyDecision,
    applicable_caps,
)
from dagster_project.core.suppression import (
    SUPPRESSION_TABLE,
    email_fingerprint,
    ensure_suppression_list,
    is_suppressed,
)

ACTIONS_TABLE = "governance.actions"
BUDGET_LEDGER_TABLE = "governance.budget_ledger"
CONTROLS_TABLE = "governance.agent_controls"
ESCALATIONS_TABLE = "governance.escalations"
LOCKS_TABLE = "governance.resource_locks"
GLOBAL_CONTROL = "*"
"""The agent_controls row that pauses every agent at once."""


class ActionStatus(StrEnum):
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    DENIED = "denied"
    ESCALATED = "escalated"
    EXECUTED = "executed"
    ROLLED_BACK = "rolled_back"


TOUCHED = (ActionStatus.EXECUTED.value, ActionStatus.ROLLED_BACK.value)
"""Statuses of actions that reached the contact: a rolled-back enrolment still sent its first step."""


def ensure_governance_tables(connection: duckdb.DuckDBPyConnection) -> None:
    connection.execute("create schema if not exists governance")
    ensure_suppression_list(connection)
    connection.execute(
        f"""
        create table if not exists {ACTIONS_TABLE} (
            action_id varchar primary key,
            run_id varchar not null,
            agent_id varchar not null,
            action_type varchar not null,
            channel varchar not null,
            person_id varchar,
            account_id varchar not null,
            campaign_id varchar,
            spend double not null,
            handoff_to varchar,
            rollback_of varchar,
            trigger_key varchar not null,
            payload json,
            content json,
            inverse json,
            reasoning varchar,
            inputs json,
            status varchar not null,
            verdict varchar not null,
            rules json not null,
            policy_version varchar not null,
            proposed_at timestamp not null,
            reviewers json,
            expires_at timestamp,
            reviewed_by varchar,
            reviewed_at timestamp,
            review_comment varchar,
            executed_at timestamp,
            state_before json,
            state_after json,
            execution_rules json,
            rolled_back_by varchar,
            status_detail varchar
        )
        """
    )
    connection.execute("create sequence if not exists governance.budget_entry_id")
    connection.execute(
        f"""
        create table if not exists {BUDGET_LEDGER_TABLE} (
            entry_id bigint primary key default nextval('governance.budget_entry_id'),
            action_id varchar not null,
            agent_id varchar not null,
            campaign_id varchar not null,
            channel varchar not null,
            account_id varchar not null,
            amount double not null,
            booked_at timestamp not null
        )
        """
    )
    connection.execute(
        f"""
        create table if not exists {CONTROLS_TABLE} (
            agent_id varchar primary key,
            paused boolean not null,
            reason varchar not null,
            changed_by varchar not null,
            changed_at timestamp not null
        )
        """
    )
    connection.execute("create sequence if not exists governance.escalation_id")
    connection.execute(
        f"""
        create table if not exists {ESCALATIONS_TABLE} (
            escalation_id bigint primary key default nextval('governance.escalation_id'),
            agent_id varchar not null,
            escalated_to varchar not null,
            reason varchar not null,
            action_id varchar,
            created_at timestamp not null,
            resolved_at timestamp,
            resolved_by varchar,
            resolution varchar
        )
        """
    )
    connection.execute(
        f"create table if not exists {LOCKS_TABLE} (resource varchar primary key, version bigint not null)"
    )


def lock_resources(connection: duckdb.DuckDBPyConnection, resources: list[str]) -> None:
    """Write each resource's lock row inside the caller's transaction. Two open transactions that write
    the same row conflict in DuckDB, so checks and writes on one contact or one budget are serialised:
    the loser rolls back and retries with fresh facts."""
    for resource in sorted(set(resources)):
        connection.execute(
            f"insert into {LOCKS_TABLE} values (?, 1) on conflict (resource) do update set version = version + 1",
            [resource],
        )


def action_resources(action: ProposedAction, policies: PolicySet) -> list[str]:
    resources = [f"agent:{action.agent_id}"]
    if action.person_id is not None:
        # hashed, so a lock row never names a person that `forget` must erase
        resources.append(f"person:{hashlib.sha256(action.person_id.encode()).hexdigest()[:24]}")
    resources += [f"budget:{cap.scope}:{subject}" for cap, subject in applicable_caps(action, policies)]
    return resources


def record_action(
    connection: duckdb.DuckDBPyConnection,
    action: ProposedAction,
    decision: PolicyDecision,
    *,
    status: ActionStatus,
    run_id: str,
    now: datetime,
    reviewers: tuple[str, ...] = (),
    expires_at: datetime | None = None,
) -> None:
    connection.execute(
        f"""
        insert into {ACTIONS_TABLE} (
            action_id, run_id, agent_id, action_type, channel, person_id, account_id, campaign_id, spend,
            handoff_to, rollback_of, trigger_key, payload, content, inverse, reasoning, inputs, status,
            verdict, rules, policy_version, proposed_at, reviewers, expires_at
        ) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        [
            action.action_id,
            run_id,
            action.agent_id,
            action.action_type,
            action.channel,
            action.person_id,
            action.account_id,
            action.campaign_id,
            action.spend,
            action.handoff_to,
            action.rollback_of,
            action.trigger_key,
            json.dumps(action.payload, default=str),
            json.dumps(action.content),
            json.dumps(action.inverse),
            action.reasoning,
            json.dumps(action.inputs, default=str),
            status.value,
            decision.verdict.value,
            rules_json(decision),
            decision.policy_version,
            now,
            json.dumps(list(reviewers)),
            expires_at,
        ],
    )


def rules_json(decision: PolicyDecision) -> str:
    return json.dumps([{"rule_id": r.rule_id, "verdict": r.verdict.value, "reason": r.reason} for r in decision.rules])


def update_action(connection: duckdb.DuckDBPyConnection, action_id: str, **columns: Any) -> None:
    assignments = ", ".join(f"{name} = ?" for name in columns)
    values = [json.dumps(value) if isinstance(value, dict | list) else value for value in columns.values()]
    connection.execute(f"update {ACTIONS_TABLE} set {assignments} where action_id = ?", [*values, action_id])


def action_exists(connection: duckdb.DuckDBPyConnection, action_id: str) -> bool:
    return connection.execute(f"select 1 from {ACTIONS_TABLE} where action_id = ?", [action_id]).fetchone() is not None


@dataclass(frozen=True)
class StoredAction:
    """One row of governance.actions with its action rebuilt, for approval, execution and rollback."""

    action: ProposedAction
    run_id: str
    status: ActionStatus
    verdict: str
    rules: list[dict[str, str]]
    policy_version: str
    proposed_at: datetime
    reviewers: list[str]
    expires_at: datetime | None
    reviewed_by: str | None
    reviewed_at: datetime | None
    review_comment: str | None
    executed_at: datetime | None
    state_before: dict[str, Any] | None
    state_after: dict[str, Any] | None
    rolled_back_by: str | None
    status_detail: str | None


def load_action(connection: duckdb.DuckDBPyConnection, action_id: str) -> StoredAction | None:
    rows = load_actions(connection, "action_id = ?", [action_id])
    return rows[0] if rows else None


def load_actions(
    connection: duckdb.DuckDBPyConnection, where: str = "true", parameters: list[Any] | None = None
) -> list[StoredAction]:
    cursor = connection.execute(
        f"select * from {ACTIONS_TABLE} where {where} order by proposed_at, action_id", parameters or []
    )
    names = [column[0] for column in cursor.description]
    stored = []
    for values in cursor.fetchall():
        row = dict(zip(names, values, strict=True))
        action = ProposedAction(
            agent_id=row["agent_id"],
            action_type=row["action_type"],
            channel=row["channel"],
            person_id=row["person_id"],
            account_id=row["account_id"],
            payload=json.loads(row["payload"] or "{}"),
            reasoning=row["reasoning"] or "",
            inputs=json.loads(row["inputs"] or "{}"),
            inverse=json.loads(row["inverse"] or "{}"),
            trigger_key=row["trigger_key"],
            campaign_id=row["campaign_id"],
            spend=row["spend"],
            content=json.loads(row["content"] or "{}"),
            handoff_to=row["handoff_to"],
            rollback_of=row["rollback_of"],
        )
        if action.action_id != row["action_id"]:
            raise ValueError(f"governance.actions row {row['action_id']} does not match its own content")
        stored.append(
            StoredAction(
                action=action,
                run_id=row["run_id"],
                status=ActionStatus(row["status"]),
                verdict=row["verdict"],
                rules=json.loads(row["rules"]),
                policy_version=row["policy_version"],
                proposed_at=row["proposed_at"],
                reviewers=json.loads(row["reviewers"] or "[]"),
                expires_at=row["expires_at"],
                reviewed_by=row["reviewed_by"],
                reviewed_at=row["reviewed_at"],
                review_comment=row["review_comment"],
                executed_at=row["executed_at"],
                state_before=json.loads(row["state_before"]) if row["state_before"] else None,
                state_after=json.loads(row["state_after"]) if row["state_after"] else None,
                rolled_back_by=row["rolled_back_by"],
                status_detail=row["status_detail"],
            )
        )
    return stored


def book_spend(connection: duckdb.DuckDBPyConnection, action: ProposedAction, now: datetime) -> None:
    """Write the action's money to the ledger, in the same transaction as its execution."""
    if action.spend == 0 or action.campaign_id is None:
        return
    connection.execute(
        f"""
        insert into {BUDGET_LEDGER_TABLE} (action_id, agent_id, campaign_id, channel, account_id, amount, booked_at)
        values (?, ?, ?, ?, ?, ?, ?)
        """,
        [action.action_id, action.agent_id, action.campaign_id, action.channel, action.account_id, action.spend, now],
    )


def budget_usage(
    connection: duckdb.DuckDBPyConnection, action: ProposedAction, policies: PolicySet, now: datetime
) -> tuple[BudgetUsage, ...]:
    """What is already committed under every cap that governs the action, today and this month (UTC)."""
    day_start = datetime(now.year, now.month, now.day)
    month_start = datetime(now.year, now.month, 1)
    usages = []
    for cap, subject in applicable_caps(action, policies):
        column = {"campaign": "campaign_id", "channel": "channel", "account": "account_id"}[cap.scope]
        for period, limit, since in (("daily", cap.daily, day_start), ("monthly", cap.monthly, month_start)):
            if limit is None:
                continue
            (spent,) = connection.execute(
                f"select coalesce(sum(amount), 0) from {BUDGET_LEDGER_TABLE} where {column} = ? and booked_at >= ?",
                [subject, since],
            ).fetchone()
            usages.append(BudgetUsage(cap=cap, scope_id=subject, period=period, spent=float(spent)))
    return tuple(usages)


def contact_facts(
    connection: duckdb.DuckDBPyConnection, action: ProposedAction, policies: PolicySet, now: datetime
) -> ContactFacts | None:
    """The person's consent, distress and contact history as they stand now; None if not in the profile."""
    row = connection.execute(
        """
        select email, consent_status, has_unsubscribed, has_bounced, unsubscribe_events, complaint_events,
            seniority, job_title, timezone
        from marts.dim_person where person_id = ?
        """,
        [action.person_id],
    ).fetchone()
    if row is None:
        return None
    email, consent, unsubscribed, bounced, unsubscribes, complaints, seniority, title, timezone = row
    suppressed = email is not None and is_suppressed(connection, email)
    cap = policies.frequency_cap(action.channel)
    across = policies.cross_channel_cap
    return ContactFacts(
        consent_status=consent,
        has_unsubscribed=bool(unsubscribed),
        has_bounced=bool(bounced),
        is_suppressed=suppressed,
        unsubscribe_events=int(unsubscribes or 0),
        complaint_events=int(complaints or 0),
        seniority=seniority,
        job_title=title,
        timezone=timezone,
        actions_on_channel=_touches(connection, action.person_id, now, cap.window_days, action.channel) if cap else 0,
        actions_across_channels=_touches(connection, action.person_id, now, across.window_days) if across else 0,
        prior_outreach=_touches(connection, action.person_id, now, None),
    )


def _touches(
    connection: duckdb.DuckDBPyConnection,
    person_id: str | None,
    now: datetime,
    window_days: int | None,
    channel: str | None = None,
) -> int:
    since = now - timedelta(days=window_days) if window_days is not None else datetime.min
    (count,) = connection.execute(
        f"""
        select count(*) from {ACTIONS_TABLE}
        where person_id = ? and list_contains(?, status) and executed_at >= ? and rollback_of is null
          and (? is null or channel = ?)
        """,
        [person_id, list(TOUCHED), since, channel, channel],
    ).fetchone()
    return int(count)


def account_facts(connection: duckdb.DuckDBPyConnection, account_id: str) -> AccountFacts | None:
    row = connection.execute(
        "select tier, industry from marts.dim_account where account_id = ?", [account_id]
    ).fetchone()
    return AccountFacts(account_id=account_id, tier=row[0], industry=row[1]) if row else None


@dataclass(frozen=True)
class PauseState:
    paused: bool
    reason: str
    changed_by: str | None
    changed_at: datetime | None


def pause_state(connection: duckdb.DuckDBPyConnection, agent_id: str) -> PauseState:
    """Paused by its own switch or by the global one."""
    rows = connection.execute(
        f"select agent_id, reason, changed_by, changed_at from {CONTROLS_TABLE} "
        "where paused and agent_id in (?, ?) order by agent_id = ? desc",
        [agent_id, GLOBAL_CONTROL, GLOBAL_CONTROL],
    ).fetchall()
    if not rows:
        return PauseState(False, "", None, None)
    control, reason, by, at = rows[0]
    scope = "all agents are paused" if control == GLOBAL_CONTROL else "paused"
    return PauseState(True, f"{scope} by {by} at {at:%Y-%m-%d %H:%M}: {reason}", by, at)


def set_pause(
    connection: duckdb.DuckDBPyConnection, agent_id: str, *, paused: bool, reason: str, by: str, now: datetime
) -> None:
    connection.execute(
        f"""
        insert into {CONTROLS_TABLE} values (?, ?, ?, ?, ?)
        on conflict (agent_id) do update set
            paused = excluded.paused, reason = excluded.reason, changed_by = excluded.changed_by,
            changed_at = excluded.changed_at
        """,
        [agent_id, paused, reason, by, now],
    )


@dataclass(frozen=True)
class RolloutStatus:
    phase: int
    reviewed_decisions: int
    review_target: int
    phase_2_started: datetime | None
    note: str


def rollout_phase(plan: RolloutPlan, review_times: list[datetime], now: datetime) -> RolloutStatus:
    """Phase 1 until the first N decisions were reviewed by a human; phase 2 for the handoff period after
    that; then phase 3. An owner's signed graduation in config starts the agent at a later phase."""
    reviewed = len(review_times)
    target = plan.review_first_decisions
    if plan.graduated_to_phase is not None and plan.graduated_on is not None:
        graduated = datetime(plan.graduated_on.year, plan.graduated_on.month, plan.graduated_on.day)
        note = f"graduated to phase {plan.graduated_to_phase} by {plan.graduated_by} on {plan.graduated_on}"
        if plan.graduated_to_phase == 3 or now >= graduated + timedelta(days=plan.handoff_approval_days):
            return RolloutStatus(3, reviewed, target, graduated, note)
        return RolloutStatus(2, reviewed, target, graduated, note)
    if reviewed < target:
        return RolloutStatus(1, reviewed, target, None, f"{reviewed} of the first {target} decisions reviewed")
    phase_2_started = (
        sorted(review_times)[target - 1] if target else datetime.combine(plan.started_on, datetime.min.time())
    )
    if now < phase_2_started + timedelta(days=plan.handoff_approval_days):
        return RolloutStatus(
            2,
            reviewed,
            target,
            phase_2_started,
            f"handoffs need approval until {phase_2_started + timedelta(days=plan.handoff_approval_days):%Y-%m-%d}",
        )
    return RolloutStatus(3, reviewed, target, phase_2_started, "approval only at checkpoints")


def review_times(connection: duckdb.DuckDBPyConnection, agent_id: str) -> list[datetime]:
    """When each of the agent's decisions was reviewed by a human (approved or rejected)."""
    rows = connection.execute(
        f"select reviewed_at from {ACTIONS_TABLE} where agent_id = ? and reviewed_at is not null "
        "and rollback_of is null order by reviewed_at",
        [agent_id],
    ).fetchall()
    return [row[0] for row in rows]


def agent_state(
    connection: duckdb.DuckDBPyConnection, agent: AgentDefinition, now: datetime
) -> tuple[AgentState, RolloutStatus]:
    pause = pause_state(connection, agent.id)
    rollout = rollout_phase(agent.rollout, review_times(connection, agent.id), now)
    state = AgentState(
        paused=pause.paused,
        pause_reason=pause.reason,
        phase=rollout.phase,
        reviewed_decisions=rollout.reviewed_decisions,
    )
    return state, rollout


def open_escalation(
    connection: duckdb.DuckDBPyConnection,
    *,
    agent_id: str,
    escalated_to: str,
    reason: str,
    action_id: str | None,
    now: datetime,
) -> None:
    connection.execute(
        f"insert into {ESCALATIONS_TABLE} (agent_id, escalated_to, reason, action_id, created_at) "
        "values (?, ?, ?, ?, ?)",
        [agent_id, escalated_to, reason, action_id, now],
    )


def escalate_once(
    connection: duckdb.DuckDBPyConnection, *, agent_id: str, escalated_to: str, reason: str, now: datetime
) -> bool:
    """Escalate an agent-level problem unless the same one is already open with its owner."""
    already = connection.execute(
        f"select 1 from {ESCALATIONS_TABLE} where agent_id = ? and reason = ? and resolved_at is null",
        [agent_id, reason],
    ).fetchone()
    if already is None:
        open_escalation(
            connection, agent_id=agent_id, escalated_to=escalated_to, reason=reason, action_id=None, now=now
        )
    return already is None


def suppress_person(connection: duckdb.DuckDBPyConnection, person_id: str, reason: str, now: datetime) -> int:
    """Put every e-mail of the person on the suppression list (by fingerprint); returns how many were added."""
    emails = connection.execute(
        "select email from marts.dim_person where person_id = ? and email is not null", [person_id]
    ).fetchall()
    return sum(suppress_email(connection, email, reason, now) for (email,) in emails)


def suppress_email(connection: duckdb.DuckDBPyConnection, email: str, reason: str, now: datetime) -> int:
    """Put one address on the suppression list by its fingerprint; 1 if it was not there yet, else 0."""
    return len(
        connection.execute(
            f"insert into {SUPPRESSION_TABLE} values (?, ?, ?) on conflict (email_sha256) do nothing returning 1",
            [email_fingerprint(email), reason, now],
        ).fetchall()
    )
