"""The keyed hash chain under the audit log: canonical JSON, entry hashes and MACs, the chain key, and linking
a record to the chain head.

Each entry has a position `seq` (1, 2, 3, …) and an `entry_hash`, the sha256 of the canonical JSON of all its
stored fields and of the previous entry's hash, so an entry edited, deleted, inserted or moved breaks the
chain. The one-row `audit.chain_head` holds the last position and hash, so entries cut off the end break it
too, and it makes concurrent appenders conflict instead of forking the chain.

The sha256 rule is public, so anyone who can write the database could rewrite an entry and recompute every
hash after it. Each entry therefore also carries `entry_mac`, the HMAC-SHA256 of its hash under a key kept
outside the warehouse (`$SURGEWISE_KEYS_DIR`); as the hash covers the chain before it, so does the MAC. The
hash stays public so that signed checkpoints of the head (`audit_anchors`) prove an export without the key.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from agents.governance.audit_schema import (
    AUDIT_TABLE,
    CHAIN_HEAD_TABLE,
    CHAIN_KEY_FILE,
    JSON_COLUMNS,
    OMITTED_WHEN_NULL,
    STORED_COLUMNS,
)
from dagster_project.core.settings import KEYS_DIR_ENV
from dagster_project.core.transactions import retry_on_conflict, transaction

T = TypeVar("T")

_IN_MEMORY_KEY = secrets.token_bytes(32)
"""The chain key of in-memory warehouses: it lives exactly as long as they do."""


class AuditChainError(RuntimeError):
    """The chain head is missing: appending would start a second chain nobody could verify."""


class AuditKeyError(AuditChainError):
    """The chain key is missing while the log has entries: a new key would make every entry fail verification."""


def outside_dir(connection: duckdb.DuckDBPyConnection, env: str, default_name: str) -> Path | None:
    """A directory outside the warehouse: from `env`, else `default_name` beside the database file (where the
    settings' defaults put it); None for an in-memory warehouse without the variable."""
    if os.environ.get(env):
        return Path(os.environ[env])
    (path,) = connection.execute(
        "select path from duckdb_databases() where database_name = current_database()"
    ).fetchone()
    return Path(path).resolve().parent / default_name if path else None


def chain_key_path(connection: duckdb.DuckDBPyConnection) -> Path | None:
    directory = outside_dir(connection, KEYS_DIR_ENV, "keys")
    return directory / CHAIN_KEY_FILE if directory else None


def secret_file(path: Path, make: Callable[[], bytes], *, create: bool) -> bytes | None:
    """The bytes of a secret file, made with mode 0600 if it is missing and `create`. A concurrent creator
    cannot clobber it: the file appears by a hard link, which fails if the name is taken."""
    if path.is_file() or not create:
        return path.read_bytes() if path.is_file() else None
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(make())
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(FileExistsError):  # a concurrent creator won: theirs is the key
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path.read_bytes()


def chain_key(connection: duckdb.DuckDBPyConnection, *, create: bool = False) -> bytes | None:
    """The HMAC key of the connection's audit log; made on first use only when `create` (a new, empty log)."""
    path = chain_key_path(connection)
    if path is None:
        return _IN_MEMORY_KEY
    key = secret_file(path, lambda: secrets.token_hex(32).encode() + b"\n", create=create)
    return key.strip() if key is not None else None


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


def hashed_fields(record: Mapping[str, Any]) -> dict[str, Any]:
    """What an entry's hash covers: every field (including prev_hash) but its hash and MAC, and a signature
    only when there is one."""
    return {
        key: value
        for key, value in record.items()
        if key not in ("entry_hash", "entry_mac") and not (key in OMITTED_WHEN_NULL and value is None)
    }


def entry_hash(record: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of the record's hashed fields: a public rule an auditor can apply."""
    return hashlib.sha256(canonical(hashed_fields(record)).encode()).hexdigest()


def entry_mac(key: bytes, hash_: str) -> str:
    """HMAC-SHA256 of an entry's hash under the chain key: only the key's holder can make it."""
    return hmac.new(key, hash_.encode(), hashlib.sha256).hexdigest()


def _column_value(name: str, value: Any) -> Any:
    if name in JSON_COLUMNS:
        return None if value is None else canonical(value)
    return datetime.fromisoformat(value) if name == "recorded_at" else value


def link(connection: duckdb.DuckDBPyConnection, fields: dict[str, Any]) -> int:
    """Link JSON-ready fields to the head of the chain and store them; returns their seq.

    Claiming the head first makes a concurrent appender conflict at once; one that read the head before this
    commit collides on the seq at its own commit."""
    key = chain_key(connection)
    if key is None:
        raise AuditKeyError(
            f"the audit log's key {chain_key_path(connection)} is missing: restore it from where the operator keeps "
            "it (a new key would make every entry fail verification)"
        )
    head = connection.execute(
        f"update {CHAIN_HEAD_TABLE} set seq = seq + 1 where id = 1 returning seq, entry_hash"
    ).fetchone()
    if head is None:
        raise AuditChainError(f"{CHAIN_HEAD_TABLE} is empty: the audit log cannot be extended until it is verified")
    seq, prev_hash = head
    record = {**fields, "seq": seq, "prev_hash": prev_hash}
    record["entry_hash"] = entry_hash(record)
    record["entry_mac"] = entry_mac(key, record["entry_hash"])
    values = [_column_value(name, record[name]) for name in STORED_COLUMNS]
    connection.execute(
        f"insert into {AUDIT_TABLE} ({', '.join(STORED_COLUMNS)}) values ({', '.join('?' * len(values))})",
        values,
    )
    connection.execute(f"update {CHAIN_HEAD_TABLE} set entry_hash = ? where id = 1", [record["entry_hash"]])
    return int(seq)
