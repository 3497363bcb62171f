"""The crash harness shared by tests/integration/test_crash_recovery.py and bench/crash_campaign.py.

A market is built once by a real `surgewise run`, killed (SIGKILL) at its first surge's signal, so the base
holds a built warehouse, trained models and a run left STARTED. Each trial copies the base, kills
`surgewise run --resume` at named step boundaries (`SURGEWISE_CRASH_AT`) or after a random delay, lets a
last `surgewise run --resume` finish the work, and compares the governed actions with an uncrashed
`--resume` on another copy: an action missing or in another status is lost, one booked, sent or executed
twice is duplicated, a run still in flight is stuck, and `surgewise audit verify` must pass.

`start_run_elsewhere` and `kill` give the Dagster tests a real run whose process is alive, or was killed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import duckdb

from dagster_project.core.crash_points import CRASH_AT_ENV
from dagster_project.core.settings import (
    AUDIT_ANCHOR_DIR_ENV,
    DAGSTER_HOME_ENV,
    DATA_DIR_ENV,
    KEYS_DIR_ENV,
    REPO_ROOT,
    REVIEWER_KEYS_DIR_ENV,
)

SURGEWISE = Path(sys.executable).parent / "surgewise"
RUN_TIMEOUT_SECONDS = 900
UNFINISHED = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


@dataclass(frozen=True)
class CrashMarket:
    """The simulated market the trials crash on: small, so each kill costs seconds, with a few surges."""

    seed: int = 42
    accounts: int = 60
    days: int = 75


def _environment(root: Path, crash_at: str | None) -> dict[str, str]:
    """The CLI's environment for the market under `root` (every path inside it), and the crash spec."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("SURGEWISE_", "DAGSTER_"))}
    data_dir = root / "data"
    env.update(
        {
            DATA_DIR_ENV: str(data_dir),
            DAGSTER_HOME_ENV: str(data_dir / "dagster_home"),
            KEYS_DIR_ENV: str(root / "keys"),
            AUDIT_ANCHOR_DIR_ENV: str(root / "audit_anchors"),
            REVIEWER_KEYS_DIR_ENV: str(root / "reviewer_keys"),
            "COLUMNS": "200",
        }
    )
    for name in ("SURGEWISE_DUCKDB_THREADS", "SURGEWISE_DBT_TARGET"):
        if name in os.environ:
            env[name] = os.environ[name]
    if crash_at:
        env[CRASH_AT_ENV] = crash_at
    return env


