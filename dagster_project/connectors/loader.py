"""Load landing-zone files into `raw`, one file at a time, exactly once, quarantining bad rows.

Each file is loaded in one transaction together with its entry in `raw._loaded_files`, so a crash
never leaves half a file behind and a retry never loads it twice. A file whose content changed since it
was loaded (a source system re-delivered it, or someone fixed a bad row) replaces its earlier rows.
Rows that fail the contract are kept in `raw.quarantine` with the file, line, field and reason.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from dagster_project.connectors.sources import (
    LOAD_COLUMNS,
    FieldSpec,
    FieldType,
    FileFormat,
    SourceSpec,
)
from dagster_project.core.clock import utc_now
from dagster_project.core.suppression import email_fingerprint, suppressed_fingerprints
from dagster_project.core.transactions import transaction

QUARANTINE_TABLE = "raw.quarantine"
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
LOADED_FILES_TABLE = "raw._loaded_files"

_POLARS_TYPES: dict[FieldType, pl.DataType] = {
    FieldType.TEXT: pl.String(),
    FieldType.INTEGER: pl.Int64(),
    FieldType.DECIMAL: pl.Float64(),
    FieldType.TIMESTAMP: pl.Datetime("us"),
    FieldType.DATE: pl.Date(),
}


class FieldError(ValueError):
    """A value that does not fit its field in the source contract."""


@dataclass(frozen=True)
class QuarantinedRow:
    line: int
    field: str
    reason: str
    raw_payload: str


@dataclass(frozen=True)
class SourceLoadResult:
    source: str
    files_loaded: int
    files_skipped: int
    rows_loaded: int
    rows_quarantined: int
    rows_suppressed: int = 0
    """Rows about forgotten people, dropped at the door so they are never stored again."""


def ensure_raw_schema(connection: duckdb.DuckDBPyConnection, sources: tuple[SourceSpec, ...]) -> None:
    """Create the raw tables, the quarantine and the load ledger if they do not exist yet."""
    connection.execute("create schema if not exists raw")
    for spec in sources:
        columns = [f'"{field.name}" {field.type.value}' for field in spec.fields]
        columns += [f"{name} {sql_type}" for name, sql_type in LOAD_COLUMNS]
        connection.execute(f"create table if not exists {spec.table} ({', '.join(columns)})")
    connection.execute(
        f"""
        create table if not exists {QUARANTINE_TABLE} (
            source varchar not null,
            source_file varchar not null,
            source_line bigint not null,
            field varchar not null,
            reason varchar not null,
            raw_payload varchar not null,
            batch_id varchar not null,
            quarantined_at timestamp not null
        )
        """
    )
    connection.execute(
        f"""
        create table if not exists {LOADED_FILES_TABLE} (
            source varchar not null,
            source_file varchar not null,
            sha256 varchar not null,
            batch_id varchar not null,
            landed_at timestamp not null,
            loaded_at timestamp not null,
            rows_loaded bigint not null,
            rows_quarantined bigint not null,
            primary key (source, source_file)
        )
        """
    )


def coerce_value(field: FieldSpec, value: Any) -> Any:
    """Convert one landing value to its contract type, or raise FieldError saying why not."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        if field.required:
            raise FieldError("missing required field")
        return None
    if isinstance(value, (dict, list)):
        raise FieldError(f"expected a {field.type.name.lower()} value, got a nested {type(value).__name__}")
    text = str(value).strip()
    if field.allowed and text not in field.allowed:
        raise FieldError(f"{text!r} is not one of {', '.join(field.allowed)}")
    try:
        match field.type:
            case FieldType.TEXT:
                return text
            case FieldType.INTEGER:
                if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                    raise ValueError
                number = int(float(text)) if isinstance(value, float) else int(text)
                if not _INT64_MIN <= number <= _INT64_MAX:
                    raise FieldError(f"{text!r} is out of the 64-bit integer range")
                return number
            case FieldType.DECIMAL:
                number = float(text)
                if isinstance(value, bool) or not math.isfinite(number):
                    raise ValueError
                return number
            case FieldType.TIMESTAMP:
                parsed = datetime.fromisoformat(text)
                if parsed.tzinfo is not None:
                    parsed = parsed.astimezone(UTC).replace(tzinfo=None)
                return parsed
            case FieldType.DATE:
                return date.fromisoformat(text)
    except (ValueError, OverflowError):
        raise FieldError(f"{text!r} is not a valid {field.type.name.lower()}") from None
    raise FieldError(f"unsupported field type {field.type}")


