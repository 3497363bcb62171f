"""Reading the audit log back: a person's entries, verification of the hash chain, and the auditor's export.

`verify_chain` recomputes the chain in the warehouse; `export_jsonl` hands it to an auditor, who re-verifies
the file without the warehouse (`verify_jsonl`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from agents.governance.audit_chain import canonical, entry_hash
from agents.governance.audit_schema import AUDIT_TABLE, CHAIN_HEAD_TABLE, GENESIS_HASH, JSON_COLUMNS, STORED_COLUMNS
from agents.governance.audit_subjects import subject_ref
from dagster_project.core.warehouse import table_exists


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
    """The entries as hashed: JSON-ready, in chain order."""
    records = _select(connection, STORED_COLUMNS)
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
        if entry_hash(record) != record.get("entry_hash"):
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
    path.write_text("".join(canonical(record) + "\n" for record in records), encoding="utf-8")
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
