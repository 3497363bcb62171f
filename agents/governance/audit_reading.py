"""Reading the audit log back: a person's entries, verification of the keyed chain and its checkpoints, and the
auditor's export.

`verify_chain` recomputes the chain in the warehouse, checks every MAC under the chain key and the log against
every signed checkpoint, and looks for governance effects no entry accounts for (among them a pause switch or an
executed approval no verifying reviewer signature accounts for: state a warehouse writer set by SQL);
`export_jsonl` hands the log to an auditor, who re-verifies the file without the warehouse (`verify_jsonl`) with
the checkpoints or the key.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agents.adapters.sandbox import (
    BUDGET_CHANGES_TABLE,
    CREATIVES_TABLE,
    ENROLMENTS_TABLE,
    HANDOFFS_TABLE,
    ExecutionOutcome,
)
from agents.config import AgentRegistry
from agents.governance.audit import AuditEvent
from agents.governance.audit_anchors import (
    Checkpoint,
    anchor_dir,
    anchor_private_key,
    checkpoint_problems,
    load_public_key,
    log_problems,
    public_key_pem,
    read_checkpoints,
)
from agents.governance.audit_chain import canonical, chain_key, chain_key_path, entry_hash, entry_mac
from agents.governance.audit_schema import (
    ANCHOR_PUBLIC_KEY_FILE,
    AUDIT_TABLE,
    CHAIN_HEAD_TABLE,
    GENESIS_HASH,
    JSON_COLUMNS,
    OMITTED_WHEN_NULL,
    STORED_COLUMNS,
)
from agents.governance.audit_subjects import subject_ref
from agents.governance.interventions import ANOMALY_DETECTOR
from agents.governance.schema import ACTIONS_TABLE, BUDGET_LEDGER_TABLE, CONTROLS_TABLE
from agents.governance.signatures import MAX_CLOCK_SKEW, SignatureError, verify_statement
from dagster_project.core.warehouse import table_exists

EXECUTION_OUTCOMES = frozenset(outcome.value for outcome in ExecutionOutcome)
"""The outcomes of an audit entry that records an action reaching its channel."""
CHANNEL_TABLES = (ENROLMENTS_TABLE, BUDGET_CHANGES_TABLE, CREATIVES_TABLE, HANDOFFS_TABLE)
"""The sandbox channels' rows, each keyed by the action that wrote it."""
UNDONE_STATUSES = frozenset({"removed", "reverted", "paused", "cancelled"})
"""A channel row's status once an inverse undid it."""
UNRECORDED_SHOWN = 5
SWITCH_EVENTS = {AuditEvent.AGENT_PAUSED: True, AuditEvent.AGENT_RESUMED: False}


@dataclass(frozen=True)
class ChainReport:
    entries: int
    head_hash: str
    """The hash of the last entry: give it to an auditor apart from an export, so a cut-off file shows."""
    problems: list[tuple[int, str]] = field(default_factory=list)
    """(seq, what is wrong there), first broken entry first: the chain, its MACs and its checkpoints."""
    unrecorded: list[str] = field(default_factory=list)
    """Effects in the warehouse (actions, executions, channel changes) with no audit entry to account for them."""
    macs_checked: bool = False
    """Whether every entry's MAC was checked (the chain key was at hand)."""
    checkpoints: int = 0
    """How many signed checkpoints were checked."""
    anchored_entries: int = 0
    """How many entries the last checkpoint signed: proven even without the chain key."""
    signatures_checked: bool = False
    """Whether reviewer signatures were verified against the registry's public keys (else only that they exist)."""

    @property
    def ok(self) -> bool:
        return not self.problems and not self.unrecorded

    def describe(self) -> list[str]:
        return [f"entry {seq}: {problem}" for seq, problem in self.problems] + self.unrecorded


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
        for name in JSON_COLUMNS:
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
        ("entry_id", *STORED_COLUMNS),
        "where subject_ref = $ref or contains(cast(inputs as varchar), $ref)",
        {"ref": reference},
    )


