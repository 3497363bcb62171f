"""The suppression list: forgotten and do-not-contact people, keyed by a fingerprint of their e-mail.

This module owns the table's one DDL. The loader drops suppressed rows at the door, the identity graph
keeps them from merging (dbt reads the table as the `governance.suppression_list` source, created here
before every build), and the governor denies any action addressed to them.
"""

from __future__ import annotations

import hashlib

import duckdb

from dagster_project.core.warehouse import table_exists

SUPPRESSION_TABLE = "governance.suppression_list"


def ensure_suppression_list(connection: duckdb.DuckDBPyConnection) -> None:
    connection.execute("create schema if not exists governance")
    connection.execute(
        f"""
        create table if not exists {SUPPRESSION_TABLE} (
            email_sha256 varchar primary key,
            reason varchar not null,
            added_at timestamp not null
        )
        """
    )


def email_fingerprint(email: str) -> str:
    """Suppression is keyed by a hash so the list itself holds no readable addresses."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def is_suppressed(connection: duckdb.DuckDBPyConnection, email: str) -> bool:
    ensure_suppression_list(connection)
    row = connection.execute(
        f"select 1 from {SUPPRESSION_TABLE} where email_sha256 = ?", [email_fingerprint(email)]
    ).fetchone()
    return row is not None


def suppressed_fingerprints(connection: duckdb.DuckDBPyConnection) -> frozenset[str]:
    """Every fingerprint on the list (read-only: an unbuilt warehouse has none)."""
    if not table_exists(connection, SUPPRESSION_TABLE):
        return frozenset()
    return frozenset(row[0] for row in connection.execute(f"select email_sha256 from {SUPPRESSION_TABLE}").fetchall())
