"""The audit log: every proposal, decision, approval, execution, rollback and refusal to act.

It is append-only and tamper-evident. Each entry has a position `seq` (1, 2, 3, …) and an `entry_hash`, the
sha256 of the canonical JSON of all its stored fields and of the previous entry's hash, so an entry edited,
deleted, inserted or moved breaks the chain. The one-row `audit.chain_head` holds the last position and hash,
so entries cut off the end break it too, and it makes concurrent appenders conflict instead of forking the
chain. `verify_chain` recomputes it; `export_jsonl` hands it to an auditor, who re-verifies the file without
the warehouse (`verify_jsonl`).

The log outlives GDPR erasures, so it names no one in clear: the person an entry concerns is a `subject_ref`,
the HMAC of their person id under a random key of their own (`audit.subject_keys`). Forgetting a person
deletes that key (crypto-shredding): their entries, and the chain, stay intact but can no longer be linked
to them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from agents.actions import ProposedAction
from agents.governance.policy import PolicyDecision
from dagster_project.core.clock import utc_now
from dagster_project.core.transactions import retry_on_conflict, transaction
from dagster_project.core.warehouse import table_exists

AUDIT_SCHEMA = "audit"
AUDIT_TABLE = f"{AUDIT_SCHEMA}.audit_log"
CHAIN_HEAD_TABLE = f"{AUDIT_SCHEMA}.chain_head"
SUBJECT_KEYS_TABLE = f"{AUDIT_SCHEMA}.subject_keys"
UNCHAINED_TABLE = "audit_log_unchained"
"""Where a warehouse's audit log from before the chain waits while its entries are chained."""

GENESIS_HASH = "0" * 64

T = TypeVar("T")


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


class AuditChainError(RuntimeError):
    """The chain head is missing: appending would start a second chain nobody could verify."""


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


@dataclass(frozen=True)
class ChainReport:
    entries: int
    head_hash: str
    """The hash of the last entry: give it to an auditor apart from an export, so a cut-off file shows."""
    problems: list[tuple[int, str]] = field(default_factory=list)
    """(seq, what is wrong there), first broken entry first."""

    @property
    def ok(self) -> bool:
        return not self.problems

    def describe(self) -> list[str]:
        return [f"entry {seq}: {problem}" for seq, problem in self.problems]


_HASHED_COLUMNS = (
    "seq",
    "recorded_at",
    "run_id",
    "agent_id",
    "event",
    "action_id",
    "action_type",
    "channel",
    "subject_ref",
    "account_id",
    "reasoning",
    "inputs",
    "policy_verdict",
    "policy_rules",
    "policy_version",
    "reviewer",
    "related_action_id",
    "outcome",
    "prev_hash",
)
"""Every stored field of an entry but its own hash (`entry_id` is its seq, not stored apart)."""
_JSON_COLUMNS = ("inputs", "policy_rules")
_STORED_COLUMNS = (*_HASHED_COLUMNS, "entry_hash")


# --------------------------------------------------------------------------------------------------
# Schema


