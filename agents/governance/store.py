"""Writes of governance state: each action's row through its lifecycle, the lock rows that serialise
actions, the budget ledger, agent pause switches, escalations and the suppression list.

The audit log says what happened, append-only; these tables say where things stand now (an action
waiting for a reviewer, an agent paused). Personal data lives here, not in the audit log, so `forget`
can erase it without touching the hash chain.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

from agents.actions import ProposedAction
from agents.config import PolicySet
from agents.governance.policy import PolicyDecision, applicable_caps
from agents.governance.schema import (
    ACTIONS_TABLE,
    BUDGET_LEDGER_TABLE,
    CONTROLS_TABLE,
    ESCALATIONS_TABLE,
    LOCKS_TABLE,
    USED_SIGNATURES_TABLE,
    ActionStatus,
)
from agents.governance.signatures import signature_fingerprint
from dagster_project.core.suppression import SUPPRESSION_TABLE, email_fingerprint


class LedgerError(ValueError):
    """Money the ledger refuses to book: not a finite amount, or a release that is not the exact reversal of
    what was booked for the action it undoes."""


def lock_resources(connection: duckdb.DuckDBPyConnection, resources: list[str]) -> None:
    """Write each resource's lock row inside the caller's transaction. Two open transactions that write
    the same row conflict in DuckDB, so checks and writes on one contact or one budget are serialised:
    the loser rolls back and retries with fresh facts."""
    for resource in sorted(set(resources)):
        connection.execute(
            f"insert into {LOCKS_TABLE} values (?, 1) on conflict (resource) do update set version = version + 1",
            [resource],
        )


def person_lock_resource(person_id: str) -> str:
    """A person's lock row: hashed, so it never names them; `forget` deletes it with the rest of their data."""
    return f"person:{hashlib.sha256(person_id.encode()).hexdigest()[:24]}"


def action_resources(action: ProposedAction, policies: PolicySet) -> list[str]:
    resources = [f"agent:{action.agent_id}"]
    if action.person_id is not None:
        resources.append(person_lock_resource(action.person_id))
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
    assignments, values = _assignments(columns)
    connection.execute(f"update {ACTIONS_TABLE} set {assignments} where action_id = ?", [*values, action_id])


CLAIMABLE = {
    ActionStatus.APPROVED: "status = 'approved' and executed_at is null",
    ActionStatus.EXECUTED: "status = 'executed' and rolled_back_by is null",
}
"""What a row must still be for an execution (approved, never executed) or a rollback (executed, never undone)
to take it."""


def claim_action(
    connection: duckdb.DuckDBPyConnection, action_id: str, *, claimable: ActionStatus, **columns: Any
) -> bool:
    """Move the action on only if it is still `claimable` as of this transaction, and say whether it was. A
    concurrent execution or rollback either committed first (no row matches: the caller skips, with no side
    effect) or is still open (the update conflicts and the caller's transaction retries with fresh reads)."""
    assignments, values = _assignments(columns)
    claimed = connection.execute(
        f"update {ACTIONS_TABLE} set {assignments} where action_id = ? and {CLAIMABLE[claimable]} returning action_id",
        [*values, action_id],
    ).fetchall()
    return len(claimed) == 1


def _assignments(columns: dict[str, Any]) -> tuple[str, list[Any]]:
    assignments = ", ".join(f"{name} = ?" for name in columns)
    return assignments, [json.dumps(value) if isinstance(value, dict | list) else value for value in columns.values()]


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
    review_signature: str | None = None
    """The reviewer's signature of the approval (or rejection), kept so execution can verify it again."""
    review_signed_at: datetime | None = None


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
                review_signature=row.get("review_signature"),
                review_signed_at=row.get("review_signed_at"),
            )
        )
    return stored


def book_spend(connection: duckdb.DuckDBPyConnection, action: ProposedAction, now: datetime) -> None:
    """Write the action's money to the ledger, in the same transaction as its execution. Checked again here,
    whatever the rules said: a non-finite amount would turn every cap off (a NaN total compares false), and
    money is released only by the exact reversal of an original's booking."""
    if not math.isfinite(action.spend):
        raise LedgerError(f"{action.action_id}: spend {action.spend!r} is not a finite amount")
    if action.rollback_of is not None:
        _check_reversal(connection, action)
    elif action.spend < 0:
        raise LedgerError(f"{action.action_id}: spend {action.spend!r} is negative and reverses nothing")
    if action.spend == 0 or action.campaign_id is None:
        return
    connection.execute(
        f"""
        insert into {BUDGET_LEDGER_TABLE} (action_id, agent_id, campaign_id, channel, account_id, amount, booked_at)
        values (?, ?, ?, ?, ?, ?, ?)
        """,
        [action.action_id, action.agent_id, action.campaign_id, action.channel, action.account_id, action.spend, now],
    )


def _check_reversal(connection: duckdb.DuckDBPyConnection, inverse: ProposedAction) -> None:
    """An inverse books minus what was booked for its original, on the same agent and budget, once."""
    booked = connection.execute(
        f"""
        select agent_id, campaign_id, channel, account_id, sum(amount) from {BUDGET_LEDGER_TABLE}
        where action_id = ? group by all
        """,
        [inverse.rollback_of],
    ).fetchall()
    if not booked:
        if inverse.spend != 0:
            raise LedgerError(f"{inverse.action_id}: releases {inverse.spend!r}, but nothing was booked to undo")
        return
    (agent_id, campaign_id, channel, account_id, amount), *others = booked
    same_budget = (agent_id, campaign_id, channel, account_id) == (
        inverse.agent_id,
        inverse.campaign_id,
        inverse.channel,
        inverse.account_id,
    )
    if others or not same_budget or inverse.spend != -amount:
        raise LedgerError(
            f"{inverse.action_id}: {inverse.spend!r} is not the exact reversal of the {amount!r} booked for "
            f"{inverse.rollback_of} on its own budget"
        )
    already = connection.execute(
        f"select 1 from {BUDGET_LEDGER_TABLE} where action_id = ?", [inverse.action_id]
    ).fetchone()
    if already is not None:
        raise LedgerError(f"{inverse.action_id}: the reversal of {inverse.rollback_of} is booked already")


def use_signature(
    connection: duckdb.DuckDBPyConnection, signature: str, *, verb: str, subject: str, reviewer: str, now: datetime
) -> bool:
    """Record, inside the caller's transaction, that `signature` authorised a decision; False if it already
    had (a replay). Two transactions using one signature at once conflict on the row: the loser retries and
    finds it used."""
    return bool(
        connection.execute(
            f"insert into {USED_SIGNATURES_TABLE} values (?, ?, ?, ?, ?) on conflict (signature_sha256) do nothing "
            "returning 1",
            [signature_fingerprint(signature), verb, subject, reviewer, now],
        ).fetchall()
    )


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
