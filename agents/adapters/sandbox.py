"""Sandbox channel adapters: each channel's state lives in DuckDB, so the loop runs offline.

The idempotency key is the table's primary key: executing the same action twice (a retry, a re-run of
the same surge) changes nothing the second time and says so.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import duckdb

from agents.actions import ProposedAction

ENROLMENTS_TABLE = "channel_sandbox.sequence_enrolments"


class ExecutionOutcome(StrEnum):
    EXECUTED = "executed"
    ALREADY_EXECUTED = "already_executed"


class SandboxSalesEngagementAdapter:
    """A sales-engagement tool (Outreach, Salesloft) whose sequences are a DuckDB table."""

    channel = "sales_engagement"

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self._connection = connection
        connection.execute("create schema if not exists channel_sandbox")
        connection.execute(
            f"""
            create table if not exists {ENROLMENTS_TABLE} (
                idempotency_key varchar primary key,
                person_id varchar not null,
                account_id varchar not null,
                sequence_id varchar not null,
                status varchar not null,
                enrolled_at timestamp not null
            )
            """
        )

    def execute(self, action: ProposedAction, now: datetime) -> ExecutionOutcome:
        if action.channel != self.channel or action.action_type != "enrol_in_sequence":
            raise ValueError(f"{type(self).__name__} cannot {action.action_type} on {action.channel}")
        inserted = self._connection.execute(
            f"""
            insert into {ENROLMENTS_TABLE} values (?, ?, ?, ?, 'active', ?)
            on conflict (idempotency_key) do nothing
            returning idempotency_key
            """,
            [action.action_id, action.person_id, action.account_id, action.payload["sequence_id"], now],
        ).fetchall()
        return ExecutionOutcome.EXECUTED if inserted else ExecutionOutcome.ALREADY_EXECUTED
