"""The audit log: every proposal, decision, outcome and refusal to act, appended, never updated."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

from agents.actions import ProposedAction
from agents.governance.policy import PolicyDecision

AUDIT_TABLE = "audit.audit_log"


class AuditEvent:
    PROPOSED = "action_proposed"
    DECIDED = "action_decided"
    RUN_BLOCKED = "agent_run_blocked"


@dataclass(frozen=True)
class AuditEntry:
    recorded_at: datetime
    run_id: str
    agent_id: str
    event: str
    action: ProposedAction | None = None
    reasoning: str | None = None
    inputs: dict[str, Any] | None = None
    decision: PolicyDecision | None = None
    outcome: str | None = None


def ensure_audit_log(connection: duckdb.DuckDBPyConnection) -> None:
    connection.execute("create schema if not exists audit")
    connection.execute("create sequence if not exists audit.audit_entry_id")
    connection.execute(
        f"""
        create table if not exists {AUDIT_TABLE} (
            entry_id bigint primary key default nextval('audit.audit_entry_id'),
            recorded_at timestamp not null,
            run_id varchar not null,
            agent_id varchar not null,
            event varchar not null,
            action_id varchar,
            action_type varchar,
            channel varchar,
            person_id varchar,
            account_id varchar,
            reasoning varchar,
            inputs json,
            policy_verdict varchar,
            policy_rules json,
            outcome varchar
        )
        """
    )


def append(connection: duckdb.DuckDBPyConnection, entry: AuditEntry) -> None:
    """Append one entry. The log is only ever inserted into; nothing here updates or deletes."""
    action = entry.action
    rules = (
        json.dumps(
            [{"rule_id": r.rule_id, "verdict": r.verdict.value, "reason": r.reason} for r in entry.decision.rules]
        )
        if entry.decision
        else None
    )
    connection.execute(
        f"""
        insert into {AUDIT_TABLE} (
            recorded_at, run_id, agent_id, event, action_id, action_type, channel, person_id, account_id,
            reasoning, inputs, policy_verdict, policy_rules, outcome
        ) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        [
            entry.recorded_at,
            entry.run_id,
            entry.agent_id,
            entry.event,
            action.action_id if action else None,
            action.action_type if action else None,
            action.channel if action else None,
            action.person_id if action else None,
            action.account_id if action else None,
            entry.reasoning if entry.reasoning is not None else (action.reasoning if action else None),
            json.dumps(entry.inputs if entry.inputs is not None else (action.inputs if action else {}), default=str),
            entry.decision.verdict.value if entry.decision else None,
            rules,
            entry.outcome,
        ],
    )


def executed_actions_since(connection: duckdb.DuckDBPyConnection, person_id: str, channel: str, since: datetime) -> int:
    """How many actions on a channel were executed for a person since a time (for frequency caps)."""
    row = connection.execute(
        f"""
        select count(*) from {AUDIT_TABLE}
        where event = ? and outcome = 'executed' and person_id = ? and channel = ? and recorded_at >= ?
        """,
        [AuditEvent.DECIDED, person_id, channel, since],
    ).fetchone()
    return int(row[0]) if row else 0


def was_executed(connection: duckdb.DuckDBPyConnection, action_id: str) -> bool:
    """Whether an action already reached its channel, so a retry or re-run never sends it twice."""
    row = connection.execute(
        f"select 1 from {AUDIT_TABLE} where event = ? and action_id = ? and outcome = 'executed' limit 1",
        [AuditEvent.DECIDED, action_id],
    ).fetchone()
    return row is not None
