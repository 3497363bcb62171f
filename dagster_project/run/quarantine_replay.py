"""Quarantined rows: list them, and replay them once their landing file has been fixed.

The loader keeps every row that fails the source contract in `raw.quarantine` with its file, line, field
and reason, and it reloads a landing file whose content changed since it was loaded (replacing that
file's earlier rows and quarantine entries). Replaying is therefore a normal build: fix the file, run
`surgewise_build_job`, and compare the quarantine before and after. A row whose file is unchanged stays
in quarantine and is reported as such, so nothing is lost.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import dagster as dg
import duckdb

from dagster_project.connectors.loader import (
    FILE_LINE,
    LOADED_FILES_TABLE,
    QUARANTINE_TABLE,
    UNREAD_DIGEST_PREFIX,
    file_sha256,
    unread_digest,
)
from dagster_project.connectors.sources import SOURCES_BY_NAME
from dagster_project.core.warehouse import open_warehouse, table_exists
from dagster_project.lib.jobs_in_process import JobRun, run_job_in_process
from dagster_project.lib.names import BUILD_JOB


class UnknownSourceError(ValueError):
    """A --source that is not one of the connectors."""


@dataclass(frozen=True)
class QuarantineEntry:
    source: str
    source_file: str
    source_line: int
    field: str
    reason: str
    raw_payload: str
    batch_id: str
    quarantined_at: datetime

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.source, self.source_file, self.source_line)


class FileStatus:
    CHANGED = "changed since load"
    UNCHANGED = "unchanged since load"
    MISSING = "no longer in the landing zone"


@dataclass
class SourceReplay:
    source: str
    recovered: list[QuarantineEntry] = field(default_factory=list)
    """Were quarantined, are now loaded in `raw.<source>` from the same file and line (for an entry about the
    whole file, on line 0: the file now loads rows)."""
    still_quarantined: list[QuarantineEntry] = field(default_factory=list)
    """Still in quarantine after the build (the current entry: its reason may have changed)."""
    removed: list[QuarantineEntry] = field(default_factory=list)
    """Were quarantined, and the fixed file no longer has a row on that line (the line was deleted)."""
    newly_quarantined: list[QuarantineEntry] = field(default_factory=list)
    """Quarantined by this replay's build for the first time (a fix that broke another row, or a new file)."""


@dataclass
class ReplayReport:
    build: JobRun
    file_status: dict[tuple[str, str], str]
    """(source, source_file) → FileStatus, as found before the build."""
    sources: list[SourceReplay]

    @property
    def recovered(self) -> int:
        return sum(len(source.recovered) for source in self.sources)

    @property
    def still_quarantined(self) -> int:
        return sum(len(source.still_quarantined) for source in self.sources)


def check_source(source: str | None) -> None:
    if source is not None and source not in SOURCES_BY_NAME:
        raise UnknownSourceError(f"unknown source {source!r}; sources are: {', '.join(sorted(SOURCES_BY_NAME))}")


def _filters(source: str | None, source_file: str | None) -> tuple[str, list[str]]:
    clauses, params = ["true"], []
    if source is not None:
        clauses.append("source = ?")
        params.append(source)
    if source_file is not None:
        # A file may be given as `<source>/<file>` (as stored), or by its file name alone.
        clauses.append("(source_file = ? or source_file like '%/' || ?)")
        params += [source_file, source_file]
    return " and ".join(clauses), params


def list_quarantine(
    connection: duckdb.DuckDBPyConnection,
    *,
    source: str | None = None,
    source_file: str | None = None,
    limit: int | None = None,
) -> list[QuarantineEntry]:
    """Quarantined rows in file and line order, optionally of one source or file."""
    check_source(source)
    if not table_exists(connection, QUARANTINE_TABLE):
        return []
    where, params = _filters(source, source_file)
    rows = connection.execute(
        f"""
        select source, source_file, source_line, field, reason, raw_payload, batch_id, quarantined_at
        from {QUARANTINE_TABLE} where {where}
        order by source, source_file, source_line
        {"limit " + str(int(limit)) if limit is not None else ""}
        """,
        params,
    ).fetchall()
    return [QuarantineEntry(*row) for row in rows]


