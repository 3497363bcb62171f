"""Data-check results kept in the warehouse, so a gate holds wherever the reader runs.

Checks (Great Expectations suites and the other Dagster asset checks) record their outcome here; the
agents' gates, the model-serving drift gate, the retraining sensor and the run report read the latest
result back, whether they run in the same Dagster run as the check, a later sensor run, or the CLI.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import duckdb

from dagster_project.core.warehouse import table_exists

CHECK_RESULTS_TABLE = "quality.check_results"


@dataclass(frozen=True)
class CheckOutcome:
    check_name: str
    asset: str
    passed: bool
    evaluated_at: datetime
    failures: tuple[str, ...]
    run_id: str


def ensure_check_results(connection: duckdb.DuckDBPyConnection) -> None:
    connection.execute("create schema if not exists quality")
    connection.execute(
        f"""
        create table if not exists {CHECK_RESULTS_TABLE} (
            check_name varchar not null,
            asset varchar not null,
            passed boolean not null,
            evaluated_at timestamp not null,
            failures json not null,
            run_id varchar not null
        )
        """
    )


def record_check_result(connection: duckdb.DuckDBPyConnection, outcome: CheckOutcome) -> None:
    ensure_check_results(connection)
    connection.execute(
        f"insert into {CHECK_RESULTS_TABLE} values (?, ?, ?, ?, ?, ?)",
        [
            outcome.check_name,
            outcome.asset,
            outcome.passed,
            outcome.evaluated_at,
            json.dumps(list(outcome.failures)),
            outcome.run_id,
        ],
    )


def latest_check_result(connection: duckdb.DuckDBPyConnection, check_name: str) -> CheckOutcome | None:
    """The newest recorded result of one check, or None if it never ran (read-only: no table is created)."""
    if not table_exists(connection, CHECK_RESULTS_TABLE):
        return None
    row = connection.execute(
        f"""
        select check_name, asset, passed, evaluated_at, failures, run_id from {CHECK_RESULTS_TABLE}
        where check_name = ? order by evaluated_at desc limit 1
        """,
        [check_name],
    ).fetchone()
    if row is None:
        return None
    name, asset, passed, evaluated_at, failures, run_id = row
    return CheckOutcome(name, asset, passed, evaluated_at, tuple(json.loads(failures)), run_id)
