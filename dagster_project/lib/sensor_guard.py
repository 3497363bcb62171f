"""How sensors read the warehouse without getting in a writer's way.

DuckDB lets one process write the file at a time. A sensor that opened it while a run's dbt step starts
could make that step fail, so sensors skip while any run is starting or running, wait only briefly for the
lock, and treat a warehouse that is not built yet as "nothing to do" rather than an error. A run whose
process died is not running: it is failed first, or one crash would stop every sensor for good.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import dagster as dg
import duckdb

from dagster_project.core.warehouse import WarehouseBusyError
from dagster_project.lib.resources import DuckDBWarehouse
from dagster_project.lib.run_recovery import fail_dead_runs

SENSOR_LOCK_TIMEOUT_SECONDS = 5.0

T = TypeVar("T")


def run_writing_warehouse(context: dg.SensorEvaluationContext) -> dg.SkipReason | None:
    """A skip reason while any run is starting or running (it may be writing the warehouse), once the runs a
    dead process left behind are failed."""
    for run_id in fail_dead_runs(context.instance):
        context.log.warning(f"failed run {run_id}: its process exited without finishing it")
    writing = context.instance.get_run_records(
        dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]), limit=1
    )
    if writing:
        return dg.SkipReason(f"run {writing[0].dagster_run.run_id} is writing the warehouse; next tick")
    return None


def read_warehouse(
    warehouse: DuckDBWarehouse, read: Callable[[duckdb.DuckDBPyConnection], T], *, not_built: str
) -> T | dg.SkipReason:
    """`read(connection)` on a read-only connection, or a skip reason if the warehouse is busy or the tables
    it reads do not exist yet (`not_built` says which)."""
    try:
        with warehouse.connect(read_only=True, lock_timeout_seconds=SENSOR_LOCK_TIMEOUT_SECONDS) as connection:
            return read(connection)
    except WarehouseBusyError as error:
        return dg.SkipReason(f"warehouse busy, will look again next tick: {error}")
    except (duckdb.CatalogException, duckdb.IOException) as error:
        return dg.SkipReason(f"{not_built}: {error}")
