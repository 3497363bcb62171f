"""Opening the embedded DuckDB warehouse safely.

DuckDB lets one process write a database file at a time. Dagster steps, the dbt subprocess, sensors
and the CLI all take turns on it: connections are short-lived, and a caller that finds the file locked
waits (with backoff) up to a timeout and then gets a `WarehouseBusyError` that names the file, instead
of a crash half-way through a write or a corrupted file.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from dagster_project.core.settings import DUCKDB_THREADS_ENV

DEFAULT_LOCK_TIMEOUT_SECONDS = 120.0


def table_exists(connection: duckdb.DuckDBPyConnection, qualified_name: str) -> bool:
    """Whether `schema.table` (a table or a view) exists in this warehouse; readers ask before a first build."""
    schema, name = qualified_name.split(".")
    return (
        connection.execute(
            "select 1 from information_schema.tables "
            "where table_catalog = current_database() and table_schema = ? and table_name = ?",
            [schema, name],
        ).fetchone()
        is not None
    )


def connection_config() -> dict[str, int]:
    """DuckDB settings from the environment: `$SURGEWISE_DUCKDB_THREADS` threads per connection, if set."""
    threads = os.environ.get(DUCKDB_THREADS_ENV, "").strip()
    if not threads:
        return {}
    if not threads.isdecimal() or int(threads) < 1:
        raise ValueError(f"${DUCKDB_THREADS_ENV} must be a whole number of threads, at least 1; it is {threads!r}")
    return {"threads": int(threads)}


class WarehouseBusyError(RuntimeError):
    """Another process holds the DuckDB write lock for longer than we were willing to wait."""


def _is_lock_conflict(error: duckdb.Error) -> bool:
    message = str(error).lower()
    return "lock" in message and ("conflicting" in message or "could not set" in message)


@contextmanager
def open_warehouse(
    path: Path, *, read_only: bool = False, lock_timeout_seconds: float = DEFAULT_LOCK_TIMEOUT_SECONDS
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Yield a connection to the warehouse file, waiting for another writer to finish first."""
    path = Path(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    config = connection_config()
    deadline = time.monotonic() + lock_timeout_seconds
    delay = 0.05
    while True:
        try:
            connection = duckdb.connect(str(path), read_only=read_only, config=config)
            break
        except duckdb.IOException as error:
            if not _is_lock_conflict(error):
                raise
            if time.monotonic() >= deadline:
                raise WarehouseBusyError(
                    f"warehouse {path} is locked by another process (waited {lock_timeout_seconds:.0f}s): "
                    f"{error}. Runs that write share one file; wait for the other run to finish."
                ) from error
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
    try:
        yield connection
    finally:
        connection.close()
