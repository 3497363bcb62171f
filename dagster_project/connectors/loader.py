"""Load landing-zone files into `raw`, one file at a time, exactly once, quarantining bad rows.

Each file is loaded in one transaction together with its entry in `raw._loaded_files`, so a crash
never leaves half a file behind and a retry never loads it twice. A file whose content changed since it
was loaded (a source system re-delivered it, or someone fixed a bad row) replaces its earlier rows.
Rows that fail the contract are kept in `raw.quarantine` with the file, line, field and reason.

Landing files come from outside, so nothing in one can fail the load: the limits in `config/landing.yaml`
are measured before parsing (file size before reading, line length and nesting depth before `json`), any
error on a line quarantines that line, and a file that cannot be read or stored is quarantined whole (line
0, field `<file>`). Links, non-regular files and anything outside the landing zone are refused by name,
never read.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from dagster_project.connectors.limits import DEFAULT_LIMITS, LANDING_CONFIG_FILE, LandingLimits
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
ROW_FIELD = "<row>"
FILE_FIELD = "<file>"
FILE_LINE = 0
"""A whole file quarantined (refused, over size, unreadable) has one entry on line 0, field `<file>`."""
UNREAD_DIGEST_PREFIX = "unread:"
PAYLOAD_PREVIEW_CHARS = 1000
_JSON_TOKENS = re.compile(r'\\.|["\[\]{}]')
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# Failures storing a file's rows that are the data's fault, not the warehouse's: they quarantine the file.
_UNSTORABLE = (duckdb.DataError, duckdb.InvalidInputException, pl.exceptions.PolarsError, UnicodeError)

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


def _preview(text: str) -> str:
    """What quarantine keeps of an over-long line: enough to find it, never the whole of it."""
    return text if len(text) <= PAYLOAD_PREVIEW_CHARS else text[:PAYLOAD_PREVIEW_CHARS] + "…"


def _too_long(length: int, limits: LandingLimits) -> str:
    return (
        f"line is {length:,} bytes, longer than the limit of {limits.max_line_bytes:,} "
        f"(max_line_bytes in config/{LANDING_CONFIG_FILE}); not parsed"
    )


def _nested_too_deep(line: str, limit: int) -> bool:
    """Whether JSON objects and arrays nest deeper than `limit`, found by one scan without recursion (brackets
    inside strings do not count), so the parser never sees a line that would exhaust its recursion."""
    if line.count("{") + line.count("[") <= limit:
        return False
    depth, in_string = 0, False
    for match in _JSON_TOKENS.finditer(line):
        token = match.group()
        if in_string:
            in_string = token != '"'
        elif token == '"':
            in_string = True
        elif token in "[{":
            depth += 1
            if depth > limit:
                return True
        elif token in "]}":
            depth -= 1
    return False


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is out of range for a JSON number")
    return number


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


_JSON_DECODER = json.JSONDecoder(parse_float=_finite_float, parse_constant=_reject_constant)


def _parse_json_line(line: str, limits: LandingLimits) -> dict[str, Any] | str:
    """One JSONL row as an object, or why not. NaN and infinities are refused (neither JSON nor storable);
    a number too long for Python's int-string limit raises ValueError, which quarantines the line like any
    other error."""
    if _nested_too_deep(line, limits.max_nesting_depth):
        return (
            f"nested deeper than {limits.max_nesting_depth} levels "
            f"(max_nesting_depth in config/{LANDING_CONFIG_FILE}); not parsed"
        )
    try:
        record = _JSON_DECODER.decode(line)
    except json.JSONDecodeError as error:
        return f"invalid JSON: {error.msg} at column {error.colno}"
    except (ValueError, RecursionError) as error:
        return f"unreadable JSON: {error}"
    if not isinstance(record, dict):
        return "invalid JSON: a row must be an object"
    if _SURROGATE_ESCAPE.search(line):
        try:
            json.dumps(record, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            return "invalid JSON: a \\u escape is half of a surrogate pair (not a character)"
    return record


def _jsonl_records(data: bytes, limits: LandingLimits) -> Iterator[tuple[int, str, dict[str, Any] | str]]:
    # Split on newlines only: U+2028 and friends are legal inside JSON strings.
    for line_number, raw_line in enumerate(data.split(b"\n"), start=1):
        if len(raw_line) > limits.max_line_bytes:
            yield line_number, _preview(raw_line.decode("utf-8", errors="replace")), _too_long(len(raw_line), limits)
            continue
        try:
            line = raw_line.decode("utf-8-sig" if line_number == 1 else "utf-8").rstrip("\r")
        except UnicodeDecodeError as error:
            yield line_number, raw_line.decode("utf-8", errors="replace"), f"not valid UTF-8: {error.reason}"
            continue
        if line.strip():
            yield line_number, line, _parse_json_line(line, limits)


class _OneLine:
    """A single physical line for `csv.reader`, noting whether the reader asked for more: it does only when
    a quoted field is still open at the end of the line, which would otherwise swallow the lines after it."""

    def __init__(self, line: str) -> None:
        self._line: str | None = line
        self.overran = False

    def __iter__(self) -> _OneLine:
        return self

    def __next__(self) -> str:
        if self._line is None:
            self.overran = True
            raise StopIteration
        line, self._line = self._line, None
        return line


def _parse_csv_line(line: str) -> list[str] | str:
    """One physical CSV line as its cells, or why not. Our connectors never write a newline inside a field,
    so a record is exactly one line: a quote left open at the end of it costs that line, not the file."""
    source = _OneLine(line)
    try:
        cells = next(csv.reader(source), [])
    except csv.Error as error:
        return f"unreadable CSV: {error}"
    if source.overran:
        return "unreadable CSV: a quoted field is not closed on its line (a field may not span lines)"
    return cells


def _csv_records(data: bytes, limits: LandingLimits) -> Iterator[tuple[int, str, dict[str, Any] | str]]:
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        yield (
            1,
            _preview(data[:PAYLOAD_PREVIEW_CHARS].decode("utf-8", errors="replace")),
            (f"file is not valid UTF-8: {error.reason}"),
        )
        return
    # Each physical line is parsed on its own (an over-long one not at all), so whatever is wrong with a
    # line is reported with its own number and text and never reaches into the lines after it.
    header: list[str] | None = None
    for line_number, line in enumerate(content.split("\n"), start=1):
        raw_text = _preview(line.rstrip("\r"))
        if len(line) * 4 > limits.max_line_bytes and (length := len(line.encode())) > limits.max_line_bytes:
            cells: list[str] | str = _too_long(length, limits)
        else:
            cells = _parse_csv_line(line)
        if header is None:
            if isinstance(cells, str):
                yield line_number, raw_text, f"header {cells}"
                return
            header = cells
            if len(set(header)) != len(header):
                yield line_number, raw_text, f"duplicate column names in the header: {', '.join(header)}"
                return
            continue
        if isinstance(cells, str):
            yield line_number, raw_text, cells
            continue
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            yield line_number, raw_text, f"expected {len(header)} columns, found {len(cells)}"
            continue
        yield line_number, raw_text, dict(zip(header, cells, strict=True))


def _records(spec: SourceSpec, data: bytes, limits: LandingLimits) -> Iterator[tuple[int, str, dict[str, Any] | str]]:
    """Yield (line number, raw text, parsed record or a parse error message) for a landing file."""
    return _jsonl_records(data, limits) if spec.format is FileFormat.JSONL else _csv_records(data, limits)


def _empty_columns(spec: SourceSpec) -> dict[str, list[Any]]:
    return {field.name: [] for field in spec.fields} | {"_extra": [], "_source_line": []}


def _validate_record(
    spec: SourceSpec, line_number: int, raw_text: str, record: dict[str, Any]
) -> dict[str, Any] | QuarantinedRow:
    """The record's contract-typed values, or the quarantine row saying which fields failed and why."""
    values: dict[str, Any] = {}
    errors: list[tuple[str, str]] = []
    for field in spec.fields:
        try:
            values[field.name] = coerce_value(field, record.get(field.name))
        except FieldError as error:
            errors.append((field.name, str(error)))
    if errors:
        return QuarantinedRow(
            line=line_number,
            field=",".join(name for name, _ in errors),
            reason="; ".join(f"{name}: {reason}" for name, reason in errors),
            raw_payload=raw_text,
        )
    return values