def _jsonl_records(data: bytes) -> Iterator[tuple[int, str, dict[str, Any] | str]]:
    # Split on newlines only: U+2028 and friends are legal inside JSON strings.
    for line_number, raw_line in enumerate(data.split(b"\n"), start=1):
        try:
            line = raw_line.decode("utf-8-sig" if line_number == 1 else "utf-8").rstrip("\r")
        except UnicodeDecodeError as error:
            yield line_number, raw_line.decode("utf-8", errors="replace"), f"not valid UTF-8: {error.reason}"
            continue
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            yield line_number, line, f"invalid JSON: {error.msg} at column {error.colno}"
            continue
        if not isinstance(record, dict):
            yield line_number, line, "invalid JSON: a row must be an object"
            continue
        yield line_number, line, record


def _csv_records(data: bytes) -> Iterator[tuple[int, str, dict[str, Any] | str]]:
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        yield 1, data[:1000].decode("utf-8", errors="replace"), f"file is not valid UTF-8: {error.reason}"
        return
    lines = content.split("\n")
    reader = csv.reader(io.StringIO(content, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            return
        if len(set(header)) != len(header):
            yield 1, lines[0], f"duplicate column names in the header: {', '.join(header)}"
            return
        for row in reader:
            line_number = reader.line_num
            raw_text = lines[line_number - 1].rstrip("\r") if line_number <= len(lines) else ",".join(row)
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                yield line_number, raw_text, f"expected {len(header)} columns, found {len(row)}"
                continue
            yield line_number, raw_text, dict(zip(header, row, strict=True))
    except csv.Error as error:
        line_number = reader.line_num
        yield line_number, "\n".join(lines[line_number - 1 :])[:1000], f"unreadable CSV from this line on: {error}"


def _records(spec: SourceSpec, data: bytes) -> Iterator[tuple[int, str, dict[str, Any] | str]]:
    """Yield (line number, raw text, parsed record or a parse error message) for a landing file."""
    return _jsonl_records(data) if spec.format is FileFormat.JSONL else _csv_records(data)


def validate_file(
    spec: SourceSpec, data: bytes, suppressed_emails: frozenset[str] = frozenset()
) -> tuple[dict[str, list[Any]], list[QuarantinedRow], int]:
    """Split a landing file into contract-typed columns and quarantined rows, dropping rows about people
    who were forgotten (their email's fingerprint is on the suppression list); returns how many."""
    known = {field.name for field in spec.fields}
    columns: dict[str, list[Any]] = {field.name: [] for field in spec.fields}
    columns["_extra"] = []
    columns["_source_line"] = []
    quarantined: list[QuarantinedRow] = []
    suppressed = 0
    for line_number, raw_text, record in _records(spec, data):
        if isinstance(record, str):
            quarantined.append(QuarantinedRow(line_number, "<row>", record, raw_text))
            continue
        values: dict[str, Any] = {}
        errors: list[tuple[str, str]] = []
        for field in spec.fields:
            try:
                values[field.name] = coerce_value(field, record.get(field.name))
            except FieldError as error:
                errors.append((field.name, str(error)))
        if errors:
            quarantined.append(
                QuarantinedRow(
                    line=line_number,
                    field=",".join(name for name, _ in errors),
                    reason="; ".join(f"{name}: {reason}" for name, reason in errors),
                    raw_payload=raw_text,
                )
            )
            continue
        if suppressed_emails and values.get("email") and email_fingerprint(values["email"]) in suppressed_emails:
            suppressed += 1
            continue
        for name, value in values.items():
            columns[name].append(value)
        extra = {key: value for key, value in record.items() if key not in known}
        columns["_extra"].append(json.dumps(extra, sort_keys=True) if extra else None)
        columns["_source_line"].append(line_number)
    return columns, quarantined, suppressed


def _landing_files(spec: SourceSpec, landing_dir: Path) -> list[Path]:
    folder = landing_dir / spec.name
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.glob(f"*.{spec.format.value}") if path.is_file())


def _insert_rows(
    connection: duckdb.DuckDBPyConnection,
    spec: SourceSpec,
    columns: dict[str, list[Any]],
    *,
    source_file: str,
    batch_id: str,
    loaded_at: datetime,
) -> int:
    row_count = len(columns["_source_line"])
    if row_count == 0:
        return 0
    schema = {field.name: _POLARS_TYPES[field.type] for field in spec.fields}
    schema |= {"_extra": pl.String(), "_source_line": pl.Int64()}
    connection.register("incoming_rows", pl.DataFrame(columns, schema=schema))
    field_list = ", ".join(f'"{field.name}"' for field in spec.fields)
    try:
        connection.execute(
            f"""
            insert into {spec.table}
            select {field_list}, _extra::json, ?, ?, _source_line, ?
            from incoming_rows
            """,
            [batch_id, source_file, loaded_at],
        )
    finally:
        connection.unregister("incoming_rows")
    return row_count


def _insert_quarantine(
    connection: duckdb.DuckDBPyConnection,
    spec: SourceSpec,
    rows: list[QuarantinedRow],
    *,
    source_file: str,
    batch_id: str,
    loaded_at: datetime,
) -> None:
    if rows:
        connection.executemany(
            f"insert into {QUARANTINE_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    spec.name,
                    source_file,
                    row.line,
                    row.field,
                    row.reason,
                    row.raw_payload,
                    batch_id,
                    loaded_at,
                )
                for row in rows
            ],
        )


