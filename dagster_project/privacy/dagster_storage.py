"""Scrubbing a person from Dagster's own storage: the event logs, run and schedule databases (SQLite) and
the captured compute logs under `$DAGSTER_HOME`.

Dagster keeps every event a run logged, asset-check metadata and log messages included, and a check or a
log line may have named the person. Mentions are pseudonymised in place, as in the warehouse (the events
stay readable, JSON stays JSON), and each SQLite file is then vacuumed so no free page keeps the old text.
"""

from __future__ import annotations

import os
import re
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path

from dagster_project.privacy.erase import ERASED_MARKER
from dagster_project.privacy.scan import mention_pattern

SQLITE_HEADER = b"SQLite format 3\x00"
_SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def _pseudonymiser(values: list[str]) -> tuple[re.Pattern[str], Callable[[str], str]]:
    pattern = re.compile(mention_pattern(values), re.IGNORECASE)

    def pseudonymise(text: str) -> str:
        # Two mentions separated by a single character share it as a boundary: repeat until none is left.
        for _ in range(5):
            text, count = pattern.subn(rf"\g<1>{ERASED_MARKER}\g<3>", text)
            if not count:
                break
        return text

    return pattern, pseudonymise


def is_sqlite(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(len(SQLITE_HEADER)) == SQLITE_HEADER


def _scrub_sqlite(path: Path, pattern: re.Pattern[str], pseudonymise: Callable[[str], str]) -> int:
    """Pseudonymise every text value that mentions the person, then vacuum; returns values rewritten."""
    rewritten = 0
    connection = sqlite3.connect(path, timeout=60)
    try:
        connection.execute("pragma secure_delete = on")
        connection.create_function("surgewise_mentions", 1, lambda text: bool(pattern.search(text)), deterministic=True)
        connection.create_function("surgewise_pseudonymise", 1, pseudonymise, deterministic=True)
        tables = [name for (name,) in connection.execute("select name from sqlite_master where type = 'table'")]
        for table in tables:
            if table.startswith("sqlite_"):
                continue
            columns = [row[1] for row in connection.execute(f'pragma table_info("{table}")')]
            for column in columns:
                where = f'typeof("{column}") = \'text\' and surgewise_mentions("{column}")'
                cursor = connection.execute(
                    f'update "{table}" set "{column}" = surgewise_pseudonymise("{column}") where {where}'
                )
                rewritten += max(cursor.rowcount, 0)
        connection.commit()
        # Also when nothing live matched: a row Dagster updated or deleted earlier may sit in a free page.
        connection.execute("vacuum")
        connection.execute("pragma wal_checkpoint(truncate)")
    finally:
        connection.close()
    return rewritten


def _scrub_text_file(path: Path, pattern: re.Pattern[str], pseudonymise: Callable[[str], str]) -> int:
    """Pseudonymise a log file in place (atomically); returns lines changed. A binary file (a pickled output)
    would be corrupted by a rewrite of different length: it is left to the scan, which reports it."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return 0
    lines = text.split("\n")
    hits = [index for index, line in enumerate(lines) if pattern.search(line)]
    if not hits:
        return 0
    for index in hits:
        lines[index] = pseudonymise(lines[index])
    temporary = path.with_name(f".{path.name}.forget-{uuid.uuid4().hex[:8]}")
    temporary.write_bytes("\n".join(lines).encode())
    os.replace(temporary, path)
    return len(hits)


def scrub_dagster_storage(root: Path, values: list[str]) -> dict[str, int]:
    """Pseudonymise the person's mentions in every file of Dagster's storage; returns file → values changed."""
    if not values or not root.is_dir():
        return {}
    pattern, pseudonymise = _pseudonymiser(values)
    scrubbed = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.is_symlink() or path.name.endswith(_SQLITE_SIDE_FILES):
            continue
        if is_sqlite(path):
            count = _scrub_sqlite(path, pattern, pseudonymise)
        else:
            count = _scrub_text_file(path, pattern, pseudonymise)
        if count:
            scrubbed[path.relative_to(root).as_posix()] = count
    return scrubbed