def ensure_audit_log(connection: duckdb.DuckDBPyConnection) -> None:
    """Create the log, its chain head and the subject keys; chain the entries of a log from before the chain."""

    def create() -> None:
        connection.execute(f"create schema if not exists {AUDIT_SCHEMA}")
        had_log, had_head = table_exists(connection, AUDIT_TABLE), table_exists(connection, CHAIN_HEAD_TABLE)
        unchained = had_log and "seq" not in _columns(connection, AUDIT_TABLE)
        if unchained:
            connection.execute(f"alter table {AUDIT_TABLE} rename to {UNCHAINED_TABLE}")
        connection.execute(
            f"""
            create table if not exists {AUDIT_TABLE} (
                entry_id bigint generated always as (seq) virtual,
                seq bigint primary key,
                recorded_at timestamp not null,
                run_id varchar not null,
                agent_id varchar not null,
                event varchar not null,
                action_id varchar,
                action_type varchar,
                channel varchar,
                subject_ref varchar,
                account_id varchar,
                reasoning varchar,
                inputs json,
                policy_verdict varchar,
                policy_rules json,
                policy_version varchar,
                reviewer varchar,
                related_action_id varchar,
                outcome varchar,
                prev_hash varchar not null,
                entry_hash varchar not null
            )
            """
        )
        connection.execute(
            f"""
            create table if not exists {CHAIN_HEAD_TABLE} (
                id integer primary key check (id = 1),
                seq bigint not null,
                entry_hash varchar not null
            )
            """
        )
        connection.execute(
            f"""
            create table if not exists {SUBJECT_KEYS_TABLE} (
                person_id varchar primary key,
                key blob not null,
                created_at timestamp not null
            )
            """
        )
        # Only a new log starts at genesis: a head that vanished from a chained log must show as a broken chain.
        if not had_head and (not had_log or unchained):
            connection.execute(f"insert into {CHAIN_HEAD_TABLE} values (1, 0, ?)", [GENESIS_HASH])
        if unchained:
            _chain_unchained_log(connection)

    _write(connection, create)


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
        _chain(
            connection,
            {
                "recorded_at": _utc_naive(old["recorded_at"]).isoformat(),
                "run_id": old["run_id"],
                "agent_id": old["agent_id"],
                "event": old["event"],
                "action_id": old["action_id"],
                "action_type": old["action_type"],
                "channel": old["channel"],
                "subject_ref": subject_ref(connection, old["person_id"], create=True) if old["person_id"] else None,
                "account_id": old["account_id"],
                "reasoning": old["reasoning"],
                "inputs": _without_person_ids(connection, inputs),
                "policy_verdict": old["policy_verdict"],
                "policy_rules": json.loads(old["policy_rules"]) if old["policy_rules"] else None,
                "policy_version": None,
                "reviewer": None,
                "related_action_id": None,
                "outcome": old["outcome"],
            },
        )
    for person_id in forgotten:
        forget_subject(connection, person_id)
    connection.execute(f"drop table {AUDIT_SCHEMA}.{UNCHAINED_TABLE}")
    connection.execute(f"drop sequence if exists {AUDIT_SCHEMA}.audit_entry_id")


# --------------------------------------------------------------------------------------------------
# Appending


def _transaction_open(connection: duckdb.DuckDBPyConnection) -> bool:
    """Whether the caller holds an open transaction. DuckDB has no flag for it, and a `begin` inside one aborts
    it; but without one every statement runs in a transaction of its own, with a new id."""
    (first,) = connection.execute("select txid_current()").fetchone()
    (second,) = connection.execute("select txid_current()").fetchone()
    return first == second


def _write(connection: duckdb.DuckDBPyConnection, work: Callable[[], T]) -> T:
    """Run `work` in the caller's open transaction (its commit or rollback decides), or else in one of its own,
    retried from the start when a concurrent writer conflicts."""
    if _transaction_open(connection):
        return work()

    def attempt() -> T:
        with transaction(connection):
            return work()

    return retry_on_conflict(attempt)


def _utc_naive(moment: datetime) -> datetime:
    """Timestamps are stored as naive UTC, so the hash sees the same value the column holds."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _entry_hash(record: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of every field of a record (including prev_hash) but its own hash."""
    return hashlib.sha256(_canonical({k: v for k, v in record.items() if k != "entry_hash"}).encode()).hexdigest()


def _column_value(name: str, value: Any) -> Any:
    if name in _JSON_COLUMNS:
        return None if value is None else _canonical(value)
    return datetime.fromisoformat(value) if name == "recorded_at" else value


