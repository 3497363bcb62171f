"""Rewriting the warehouse after an erasure: no free block of the file keeps a deleted row, nothing is lost,
and a crash or a busy file never leaves the warehouse half-written."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from dagster_project.core.warehouse import WarehouseBusyError
from dagster_project.privacy.rewrite import rewrite_path, rewrite_warehouse

EMAIL = "jane.doe@surge.example"
ROWS = 100_000
HOLD_WAREHOUSE = "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ready'); sys.stdin.read()"


def _copies(path: Path, value: str = EMAIL) -> int:
    return path.read_bytes().lower().count(value.encode())


def _warehouse(path: Path) -> None:
    """Someone else's rows, then Jane's, deleted and checkpointed as forget leaves them."""
    with duckdb.connect(str(path)) as connection:
        connection.execute("create schema crm")
        connection.execute("create sequence crm.ids")
        connection.execute(
            "create table crm.contacts (contact_id bigint primary key default nextval('crm.ids'), email varchar)"
        )
        connection.execute(
            f"insert into crm.contacts (email) select 'person' || i || '@example.com' from range({ROWS}) t(i)"
        )
        connection.execute("create view crm.recent as select * from crm.contacts where contact_id > 10")
        connection.execute("create table crm.enrolments (email varchar, sequence_id varchar)")
        connection.execute("insert into crm.contacts (email) values (?)", [EMAIL])
        connection.execute(
            "insert into crm.enrolments values (?, 'briefing'), ('omar@example.com', 'briefing')", [EMAIL]
        )
        connection.execute("checkpoint")
        connection.execute("delete from crm.contacts where email = ?", [EMAIL])
        connection.execute("delete from crm.enrolments where email = ?", [EMAIL])
        connection.execute("checkpoint")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_deleted_row_stays_in_the_file_until_the_rewrite_removes_every_copy(tmp_path: Path) -> None:
    path = tmp_path / "surgewise.duckdb"
    _warehouse(path)
    assert _copies(path) >= 1  # the bug: deleted and checkpointed, still in a free block

    result = rewrite_warehouse(path)

    assert _copies(path) == 0
    assert result.bytes_after == path.stat().st_size and result.seconds > 0
    with duckdb.connect(str(path), read_only=True) as connection:
        assert connection.execute("select count(*), count(distinct email) from crm.contacts").fetchone() == (ROWS, ROWS)
        assert connection.execute("select count(*) from crm.recent").fetchone() == (ROWS - 10,)
        assert connection.execute("select email from crm.enrolments").fetchall() == [("omar@example.com",)]
    with duckdb.connect(str(path)) as connection:
        # The sequence carries on past every id used, the key still refuses a duplicate.
        assert connection.execute("select nextval('crm.ids')").fetchone()[0] > ROWS
        with pytest.raises(duckdb.ConstraintException):
            connection.execute("insert into crm.contacts values (1, 'x@example.com')")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["surgewise.duckdb"]  # no temporary file, no WAL


def _hold(path: Path) -> subprocess.Popen[str]:
    """Another process with the warehouse open, as a running build would have it."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, sys; c = duckdb.connect({str(path)!r}); print('ready'); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
    return holder


def test_a_warehouse_another_process_holds_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "surgewise.duckdb"
    _warehouse(path)
    before = _digest(path)
    holder = _hold(path)
    try:
        with pytest.raises(WarehouseBusyError, match="locked by another process"):
            rewrite_warehouse(path, lock_timeout_seconds=0.5)
    finally:
        holder.communicate("")
    assert _digest(path) == before
    assert not rewrite_path(path).exists()


_REWRITE = """
import sys
from pathlib import Path
from dagster_project.privacy.rewrite import rewrite_warehouse
print("start", flush=True)
rewrite_warehouse(Path(sys.argv[1]))
print("done", flush=True)
"""


@pytest.mark.slow
def test_a_rewrite_killed_at_any_point_leaves_a_complete_warehouse(tmp_path: Path) -> None:
    """SIGKILL at spread-out moments of the rewrite (before, during and after the copy and the rename): the file
    at the warehouse's path always opens with every row, and the next rewrite clears what the dead one left."""
    path = tmp_path / "surgewise.duckdb"
    _warehouse(path)
    # How long a whole rewrite takes here, to spread the kills over it.
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", _REWRITE, str(path)], check=True, capture_output=True)
    duration = time.monotonic() - started
    outcomes = {"killed": 0, "finished": 0, "temporary_left": 0}
    for step in range(12):
        process = subprocess.Popen([sys.executable, "-c", _REWRITE, str(path)], stdout=subprocess.PIPE, text=True)
        assert process.stdout is not None and process.stdout.readline().strip() == "start"
        time.sleep(duration * step / 12 * 0.6)
        process.send_signal(signal.SIGKILL)
        process.wait()
        outcomes["killed" if process.returncode == -signal.SIGKILL else "finished"] += 1
        outcomes["temporary_left"] += rewrite_path(path).exists()
        with duckdb.connect(str(path), read_only=True) as connection:
            assert connection.execute("select count(*) from crm.contacts").fetchone() == (ROWS,), (step, outcomes)
    assert outcomes["killed"] >= 6, outcomes
    rewrite_warehouse(path)
    assert not rewrite_path(path).exists() and _copies(path) == 0
    assert not os.path.exists(f"{path}.wal")