def quarantine_counts(
    connection: duckdb.DuckDBPyConnection, *, source: str | None = None, source_file: str | None = None
) -> dict[str, tuple[int, int]]:
    """source → (quarantined rows, files with quarantined rows)."""
    check_source(source)
    if not table_exists(connection, QUARANTINE_TABLE):
        return {}
    where, params = _filters(source, source_file)
    rows = connection.execute(
        f"""
        select source, count(*), count(distinct source_file) from {QUARANTINE_TABLE}
        where {where} group by source order by source
        """,
        params,
    ).fetchall()
    return {source_name: (count, files) for source_name, count, files in rows}


def _file_status(
    connection: duckdb.DuckDBPyConnection, landing_dir: Path, files: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """Whether each landing file changed since it was loaded, i.e. whether a build will reload it."""
    status = {}
    for source, source_file in files:
        row = connection.execute(
            f"select sha256 from {LOADED_FILES_TABLE} where source = ? and source_file = ?", [source, source_file]
        ).fetchone()
        path = landing_dir / source_file
        if not os.path.lexists(path):
            status[(source, source_file)] = FileStatus.MISSING
        elif row is None or _changed_since_load(path, row[0]):
            status[(source, source_file)] = FileStatus.CHANGED
        else:
            status[(source, source_file)] = FileStatus.UNCHANGED
    return status


def _changed_since_load(path: Path, digest: str) -> bool:
    """Compared the way the loader compares: a file it refused unread by its own type, size and time (never
    following a link or reading an over-size file), any other by its content."""
    if digest.startswith(UNREAD_DIGEST_PREFIX):
        return unread_digest(path) != digest
    return not stat.S_ISREG(path.lstat().st_mode) or file_sha256(path) != digest


def _loaded_lines(connection: duckdb.DuckDBPyConnection, source: str, files: set[str]) -> set[tuple[str, int]]:
    table = SOURCES_BY_NAME[source].table
    if not table_exists(connection, table) or not files:
        return set()
    rows = connection.execute(
        f"select distinct _source_file, _source_line from {table} where list_contains(?, _source_file)",
        [sorted(files)],
    ).fetchall()
    return {(source_file, line) for source_file, line in rows}


def replay_quarantine(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    *,
    duckdb_path: Path,
    landing_dir: Path,
    source: str | None = None,
) -> ReplayReport:
    """Rebuild from the landing zone and report, per source, what left quarantine and what is still there."""
    check_source(source)
    with open_warehouse(duckdb_path) as connection:
        before = list_quarantine(connection, source=source)
        files = {(row.source, row.source_file) for row in before}
        status = _file_status(connection, landing_dir, sorted(files)) if files else {}

    build = run_job_in_process(defs, instance, BUILD_JOB)

    with open_warehouse(duckdb_path, read_only=True) as connection:
        after = {row.key: row for row in list_quarantine(connection, source=source)}
        before_keys = {row.key for row in before}
        new_rows = [row for key, row in after.items() if row.batch_id == build.run_id and key not in before_keys]
        reports = {}
        for source_name in sorted({row.source for row in before} | {row.source for row in new_rows}):
            report = reports[source_name] = SourceReplay(source_name)
            rows = [row for row in before if row.source == source_name]
            loaded = _loaded_lines(connection, source_name, {row.source_file for row in rows})
            loaded_files = {source_file for source_file, _ in loaded}
            for row in rows:
                if row.key in after:
                    report.still_quarantined.append(after[row.key])
                elif (row.source_file, row.source_line) in loaded or (
                    row.source_line == FILE_LINE and row.source_file in loaded_files
                ):
                    report.recovered.append(row)
                else:
                    report.removed.append(row)
            report.newly_quarantined = [row for row in new_rows if row.source == source_name]
    return ReplayReport(build=build, file_status=status, sources=list(reports.values()))
