"""Data checks gate actions: the latest result of every check an agent depends on must have passed,
since the latest connector load (results are kept by `dagster_project.core.check_results`)."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from dagster_project.core.check_results import latest_check_result
from dagster_project.core.warehouse import table_exists


def failing_gates(connection: duckdb.DuckDBPyConnection, required_checks: Sequence[str]) -> list[str]:
    """Why the agent may not act: one reason per required check that failed, never ran, or has not run
    since connector data was last loaded (so the profile it vouched for may no longer be the one agents
    read). Reads only, so a sensor can ask too."""
    if not required_checks:
        return []
    latest_load = None
    if table_exists(connection, "raw._loaded_files"):
        (latest_load,) = connection.execute(
            "select max(loaded_at) from raw._loaded_files where rows_loaded > 0"
        ).fetchone()
    reasons = []
    for check_name in required_checks:
        latest = latest_check_result(connection, check_name)
        if latest is None:
            reasons.append(f"data check {check_name} has never run")
        elif not latest.passed:
            failures = "; ".join(latest.failures) or "no detail"
            reasons.append(f"data check {check_name} failed at {latest.evaluated_at:%Y-%m-%d %H:%M:%S}: {failures}")
        elif latest_load is not None and latest.evaluated_at < latest_load:
            reasons.append(
                f"data check {check_name} has not run since data was loaded at {latest_load:%Y-%m-%d %H:%M:%S}: "
                "the profile may be stale"
            )
    return reasons
