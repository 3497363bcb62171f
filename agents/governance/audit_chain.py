"""The hash chain under the audit log: canonical JSON, entry hashes, and linking a record to the chain head.

Each entry has a position `seq` (1, 2, 3, …) and an `entry_hash`, the sha256 of the canonical JSON of all its
stored fields and of the previous entry's hash, so an entry edited, deleted, inserted or moved breaks the
chain. The one-row `audit.chain_head` holds the last position and hash, so entries cut off the end break it
too, and it makes concurrent appenders conflict instead of forking the chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import duckdb

from agents.governance.audit_schema import AUDIT_TABLE, CHAIN_HEAD_TABLE, JSON_COLUMNS, STORED_COLUMNS
from dagster_project.core.transactions import retry_on_conflict, transaction

T = TypeVar("T")


class AuditChainError(RuntimeError):
    """The chain head is missing: appending would start a second chain nobody could verify."""


def _transaction_open(connection: duckdb.DuckDBPyConnection) -> bool:
    """Whether the caller holds an open transaction. DuckDB has no flag for it, and a `begin` inside one aborts
    it; but without one every statement runs in a transaction of its own, with a new id."""
    (first,) = connection.execute("select txid_current()").fetchone()
    (second,) = connection.execute("select txid_current()").fetchone()
    return first == second


def write(connection: duckdb.DuckDBPyConnection, work: Callable[[], T]) -> T:
    """Run `work` in the caller's open transaction (its commit or rollback decides), or else in one of its own,
    retried from the start when a concurrent writer conflicts."""
    if _transaction_open(connection):
        return work()

    def attempt() -> T:
        with transaction(connection):
            return work()

    return retry_on_conflict(attempt)


def utc_naive(moment: datetime) -> datetime:
    """Timestamps are stored as naive UTC, so the hash sees the same value the column holds."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def entry_hash(record: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of every field of a record (including prev_hash) but its own hash."""
    return hashlib.sha256(canonical({k: v for k, v in record.items() if k != "entry_hash"}).encode()).hexdigest()


def _column_value(name: str, value: Any) -> Any:
    if name in JSON_COLUMNS:
        return None if value is None else canonical(value)
    return datetime.fromisoformat(value) if name == "recorded_at" else value


def link(connection: duckdb.DuckDBPyConnection, fields: dict[str, Any]) -> int:
    """Link JSON-ready fields to the head of the chain and store them; returns their seq.

    Claiming the head first makes a concurrent appender conflict at once; one that read the head before this
    commit collides on the seq at its own commit."""
    head = connection.execute(
        f"update {CHAIN_HEAD_TABLE} set seq = seq + 1 where id = 1 returning seq, entry_hash"
    ).fetchone()
    if head is None:
        raise AuditChainError(f"{CHAIN_HEAD_TABLE} is empty: the audit log cannot be extended until it is verified")
    seq, prev_hash = head
    record = {**fields, "seq": seq, "prev_hash": prev_hash}
    record["entry_hash"] = entry_hash(record)
    values = [_column_value(name, record[name]) for name in STORED_COLUMNS]
    connection.execute(
        f"insert into {AUDIT_TABLE} ({', '.join(STORED_COLUMNS)}) values ({', '.join('?' * len(values))})",
        values,
    )
    connection.execute(f"update {CHAIN_HEAD_TABLE} set entry_hash = ? where id = 1", [record["entry_hash"]])
    return int(seq)
