"""Finding mentions of a person: a value as a whole token in any text column of any table or view.

Forget erases with these patterns and then scans with them, so what it verifies is what it erased.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