def surgewise(root: Path, *args: str, crash_at: str | None = None, kill_after: float | None = None) -> int:
    """Run the real CLI on the market under `root`; its exit code (-9 when killed). `kill_after` seconds
    SIGKILLs it from outside, as `kill -9` would."""
    with (root / "cli.log").open("a") as log:
        log.write(f"\n$ surgewise {' '.join(args)} (crash at {crash_at}, kill after {kill_after})\n")
        log.flush()
        process = subprocess.Popen(
            [str(SURGEWISE), *args], cwd=REPO_ROOT, env=_environment(root, crash_at), stdout=log, stderr=log
        )
        try:
            process.wait(timeout=kill_after or RUN_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
        return process.wait()


def build_base(root: Path, market: CrashMarket) -> int:
    """Build the market with `surgewise run`, killed at its first surge's signal; the exit code."""
    root.mkdir(parents=True, exist_ok=True)
    return surgewise(
        root,
        "run",
        f"--seed={market.seed}",
        f"--accounts={market.accounts}",
        f"--days={market.days}",
        crash_at="signal:1",
    )


def copy_market(base: Path, destination: Path) -> Path:
    shutil.copytree(base, destination, symlinks=True)
    return destination


@dataclass(frozen=True)
class Snapshot:
    """What the governed actions left: each action's status, and how often each was booked, written to a
    channel and recorded as executed."""

    statuses: dict[str, str]
    ledger: Counter[str]
    channel: Counter[str]
    executed: Counter[str]
    unfinished_runs: list[str]
    chain_verified: bool

    @property
    def executed_actions(self) -> int:
        return sum(1 for status in self.statuses.values() if status == "executed")


CHANNEL_TABLES = (
    "channel_sandbox.sequence_enrolments",
    "channel_sandbox.ad_budget_changes",
    "channel_sandbox.ad_creatives",
    "channel_sandbox.agent_handoffs",
)


def _counts(connection: duckdb.DuckDBPyConnection, sql: str) -> Counter[str]:
    return Counter(dict(connection.execute(sql).fetchall()))


def snapshot(root: Path) -> Snapshot:
    data_dir = root / "data"
    with duckdb.connect(str(data_dir / "surgewise.duckdb"), read_only=True) as connection:
        statuses = dict(connection.execute("select action_id, status from governance.actions").fetchall())
        ledger = _counts(connection, "select action_id, count(*) from governance.budget_ledger group by 1")
        channel: Counter[str] = Counter()
        for table in CHANNEL_TABLES:
            channel.update(_counts(connection, f"select idempotency_key, count(*) from {table} group by 1"))
        executed = _counts(
            connection,
            "select action_id, count(*) from audit.audit_log where event = 'action_decided' and outcome = 'executed' "
            "group by 1",
        )
    with dg.DagsterInstance.from_config(str(data_dir / "dagster_home")) as instance:
        records = instance.get_run_records(dg.RunsFilter(statuses=UNFINISHED))
    verified = surgewise(root, "audit", "verify") == 0
    return Snapshot(statuses, ledger, channel, executed, [record.dagster_run.run_id for record in records], verified)


@dataclass
class Comparison:
    """A recovered market against the uncrashed one."""

    lost: list[str] = field(default_factory=list)
    """Actions the uncrashed run has that the recovered one lacks or left in another status."""
    extra: list[str] = field(default_factory=list)
    """Actions only the recovered run has."""
    duplicated: list[str] = field(default_factory=list)
    """Actions booked, written to a channel or recorded as executed more than once."""
    stuck_runs: list[str] = field(default_factory=list)
    chain_verified: bool = True

    @property
    def clean(self) -> bool:
        return not (self.lost or self.extra or self.duplicated or self.stuck_runs) and self.chain_verified


def compare(baseline: Snapshot, recovered: Snapshot) -> Comparison:
    twice = {
        action_id
        for counts in (recovered.ledger, recovered.channel, recovered.executed)
        for action_id, count in counts.items()
        if count > 1
    }
    return Comparison(
        lost=sorted(a for a, status in baseline.statuses.items() if recovered.statuses.get(a) != status),
        extra=sorted(set(recovered.statuses) - set(baseline.statuses)),
        duplicated=sorted(twice),
        stuck_runs=recovered.unfinished_runs,
        chain_verified=recovered.chain_verified,
    )


SLEEPER = textwrap.dedent(
    """
    import sys, time
    import dagster as dg
    from dagster_project.lib.jobs_in_process import run_job_in_process

    @dg.op
    def wait(context) -> None:
        open(sys.argv[2], "w").write(context.run_id)
        time.sleep(300)

    @dg.job(name=sys.argv[3])
    def sleeper():
        wait()

    run_job_in_process(dg.Definitions(jobs=[sleeper]), dg.DagsterInstance.local_temp(sys.argv[1]), sys.argv[3])
    """
)


@dataclass
class InFlightRun:
    run_id: str
    process: subprocess.Popen


def start_run_elsewhere(dagster_dir: Path, job_name: str) -> InFlightRun:
    """A real run of a job that only waits, executing in another process (through `run_job_in_process`), once
    its op has started."""
    marker = dagster_dir / f"{job_name}.{time.monotonic_ns()}.started"
    process = subprocess.Popen([sys.executable, "-c", SLEEPER, str(dagster_dir), str(marker), job_name], cwd=REPO_ROOT)
    deadline = time.monotonic() + 120
    while not (marker.exists() and marker.read_text()):
        assert process.poll() is None, "the run's process exited before its op started"
        assert time.monotonic() < deadline, "the run did not start"
        time.sleep(0.1)
    return InFlightRun(marker.read_text(), process)


def kill(run: InFlightRun) -> None:
    run.process.send_signal(signal.SIGKILL)
    assert run.process.wait() == -signal.SIGKILL
