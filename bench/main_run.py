"""Benchmark: `surgewise run` from an empty data directory, at one or more market sizes.

Run on demand (`.venv/bin/python bench/main_run.py --accounts 200 --days 75`); writes
bench/results/main_run.json and bench/results/main_run.md. Never run by the test suite.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from reporting import size_arguments, write_results


def run_once(accounts: int, days: int, seed: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="surgewise-bench-") as scratch:
        env = {**os.environ, "SURGEWISE_DATA_DIR": str(Path(scratch) / "data"), "COLUMNS": "200"}
        for name in ("SURGEWISE_DUCKDB_PATH", "SURGEWISE_LANDING_DIR", "SURGEWISE_GROUND_TRUTH_DIR", "DAGSTER_HOME"):
            env.pop(name, None)
        command = [
            str(Path(sys.executable).with_name("surgewise")),
            "run",
            f"--accounts={accounts}",
            f"--days={days}",
            f"--seed={seed}",
        ]
        started = time.perf_counter()
        completed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    summary = [
        line for line in completed.stdout.splitlines() if line.startswith(("Events", "Profiled", "Surges", "Leads"))
    ]
    return {
        "accounts": accounts,
        "days": days,
        "seed": seed,
        "exit_code": completed.returncode,
        "wall_seconds": round(seconds, 1),
        "peak_rss_mib": round(peak_kib / 1024),
        "summary": summary,
    }


def main() -> None:
    args = size_arguments(__doc__)
    runs = [run_once(accounts, args.days, args.seed) for accounts in args.accounts]
    write_results(
        "main_run",
        "surgewise run from an empty data directory",
        "`surgewise run` from an empty data directory",
        runs,
        [
            "| accounts | days | exit | wall seconds | peak RSS (MiB) | summary |",
            "| ---: | ---: | ---: | ---: | ---: | --- |",
            *(
                f"| {r['accounts']} | {r['days']} | {r['exit_code']} | {r['wall_seconds']} | {r['peak_rss_mib']} | "
                f"{'<br>'.join(r['summary'])} |"
                for r in runs
            ),
        ],
    )


if __name__ == "__main__":
    main()