def validate_file(
    spec: SourceSpec,
    data: bytes,
    suppressed_emails: frozenset[str] = frozenset(),
    limits: LandingLimits = DEFAULT_LIMITS,
) -> tuple[dict[str, list[Any]], list[QuarantinedRow], int]:
    """Split a landing file into contract-typed columns and quarantined rows, dropping rows about people
    who were forgotten (their email's fingerprint is on the suppression list); returns how many. Whatever
    goes wrong on a line quarantines that line only."""
    known = {field.name for field in spec.fields}
    columns = _empty_columns(spec)
    quarantined: list[QuarantinedRow] = []
    suppressed = 0
    for line_number, raw_text, record in _records(spec, data, limits):
        if isinstance(record, str):
            quarantined.append(QuarantinedRow(line_number, ROW_FIELD, record, raw_text))
            continue
        try:
            values = _validate_record(spec, line_number, raw_text, record)
            if isinstance(values, QuarantinedRow):
                quarantined.append(values)
                continue
            if suppressed_emails and values.get("email") and email_fingerprint(values["email"]) in suppressed_emails:
                suppressed += 1
                continue
            extra = {key: value for key, value in record.items() if key not in known}
            extra_json = json.dumps(extra, sort_keys=True) if extra else None
        except Exception as error:  # a hostile line must cost that line only
            reason = f"could not be validated: {type(error).__name__}: {error}"
            quarantined.append(QuarantinedRow(line_number, ROW_FIELD, reason, raw_text))
            continue
        for name, value in values.items():
            columns[name].append(value)
        columns["_extra"].append(extra_json)
        columns["_source_line"].append(line_number)
    return columns, quarantined, suppressed