def _chain(connection: duckdb.DuckDBPyConnection, fields: dict[str, Any]) -> int:
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
    record["entry_hash"] = _entry_hash(record)
    values = [_column_value(name, record[name]) for name in _STORED_COLUMNS]
    connection.execute(
        f"insert into {AUDIT_TABLE} ({', '.join(_STORED_COLUMNS)}) values ({', '.join('?' * len(values))})",
        values,
    )
    connection.execute(f"update {CHAIN_HEAD_TABLE} set entry_hash = ? where id = 1", [record["entry_hash"]])
    return int(seq)


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
        return _chain(
            connection,
            {
                "recorded_at": _utc_naive(entry.recorded_at).isoformat(),
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
                "inputs": _without_person_ids(connection, json.loads(json.dumps(inputs, default=str))),
                "policy_verdict": decision.verdict.value if decision else None,
                "policy_rules": rules,
                "policy_version": entry.policy_version or getattr(decision, "policy_version", None),
                "reviewer": entry.reviewer,
                "related_action_id": entry.related_action_id,
                "outcome": entry.outcome,
            },
        )

    return _write(connection, chain)


# --------------------------------------------------------------------------------------------------
# Subjects: people by keyed reference, forgettable by deleting the key


def subject_ref(connection: duckdb.DuckDBPyConnection, person_id: str, *, create: bool = False) -> str | None:
    """The audit log's reference to a person: HMAC-SHA256 of their id under their own key. None if they have no
    key (never audited, or forgotten) and `create` is false."""
    if not table_exists(connection, SUBJECT_KEYS_TABLE):
        return None
    row = connection.execute(f"select key from {SUBJECT_KEYS_TABLE} where person_id = ?", [person_id]).fetchone()
    if row is None:
        if not create:
            return None
        connection.execute(
            f"insert into {SUBJECT_KEYS_TABLE} values (?, ?, ?) on conflict do nothing",
            [person_id, secrets.token_bytes(32), utc_now()],
        )
        row = connection.execute(f"select key from {SUBJECT_KEYS_TABLE} where person_id = ?", [person_id]).fetchone()
    return hmac.new(bytes(row[0]), person_id.encode(), hashlib.sha256).hexdigest()


def forget_subject(connection: duckdb.DuckDBPyConnection, person_id: str) -> bool:
    """Delete a person's subject key (crypto-shredding): their audit entries stay, and the chain stays valid,
    but nothing can link them to the person any more. False if they had no key."""
    if not table_exists(connection, SUBJECT_KEYS_TABLE):
        return False
    deleted = connection.execute(
        f"delete from {SUBJECT_KEYS_TABLE} where person_id = ? returning person_id", [person_id]
    ).fetchall()
    return bool(deleted)


