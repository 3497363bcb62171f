"""The webhook outbox: its tables, and the reads and writes the adapter, the dispatcher and the CLI share.

An action meant for a real system is first a row here, written inside the governor's transaction with the
action's idempotency key, so the network call happens only after that transaction commits and a crash
never loses it. The row moves pending → sending → delivered, or → retrying → … → dead_lettered (the dead
letter keeps its last error until an operator retries it). A rolled-back action that never left is
cancelled. The circuit breakers live here too, so separate micro-batch runs share what each learnt about
an endpoint. No secret is ever stored in these tables.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import duckdb

from dagster_project.core.transactions import transaction
from dagster_project.core.warehouse import table_exists

SCHEMA = "channel_webhook"
OUTBOX_TABLE = f"{SCHEMA}.outbox"
DEAD_LETTERS_TABLE = f"{SCHEMA}.dead_letters"
BREAKERS_TABLE = f"{SCHEMA}.breakers"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    RETRYING = "retrying"
    DELIVERED = "delivered"
    DEAD_LETTERED = "dead_lettered"
    CANCELLED = "cancelled"
    """Rolled back before any attempt left: nothing reached the receiver, nothing needs sending."""


class DeliveryEvent(StrEnum):
    ACTION = "action"
    ROLLBACK = "rollback"


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


def ensure_delivery_tables(connection: duckdb.DuckDBPyConnection) -> None:
    connection.execute(f"create schema if not exists {SCHEMA}")
    connection.execute(
        f"""
        create table if not exists {OUTBOX_TABLE} (
            idempotency_key varchar primary key,
            channel varchar not null,
            action_type varchar not null,
            event varchar not null,
            rollback_of varchar,
            body varchar not null,
            status varchar not null,
            attempts integer not null,
            next_attempt_at timestamp not null,
            enqueued_at timestamp not null,
            endpoint_url varchar,
            attempt_id varchar,
            lease_expires_at timestamp,
            last_attempt_at timestamp,
            last_error varchar,
            response_status integer,
            confirmation varchar,
            delivered_at timestamp,
            undone_by varchar
        )
        """
    )
    connection.execute(
        f"""
        create table if not exists {DEAD_LETTERS_TABLE} (
            idempotency_key varchar primary key,
            channel varchar not null,
            endpoint_url varchar,
            attempts integer not null,
            last_error varchar not null,
            dead_lettered_at timestamp not null,
            times_dead_lettered integer not null,
            retried_at timestamp,
            retried_by varchar
        )
        """
    )
    connection.execute(
        f"""
        create table if not exists {BREAKERS_TABLE} (
            endpoint varchar primary key,
            state varchar not null,
            consecutive_failures integer not null,
            opened_at timestamp,
            open_until timestamp,
            updated_at timestamp not null
        )
        """
    )


@dataclass(frozen=True)
class Delivery:
    """One outbox row as the CLI shows it."""

    idempotency_key: str
    channel: str
    action_type: str
    event: str
    status: DeliveryStatus
    attempts: int
    endpoint_url: str | None
    last_error: str | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    confirmation: str | None


def list_deliveries(
    connection: duckdb.DuckDBPyConnection, *, status: DeliveryStatus | None = None, limit: int = 50
) -> list[Delivery]:
    """Deliveries newest first; `next_attempt_at` only where another attempt is due."""
    if not table_exists(connection, OUTBOX_TABLE):
        return []
    rows = connection.execute(
        f"""
        select idempotency_key, channel, action_type, event, status, attempts, endpoint_url, last_error,
            case when status in ('pending', 'retrying') then next_attempt_at end, delivered_at, confirmation
        from {OUTBOX_TABLE}
        where ? is null or status = ?
        order by enqueued_at desc, idempotency_key
        limit ?
        """,
        [status, status, limit],
    ).fetchall()
    return [
        Delivery(row[0], row[1], row[2], row[3], DeliveryStatus(row[4]), *row[5:])  # type: ignore[arg-type]
        for row in rows
    ]


def delivery_counts(connection: duckdb.DuckDBPyConnection) -> dict[str, int]:
    if not table_exists(connection, OUTBOX_TABLE):
        return {}
    rows = connection.execute(f"select status, count(*) from {OUTBOX_TABLE} group by status order by status")
    return {status: count for status, count in rows.fetchall()}


class RetryRefused(ValueError):
    """A delivery `deliveries retry` must not send again: unknown, not a dead letter, or rolled back since."""


def retry_dead_letters(
    connection: duckdb.DuckDBPyConnection, keys: list[str] | None, *, by: str, now: datetime
) -> list[str]:
    """Move dead letters back to pending with a fresh attempt budget, due now; `keys=None` takes every one.
    A dead letter whose action was rolled back since is refused: sending it would redo an undone effect."""
    if not table_exists(connection, OUTBOX_TABLE):
        if keys:
            raise RetryRefused(f"no delivery {keys[0]}")
        return []
    with transaction(connection):
        return _retry(connection, keys, by, now)


def _retry(connection: duckdb.DuckDBPyConnection, keys: list[str] | None, by: str, now: datetime) -> list[str]:
    if keys is not None:
        for key in keys:
            row = connection.execute(
                f"select status, undone_by from {OUTBOX_TABLE} where idempotency_key = ?", [key]
            ).fetchone()
            if row is None:
                raise RetryRefused(f"no delivery {key}")
            if row[0] != DeliveryStatus.DEAD_LETTERED:
                raise RetryRefused(f"delivery {key} is {row[0]}: only dead letters are retried")
            if row[1] is not None:
                raise RetryRefused(f"delivery {key} was rolled back by {row[1]}: it must not be sent again")
    moved = connection.execute(
        f"""
        update {OUTBOX_TABLE} set status = ?, attempts = 0, next_attempt_at = ?, attempt_id = null,
            lease_expires_at = null
        where status = ? and undone_by is null and (? or list_contains(?, idempotency_key))
        returning idempotency_key
        """,
        [DeliveryStatus.PENDING.value, now, DeliveryStatus.DEAD_LETTERED.value, keys is None, keys or []],
    ).fetchall()
    moved_keys = sorted(key for (key,) in moved)
    if moved_keys:
        connection.execute(
            f"update {DEAD_LETTERS_TABLE} set retried_at = ?, retried_by = ? where list_contains(?, idempotency_key)",
            [now, by, moved_keys],
        )
    return moved_keys


def enqueue(
    connection: duckdb.DuckDBPyConnection,
    *,
    key: str,
    channel: str,
    endpoint_url: str,
    action_type: str,
    event: DeliveryEvent,
    rollback_of: str | None,
    body: str,
    status: DeliveryStatus,
    now: datetime,
) -> bool:
    """Write one outbox row, due now; False (and nothing written) when the key is already there."""
    inserted = connection.execute(
        f"""
        insert into {OUTBOX_TABLE} (
            idempotency_key, channel, endpoint_url, action_type, event, rollback_of, body, status, attempts,
            next_attempt_at, enqueued_at
        ) values (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)
        on conflict (idempotency_key) do nothing returning idempotency_key
        """,
        [key, channel, endpoint_url, action_type, event.value, rollback_of, body, status.value, now, now],
    ).fetchall()
    return bool(inserted)


@dataclass(frozen=True)
class Undone:
    """What undoing an action found in the outbox."""

    reached_receiver: bool
    """Whether any attempt of the original may have reached the receiver (so the inverse must be sent)."""


def mark_undone(connection: duckdb.DuckDBPyConnection, key: str, undone_by: str) -> Undone | None:
    """Record that `undone_by` undoes the action `key`; an original not yet in flight is cancelled, as
    sending it later would redo what was undone. None when the action is not in the outbox or already undone."""
    row = connection.execute(
        f"""
        update {OUTBOX_TABLE} set undone_by = ?,
            status = case when status in ('pending', 'retrying') then 'cancelled' else status end
        where idempotency_key = ? and event = 'action' and undone_by is null
        returning last_attempt_at is not null
        """,
        [undone_by, key],
    ).fetchone()
    return None if row is None else Undone(reached_receiver=bool(row[0]))


def effect_active(connection: duckdb.DuckDBPyConnection, key: str) -> bool:
    """Whether the action is in the outbox and not undone: the effect governance asked the channel for."""
    if not table_exists(connection, OUTBOX_TABLE):
        return False
    row = connection.execute(
        f"select undone_by is null from {OUTBOX_TABLE} where idempotency_key = ? and event = 'action'", [key]
    ).fetchone()
    return bool(row and row[0])


@dataclass(frozen=True)
class Claim:
    """A row claimed for one attempt: the exact bytes to send, signed, with the same key every time."""

    idempotency_key: str
    channel: str
    event: str
    body: str
    attempts: int
    attempt_id: str
    recovered: bool
    """It was found `sending` under an expired lease: a process died between the call and the commit."""


def claim_next(
    connection: duckdb.DuckDBPyConnection,
    *,
    channels: list[str],
    endpoint_url: str,
    attempt_id: str,
    now: datetime,
    lease_expires_at: datetime,
) -> Claim | None:
    """Mark the oldest due row of these channels `sending` under a lease. Due: pending or retrying whose
    time has come, or left `sending` by a dead process (lease expired). An inverse waits while its original
    is in flight, so the receiver never sees the undo before the action."""
    due = connection.execute(
        f"""
        select candidate.idempotency_key, candidate.status = 'sending'
        from {OUTBOX_TABLE} candidate
        left join {OUTBOX_TABLE} original on original.idempotency_key = candidate.rollback_of
        where list_contains(?, candidate.channel)
            and (
                (candidate.status in ('pending', 'retrying') and candidate.next_attempt_at <= ?)
                or (candidate.status = 'sending' and candidate.lease_expires_at <= ?)
            )
            and (original.status is null or original.status <> 'sending' or original.lease_expires_at <= ?)
        order by candidate.enqueued_at, candidate.event, candidate.idempotency_key
        limit 1
        """,
        [channels, now, now, now],
    ).fetchone()
    if due is None:
        return None
    key, recovered = due
    row = connection.execute(
        f"""
        update {OUTBOX_TABLE} set status = 'sending', attempts = attempts + 1, attempt_id = ?,
            lease_expires_at = ?, last_attempt_at = ?, endpoint_url = ?
        where idempotency_key = ?
        returning channel, event, body, attempts
        """,
        [attempt_id, lease_expires_at, now, endpoint_url, key],
    ).fetchone()
    channel, event, body, attempts = row
    return Claim(key, channel, event, body, attempts, attempt_id, bool(recovered))


def due_count(connection: duckdb.DuckDBPyConnection, channels: list[str], now: datetime) -> int:
    (count,) = connection.execute(
        f"""
        select count(*) from {OUTBOX_TABLE}
        where list_contains(?, channel) and (
            (status in ('pending', 'retrying') and next_attempt_at <= ?)
            or (status = 'sending' and lease_expires_at <= ?)
        )
        """,
        [channels, now, now],
    ).fetchone()
    return int(count)


def record_delivered(
    connection: duckdb.DuckDBPyConnection, claim: Claim, response_status: int, confirmation: str, now: datetime
) -> None:
    """The receiver confirmed: booked once, and never sent again, whichever attempt's answer this is."""
    connection.execute(
        f"""
        update {OUTBOX_TABLE} set status = 'delivered', delivered_at = ?, response_status = ?, confirmation = ?,
            last_error = null, lease_expires_at = null
        where idempotency_key = ? and status <> 'delivered'
        """,
        [now, response_status, confirmation, claim.idempotency_key],
    )


