"""DuckDB allows one writing process per file: a second writer waits, then gets a clear error; connections take
their thread count from the environment."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
import yaml

from dagster_project.core.settings import DUCKDB_THREADS_ENV, REPO_ROOT
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


def test_duckdb_threads_follow_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DUCKDB_THREADS_ENV, "1")
    with open_warehouse(tmp_path / "one_thread.duckdb") as connection:
        assert connection.execute("select current_setting('threads')").fetchone() == (1,)
    monkeypatch.delenv(DUCKDB_THREADS_ENV)
    with open_warehouse(tmp_path / "all_cores.duckdb") as connection:
        assert connection.execute("select current_setting('threads')").fetchone() == (os.cpu_count(),)


@pytest.mark.parametrize("threads", ["0", "-2", "two", "1.5"])
def test_a_bad_thread_count_is_refused_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: str
) -> None:
    monkeypatch.setenv(DUCKDB_THREADS_ENV, threads)
    with pytest.raises(ValueError, match=DUCKDB_THREADS_ENV), open_warehouse(tmp_path / "bad.duckdb"):
        pass


def test_the_parallel_dbt_target_is_dev_with_one_duckdb_thread() -> None:
    outputs = yaml.safe_load((REPO_ROOT / "dbt_project" / "profiles.yml").read_text())["surgewise"]["outputs"]
    parallel = dict(outputs["parallel"])
    assert parallel.pop("settings") == {"threads": 1}
    assert parallel == outputs["dev"]