@dataclass(frozen=True)
class LandingEntry:
    """A name in a source's landing folder: a file to read, or something refused unread (and why)."""

    path: Path
    source_file: str
    refusal: str | None = None


def _link_refusal(path: Path, what: str) -> str:
    return (
        f"refused: {what} is a symbolic link (to {os.readlink(path)}); "
        "the loader reads only regular files inside the landing zone and never follows links"
    )


def landing_entries(spec: SourceSpec, landing_dir: Path) -> list[LandingEntry]:
    """The source's landing files in name order; symbolic links, other non-regular files and anything that
    resolves outside the landing zone come back refused, so their contents are never read."""
    folder = landing_dir / spec.name
    if folder.is_symlink():
        return [LandingEntry(folder, spec.name, _link_refusal(folder, "the source folder"))]
    if not folder.is_dir():
        return []
    root = landing_dir.resolve()
    entries = []
    for path in sorted(folder.glob(f"*.{spec.format.value}")):
        source_file = path.relative_to(landing_dir).as_posix()
        if path.is_symlink():
            entries.append(LandingEntry(path, source_file, _link_refusal(path, "the file")))
        elif not stat.S_ISREG(path.lstat().st_mode):
            entries.append(LandingEntry(path, source_file, "refused: not a regular file"))
        elif not path.resolve().is_relative_to(root):
            entries.append(LandingEntry(path, source_file, f"refused: resolves outside the landing zone {root}"))
        else:
            entries.append(LandingEntry(path, source_file))
    return entries