def record_failure(
    connection: duckdb.DuckDBPyConnection,
    claim: Claim,
    *,
    error: str,
    next_attempt_at: datetime | None,
    endpoint_url: str,
    now: datetime,
) -> DeliveryStatus | None:
    """After a failed attempt: another one at `next_attempt_at`, or (None) a dead letter that keeps the last
    error for an operator. An action rolled back meanwhile is cancelled instead: its inverse is queued.
    None when the row moved on (a later attempt took it over)."""
    row = connection.execute(
        f"""
        update {OUTBOX_TABLE} set last_error = ?, lease_expires_at = null,
            status = case when undone_by is not null then 'cancelled' when ? then 'dead_lettered' else 'retrying' end,
            next_attempt_at = coalesce(?, next_attempt_at)
        where idempotency_key = ? and attempt_id = ? and status = 'sending'
        returning status
        """,
        [error, next_attempt_at is None, next_attempt_at, claim.idempotency_key, claim.attempt_id],
    ).fetchone()
    if row is None:
        return None
    status = DeliveryStatus(row[0])
    if status is DeliveryStatus.DEAD_LETTERED:
        connection.execute(
            f"""
            insert into {DEAD_LETTERS_TABLE} values (?, ?, ?, ?, ?, ?, 1, null, null)
            on conflict (idempotency_key) do update set endpoint_url = excluded.endpoint_url,
                attempts = excluded.attempts, last_error = excluded.last_error,
                dead_lettered_at = excluded.dead_lettered_at, times_dead_lettered = times_dead_lettered + 1,
                retried_at = null, retried_by = null
            """,
            [claim.idempotency_key, claim.channel, endpoint_url, claim.attempts, error, now],
        )
    return status


