"""Data checks gate actions: the latest result of every check an agent depends on must have passed.

Checks (Great Expectations suites run by Dagster asset checks) record their outcome here, in the
warehouse, so the gate holds whether the agent runs in the same Dagster run as the check, in a later
sensor-triggered run, or from the CLI.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

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


def failing_gates(connection: duckdb.DuckDBPyConnection, required_checks: Sequence[str]) -> list[str]:
    """Why the agent may not act: one reason per required check that failed or never ran."""
    ensure_check_results(connection)
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
    return reasons


def stale_profile_reason(
    connection: duckdb.DuckDBPyConnection,
    max_lag: timedelta,
    now: datetime,
    freshness_check: str = "dim_person_freshness",
) -> str | None:
    """Why the profile is too stale to act on, checked live: connector data loaded after the last passing
    freshness check (i.e. not yet in the profile) for longer than `max_lag`."""
    ensure_check_results(connection)
    if not connection.execute(
        "select 1 from information_schema.tables where table_schema = 'raw' and table_name = '_loaded_files'"
    ).fetchone():
        return None
    (latest_load,) = connection.execute("select max(loaded_at) from raw._loaded_files where rows_loaded > 0").fetchone()
    (latest_fresh,) = connection.execute(
        f"select max(evaluated_at) from {CHECK_RESULTS_TABLE} where check_name = ? and passed",
        [freshness_check],
    ).fetchone()
    if latest_load is None or (latest_fresh is not None and latest_fresh >= latest_load):
        return None
    waiting = now - latest_load
    if waiting <= max_lag:
        return None
    return (
        f"profile is stale: data loaded at {latest_load:%Y-%m-%d %H:%M:%S} has waited "
        f"{waiting.total_seconds() / 60:.0f} min (limit {max_lag.total_seconds() / 60:.0f} min) "
        "without a passing freshness check"
    )
