"""What a crash leaves behind: a run whose process was killed is failed (a live one never), so the sensors do
not wait for it for ever, and a surge or a due set of approvals whose run failed or was killed runs again."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from agents.config import load_surge_rules
from agents.surge import detect_account_surges
from dagster_project.core.clock import utc_now
from dagster_project.core.crash_points import CRASH_AT_ENV
from dagster_project.core.settings import CONFIG_DIR_ENV, DAGSTER_HOME_ENV
from dagster_project.lib.names import AGENT_JOB, APPROVALS_JOB, APPROVALS_SENSOR, SURGE_SENSOR
from dagster_project.lib.run_recovery import current_process, fail_dead_runs, process_gone
from dagster_project.lib.sensor_guard import run_writing_warehouse
from dagster_project.run.driver import run_sensor_once
from dagster_project.run.report import surges_not_acted_on
from tests.crash import kill, start_run_elsewhere
from tests.environment import SurgewiseEnv

REPO_ROOT = Path(__file__).resolve().parents[3]

_ANSWER_SURGES = textwrap.dedent(
    """
    import dagster as dg
    from dagster_project.definitions import defs
    from dagster_project.lib.names import AGENT_JOB, SURGE_SENSOR
    from dagster_project.run.driver import run_sensor_once

    run_sensor_once(defs(), dg.DagsterInstance.get(), SURGE_SENSOR, AGENT_JOB)
    """
)


@pytest.fixture
def dagster_dir(tmp_path: Path) -> Path:
    path = tmp_path / "dagster"
    path.mkdir()
    return path


@pytest.fixture
def killed_run(dagster_dir: Path) -> str:
    """A run left STARTED by a process killed with SIGKILL in the middle of it."""
    run = start_run_elsewhere(dagster_dir, "killed_job")
    kill(run)
    return run.run_id


@pytest.fixture
def live_run(dagster_dir: Path) -> Iterator[str]:
    run = start_run_elsewhere(dagster_dir, "live_job")
    yield run.run_id
    kill(run)


def test_a_process_is_gone_only_when_this_host_can_tell() -> None:
    host, pid, start = current_process().split(":")
    assert not process_gone(current_process())
    assert not process_gone(f"another-{host}:{pid}:{start}"), "a run on another host cannot be checked from here"
    if start:
        assert process_gone(f"{host}:{pid}:{int(start) + 1}"), "the pid was reused by a later process"


def test_the_sensor_guard_fails_a_killed_run_and_waits_for_a_live_one(
    dagster_dir: Path, killed_run: str, live_run: str
) -> None:
    instance = dg.DagsterInstance.local_temp(str(dagster_dir))
    assert instance.get_run_by_id(killed_run).status == dg.DagsterRunStatus.STARTED

    skip = run_writing_warehouse(dg.build_sensor_context(instance=instance))

    assert skip is not None and live_run in skip.skip_message, "a live run is still writing the warehouse"
    assert instance.get_run_by_id(killed_run).status == dg.DagsterRunStatus.FAILURE
    assert instance.get_run_by_id(live_run).status == dg.DagsterRunStatus.STARTED
    assert fail_dead_runs(instance) == []


@pytest.fixture
def scenario_instance(scenario_copy: SurgewiseEnv, tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    """A Dagster home of its own for the scenario copy, shared with the processes a test starts."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(REPO_ROOT / "dagster_project" / "dagster.yaml", home / "dagster.yaml")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(DAGSTER_HOME_ENV, str(home))
        with dg.DagsterInstance.get() as instance:
            yield instance


def _surges(env: SurgewiseEnv) -> list:
    with duckdb.connect(str(env.duckdb_path), read_only=True) as connection:
        return detect_account_surges(connection, load_surge_rules(env.config_dir).account_intent_surge)


def _count(env: SurgewiseEnv, sql: str, params: list | None = None) -> int:
    with duckdb.connect(str(env.duckdb_path), read_only=True) as connection:
        return connection.execute(sql, params or []).fetchone()[0]


@pytest.mark.slow
@pytest.mark.xdist_group("scenario")
def test_a_surge_whose_agent_run_was_killed_is_answered_on_the_next_tick(
    scenario_copy: SurgewiseEnv, scenario_instance: dg.DagsterInstance, definitions: dg.Definitions
) -> None:
    killed = subprocess.run(
        [sys.executable, "-c", _ANSWER_SURGES], cwd=REPO_ROOT, env={**os.environ, CRASH_AT_ENV: "signal:1"}
    )
    assert killed.returncode == -signal.SIGKILL, "the agent run should have been killed at its signal"
    (surge,) = _surges(scenario_copy)
    (missed,) = surges_not_acted_on(scenario_instance, [surge])
    assert "none succeeded (STARTED)" in missed.reason, missed.reason

    retry = run_sensor_once(definitions, scenario_instance, SURGE_SENSOR, AGENT_JOB)

    assert retry.already_done == 0 and len(retry.runs) == 1 and retry.runs[0].succeeded
    assert _count(scenario_copy, "select count(*) from governance.actions where trigger_key = ?", [surge.run_key]) > 0
    assert surges_not_acted_on(scenario_instance, [surge]) == []
    assert run_sensor_once(definitions, scenario_instance, SURGE_SENSOR, AGENT_JOB).already_done == 1
    unfinished = scenario_instance.get_run_records(
        dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED])
    )
    assert unfinished == []


@pytest.mark.slow
@pytest.mark.xdist_group("scenario")
def test_a_due_set_whose_approvals_run_failed_is_run_again(
    scenario_copy: SurgewiseEnv,
    scenario_instance: dg.DagsterInstance,
    definitions: dg.Definitions,
    tmp_path: Path,
) -> None:
    assert run_sensor_once(definitions, scenario_instance, SURGE_SENSOR, AGENT_JOB).runs[0].succeeded
    with duckdb.connect(str(scenario_copy.duckdb_path)) as connection:
        connection.execute(
            "update governance.actions set expires_at = ? where status = 'pending_approval'", [utc_now()]
        )
    pending = _count(scenario_copy, "select count(*) from governance.actions where status = 'pending_approval'")
    assert pending > 0
    broken = tmp_path / "broken_config"
    shutil.copytree(scenario_copy.config_dir, broken)
    (broken / "policies.yaml").write_text("version: [unclosed\n")

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CONFIG_DIR_ENV, str(broken))
        failed = run_sensor_once(definitions, scenario_instance, APPROVALS_SENSOR, APPROVALS_JOB)
    assert failed.failed == 1
    assert _count(scenario_copy, "select count(*) from governance.actions where status = 'expired'") == 0

    retry = run_sensor_once(definitions, scenario_instance, APPROVALS_SENSOR, APPROVALS_JOB)

    assert retry.already_done == 0 and len(retry.runs) == 1 and retry.runs[0].succeeded
    assert _count(scenario_copy, "select count(*) from governance.actions where status = 'expired'") == pending
