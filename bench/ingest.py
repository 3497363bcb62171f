"""Benchmark: full build and one ~1% micro-batch on top of 10k, 100k and 1M events of history.

For each size the simulated market runs 100 days, so its last daily batch is about 1% of the events.
The first 99 batches are loaded and built (`surgewise_build_job`: connectors → dbt → checks) as the
history; then the last batch is delivered and built again, which is the micro-batch cost. Each size
runs in its own process so peak memory is per size.

Run on demand: `.venv/bin/python bench/ingest.py` (about 10 minutes on 2 cores) or
`--sizes 10000 100000`; writes bench/results/ingest.json and bench/results/ingest.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from reporting import history_scaling

RESULTS_DIR = Path(__file__).parent / "results"
DAYS = 100
EVENTS_PER_ACCOUNT_DAY = 7.0
"""Web and email events per account per simulated day at the simulator's defaults (measured)."""


def _measure(target_events: int) -> dict:
    """Runs inside a worker process with SURGEWISE_* pointing at a scratch directory."""
    import dagster as dg

    from dagster_project.core.settings import DUCKDB_PATH_ENV, GROUND_TRUTH_DIR_ENV, LANDING_DIR_ENV, env_path
    from dagster_project.core.warehouse import open_warehouse
    from dagster_project.definitions import defs
    from dagster_project.lib.names import BUILD_JOB
    from dagster_project.run.live import pending_batches, release_batch
    from dagster_project.simulator import simulate

    accounts = max(2, round(target_events / (DAYS * EVENTS_PER_ACCOUNT_DAY)))
    outbox = env_path("SURGEWISE_DATA_DIR") / "outbox"
    landing = env_path(LANDING_DIR_ENV)
    started = time.perf_counter()
    summary = simulate(outbox, env_path(GROUND_TRUTH_DIR_ENV), seed=11, accounts=accounts, days=DAYS)
    simulate_seconds = time.perf_counter() - started
    batches = pending_batches(outbox)
    for batch in batches[:-1]:
        release_batch(outbox, landing, batch)

    build = defs().resolve_job_def(BUILD_JOB)
    quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}

    def timed_build(instance: dg.DagsterInstance) -> float:
        started = time.perf_counter()
        result = build.execute_in_process(instance=instance, run_config=quiet, raise_on_error=False)
        if not result.success:
            raise RuntimeError(f"build failed at {target_events} events")
        return time.perf_counter() - started

    with dg.instance_for_test() as instance:
        full_seconds = timed_build(instance)
        with open_warehouse(env_path(DUCKDB_PATH_ENV), read_only=True) as connection:
            (history_events,) = connection.execute(
                "select (select count(*) from raw.web_events) + (select count(*) from raw.email_events)"
            ).fetchone()
        release_batch(outbox, landing, batches[-1])
        batch_seconds = timed_build(instance)
        with open_warehouse(env_path(DUCKDB_PATH_ENV), read_only=True) as connection:
            (total_events,) = connection.execute(
                "select (select count(*) from raw.web_events) + (select count(*) from raw.email_events)"
            ).fetchone()
    batch_events = total_events - history_events
    return {
        "target_events": target_events,
        "accounts": accounts,
        "days": DAYS,
        "landing_rows": sum(summary.rows_written.values()),
        "history_events": history_events,
        "batch_events": batch_events,
        "simulate_seconds": round(simulate_seconds, 1),
        "full_build_seconds": round(full_seconds, 1),
        "micro_batch_seconds": round(batch_seconds, 1),
        "full_build_events_per_second": round(history_events / full_seconds),
        "micro_batch_events_per_second": round(batch_events / batch_seconds),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "peak_rss_children_mib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
    }


def _run_worker(target_events: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="surgewise-ingest-bench-") as scratch:
        env = {**os.environ, "SURGEWISE_DATA_DIR": str(Path(scratch) / "data")}
        for name in ("SURGEWISE_DUCKDB_PATH", "SURGEWISE_LANDING_DIR", "SURGEWISE_GROUND_TRUTH_DIR"):
            env.pop(name, None)
        completed = subprocess.run(
            [sys.executable, __file__, "--worker", str(target_events)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    if completed.returncode != 0:
        return {"target_events": target_events, "error": completed.stderr[-2000:]}
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        from dagster_project.core.settings import apply_environment_defaults

        apply_environment_defaults()
        print(json.dumps(_measure(args.worker)))
        return

    runs = [_run_worker(size) for size in args.sizes]
    result = {
        "benchmark": "full build and a ~1% micro-batch on top of growing history",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "runs": runs,
    }
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "ingest.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Ingest benchmark: full build vs one micro-batch",
        "",
        f"Measured {result['measured_at']} on {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"{DAYS} simulated days, the micro-batch is the last day (~1% of events).",
        "",
        "| history events | batch events | full build s | micro-batch s | full events/s | batch events/s "
        "| peak RSS MiB (python / dbt) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in runs:
        if "error" in run:
            lines.append(f"| {run['target_events']:,} (failed) | | | | | | |")
            continue
        lines.append(
            f"| {run['history_events']:,} | {run['batch_events']:,} | {run['full_build_seconds']} | "
            f"{run['micro_batch_seconds']} | {run['full_build_events_per_second']:,} | "
            f"{run['micro_batch_events_per_second']:,} | {run['peak_rss_mib']} / {run['peak_rss_children_mib']} |"
        )
    lines += history_scaling([run for run in runs if "error" not in run], aim=2)
    (RESULTS_DIR / "ingest.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
