"""Asset checks that gate agents record their outcome in the warehouse as well as in Dagster, so the gate
holds in later sensor runs and the CLI too (see `dagster_project.core.check_results`)."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from dagster_project.core.check_results import CheckOutcome, record_check_result
from dagster_project.core.clock import utc_now
from dagster_project.lib.resources import DuckDBWarehouse


def record_gate(
    context: dg.AssetCheckExecutionContext,
    warehouse: DuckDBWarehouse,
    *,
    check_name: str,
    asset: str,
    failures: Sequence[str],
) -> bool:
    """Record this run's result of a gating check (passed when there are no failures) and return it."""
    passed = not failures
    with warehouse.connect() as connection:
        record_check_result(
            connection,
            CheckOutcome(
                check_name=check_name,
                asset=asset,
                passed=passed,
                evaluated_at=utc_now(),
                failures=tuple(failures),
                run_id=context.run.run_id,
            ),
        )
    return passed
