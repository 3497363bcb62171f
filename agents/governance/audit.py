"""The audit log: every proposal, decision, approval, execution, rollback and refusal to act.

It is append-only and tamper-evident: entries are linked into a keyed hash chain (`audit_chain`), its head is
signed into checkpoints outside the warehouse (`audit_anchors`), and it names people only by subject reference
(`audit_subjects`); `audit_reading` verifies all of it and exports the log for an auditor. This module is where
entries come from: what an entry says, appending it, and creating the log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

from agents.actions import ProposedAction
from agents.governance.audit_chain import AuditKeyError, chain_key, chain_key_path, entry_mac, link, utc_naive, write
from agents.governance.audit_schema import (
    AUDIT_DDL,
    AUDIT_SCHEMA,
    AUDIT_TABLE,
    CHAIN_HEAD_TABLE,
    GENESIS_HASH,
    MAC_COLUMNS,
    UNCHAINED_TABLE,
)
from agents.governance.audit_subjects import forget_subject, subject_ref, without_person_ids
from agents.governance.policy import PolicyDecision
from dagster_project.core.warehouse import table_exists


class AuditEvent:
    PROPOSED = "action_proposed"
    DECIDED = "action_decided"
    RUN_BLOCKED = "agent_run_blocked"
    APPROVAL_REQUESTED = "approval_requested"
    APPROVED = "action_approved"
    REJECTED = "action_rejected"
    EXPIRED = "approval_expired"
    ROLLED_BACK = "action_rolled_back"
    AGENT_PAUSED = "agent_paused"
    AGENT_RESUMED = "agent_resumed"
    ESCALATED = "escalated"
    ANOMALY = "anomaly_detected"
    ESCALATION_RESOLVED = "escalation_resolved"
    DO_NOT_CONTACT = "do_not_contact"
    PERSON_FORGOTTEN = "person_forgotten"


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
    reviewer: str | None = None
    """The person who approved, rejected or rolled back the action."""
    related_action_id: str | None = None
    """The action this entry links to: for a rollback, the action it undoes (and for that action's record of
    the rollback, the rollback's id)."""
    policy_version: str | None = None
    """Defaults to the decision's `policy_version`, if it has one."""
    subject_person_id: str | None = None
    """The person the entry concerns, if not (or not only) through its action: an erasure tombstone has none.
    Stored only as a subject reference, like the action's person."""
    signature: str | None = None
    """The reviewer's signature of what they decided, kept (and covered by the entry's hash and MAC) so an
    auditor can check offline who decided."""


def ensure_audit_log(connection: duckdb.DuckDBPyConnection) -> None:
    """Create the log, its chain head and the subject keys; chain the entries of a log from before the chain, and
    key those of a log from before the chain key. The key is made only for a log with no entries, or one being
    keyed now: a lost key must show, not be replaced."""

    def create() -> None:
        connection.execute(f"create schema if not exists {AUDIT_SCHEMA}")
        had_log, had_head = table_exists(connection, AUDIT_TABLE), table_exists(connection, CHAIN_HEAD_TABLE)
        columns = _columns(connection, AUDIT_TABLE) if had_log else []
        unchained = had_log and "seq" not in columns
        unkeyed = had_log and not unchained and "entry_mac" not in columns
        if unchained:
            connection.execute(f"alter table {AUDIT_TABLE} rename to {UNCHAINED_TABLE}")
        for statement in AUDIT_DDL:
            connection.execute(statement)
        (entries,) = connection.execute(f"select count(*) from {AUDIT_TABLE}").fetchone()
        chain_key(connection, create=entries == 0 or unkeyed or unchained)
        # Only a new log starts at genesis: a head that vanished from a chained log must show as a broken chain.
        if not had_head and (not had_log or unchained):
            connection.execute(f"insert into {CHAIN_HEAD_TABLE} values (1, 0, ?)", [GENESIS_HASH])
        if unchained:
            _chain_unchained_log(connection)
        if unkeyed:
            _key_unkeyed_log(connection)

    write(connection, create)


def _columns(connection: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    schema, name = table.split(".")
    return [
        column
        for (column,) in connection.execute(
            "select column_name from duckdb_columns() where database_name = current_database() "
            "and schema_name = ? and table_name = ? order by column_index",
            [schema, name],
        ).fetchall()
    ]


def _chain_unchained_log(connection: duckdb.DuckDBPyConnection) -> None:
    """Chain the entries of a log written before the chain existed, oldest first, naming their people by
    subject reference, then drop the unchained table and its id sequence. People its erasure tombstones name
    were forgotten: their keys are shredded at once."""
    rows = connection.execute(f"select * from {AUDIT_SCHEMA}.{UNCHAINED_TABLE} order by entry_id")
    names = [column[0] for column in rows.description]
    forgotten: set[str] = set()
    for row in rows.fetchall():
        old = dict(zip(names, row, strict=True))
        inputs = json.loads(old["inputs"]) if old["inputs"] else {}
        if old["event"] == AuditEvent.PERSON_FORGOTTEN and inputs.get("person_id"):
            forgotten.add(inputs["person_id"])
        link(
            connection,
            {
                "recorded_at": utc_naive(old["recorded_at"]).isoformat(),
                "run_id": old["run_id"],
                "agent_id": old["agent_id"],
                "event": old["event"],
                "action_id": old["action_id"],
                "action_type": old["action_type"],
                "channel": old["channel"],
                "subject_ref": subject_ref(connection, old["person_id"], create=True) if old["person_id"] else None,
                "account_id": old["account_id"],
                "reasoning": old["reasoning"],
                "inputs": without_person_ids(connection, inputs),
                "policy_verdict": old["policy_verdict"],
                "policy_rules": json.loads(old["policy_rules"]) if old["policy_rules"] else None,
                "policy_version": None,
                "reviewer": None,
                "related_action_id": None,
                "outcome": old["outcome"],
                "signature": None,
            },
        )
    for person_id in forgotten:
        forget_subject(connection, person_id)
    connection.execute(f"drop table {AUDIT_SCHEMA}.{UNCHAINED_TABLE}")
    connection.execute(f"drop sequence if exists {AUDIT_SCHEMA}.audit_entry_id")


def _key_unkeyed_log(connection: duckdb.DuckDBPyConnection) -> None:
    """Give the entries of a log from before the chain key their MACs, as they stand: their hashes are unchanged
    (a null signature is not hashed), so what the chain proved before it still proves."""
    key = chain_key(connection)
    if key is None:
        raise AuditKeyError(f"the audit log's key {chain_key_path(connection)} could not be made")
    for column in MAC_COLUMNS:
        connection.execute(f"alter table {AUDIT_TABLE} add column if not exists {column} varchar")
    for seq, hash_ in connection.execute(f"select seq, entry_hash from {AUDIT_TABLE}").fetchall():
        connection.execute(f"update {AUDIT_TABLE} set entry_mac = ? where seq = ?", [entry_mac(key, hash_), seq])


def append(connection: duckdb.DuckDBPyConnection, entry: AuditEntry) -> int:
    """Append one entry at the head of the chain and return its seq (its entry_id). Nothing here updates or
    deletes an entry.

    Inside the caller's open transaction the entry commits with whatever effect it records; otherwise the
    append is a transaction of its own, retried when a concurrent appender took the head first."""

    def chain() -> int:
        action, decision = entry.action, entry.decision
        person_id = entry.subject_person_id or (action.person_id if action else None)
        inputs = entry.inputs if entry.inputs is not None else (action.inputs if action else {})
        rules = (
            [{"rule_id": r.rule_id, "verdict": r.verdict.value, "reason": r.reason} for r in decision.rules]
            if decision
            else None
        )
        return link(
            connection,
            {
                "recorded_at": utc_naive(entry.recorded_at).isoformat(),
                "run_id": entry.run_id,
                "agent_id": entry.agent_id,
                "event": entry.event,
                "action_id": action.action_id if action else None,
                "action_type": action.action_type if action else None,
                "channel": action.channel if action else None,
                "subject_ref": subject_ref(connection, person_id, create=True) if person_id else None,
                "account_id": action.account_id if action else None,
                "reasoning": entry.reasoning if entry.reasoning is not None else (action.reasoning if action else None),
                # Through JSON once, so the hash covers exactly what the column will give back.
                "inputs": without_person_ids(connection, json.loads(json.dumps(inputs, default=str))),
                "policy_verdict": decision.verdict.value if decision else None,
                "policy_rules": rules,
                "policy_version": entry.policy_version or getattr(decision, "policy_version", None),
                "reviewer": entry.reviewer,
                "related_action_id": entry.related_action_id,
                "outcome": entry.outcome,
                "signature": entry.signature,
            },
        )

    return write(connection, chain)