def _records(connection: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """The entries as hashed, with their MACs: JSON-ready, in chain order, a null signature left out."""
    if not table_exists(connection, AUDIT_TABLE):
        return []
    records = [
        {key: value for key, value in record.items() if not (key in OMITTED_WHEN_NULL and value is None)}
        for record in _select(connection, STORED_COLUMNS)
    ]
    for record in records:
        if record["recorded_at"] is not None:
            record["recorded_at"] = record["recorded_at"].isoformat()
    return records


def _check_links(
    records: Iterable[Mapping[str, Any]], key: bytes | None
) -> tuple[int, int, dict[int, str], list[tuple[int, str]]]:
    """Walk the chain, checking each MAC when the key is given: (entries, last seq, hash by seq, problems)."""
    problems: list[tuple[int, str]] = []
    count, last_seq, last_hash = 0, 0, GENESIS_HASH
    hashes: dict[int, str] = {}
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
        if entry_hash(record) != record.get("entry_hash"):
            problems.append((seq, "stored hash does not match its contents (edited)"))
        if key is not None and record.get("entry_mac") != entry_mac(key, str(record.get("entry_hash"))):
            problems.append(
                (seq, "its MAC does not match under the chain key (rewritten, or re-hashed without the key)")
            )
        last_seq, last_hash = max(seq, last_seq), str(record.get("entry_hash"))
        hashes.setdefault(seq, last_hash)
    return count, last_seq, hashes, problems


def _anchor_problems(
    directory: Path | None,
    public_key: Ed25519PublicKey | None,
    hashes: Mapping[int, str],
    last_seq: int,
) -> tuple[list[Checkpoint], list[tuple[int, str]]]:
    """The checkpoints in `directory`, and where they disagree with themselves or with the log."""
    if directory is None:
        return [], []
    checkpoints, unreadable = read_checkpoints(directory)
    problems = [(1, f"{directory}: {problem}") for problem in unreadable]
    if checkpoints and public_key is None:
        problems.append((1, f"no anchor public key ({ANCHOR_PUBLIC_KEY_FILE}) to check the checkpoints in {directory}"))
    problems += checkpoint_problems(checkpoints, public_key) + log_problems(checkpoints, hashes, last_seq)
    return checkpoints, problems


def _warehouse_public_key(
    connection: duckdb.DuckDBPyConnection, directory: Path | None
) -> tuple[Ed25519PublicKey | None, list[tuple[int, str]]]:
    """The anchor public key: the signing key's own half when it is at hand (a replaced public key file then
    shows), else the file beside the checkpoints."""
    published = load_public_key(directory / ANCHOR_PUBLIC_KEY_FILE) if directory else None
    private = anchor_private_key(connection)
    if private is None:
        return published, []
    if published is not None and public_key_pem(private) != (directory / ANCHOR_PUBLIC_KEY_FILE).read_bytes():
        return private.public_key(), [(1, f"{ANCHOR_PUBLIC_KEY_FILE} is not the public half of the anchor key")]
    return private.public_key(), []


def _listed(ids: list[str]) -> str:
    shown = ", ".join(ids[:UNRECORDED_SHOWN])
    return shown + (f" and {len(ids) - UNRECORDED_SHOWN} more" if len(ids) > UNRECORDED_SHOWN else "")


def _keys(connection: duckdb.DuckDBPyConnection, table: str, where: str = "") -> list[tuple[str, str]]:
    """(action id, status) of a governance or channel table's rows, oldest id first; none if it does not exist."""
    if not table_exists(connection, table):
        return []
    key = "action_id" if table in (ACTIONS_TABLE, BUDGET_LEDGER_TABLE) else "idempotency_key"
    status = "'booked'" if table == BUDGET_LEDGER_TABLE else "status"
    rows = connection.execute(f"select {key}, {status} from {table} {where} order by {key}").fetchall()
    return [(str(action_id), str(state)) for action_id, state in rows]


def _unrecorded(connection: duckdb.DuckDBPyConnection, records: list[dict[str, Any]]) -> list[str]:
    """Governance actions, executions, money and channel changes the audit log does not account for: an entry
    naming each action; one recording each execution (an execution outcome, or a rollback naming the inverse);
    a rollback entry for each undone channel row."""
    named = {r.get("action_id") for r in records} | {r.get("related_action_id") for r in records}
    rollbacks = [r for r in records if r.get("event") == AuditEvent.ROLLED_BACK]
    rolled_back = {r.get("action_id") for r in rollbacks}
    executed = {r.get("action_id") for r in records if r.get("outcome") in EXECUTION_OUTCOMES}
    executed |= {r.get("related_action_id") for r in rollbacks}
    actions = _keys(connection, ACTIONS_TABLE)
    findings: list[str] = []
    if actions and not records:
        findings.append(
            f"the audit log is {'empty' if table_exists(connection, AUDIT_TABLE) else 'missing'}, but "
            f"{ACTIONS_TABLE} holds {len(actions):,} actions (the log was dropped or emptied)"
        )
    unaccounted = [
        (f"{ACTIONS_TABLE}: {{n}} action(s) with no audit entry", [a for a, _ in actions if a not in named]),
        (
            f"{ACTIONS_TABLE}: {{n}} executed action(s) with no audit entry recording the execution",
            [a for a, _ in _keys(connection, ACTIONS_TABLE, "where executed_at is not null") if a not in executed],
        ),
        (
            f"{BUDGET_LEDGER_TABLE}: {{n}} booking(s) with no audit entry recording the action's execution",
            [a for a, _ in _keys(connection, BUDGET_LEDGER_TABLE) if a not in executed],
        ),
    ]
    for table in CHANNEL_TABLES:
        rows = _keys(connection, table)
        unaccounted += [
            (
                f"{table}: {{n}} channel write(s) with no audit entry recording the execution",
                [key for key, _ in rows if key not in executed],
            ),
            (
                f"{table}: {{n}} channel undo(s) with no rollback entry",
                [key for key, status in rows if status in UNDONE_STATUSES and key not in rolled_back],
            ),
        ]
    return findings + [f"{what.format(n=len(ids))}: {_listed(ids)}" for what, ids in unaccounted if ids]


def _entry_signature_problem(
    entry: Mapping[str, Any], verb: str, subject: str, registry: AgentRegistry | None
) -> str | None:
    """Why an audit entry does not carry its reviewer's signature of `verb` `subject` (None if it does); without
    a registry only that a signature of that decision is there."""
    said = (entry.get("inputs") or {}).get("signed")
    token, who = entry.get("signature"), entry.get("reviewer")
    if not token or not isinstance(said, dict) or not who:
        return "no signature"
    if said.get("verb") != verb or said.get("subject") != subject:
        return f"the signature is of {said.get('verb')} {said.get('subject')}"
    if registry is None:
        return None
    reviewer = registry.reviewer(who)
    if reviewer is None or registry.get(who) is not None:
        return f"{who} is not a listed reviewer"
    try:
        token_read = verify_statement(reviewer.public_keys, token, said, who)
    except SignatureError as error:
        return str(error)
    recorded_at = entry.get("recorded_at")
    if isinstance(recorded_at, str) and token_read.signed_at > datetime.fromisoformat(recorded_at) + MAX_CLOCK_SKEW:
        return "signed after the entry was recorded"
    return None


def _unsigned(
    connection: duckdb.DuckDBPyConnection, records: list[dict[str, Any]], registry: AgentRegistry | None
) -> list[str]:
    """Governance state no reviewer's signature accounts for: an agent's pause switch whose current state is not
    the one its latest signed switch entry set (or whose signature does not verify), and an executed action that
    needed approval whose approval entry carries no verifying signature."""
    findings: list[str] = []
    if table_exists(connection, CONTROLS_TABLE):
        latest: dict[Any, dict[str, Any]] = {}
        for record in records:
            if record.get("event") in SWITCH_EVENTS:
                latest[record.get("agent_id")] = record
        bad = []
        rows = connection.execute(
            f"select agent_id, paused, changed_by, changed_at from {CONTROLS_TABLE} order by agent_id"
        ).fetchall()
        for agent_id, paused, by, changed_at in rows:
            entry = latest.get(agent_id)
            if (
                entry is None
                or SWITCH_EVENTS[entry["event"]] != paused
                or entry.get("reviewer") != by
                or entry.get("recorded_at") != changed_at.isoformat()
            ):
                bad.append(f"{agent_id} ({'paused' if paused else 'running'}, by {by}: no switch entry sets this)")
                continue
            if paused and by == ANOMALY_DETECTOR and not entry.get("signature"):
                continue
            problem = _entry_signature_problem(entry, "pause" if paused else "resume", agent_id, registry)
            if problem:
                bad.append(f"{agent_id} ({problem})")
        if bad:
            findings.append(f"{CONTROLS_TABLE}: {len(bad)} switch state(s) with no signed audit entry: {_listed(bad)}")
    if table_exists(connection, ACTIONS_TABLE):
        approvals = {r.get("action_id"): r for r in records if r.get("event") == AuditEvent.APPROVED}
        needed = connection.execute(
            f"select action_id from {ACTIONS_TABLE} where executed_at is not null and rollback_of is null "
            "and (verdict = 'needs_approval' or reviewed_by is not null) order by action_id"
        ).fetchall()
        bad = []
        for (action_id,) in needed:
            entry = approvals.get(action_id)
            problem = _entry_signature_problem(entry, "approve", action_id, registry) if entry else "no approval entry"
            if problem:
                bad.append(f"{action_id} ({problem})")
        if bad:
            findings.append(
                f"{ACTIONS_TABLE}: {len(bad)} executed action(s) that needed approval with no verifying approval "
                f"signature: {_listed(bad)}"
            )
    return findings


def verify_chain(
    connection: duckdb.DuckDBPyConnection, *, anchors: Path | None = None, registry: AgentRegistry | None = None
) -> ChainReport:
    """Recompute every hash and MAC in chain order, compare the end of the chain with its head and with every
    signed checkpoint (`anchors`, default `$SURGEWISE_AUDIT_ANCHOR_DIR`), and look for governance effects the
    log does not account for, reviewer signatures included (checked with `registry`'s keys; without one, only
    that each signature is there)."""
    records = _records(connection)
    key = chain_key(connection)
    count, last_seq, hashes, problems = _check_links(records, key)
    if key is None and records:
        problems.append((1, f"no MAC can be checked: the chain key {chain_key_path(connection)} is missing"))
    if table_exists(connection, AUDIT_TABLE):
        problems += _head_problems(connection, last_seq, hashes.get(last_seq, GENESIS_HASH))
    directory = anchors or anchor_dir(connection)
    public_key, key_problems = _warehouse_public_key(connection, directory)
    checkpoints, anchor_problems = _anchor_problems(directory, public_key, hashes, last_seq)
    return ChainReport(
        entries=count,
        head_hash=hashes.get(last_seq, GENESIS_HASH),
        problems=sorted(problems + key_problems + anchor_problems, key=lambda p: p[0]),
        unrecorded=_unrecorded(connection, records) + _unsigned(connection, records, registry),
        macs_checked=key is not None,
        signatures_checked=registry is not None,
        checkpoints=len(checkpoints),
        anchored_entries=checkpoints[-1].entries if checkpoints else 0,
    )


def _head_problems(connection: duckdb.DuckDBPyConnection, last_seq: int, last_hash: str) -> list[tuple[int, str]]:
    head = (
        connection.execute(f"select seq, entry_hash from {CHAIN_HEAD_TABLE} where id = 1").fetchone()
        if table_exists(connection, CHAIN_HEAD_TABLE)
        else None
    )
    if head is None:
        return [(last_seq + 1, "the chain head is missing, so entries cut off the end would not show")]
    if head[0] > last_seq:
        return [(last_seq + 1, f"missing: the chain head says the log ends at entry {head[0]} (truncated)")]
    if head[0] < last_seq:
        return [(head[0] + 1, f"not recorded by the chain head, which ends at entry {head[0]} (inserted)")]
    if head[1] != last_hash:
        return [(last_seq, "differs from the hash the chain head holds for it (replaced)")]
    return []


def export_jsonl(connection: duckdb.DuckDBPyConnection, path: Path) -> int:
    """Write every entry in chain order, one canonical JSON object a line with its prev_hash, entry_hash,
    entry_mac and (when it has one) signature, so an auditor can re-verify the chain (`verify_jsonl`). Returns
    the number of entries."""
    records = _records(connection)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(canonical(record) + "\n" for record in records), encoding="utf-8")
    return len(records)


