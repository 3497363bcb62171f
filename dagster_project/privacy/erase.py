"""Erasing a person from the warehouse: deleting their rows, and pseudonymising mentions in other rows.

The audit log is never touched here (forget shreds the person's subject key instead), nor is the
suppression list, which holds only fingerprints and must keep them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb

from agents.governance.audit_schema import AUDIT_SCHEMA, AUDIT_TABLE
from dagster_project.connectors.loader import LOADED_FILES_TABLE, QUARANTINE_TABLE
from dagster_project.connectors.sources import SOURCES
from dagster_project.core.suppression import SUPPRESSION_TABLE
from dagster_project.privacy.resolve import CONTACT_TYPE, COOKIE_TYPE, EMAIL_TYPE, PersonIdentities, normalise_email
from dagster_project.privacy.scan import TEXT_TYPES, mention_pattern, text_columns

ERASED_MARKER = "[erased]"

RAW_IDENTITY_COLUMNS = {"email": EMAIL_TYPE, "anonymous_id": COOKIE_TYPE, "contact_id": CONTACT_TYPE}
"""Raw columns that carry an identity: a raw row with one of the person's values there is theirs."""


def _base_tables(connection: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    rows = connection.execute(
        """
        select c.table_schema, c.table_name, c.column_name
        from information_schema.columns as c
        inner join information_schema.tables as t
            on c.table_catalog = t.table_catalog and c.table_schema = t.table_schema
            and c.table_name = t.table_name
        where c.table_catalog = current_database() and t.table_type = 'BASE TABLE'
          and c.table_schema not in ('information_schema', 'pg_catalog')
        order by c.table_schema, c.table_name, c.ordinal_position
        """
    ).fetchall()
    tables: dict[str, list[str]] = {}
    for schema, table, column in rows:
        tables.setdefault(f"{schema}.{table}", []).append(column)
    return tables


def _delete(connection: duckdb.DuckDBPyConnection, table: str, where: str, params: Any) -> int:
    (count,) = connection.execute(f"select count(*) from {table} where {where}", params).fetchone()
    if count:
        connection.execute(f"delete from {table} where {where}", params)
    return int(count)


def erase_rows(connection: duckdb.DuckDBPyConnection, person: PersonIdentities, values: list[str]) -> dict[str, int]:
    """Delete the person's own rows: raw rows carrying one of their identities, quarantined rows that mention
    them, and the rows of every table keyed by their person id; returns table → rows deleted."""
    erased: dict[str, int] = {}
    tables = _base_tables(connection)
    by_type = {
        EMAIL_TYPE: [normalise_email(email) for email in person.emails],
        COOKIE_TYPE: person.anonymous_ids,
        CONTACT_TYPE: person.contact_ids,
    }
    raw_tables = {spec.table for spec in SOURCES} | {table for table in tables if table.startswith("raw.")}
    for table in sorted(raw_tables - {QUARANTINE_TABLE, LOADED_FILES_TABLE}):
        columns = tables.get(table, [])
        clauses, params = [], []
        for column, identity_type in RAW_IDENTITY_COLUMNS.items():
            if column in columns and by_type[identity_type]:
                clauses.append(f'list_contains(?, lower(trim("{column}")))')
                params.append([value.lower() for value in by_type[identity_type]])
        if clauses:
            erased[table] = _delete(connection, table, " or ".join(clauses), params)
    if QUARANTINE_TABLE in tables and values:
        erased[QUARANTINE_TABLE] = _delete(
            connection, QUARANTINE_TABLE, "regexp_matches(lower(raw_payload), ?)", [mention_pattern(values)]
        )
    if person.person_id:
        # Channel state, agent memory, marts: every table keyed by person, except the audit log.
        for table, columns in sorted(tables.items()):
            if "person_id" in columns and not table.startswith(f"{AUDIT_SCHEMA}."):
                erased[table] = _delete(connection, table, "person_id = ?", [person.person_id])
    return {table: count for table, count in erased.items() if count}


def dbt_tables() -> set[str]:
    """`schema.table` of everything dbt builds (models, snapshots, seeds), from its manifest."""
    try:
        from dagster_project.defs.transform.project import surgewise_dbt_project

        manifest = json.loads(Path(surgewise_dbt_project.manifest_path).read_text())
    except (OSError, ValueError):
        return set()
    return {
        f"{node['schema']}.{node.get('alias') or node['name']}"
        for node in manifest.get("nodes", {}).values()
        if node.get("resource_type") in ("model", "snapshot", "seed")
    }


def erase_derived_mentions(
    connection: duckdb.DuckDBPyConnection, values: list[str], derived: set[str]
) -> dict[str, int]:
    """Delete rows of dbt-built tables that mention the person.

    Views and full-refresh tables are rebuilt anyway; incremental models and snapshots keep history, so
    their rows derived from the person (an identity edge, a delivery, a person-map version) must go."""
    if not values:
        return {}
    pattern = mention_pattern(values)
    erased: dict[str, int] = {}
    for relation, columns in text_columns(connection, base_tables_only=True).items():
        table = relation.replace('"', "")
        if table not in derived:
            continue
        where = " or ".join(f'regexp_matches(lower(cast("{column}" as varchar)), $pattern)' for column in columns)
        count = _delete(connection, relation, where, {"pattern": pattern})
        if count:
            erased[table] = count
    return erased


def pseudonymise_mentions(
    connection: duckdb.DuckDBPyConnection, values: list[str], derived: set[str]
) -> dict[str, int]:
    """Rewrite remaining mentions (in rows that are not the person's own: a data-check example, an unknown
    field of someone else's row) to a marker, in tables that are neither dbt's nor the audit log."""
    if not values:
        return {}
    pattern = mention_pattern(values)
    rewritten: dict[str, int] = {}
    protected = {AUDIT_TABLE, SUPPRESSION_TABLE} | derived
    for relation, columns in text_columns(connection, base_tables_only=True).items():
        table = relation.replace('"', "")
        if table in protected or table.startswith(f"{AUDIT_SCHEMA}."):
            continue
        for column in columns:
            data_type = connection.execute(
                "select data_type from information_schema.columns where table_catalog = current_database() "
                "and table_schema = ? and table_name = ? and column_name = ?",
                [*table.split("."), column],
            ).fetchone()[0]
            if data_type.upper() not in TEXT_TYPES:
                continue  # lists and structs: reported by the scan, not rewritten
            where = f'regexp_matches(lower(cast("{column}" as varchar)), ?)'
            (count,) = connection.execute(f"select count(*) from {relation} where {where}", [pattern]).fetchone()
            if not count:
                continue
            replaced = f"""regexp_replace(cast("{column}" as varchar), ?, '\\1{ERASED_MARKER}\\3', 'gi')"""
            if data_type.upper() == "JSON":
                replaced = f"cast({replaced} as json)"
            # Two mentions separated by a single character share it as a boundary: repeat until none is left.
            for _ in range(5):
                connection.execute(f'update {relation} set "{column}" = {replaced} where {where}', [pattern, pattern])
                if not connection.execute(f"select count(*) from {relation} where {where}", [pattern]).fetchone()[0]:
                    break
            rewritten[f"{table}.{column}"] = int(count)
    return rewritten
