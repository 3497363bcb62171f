"""DuckDB allows one writing process per file: a second writer waits, then gets a clear error."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from dagster_project.core.warehouse import WarehouseBusyError, open_warehouse

HOLD_LOCK = """
import sys, time, duckdb
connection = duckdb.connect(sys.argv[1])
connection.execute("create table if not exists held (id integer)")
connection.execute("insert into held values (1)")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
connection.close()
"""


def _hold_lock(path: Path, seconds: float) -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    return holder


def test_a_second_writer_gets_a_clear_error_and_the_file_stays_intact(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    holder = _hold_lock(path, seconds=5)
    try:
        with (
            pytest.raises(WarehouseBusyError, match=r"warehouse .*warehouse\.duckdb is locked by another process"),
            open_warehouse(path, lock_timeout_seconds=0.5),
        ):
            pass
    finally:
        holder.wait(timeout=30)
    with duckdb.connect(str(path)) as connection:
        assert connection.execute("select count(*) from held").fetchone() == (1,)


def test_a_second_writer_waits_for_the_first_to_finish(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    holder = _hold_lock(path, seconds=1.5)
    started = time.monotonic()
    try:
        with open_warehouse(path, lock_timeout_seconds=30) as connection:
            waited = time.monotonic() - started
            connection.execute("insert into held values (2)")
            assert connection.execute("select count(*) from held").fetchone() == (2,)
    finally:
        holder.wait(timeout=30)
    assert waited > 0.5, "the second writer should have waited for the lock instead of writing alongside"
