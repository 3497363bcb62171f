"""Data checks gate actions: the latest result of every check an agent depends on must have passed.

Checks (Great Expectations suites run by Dagster asset checks) record their outcome here, in the
warehouse, so the gate holds whether the agent runs in the same Dagster run as the check, in a later
sensor-triggered run, or from the CLI.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import duckdb

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


def table_exists(connection: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return (
        connection.execute(
            "select 1 from information_schema.tables where table_schema = ? and table_name = ?", [schema, table]
        ).fetchone()
        is not None
    )


def failing_gates(connection: duckdb.DuckDBPyConnection, required_checks: Sequence[str]) -> list[str]:
    """Why the agent may not act: one reason per required check that failed, never ran, or has not run
    since connector data was last loaded (so the profile it vouched for may no longer be the one agents
    read). Reads only, so a sensor can ask too."""
    if not required_checks:
        return []
    if not table_exists(connection, "quality", "check_results"):
        return [f"data check {name} has never run" for name in required_checks]
    latest_load = None
    if table_exists(connection, "raw", "_loaded_files"):
        (latest_load,) = connection.execute(
            "select max(loaded_at) from raw._loaded_files where rows_loaded > 0"
        ).fetchone()
    reasons = []
    for check_name in required_checks:
        latest = connection.execute(
            f"""
            select passed, evaluated_at, failures from {CHECK_RESULTS_TABLE}
            where check_name = ? order by evaluated_at desc limit 1
            """,
            [check_name],
        ).fetchone()
        if latest is None:
            reasons.append(f"data check {check_name} has never run")
        elif not latest[0]:
            failures = "; ".join(json.loads(latest[2])) or "no detail"
            reasons.append(f"data check {check_name} failed at {latest[1]:%Y-%m-%d %H:%M:%S}: {failures}")
        elif latest_load is not None and latest[1] < latest_load:
            reasons.append(
                f"data check {check_name} has not run since data was loaded at {latest_load:%Y-%m-%d %H:%M:%S}: "
                "the profile may be stale"
            )
    return reasons
