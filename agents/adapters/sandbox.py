"""Sandbox channel adapters: each channel's state lives in DuckDB, so the loop runs offline.

Every adapter executes an action and its inverse, and reports the action's effect on the channel
(`state`), so a rollback can be verified: the state after the undo must equal the state recorded before
the action ran. The idempotency key is the table's primary key: executing the same action twice (a
retry, a re-run of the same surge) changes nothing the second time and says so.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

import duckdb

from agents.actions import ProposedAction
from dagster_project.core.warehouse import table_exists

ENROLMENTS_TABLE = "channel_sandbox.sequence_enrolments"
CAMPAIGNS_TABLE = "channel_sandbox.ad_campaigns"
BUDGET_CHANGES_TABLE = "channel_sandbox.ad_budget_changes"
CREATIVES_TABLE = "channel_sandbox.ad_creatives"
HANDOFFS_TABLE = "channel_sandbox.agent_handoffs"

DEFAULT_CAMPAIGN_DAILY_BUDGET = 500.0
"""A campaign's starting daily budget when the ads connector has never reported its spend."""


class ExecutionOutcome(StrEnum):
    EXECUTED = "executed"
    ALREADY_EXECUTED = "already_executed"


class ChannelAdapter(Protocol):
    """How the governor reaches a channel. Every call runs on the governor's connection, inside the action's
    open DuckDB transaction."""

    channel: str
    action_types: tuple[str, ...]

    def execute(self, action: ProposedAction, now: datetime) -> ExecutionOutcome:
        """Carry out the action (or its inverse), writing only to the warehouse through the governor's
        connection. The governor's transaction may lose a write conflict and run again from the start
        (`retry_on_conflict`), so `execute` can be called once per attempt and only the committed attempt
        may leave a trace: it must never call an external system itself. An adapter for a real system
        writes an outbox row keyed by the action's idempotency key here, and delivers it after the commit."""
        ...

    def state(self, action_id: str) -> dict[str, Any]:
        """The effect of one (original) action on the channel right now."""
        ...


class SandboxSalesEngagementAdapter:
    """A sales-engagement tool (Outreach, Salesloft) whose sequences are a DuckDB table."""

    channel = "sales_engagement"
    action_types = ("enrol_in_sequence", "remove_from_sequence")

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
                enrolled_at timestamp not null,
                removed_at timestamp
            )
            """
        )

    def execute(self, action: ProposedAction, now: datetime) -> ExecutionOutcome:
        if action.action_type == "remove_from_sequence":
            return _updated(_undo(self._connection, ENROLMENTS_TABLE, action, "active", "removed", now))
        _check(self, action)
        return _updated(
            _insert_once(
                self._connection,
                ENROLMENTS_TABLE,
                [action.action_id, action.person_id, action.account_id, action.payload["sequence_id"], "active", now],
            )
        )

    def state(self, action_id: str) -> dict[str, Any]:
        row = self._connection.execute(
            f"select status from {ENROLMENTS_TABLE} where idempotency_key = ?", [action_id]
        ).fetchone()
        return {"enrolled": row is not None and row[0] == "active"}


class SandboxAdsAdapter:
    """An ads platform (LinkedIn Campaign Manager): campaign budgets, per-account boosts and creatives."""

    channel = "linkedin"
    action_types = ("adjust_campaign_budget", "revert_campaign_budget", "launch_ad_creative", "pause_ad_creative")

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self._connection = connection
        connection.execute("create schema if not exists channel_sandbox")
        connection.execute(
            f"""
            create table if not exists {CAMPAIGNS_TABLE} (
                campaign_id varchar primary key,
                channel varchar not null,
                daily_budget double not null,
                updated_at timestamp not null
            )
            """
        )
        connection.execute(
            f"""
            create table if not exists {BUDGET_CHANGES_TABLE} (
                idempotency_key varchar primary key,
                campaign_id varchar not null,
                account_id varchar not null,
                daily_amount double not null,
                status varchar not null,
                changed_at timestamp not null,
                reverted_at timestamp
            )
            """
        )
        connection.execute(
            f"""
            create table if not exists {CREATIVES_TABLE} (
                idempotency_key varchar primary key,
                campaign_id varchar not null,
                account_id varchar not null,
                headline varchar not null,
                body varchar not null,
                status varchar not null,
                launched_at timestamp not null,
                paused_at timestamp
            )
            """
        )

    def execute(self, action: ProposedAction, now: datetime) -> ExecutionOutcome:
        if action.action_type == "revert_campaign_budget":
            reverted = _undo(
                self._connection, BUDGET_CHANGES_TABLE, action, "active", "reverted", now, "campaign_id, daily_amount"
            )
            for campaign_id, amount in reverted:
                self._move_budget(campaign_id, -amount, now)
            return _updated(reverted)
        if action.action_type == "pause_ad_creative":
            return _updated(_undo(self._connection, CREATIVES_TABLE, action, "live", "paused", now))
        _check(self, action)
        if action.action_type == "adjust_campaign_budget":
            inserted = _insert_once(
                self._connection,
                BUDGET_CHANGES_TABLE,
                [action.action_id, action.campaign_id, action.account_id, action.spend, "active", now],
            )
            if inserted:
                self._move_budget(str(action.campaign_id), action.spend, now)
            return _updated(inserted)
        return _updated(
            _insert_once(
                self._connection,
                CREATIVES_TABLE,
                [
                    action.action_id,
                    action.campaign_id,
                    action.account_id,
                    action.content["headline"],
                    action.content["body"],
                    "live",
                    now,
                ],
            )
        )

    def campaign_daily_budget(self, campaign_id: str) -> float:
        row = self._connection.execute(
            f"select daily_budget from {CAMPAIGNS_TABLE} where campaign_id = ?", [campaign_id]
        ).fetchone()
        return float(row[0]) if row else self._starting_budget(campaign_id)

    def _starting_budget(self, campaign_id: str) -> float:
        """The campaign's recent average daily spend as the ads connector reported it."""
        if not table_exists(self._connection, "staging.stg_ads__performance"):
            return DEFAULT_CAMPAIGN_DAILY_BUDGET
        (average,) = self._connection.execute(
            """
            select avg(daily_spend) from (
                select report_date, sum(spend) as daily_spend from staging.stg_ads__performance
                where campaign_id = ? group by report_date order by report_date desc limit 7
            )
            """,
            [campaign_id],
        ).fetchone()
        return round(float(average), 2) if average is not None else DEFAULT_CAMPAIGN_DAILY_BUDGET

    def _move_budget(self, campaign_id: str, amount: float, now: datetime) -> None:
        self._connection.execute(
            f"""
            insert into {CAMPAIGNS_TABLE} values (?, ?, ?, ?)
            on conflict (campaign_id) do update set daily_budget = daily_budget + ?, updated_at = excluded.updated_at
            """,
            [campaign_id, self.channel, self._starting_budget(campaign_id) + amount, now, amount],
        )

    def state(self, action_id: str) -> dict[str, Any]:
        boost = self._connection.execute(
            f"select status from {BUDGET_CHANGES_TABLE} where idempotency_key = ?", [action_id]
        ).fetchone()
        creative = self._connection.execute(
            f"select status from {CREATIVES_TABLE} where idempotency_key = ?", [action_id]
        ).fetchone()
        return {
            "budget_change_active": boost is not None and boost[0] == "active",
            "creative_live": creative is not None and creative[0] == "live",
        }