def read_landing_file(path: Path, limits: LandingLimits) -> bytes | str:
    """The file's bytes, or why it was not read. Opened without following a link (a link swapped in after
    `landing_entries` looked is refused too) and never read past the size limit, so an over-size file is
    refused without being loaded into memory."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        return f"refused: cannot be opened as a regular file without following links ({error.strerror})"
    with os.fdopen(descriptor, "rb") as handle:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            return "refused: not a regular file"
        if info.st_size > limits.max_file_bytes:
            return _oversize(info.st_size, limits)
        data = handle.read(limits.max_file_bytes + 1)
    return _oversize(len(data), limits) if len(data) > limits.max_file_bytes else data


def _oversize(size: int, limits: LandingLimits) -> str:
    return (
        f"refused: file is {size:,} bytes or more, larger than the limit of {limits.max_file_bytes:,} "
        f"(max_file_bytes in config/{LANDING_CONFIG_FILE}); not read"
    )


def unread_digest(path: Path) -> str:
    """What stands in for the sha256 of a file that was refused unread: its own (not a link target's) type,
    size and modification time, so it is refused once, and looked at again when it changes."""
    info = path.lstat()
    return f"{UNREAD_DIGEST_PREFIX}{info.st_mode:o}:{info.st_size}:{info.st_mtime_ns}"


def file_sha256(path: Path) -> str:
    """The sha256 of a landing file, read in chunks (a file may be far larger than memory)."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


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


def _store_file(
    connection: duckdb.DuckDBPyConnection,
    spec: SourceSpec,
    columns: dict[str, list[Any]],
    quarantined: list[QuarantinedRow],
    *,
    source_file: str,
    digest: str,
    replace: bool,
    batch_id: str,
    landed_at: datetime,
) -> int:
    """One file's rows, quarantine and ledger entry in one transaction (replacing an earlier load of it)."""
    loaded_at = utc_now()
    with transaction(connection):
        if replace:
            connection.execute(f"delete from {spec.table} where _source_file = ?", [source_file])
            connection.execute(
                f"delete from {QUARANTINE_TABLE} where source = ? and source_file = ?", [spec.name, source_file]
            )
            connection.execute(
                f"delete from {LOADED_FILES_TABLE} where source = ? and source_file = ?", [spec.name, source_file]
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
    return inserted


def load_source(
    connection: duckdb.DuckDBPyConnection,
    spec: SourceSpec,
    landing_dir: Path,
    *,
    batch_id: str,
    limits: LandingLimits = DEFAULT_LIMITS,
) -> SourceLoadResult:
    """Load every new or changed landing file of one source into `raw.<source>`. A file that cannot be read
    or stored is quarantined whole with its reason; the other files load regardless."""
    ensure_raw_schema(connection, (spec,))
    loaded_hashes = dict(
        connection.execute(
            f"select source_file, sha256 from {LOADED_FILES_TABLE} where source = ?", [spec.name]
        ).fetchall()
    )
    suppressed_emails = suppressed_fingerprints(connection) if "email" in {f.name for f in spec.fields} else frozenset()
    files_loaded = files_skipped = rows_loaded = rows_quarantined = rows_suppressed = 0
    for entry in landing_entries(spec, landing_dir):
        content = entry.refusal or read_landing_file(entry.path, limits)
        digest = unread_digest(entry.path) if isinstance(content, str) else hashlib.sha256(content).hexdigest()
        if loaded_hashes.get(entry.source_file) == digest:
            files_skipped += 1
            continue
        columns, quarantined, suppressed = _empty_columns(spec), [], 0
        if isinstance(content, str):
            quarantined = [QuarantinedRow(FILE_LINE, FILE_FIELD, content, "")]
        else:
            try:
                columns, quarantined, suppressed = validate_file(spec, content, suppressed_emails, limits)
            except Exception as error:  # one unreadable file must not fail the others
                reason = f"could not be read: {type(error).__name__}: {error}"
                quarantined = [QuarantinedRow(FILE_LINE, FILE_FIELD, reason, "")]
        store = {
            "source_file": entry.source_file,
            "digest": digest,
            "replace": entry.source_file in loaded_hashes,
            "batch_id": batch_id,
            "landed_at": datetime.fromtimestamp(entry.path.lstat().st_mtime, UTC).replace(tzinfo=None),
        }
        try:
            inserted = _store_file(connection, spec, columns, quarantined, **store)
        except _UNSTORABLE as error:
            reason = f"could not be stored: {type(error).__name__}: {error}"
            quarantined, suppressed = [QuarantinedRow(FILE_LINE, FILE_FIELD, reason, "")], 0
            inserted = _store_file(connection, spec, _empty_columns(spec), quarantined, **store)
        files_loaded += 1
        rows_loaded += inserted
        rows_quarantined += len(quarantined)
        rows_suppressed += suppressed
    return SourceLoadResult(spec.name, files_loaded, files_skipped, rows_loaded, rows_quarantined, rows_suppressed)