def verify_jsonl(
    path: Path,
    *,
    expected_head_hash: str | None = None,
    key: bytes | None = None,
    anchors: Path | None = None,
    public_key: Path | None = None,
) -> ChainReport:
    """Re-verify an export without the warehouse. The public hash rule alone shows an edit, not a rewrite with
    every later hash recomputed; either of two things proves the content:
    - `anchors`, the checkpoints directory (checked with its `anchor_public_key.pem`, or `public_key` given
      apart): every entry up to the last checkpoint, with no secret handed over;
    - `key`, the chain key: every entry's MAC, to the end (but whoever holds it could re-key a forgery).
    A file cut off after a whole entry is still a valid chain: the checkpoints, or the head hash taken when it
    was exported (`expected_head_hash`), catch that."""
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
    count, last_seq, hashes, problems = _check_links(records, key)
    last_hash = hashes.get(last_seq, GENESIS_HASH)
    if expected_head_hash is not None and last_hash != expected_head_hash:
        problems.append((last_seq, "the export ends here, but not at the expected head (truncated or extended)"))
    verifying_key = load_public_key(public_key or anchors / ANCHOR_PUBLIC_KEY_FILE) if anchors else None
    checkpoints, anchor_problems = _anchor_problems(anchors, verifying_key, hashes, last_seq)
    return ChainReport(
        entries=count,
        head_hash=last_hash,
        problems=sorted(unreadable + problems + anchor_problems, key=lambda p: p[0]),
        macs_checked=key is not None,
        checkpoints=len(checkpoints),
        anchored_entries=checkpoints[-1].entries if checkpoints else 0,
    )
