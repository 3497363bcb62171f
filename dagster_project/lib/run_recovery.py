"""What a crash leaves behind, and how the next run or sensor tick picks the work up again.

A process killed mid-run (`kill -9`, out of memory, a power cut) cannot mark its run failed: the run stays
`STARTED` for ever, and sensors that wait for running runs skip every tick. Runs started in process (the
`surgewise` CLI) carry the identity of the process that runs them, so `fail_dead_runs` can tell a dead one
from a live one and fail it; runs the daemon launched are watched by Dagster's run monitoring
(`dagster.yaml`). A live run is never failed: a run whose process cannot be checked from here is left alone.

A trigger (a surge, a due set of approvals) is done only when a run for it succeeded: `attempt_run_key`
gives a trigger whose runs failed a fresh run key, so the daemon and the CLI, which never run a key twice,
run it again. The governor's idempotency keys stop an action from being taken twice across attempts.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import dagster as dg

PROCESS_TAG = "surgewise/process"
"""`host:pid:start` of the process executing an in-process run; `start` is the kernel's start time of that
pid (empty where /proc is missing), so a pid reused by a later process is not taken for the run's."""
TRIGGER_KEY_TAG = "surgewise/trigger_key"
"""What a run answers (a surge's run key, a due set's digest), the same on every attempt."""
SURGE_TAG = "surgewise/surge"
"""The surge an agent run answers, whether the agent may act or a failing data check blocks it."""

UNFINISHED_STATUSES = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
FAILED_STATUSES = [dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state first), or None if there is none."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rfind(")") + 2 :].split()


def _start_time(pid: int) -> str:
    fields = _proc_stat(pid)
    return fields[19] if fields else ""


def current_process() -> str:
    """This process's identity, as `PROCESS_TAG` holds it."""
    return f"{socket.gethostname()}:{os.getpid()}:{_start_time(os.getpid())}"


def process_gone(identity: str) -> bool:
    """Whether the process `identity` names has certainly exited (a zombie counts as exited). False when it
    lives, and when it ran on another host, where it cannot be checked from here."""
    host, pid_text, start = identity.rsplit(":", 2) if identity.count(":") >= 2 else ("", "", "")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if Path("/proc/self/stat").exists():
        fields = _proc_stat(pid)
        return fields is None or fields[0] in ("Z", "X") or (bool(start) and fields[19] != start)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def fail_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Fail every unfinished run whose process has exited; the ids of the runs failed."""
    failed: list[str] = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=UNFINISHED_STATUSES)):
        run = record.dagster_run
        identity = run.tags.get(PROCESS_TAG)
        if identity is None or not process_gone(identity):
            continue
        instance.report_run_failed(
            run,
            f"The process that ran this run ({identity}) exited without finishing it (killed or crashed); "
            "failed so its trigger runs again.",
        )
        failed.append(run.run_id)
    return failed


def attempt_run_key(instance: dg.DagsterInstance, trigger_key: str) -> str:
    """The run key for the trigger's current attempt: the trigger key until a run for it fails, then a
    numbered retry. A succeeded or running attempt keeps its key, so it is not run again; a trigger that
    keeps failing is tried once per tick (nothing is given up on) and `surgewise run` names it."""
    failed = dg.RunsFilter(tags={TRIGGER_KEY_TAG: trigger_key}, statuses=FAILED_STATUSES)
    failures = len(instance.get_run_records(failed))
    return f"{trigger_key}:retry:{failures}" if failures else trigger_key


def trigger_succeeded(instance: dg.DagsterInstance, trigger_key: str) -> bool:
    """Whether a run answering this trigger succeeded."""
    return bool(
        instance.get_run_records(
            dg.RunsFilter(tags={TRIGGER_KEY_TAG: trigger_key}, statuses=[dg.DagsterRunStatus.SUCCESS]), limit=1
        )
    )