@dataclass(frozen=True)
class Breaker:
    """One endpoint's circuit breaker: closed lets every row through; open skips the endpoint (no attempt
    consumed) until its cool-down ends; then half-open lets one probe decide whether it closes again."""

    endpoint: str
    state: BreakerState = BreakerState.CLOSED
    consecutive_failures: int = 0
    opened_at: datetime | None = None
    open_until: datetime | None = None

    def admits(self, now: datetime) -> bool:
        return self.state is BreakerState.CLOSED or (self.open_until is not None and now >= self.open_until)

    def probing(self) -> Breaker:
        """The state while an attempt is in flight: a breaker that was open lets this one through as its probe."""
        return self if self.state is BreakerState.CLOSED else _replace(self, state=BreakerState.HALF_OPEN)

    def after_success(self) -> Breaker:
        return Breaker(self.endpoint)

    def after_failure(self, now: datetime, threshold: int, cooldown: timedelta) -> Breaker:
        failures = self.consecutive_failures + 1
        if self.state is BreakerState.CLOSED and failures < threshold:
            return _replace(self, consecutive_failures=failures)
        return Breaker(self.endpoint, BreakerState.OPEN, failures, now, now + cooldown)


def _replace(breaker: Breaker, **changes: object) -> Breaker:
    return dataclasses.replace(breaker, **changes)  # type: ignore[arg-type]


