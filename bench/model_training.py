"""Benchmark: training, scoring and explaining the models, on markets of one or more sizes.

Run on demand (`.venv/bin/python bench/model_training.py --accounts 200 600`); each size is built once with
`surgewise run` in a scratch directory, then every model step is timed in-process on that warehouse.
Writes bench/results/models.json and bench/results/models.md. Never run by the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from models.config import load_model_settings
from models.features import latest_rows
from models.registry import ModelRegistry
from models.send_time import load_read_events, train_send_time_challenger
from models.serving import score_rows
from models.training import load_labelled_rows, train_challenger

RESULTS_DIR = Path(__file__).parent / "results"
CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"


def _timed(step: str, timings: dict[str, float], function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    timings[step] = round(time.perf_counter() - started, 2)
    return result


def measure(accounts: int, days: int, seed: int) -> dict:
    settings = load_model_settings(CONFIG_DIR)
    with tempfile.TemporaryDirectory(prefix="surgewise-bench-models-") as scratch:
        data_dir = Path(scratch) / "data"
        env = {**os.environ, "SURGEWISE_DATA_DIR": str(data_dir), "COLUMNS": "200"}
        for name in ("SURGEWISE_DUCKDB_PATH", "SURGEWISE_LANDING_DIR", "SURGEWISE_GROUND_TRUTH_DIR", "DAGSTER_HOME"):
            env.pop(name, None)
        command = [str(Path(sys.executable).with_name("surgewise")), "run", f"--accounts={accounts}", f"--days={days}"]
        subprocess.run([*command, f"--seed={seed}"], env=env, capture_output=True, check=True)
        registry = ModelRegistry(Path(scratch) / "bench_registry")
        timings: dict[str, float] = {}
        with duckdb.connect(str(data_dir / "surgewise.duckdb"), read_only=True) as connection:
            labelled = _timed("load feature rows", timings, load_labelled_rows, connection, settings)
            events = load_read_events(connection)
        sizes = {level: len(rows) for level, rows in labelled.items()}
        figures: dict[str, object] = {}
        now = datetime.now(UTC).replace(tzinfo=None)
        for level, rows in labelled.items():
            outcome = _timed(f"train {level} intent", timings, train_challenger, level, rows, settings, registry, now)
            if outcome.card is None:
                figures[level] = outcome.skipped_reason
                continue
            figures[level] = {key: outcome.card.metrics["model"][key] for key in ("pr_auc", "roc_auc", "brier")}
            today = latest_rows(rows)
            model, card = registry.champion(outcome.model_name)
            _timed(f"score and explain {len(today)} {level}s", timings, score_rows, model, card, today, settings, now)
        _timed("train send time", timings, train_send_time_challenger, events, settings.send_time, registry, now)
    return {"accounts": accounts, "days": days, "seed": seed, "rows": sizes, "seconds": timings, "held_out": figures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, nargs="+", default=[200])
    parser.add_argument("--days", type=int, default=75)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    runs = [measure(accounts, args.days, args.seed) for accounts in args.accounts]
    result = {
        "benchmark": "model training, scoring and explanation",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "runs": runs,
    }
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "models.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Model training, scoring and explanation",
        "",
        f"Measured {result['measured_at']} on {os.cpu_count()} CPUs, Python {platform.python_version()}.",
        "",
        "| accounts | days | feature rows (account / person) | step | seconds |",
        "| ---: | ---: | --- | --- | ---: |",
    ]
    for run in runs:
        rows = f"{run['rows']['account']:,} / {run['rows']['person']:,}"
        lines += [
            f"| {run['accounts']} | {run['days']} | {rows} | {step} | {seconds} |"
            for step, seconds in run["seconds"].items()
        ]
    lines += ["", "Held-out figures of each size's models:", ""]
    lines += [f"- {run['accounts']} accounts: {json.dumps(run['held_out'])}" for run in runs]
    (RESULTS_DIR / "models.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
