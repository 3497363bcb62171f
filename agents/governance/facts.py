"""Reads that turn governance state and the profile into the facts rules decide on: a contact's consent and
history, an account, the budget committed, an agent's pause state and rollout phase, its earlier runs.

Only reads: the governor calls them inside an action's transaction so the facts are fresh when it acts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb

from agents.actions import ProposedAction
from agents.config import AgentDefinition, PolicySet, RolloutPlan
from agents.governance.anomaly import RunBehaviour
from agents.governance.audit import AuditEvent
from agents.governance.audit_schema import AUDIT_TABLE
from agents.governance.policy import (
    AccountFacts,
    AgentState,
    BudgetUsage,
    ContactFacts,
    RollbackFacts,
    applicable_caps,
)
from agents.governance.schema import ACTIONS_TABLE, BUDGET_LEDGER_TABLE, CONTROLS_TABLE, GLOBAL_CONTROL, TOUCHED
from dagster_project.core.suppression import is_suppressed
from dagster_project.core.warehouse import table_exists
from models.serving import SEND_TIMES_TABLE


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


def rollback_facts(connection: duckdb.DuckDBPyConnection, action_id: str) -> RollbackFacts | None:
    """The stored original an inverse would undo, with the money the ledger booked for it; None if unknown."""
    row = connection.execute(
        f"""
        select a.action_id, a.agent_id, a.action_type, a.channel, a.person_id, a.account_id, a.campaign_id,
            a.status, a.rolled_back_by, a.rollback_of is not null,
            (select coalesce(sum(l.amount), 0) from {BUDGET_LEDGER_TABLE} l where l.action_id = a.action_id)
        from {ACTIONS_TABLE} a where a.action_id = ?
        """,
        [action_id],
    ).fetchone()
    if row is None:
        return None
    original, agent_id, action_type, channel, person_id, account_id, campaign_id, status, by, undo, booked = row
    return RollbackFacts(
        action_id=original,
        agent_id=agent_id,
        action_type=action_type,
        channel=channel,
        person_id=person_id,
        account_id=account_id,
        campaign_id=campaign_id,
        status=status,
        rolled_back_by=by,
        is_rollback=bool(undo),
        booked_spend=float(booked),
    )


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
        recommended_send_hour=_recommended_send_hour(connection, action.person_id),
    )


def _recommended_send_hour(connection: duckdb.DuckDBPyConnection, person_id: str | None) -> int | None:
    """The send-time model's hour for the person, as the governor's own schedule; None without one."""
    if person_id is None or not table_exists(connection, SEND_TIMES_TABLE):
        return None
    row = connection.execute(
        f"select recommended_local_hour from {SEND_TIMES_TABLE} where person_id = ?", [person_id]
    ).fetchone()
    hour = row[0] if row else None
    return int(hour) if isinstance(hour, int) and 0 <= hour <= 23 else None


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


def run_history(connection: duckdb.DuckDBPyConnection, agent_id: str, current_run_id: str) -> list[RunBehaviour]:
    """The agent's earlier runs, oldest first, as the anomaly detector's baseline: not the run being judged, and
    not what the kill switch denied (the effect of a pause, not the agent's behaviour)."""
    return list(_runs(connection, agent_id, current_run_id, current=False).values())


def run_so_far(connection: duckdb.DuckDBPyConnection, agent_id: str, run_id: str) -> RunBehaviour:
    """What the run already recorded for the agent (counted as its baseline runs are), so the detector judges the
    whole run, not only the proposals of one call."""
    return _runs(connection, agent_id, run_id, current=True).get(run_id, RunBehaviour(0, 0.0, 0, {}))


def anomaly_paused_in_run(connection: duckdb.DuckDBPyConnection, agent_id: str, run_id: str) -> bool:
    """Whether the anomaly detector already paused the agent for this run: a run is paused for at most once."""
    row = connection.execute(
        f"select 1 from {AUDIT_TABLE} where event = ? and agent_id = ? and run_id = ? limit 1",
        [AuditEvent.ANOMALY, agent_id, run_id],
    ).fetchone()
    return row is not None


def _runs(
    connection: duckdb.DuckDBPyConnection, agent_id: str, run_id: str, *, current: bool
) -> dict[str, RunBehaviour]:
    """The agent's runs by run id, oldest first: only `run_id` when `current`, else every run but it."""
    rows = connection.execute(
        f"""
        select run_id, channel, count(*), sum(case when isfinite(spend) and spend > 0 then spend else 0 end),
            count(case when verdict in ('denied', 'escalated') then 1 end), min(proposed_at) as started
        from {ACTIONS_TABLE}
        where agent_id = ? and rollback_of is null and (run_id = ?) = ?
            and not json_contains(rules, '{{"rule_id": "kill_switch", "verdict": "denied"}}')
        group by run_id, channel
        order by started, run_id
        """,
        [agent_id, run_id, current],
    ).fetchall()
    runs: dict[str, RunBehaviour] = {}
    for run, channel, count, spend, denied, _ in rows:
        earlier = runs.get(run, RunBehaviour(0, 0.0, 0, {}))
        runs[run] = RunBehaviour(
            actions=earlier.actions + int(count),
            spend=earlier.spend + float(spend or 0),
            denied=earlier.denied + int(denied),
            channels={**earlier.channels, channel: int(count)},
        )
    return runs