def load_source(
    connection: duckdb.DuckDBPyConnection, spec: SourceSpec, landing_dir: Path, *, batch_id: str
) -> SourceLoadResult:
    """Load every new or changed landing file of one source into `raw.<source>`."""
    ensure_raw_schema(connection, (spec,))
    loaded_hashes = dict(
        connection.execute(
            f"select source_file, sha256 from {LOADED_FILES_TABLE} where source = ?", [spec.name]
        ).fetchall()
    )
    suppressed_emails = suppressed_fingerprints(connection) if "email" in {f.name for f in spec.fields} else frozenset()
    files_loaded = files_skipped = rows_loaded = rows_quarantined = rows_suppressed = 0
    for path in _landing_files(spec, landing_dir):
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        source_file = path.relative_to(landing_dir).as_posix()
        if loaded_hashes.get(source_file) == digest:
            files_skipped += 1
            continue
        columns, quarantined, suppressed = validate_file(spec, data, suppressed_emails)
        loaded_at = utc_now()
        landed_at = datetime.fromtimestamp(path.stat().st_mtime, UTC).replace(tzinfo=None)
        with transaction(connection):
            if source_file in loaded_hashes:
                connection.execute(f"delete from {spec.table} where _source_file = ?", [source_file])
                connection.execute(
                    f"delete from {QUARANTINE_TABLE} where source = ? and source_file = ?",
                    [spec.name, source_file],
                )
                connection.execute(
                    f"delete from {LOADED_FILES_TABLE} where source = ? and source_file = ?",
                    [spec.name, source_file],
                )
            inserted = _insert_rows(
                connection, spec, columns, source_file=source_file, batch_id=batch_id, loaded_at=loaded_at
            )
            _insert_quarantine(
                connection, spec, quarantined, source_file=source_file, batch_id=batch_id, loaded_at=loaded_at
            )
            connection.execute(
                f"insert into {LOADED_FILES_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?)",
                [spec.name, source_file, digest, batch_id, landed_at, loaded_at, inserted, len(quarantined)],
            )
        files_loaded += 1
        rows_loaded += inserted
        rows_quarantined += len(quarantined)
        rows_suppressed += suppressed
    return SourceLoadResult(spec.name, files_loaded, files_skipped, rows_loaded, rows_quarantined, rows_suppressed)
