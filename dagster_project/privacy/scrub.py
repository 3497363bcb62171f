"""Scrubbing a person from the landing zone, so a reload or a replay cannot bring them back.

Their rows become blank lines, which the loader skips, so the other rows keep their line numbers (and
lineage); other rows that mention them are pseudonymised as in the warehouse.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import uuid
from pathlib import Path
from typing import Any

import duckdb

from dagster_project.connectors.loader import LOADED_FILES_TABLE, landing_entries
from dagster_project.connectors.sources import SOURCES, FileFormat, SourceSpec
from dagster_project.core.warehouse import table_exists
from dagster_project.privacy.erase import ERASED_MARKER, RAW_IDENTITY_COLUMNS
from dagster_project.privacy.resolve import PersonIdentities
from dagster_project.privacy.scan import mention_pattern


def _pseudonymise_text(pattern: re.Pattern[str], text: str) -> str:
    # Two mentions separated by a single character share it as a boundary: repeat until none is left.
    for _ in range(5):
        text, count = pattern.subn(rf"\g<1>{ERASED_MARKER}\g<3>", text)
        if not count:
            break
    return text


def _landing_line(
    spec: SourceSpec, header: list[str], line: str, pattern: re.Pattern[str], owned: dict[str, set[str]]
) -> str:
    """A landing line that mentions the person: blank if it is their row (or unreadable), else the line with
    the mentions pseudonymised (someone else's row that names them keeps its place and its other values)."""
    ending = "\r" if line.endswith("\r") else ""
    body = line.removesuffix("\r")
    record: Any = None
    try:
        if spec.format is FileFormat.JSONL:
            record = json.loads(body)
        else:
            record = dict(zip(header, next(csv.reader([body])), strict=False))
    except (ValueError, StopIteration, csv.Error):
        record = None
    if not isinstance(record, dict):
        return ending
    for column, identity_type in RAW_IDENTITY_COLUMNS.items():
        value = record.get(column)
        if isinstance(value, str) and value.strip().lower() in owned[identity_type]:
            return ending
    return _pseudonymise_text(pattern, body) + ending


def scrub_landing(landing_dir: Path, person: PersonIdentities, values: list[str]) -> dict[str, tuple[int, str]]:
    """Erase the person from the landing zone; returns file → (lines changed, new sha256)."""
    if not values or not landing_dir.is_dir():
        return {}
    pattern = re.compile(mention_pattern(values), re.IGNORECASE)
    owned = {
        identity_type: {value.lower() for value in person.values(identity_type)}
        for identity_type in RAW_IDENTITY_COLUMNS.values()
    }
    scrubbed = {}
    for spec in SOURCES:
        for entry in landing_entries(spec, landing_dir):
            if entry.refusal is not None:
                continue  # a link or a file outside the zone: never read, so never copied back in
            path = entry.path
            lines = path.read_bytes().decode("utf-8", errors="replace").split("\n")
            # A CSV header names columns, not people.
            first = 1 if spec.format is FileFormat.CSV else 0
            header = next(csv.reader([lines[0].removesuffix("\r")]), []) if first else []
            hits = [index for index in range(first, len(lines)) if pattern.search(lines[index])]
            if not hits:
                continue
            for index in hits:
                lines[index] = _landing_line(spec, header, lines[index], pattern, owned)
            data = "\n".join(lines).encode()
            temporary = path.with_name(f".{path.name}.forget-{uuid.uuid4().hex[:8]}")
            temporary.write_bytes(data)
            os.replace(temporary, path)
            scrubbed[path.relative_to(landing_dir).as_posix()] = (len(hits), hashlib.sha256(data).hexdigest())
    return scrubbed


def record_scrubbed_digests(connection: duckdb.DuckDBPyConnection, scrubbed: dict[str, tuple[int, str]]) -> None:
    """Give the loader the scrubbed files' new digests: their rows are erased in place, so the rebuild need not
    reload them (and if forget fails before this commits, the old digests make it reload them without the person)."""
    if not table_exists(connection, LOADED_FILES_TABLE):
        return
    for source_file, (_, digest) in scrubbed.items():
        connection.execute(f"update {LOADED_FILES_TABLE} set sha256 = ? where source_file = ?", [digest, source_file])
