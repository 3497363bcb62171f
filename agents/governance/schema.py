"""The governance tables: their names, the statuses an action moves through, and their one DDL.

Every reader and writer of governance state names its tables from here, so the schema is declared once.
"""

from __future__ import annotations

from enum import StrEnum

import duckdb

from dagster_project.core.suppression import ensure_suppression_list

ACTIONS_TABLE = "governance.actions"
BUDGET_LEDGER_TABLE = "governance.budget_ledger"
CONTROLS_TABLE = "governance.agent_controls"
ESCALATIONS_TABLE = "governance.escalations"
LOCKS_TABLE = "governance.resource_locks"
USED_SIGNATURES_TABLE = "governance.used_signatures"
"""Every reviewer signature that authorised a decision, by its sha256: a signature is used once."""
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

GOVERNANCE_DDL = (
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
        review_signature varchar,
        review_signed_at timestamp,
        executed_at timestamp,
        state_before json,
        state_after json,
        execution_rules json,
        rolled_back_by varchar,
        status_detail varchar
    )
    """,
    "create sequence if not exists governance.budget_entry_id",
    f"""
    create table if not exists {BUDGET_LEDGER_TABLE} (
        entry_id bigint primary key default nextval('governance.budget_entry_id'),
        action_id varchar not null,
        agent_id varchar not null,
        campaign_id varchar not null,
        channel varchar not null,
        account_id varchar not null,
        amount double not null check (isfinite(amount)),
        booked_at timestamp not null
    )
    """,
    f"""
    create table if not exists {CONTROLS_TABLE} (
        agent_id varchar primary key,
        paused boolean not null,
        reason varchar not null,
        changed_by varchar not null,
        changed_at timestamp not null
    )
    """,
    "create sequence if not exists governance.escalation_id",
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
    """,
    f"create table if not exists {LOCKS_TABLE} (resource varchar primary key, version bigint not null)",
    f"""
    create table if not exists {USED_SIGNATURES_TABLE} (
        signature_sha256 varchar primary key,
        verb varchar not null,
        subject varchar not null,
        reviewer varchar not null,
        used_at timestamp not null
    )
    """,
)
"""Each governance table (and the id sequence it draws from, just before it), in creation order."""
ADDED_COLUMNS = (
    (ACTIONS_TABLE, "review_signature", "varchar"),
    (ACTIONS_TABLE, "review_signed_at", "timestamp"),
)
"""Columns added after a table was first created: an older warehouse gets them (null) when a session opens it.
`review_signature` is the reviewer's signature of the approval, re-verified before the action executes."""


def ensure_governance_tables(connection: duckdb.DuckDBPyConnection) -> None:
    connection.execute("create schema if not exists governance")
    ensure_suppression_list(connection)
    for statement in GOVERNANCE_DDL:
        connection.execute(statement)
    for table, column, column_type in ADDED_COLUMNS:
        schema_name, table_name = table.split(".")
        present = connection.execute(
            "select 1 from duckdb_columns() where schema_name = ? and table_name = ? and column_name = ?",
            [schema_name, table_name, column],
        ).fetchone()
        if present is None:
            connection.execute(f"alter table {table} add column if not exists {column} {column_type}")