def load_breaker(connection: duckdb.DuckDBPyConnection, endpoint: str) -> Breaker:
    row = connection.execute(
        f"select state, consecutive_failures, opened_at, open_until from {BREAKERS_TABLE} where endpoint = ?",
        [endpoint],
    ).fetchone()
    return Breaker(endpoint) if row is None else Breaker(endpoint, BreakerState(row[0]), row[1], row[2], row[3])


def save_breaker(connection: duckdb.DuckDBPyConnection, breaker: Breaker, now: datetime) -> None:
    connection.execute(
        f"""
        insert into {BREAKERS_TABLE} values (?, ?, ?, ?, ?, ?)
        on conflict (endpoint) do update set state = excluded.state,
            consecutive_failures = excluded.consecutive_failures, opened_at = excluded.opened_at,
            open_until = excluded.open_until, updated_at = excluded.updated_at
        """,
        [
            breaker.endpoint,
            breaker.state.value,
            breaker.consecutive_failures,
            breaker.opened_at,
            breaker.open_until,
            now,
        ],
    )


def list_breakers(connection: duckdb.DuckDBPyConnection) -> list[Breaker]:
    if not table_exists(connection, BREAKERS_TABLE):
        return []
    rows = connection.execute(
        f"select endpoint, state, consecutive_failures, opened_at, open_until from {BREAKERS_TABLE} order by endpoint"
    ).fetchall()
    return [Breaker(row[0], BreakerState(row[1]), row[2], row[3], row[4]) for row in rows]


def matching_keys(connection: duckdb.DuckDBPyConnection, prefix: str) -> list[str]:
    """Delivery keys starting with `prefix` (lists show them shortened); at most three."""
    if not prefix or not table_exists(connection, OUTBOX_TABLE):
        return []
    rows = connection.execute(
        f"select idempotency_key from {OUTBOX_TABLE} where starts_with(idempotency_key, ?) order by 1 limit 3",
        [prefix],
    ).fetchall()
    return [key for (key,) in rows]