class InternalHandoffAdapter:
    """Agent-to-agent handoffs: the receiving agent works the account while the handoff is active."""

    channel = "internal"
    action_types = ("handoff_to_agent", "cancel_handoff")

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self._connection = connection
        connection.execute("create schema if not exists channel_sandbox")
        connection.execute(
            f"""
            create table if not exists {HANDOFFS_TABLE} (
                idempotency_key varchar primary key,
                from_agent varchar not null,
                to_agent varchar not null,
                account_id varchar not null,
                status varchar not null,
                handed_off_at timestamp not null,
                cancelled_at timestamp
            )
            """
        )

    def execute(self, action: ProposedAction, now: datetime) -> ExecutionOutcome:
        if action.action_type == "cancel_handoff":
            return _updated(_undo(self._connection, HANDOFFS_TABLE, action, "active", "cancelled", now))
        _check(self, action)
        return _updated(
            _insert_once(
                self._connection,
                HANDOFFS_TABLE,
                [action.action_id, action.agent_id, action.handoff_to, action.account_id, "active", now],
            )
        )

    def state(self, action_id: str) -> dict[str, Any]:
        row = self._connection.execute(
            f"select status from {HANDOFFS_TABLE} where idempotency_key = ?", [action_id]
        ).fetchone()
        return {"handoff_active": row is not None and row[0] == "active"}


def sandbox_adapters(connection: duckdb.DuckDBPyConnection) -> dict[str, ChannelAdapter]:
    """Every sandbox adapter by the channel it serves."""
    adapters: list[ChannelAdapter] = [
        SandboxSalesEngagementAdapter(connection),
        SandboxAdsAdapter(connection),
        InternalHandoffAdapter(connection),
    ]
    return {adapter.channel: adapter for adapter in adapters}


def _check(adapter: ChannelAdapter, action: ProposedAction) -> None:
    if action.channel != adapter.channel or action.action_type not in adapter.action_types:
        raise ValueError(f"{type(adapter).__name__} cannot {action.action_type} on {action.channel}")


def _insert_once(connection: duckdb.DuckDBPyConnection, table: str, values: list[Any]) -> list[tuple[Any, ...]]:
    """Record an action's effect keyed by its idempotency key (the first value); the last column, when the
    effect ends, starts empty. A second execution of the same action inserts nothing and returns no row."""
    placeholders = ", ".join("?" for _ in values)
    return connection.execute(
        f"insert into {table} values ({placeholders}, null) on conflict (idempotency_key) do nothing "
        "returning idempotency_key",
        values,
    ).fetchall()


def _undo(
    connection: duckdb.DuckDBPyConnection,
    table: str,
    inverse: ProposedAction,
    live_status: str,
    undone_status: str,
    now: datetime,
    returning: str = "idempotency_key",
) -> list[tuple[Any, ...]]:
    """End the effect of the action an inverse undoes: its row leaves its live status and records when
    (`<status>_at`). Undoing twice changes nothing the second time."""
    return connection.execute(
        f"""
        update {table} set status = ?, {undone_status}_at = ?
        where idempotency_key = ? and status = ? returning {returning}
        """,
        [undone_status, now, inverse.rollback_of, live_status],
    ).fetchall()


def _updated(rows: list[tuple[Any, ...]]) -> ExecutionOutcome:
    return ExecutionOutcome.EXECUTED if rows else ExecutionOutcome.ALREADY_EXECUTED
