"""`surgewise forget` erases bytes, not only rows: the warehouse file, Dagster's storage, the live outbox and
the governor's lock rows hold no copy of the person afterwards, and the verification reads the files' bytes.

On a copy of the hand-built market (tests/scenario.py) after the SDR agent acted on Jane; before forgetting her,
the copy gains what the first attempt left behind: a lock row on her, an outbox batch naming her, and a Dagster
run whose log and asset-check metadata carry her e-mail (as a failing data check's examples did).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from click.testing import Result

from agents.governance.schema import LOCKS_TABLE
from agents.governance.store import person_lock_resource
from dagster_project.privacy.scan import scan_files
from tests.environment import SurgewiseEnv, surgewise_environment
from tests.integration.cli.test_privacy import JANE_EMAIL, JANE_TRACES, invoke
from tests.markets import BuiltMarket
from tests.scenario import write_jsonl

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("quarantine_market")]

OUTBOX_BATCH = Path("outbox") / "form_fills" / "batch_20261011.jsonl"
HOLD_WAREHOUSE = "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ready'); sys.stdin.read()"
"""Another process with the warehouse open, as a running build would have it, until its stdin closes."""


def _copies_in(path: Path, value: str = JANE_EMAIL) -> int:
    return sum(trace.copies for trace in scan_files([path], [value]))


@dg.op
def _leaky_check(context) -> None:
    """What a failing expectation with unexpected-value examples used to write to the event log."""
    context.log.warning(f"dim_person_expectations failed: email e.g. ['{JANE_EMAIL}']")
    context.log_event(dg.AssetObservation(asset_key="dim_person", metadata={"failures": f"e.g. ['{JANE_EMAIL}']"}))


@dg.job
def _leaky_job() -> None:
    _leaky_check()


@dataclass(frozen=True)
class ForgottenBytes:
    env: SurgewiseEnv
    dagster_home: Path
    result: Result
    person_id: str
    locks_before: set[str]
    leaky_run_id: str
    before: dict[str, int]
    """Copies of her e-mail before forget: in the warehouse file, Dagster's storage, the outbox."""


@pytest.fixture(scope="module")
def forgotten(quarantine_market: BuiltMarket, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForgottenBytes]:
    copy = tmp_path_factory.mktemp("forgotten_bytes")
    shutil.copytree(quarantine_market.data_dir, copy / "data")
    shutil.copytree(quarantine_market.dagster_dir, copy / "dagster_home")
    with pytest.MonkeyPatch.context() as patch, surgewise_environment(copy / "data") as env:
        patch.setenv("DAGSTER_HOME", str(copy / "dagster_home"))
        with duckdb.connect(str(env.duckdb_path)) as connection:
            ((person_id,),) = connection.execute(
                "select person_id from marts.dim_person where crm_contact_id = 'con_jane'"
            ).fetchall()
            locks_before = {
                resource for (resource,) in connection.execute(f"select resource from {LOCKS_TABLE}").fetchall()
            }
        write_jsonl(
            env.data_dir / OUTBOX_BATCH,
            [
                {"form_fill_id": "ff_jane_live", "anonymous_id": "anon_jane", "email": JANE_EMAIL, "form_name": "demo"},
                {"form_fill_id": "ff_omar_live", "anonymous_id": "anon_omar", "email": "omar@surge.example"},
            ],
        )
        with dg.DagsterInstance.from_config(str(copy / "dagster_home")) as instance:
            leaky_run_id = _leaky_job.execute_in_process(instance=instance).run_id
        before = {
            "warehouse": _copies_in(env.duckdb_path),
            "dagster": _copies_in(copy / "dagster_home"),
            "outbox": _copies_in(env.data_dir / "outbox"),
        }
        result = invoke("forget", JANE_EMAIL, "--yes")
        yield ForgottenBytes(env, copy / "dagster_home", result, person_id, locks_before, leaky_run_id, before)


def test_forget_verifies_the_files_bytes_and_reports_the_rewrite(forgotten: ForgottenBytes) -> None:
    output = forgotten.result.output

    assert forgotten.result.exit_code == 0, output
    assert "Warehouse rewritten into a fresh file" in output
    assert "Verified: no byte of the warehouse file, Dagster's storage or the data directory's files holds" in output
    assert LOCKS_TABLE in output and "outbox/form_fills/batch_20261011.jsonl" in output


def test_no_copy_of_her_is_left_in_the_warehouse_file(forgotten: ForgottenBytes) -> None:
    assert forgotten.before["warehouse"] > 0  # live rows before: the scan reads what it must

    assert scan_files([forgotten.env.duckdb_path], list(JANE_TRACES), person_id=forgotten.person_id) == []
    assert not Path(f"{forgotten.env.duckdb_path}.wal").exists()
    assert not list(forgotten.env.data_dir.glob(".surgewise.duckdb.rewrite*"))
    with duckdb.connect(str(forgotten.env.duckdb_path), read_only=True) as connection:
        # The fresh file is the whole warehouse: everyone else, the audit chain, the suppression list.
        assert connection.execute(
            "select count(*) from marts.dim_person where crm_contact_id = 'con_omar'"
        ).fetchone() == (1,)
        assert connection.execute("select count(*) from governance.suppression_list").fetchone()[0] >= 1


def test_her_lock_rows_are_deleted_and_the_others_kept(forgotten: ForgottenBytes) -> None:
    # The governor locked her when the SDR agent enrolled her; forget derives the same key.
    person_locks = [person_lock_resource(forgotten.person_id)]
    assert person_locks and set(person_locks) <= forgotten.locks_before

    with duckdb.connect(str(forgotten.env.duckdb_path), read_only=True) as connection:
        held = {resource for (resource,) in connection.execute(f"select resource from {LOCKS_TABLE}").fetchall()}
    assert held.isdisjoint(person_locks)
    assert "agent:sdr_sequence_agent" in held


def test_the_outbox_loses_her_lines_and_keeps_the_others(forgotten: ForgottenBytes) -> None:
    assert forgotten.before["outbox"] == 1

    lines = (forgotten.env.data_dir / OUTBOX_BATCH).read_text().split("\n")
    assert lines[0] == "" and "ff_omar_live" in lines[1]  # her row blank, line numbers kept


def test_dagster_storage_is_scrubbed_and_still_readable(forgotten: ForgottenBytes) -> None:
    assert forgotten.before["dagster"] >= 2

    assert scan_files([forgotten.dagster_home], list(JANE_TRACES), person_id=forgotten.person_id) == []
    with dg.DagsterInstance.from_config(str(forgotten.dagster_home)) as instance:
        messages = [entry.user_message for entry in instance.all_logs(forgotten.leaky_run_id)]
    assert any("e.g. ['[erased]']" in message for message in messages)


def test_forget_refuses_a_warehouse_another_process_holds_and_changes_nothing(forgotten: ForgottenBytes) -> None:
    path = forgotten.env.duckdb_path
    before = path.read_bytes()
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
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        result = invoke("forget", "omar@surge.example", "--yes", "--lock-timeout", "1")
    finally:
        holder.communicate("")

    assert result.exit_code == 1
    assert "Refused, nothing was changed" in result.output and "locked by another process" in result.output
    assert path.read_bytes() == before