def _without_person_ids(connection: duckdb.DuckDBPyConnection, value: Any) -> Any:
    """JSON inputs with every `person_id` key replaced by a `subject_ref` key, at any depth."""
    if isinstance(value, dict):
        return {
            ("subject_ref" if key == "person_id" else key): (
                (subject_ref(connection, str(item), create=True) if item is not None else None)
                if key == "person_id"
                else _without_person_ids(connection, item)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_without_person_ids(connection, item) for item in value]
    return value


# --------------------------------------------------------------------------------------------------
# Reading


def _select(
    connection: duckdb.DuckDBPyConnection, columns: Iterable[str], where: str = "", params: Any = None
) -> list[dict[str, Any]]:
    """Entries in chain order, their JSON columns parsed."""
    cursor = connection.execute(
        f"select {', '.join(columns)} from {AUDIT_TABLE} {where} order by seq, entry_hash", params or []
    )
    names = [column[0] for column in cursor.description]
    entries = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    for entry in entries:
        for name in _JSON_COLUMNS:
            entry[name] = json.loads(entry[name]) if entry[name] is not None else None
    return entries


def entries_for_person(connection: duckdb.DuckDBPyConnection, person_id: str) -> list[dict[str, Any]]:
    """Every entry about a person (as the entry's subject or anywhere in its inputs), in chain order; none once
    they are forgotten."""
    reference = subject_ref(connection, person_id)
    if reference is None or not table_exists(connection, AUDIT_TABLE):
        return []
    return _select(
        connection,
        ("entry_id", *_STORED_COLUMNS),
        "where subject_ref = $ref or contains(cast(inputs as varchar), $ref)",
        {"ref": reference},
    )


# --------------------------------------------------------------------------------------------------
# Verifying and exporting


def _records(connection: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """The entries as hashed: JSON-ready, in chain order."""
    records = _select(connection, _STORED_COLUMNS)
    for record in records:
        if record["recorded_at"] is not None:
            record["recorded_at"] = record["recorded_at"].isoformat()
    return records


def _check_links(records: Iterable[Mapping[str, Any]]) -> tuple[int, int, str, list[tuple[int, str]]]:
    """Walk the chain: (entries, last seq, last hash, problems)."""
    problems: list[tuple[int, str]] = []
    count, last_seq, last_hash = 0, 0, GENESIS_HASH
    for record in records:
        count += 1
        seq = record.get("seq")
        if not isinstance(seq, int):
            problems.append((last_seq + 1, "has no position (seq): not an entry of this log"))
            continue
        if seq == last_seq:
            problems.append((seq, "a second entry at this position (duplicated or forged)"))
        elif seq < last_seq:
            problems.append((seq, f"out of order, after entry {last_seq} (moved)"))
        elif seq == last_seq + 2:
            problems.append((last_seq + 1, "missing (deleted)"))
        elif seq > last_seq + 2:
            problems.append((last_seq + 1, f"missing, and every entry up to {seq - 1} (deleted)"))
        if record.get("prev_hash") != last_hash:
            problems.append((seq, "does not link to the entry before it (an entry was deleted, inserted or moved)"))
        if _entry_hash(record) != record.get("entry_hash"):
            problems.append((seq, "stored hash does not match its contents (edited)"))
        last_seq, last_hash = max(seq, last_seq), str(record.get("entry_hash"))
    return count, last_seq, last_hash, problems


def verify_chain(connection: duckdb.DuckDBPyConnection) -> ChainReport:
    """Recompute every hash in chain order and compare the end of the chain with its head."""
    if not table_exists(connection, AUDIT_TABLE):
        return ChainReport(entries=0, head_hash=GENESIS_HASH)
    count, last_seq, last_hash, problems = _check_links(_records(connection))
    head = (
        connection.execute(f"select seq, entry_hash from {CHAIN_HEAD_TABLE} where id = 1").fetchone()
        if table_exists(connection, CHAIN_HEAD_TABLE)
        else None
    )
    if head is None:
        problems.append((last_seq + 1, "the chain head is missing, so entries cut off the end would not show"))
    elif head[0] > last_seq:
        problems.append((last_seq + 1, f"missing: the chain head says the log ends at entry {head[0]} (truncated)"))
    elif head[0] < last_seq:
        problems.append((head[0] + 1, f"not recorded by the chain head, which ends at entry {head[0]} (inserted)"))
    elif head[1] != last_hash:
        problems.append((last_seq, "differs from the hash the chain head holds for it (replaced)"))
    return ChainReport(entries=count, head_hash=last_hash, problems=sorted(problems, key=lambda p: p[0]))


def export_jsonl(connection: duckdb.DuckDBPyConnection, path: Path) -> int:
    """Write every entry in chain order, one canonical JSON object a line with its prev_hash and entry_hash, so
    an auditor can re-verify the chain (`verify_jsonl`). Returns the number of entries."""
    records = _records(connection) if table_exists(connection, AUDIT_TABLE) else []
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(_canonical(record) + "\n" for record in records), encoding="utf-8")
    return len(records)


def verify_jsonl(path: Path, *, expected_head_hash: str | None = None) -> ChainReport:
    """Re-verify an export without the warehouse. A file cut off after a whole entry is still a valid chain:
    pass the head hash taken when it was exported (`ChainReport.head_hash`) to catch that."""
    records: list[dict[str, Any]] = []
    unreadable: list[tuple[int, str]] = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if isinstance(record, dict):
            records.append(record)
        else:
            unreadable.append((number, f"line {number} of the export is not a JSON entry"))
    count, last_seq, last_hash, problems = _check_links(records)
    if expected_head_hash is not None and last_hash != expected_head_hash:
        problems.append((last_seq, "the export ends here, but not at the expected head (truncated or extended)"))
    return ChainReport(entries=count, head_hash=last_hash, problems=sorted(unreadable + problems, key=lambda p: p[0]))
