"""Finding mentions of a person: a value as a whole token in any text column of any table or view.

Forget erases with these patterns and then scans with them, so what it verifies is what it erased: in the
tables and views, and in the bytes of every file it keeps (free blocks, logs, the landing zone).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

TEXT_TYPES = ("VARCHAR", "JSON")
_WORD = "a-z0-9_"


@dataclass(frozen=True)
class Trace:
    relation: str
    column: str
    value: str
    rows: int


def mention_pattern(values: list[str]) -> str:
    """A case-insensitive regex for any of the values as a whole token (not inside a longer id)."""
    alternatives = "|".join(re.escape(value.lower()) for value in sorted(values, key=len, reverse=True))
    return f"(^|[^{_WORD}])({alternatives})($|[^{_WORD}])"


def text_columns(connection: duckdb.DuckDBPyConnection, *, base_tables_only: bool) -> dict[str, list[str]]:
    """relation → its text-bearing columns (VARCHAR, JSON, and lists/structs of them), in every schema."""
    rows = connection.execute(
        """
        select c.table_schema, c.table_name, c.column_name, c.data_type, t.table_type
        from information_schema.columns as c
        inner join information_schema.tables as t
            on c.table_catalog = t.table_catalog and c.table_schema = t.table_schema
            and c.table_name = t.table_name
        where c.table_catalog = current_database()
          and c.table_schema not in ('information_schema', 'pg_catalog')
        order by c.table_schema, c.table_name, c.ordinal_position
        """
    ).fetchall()
    relations: dict[str, list[str]] = {}
    for schema, table, column, data_type, table_type in rows:
        if base_tables_only and table_type != "BASE TABLE":
            continue
        if any(text_type in data_type.upper() for text_type in TEXT_TYPES):
            relations.setdefault(f'"{schema}"."{table}"', []).append(column)
    return relations


def scan_for_traces(
    connection: duckdb.DuckDBPyConnection, values: list[str], *, person_id: str | None = None
) -> list[Trace]:
    """Every table and view column that still mentions one of the values, or the person id (case-insensitive).

    The audit log is scanned too: it names people only by subject reference, whose key forget deletes."""
    wanted = sorted({value.lower() for value in [*values, person_id] if value})
    if not wanted:
        return []
    traces = []
    for relation, columns in text_columns(connection, base_tables_only=False).items():
        checks = [
            (column, value, f"""count_if(regexp_matches(lower(cast("{column}" as varchar)), ?))""")
            for column in columns
            for value in wanted
        ]
        try:
            counts = connection.execute(
                f"select {', '.join(expression for _, _, expression in checks)} from {relation}",
                [mention_pattern([value]) for _, value, _ in checks],
            ).fetchone()
        except duckdb.Error as error:
            # A relation that cannot be read cannot be shown to be clean: report it.
            traces.append(Trace(relation.replace('"', ""), "*", f"could not scan: {error}".splitlines()[0], -1))
            continue
        for (column, value, _), count in zip(checks, counts, strict=True):
            if count:
                traces.append(Trace(relation.replace('"', ""), column, value, int(count)))
    return traces


@dataclass(frozen=True)
class FileTrace:
    path: str
    value: str
    copies: int


_CHUNK = 16 << 20


def _byte_pattern(value: str) -> re.Pattern[bytes]:
    """The value as a whole token in lower-cased bytes (lookarounds, so adjacent copies each count)."""
    return re.compile(rb"(?<![%s])%s(?![%s])" % (_WORD.encode(), re.escape(value.lower().encode()), _WORD.encode()))


def _count_in_file(path: Path, patterns: dict[str, re.Pattern[bytes]], overlap: int) -> dict[str, int]:
    """Copies of each value in the file's bytes (ASCII case folded), read in chunks that overlap by more than
    the longest value, each copy counted in the window where it ends."""
    counts = dict.fromkeys(patterns, 0)
    with path.open("rb") as handle:
        window, counted = b"", 0
        while True:
            chunk = handle.read(_CHUNK)
            window += chunk.lower()
            # Copies ending in the last `overlap` bytes wait for the next chunk, which may show they go on.
            limit = len(window) - overlap if chunk else len(window)
            for value, pattern in patterns.items():
                counts[value] += sum(1 for match in pattern.finditer(window) if counted < match.end() <= limit)
            if not chunk:
                return counts
            start = max(limit - overlap, 0)
            window, counted = window[start:], limit - start


def scan_files(
    roots: list[Path], values: list[str], *, person_id: str | None = None, excluded: tuple[Path, ...] = ()
) -> list[FileTrace]:
    """Every file under the roots (the warehouse file, Dagster's storage, the data directory) but not under
    `excluded`, whose bytes still hold one of the values or the person id: free blocks and logs included, which
    no table scan sees.

    DuckDB may compress a live string so that its bytes do not show; the table scan covers those."""
    wanted = sorted({value.lower() for value in [*values, person_id] if value})
    if not wanted:
        return []
    patterns = {value: _byte_pattern(value) for value in wanted}
    overlap = max(len(value.encode()) for value in wanted) + 2
    skipped = [path.resolve() for path in excluded]
    files = sorted(
        {
            path
            for root in roots
            if root.exists()
            for path in _files(root)
            if not any(path.is_relative_to(directory) for directory in skipped)
        }
    )
    traces = []
    for path in files:
        try:
            counts = _count_in_file(path, patterns, overlap)
        except OSError as error:
            traces.append(FileTrace(str(path), f"could not scan: {error}", -1))
            continue
        traces += [FileTrace(str(path), value, count) for value, count in counts.items() if count]
    return traces


def _files(root: Path) -> list[Path]:
    if root.is_file():
        return [root.resolve()]
    return [path.resolve() for path in root.rglob("*") if path.is_file() and not path.is_symlink()]
