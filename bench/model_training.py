"""Benchmark: training, scoring and explaining the models, on markets of one or more sizes.

Run on demand (`.venv/bin/python bench/model_training.py --accounts 200 600`); each size is built once with
`surgewise run` in a scratch directory, then every model step is timed in-process on that warehouse.
Writes bench/results/models.json and bench/results/models.md. Never run by the test suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
from reporting import size_arguments, write_results

from dagster_project.core.clock import utc_now
from models.config import load_model_settings
from models.features import latest_rows
from models.registry import ModelRegistry
from models.send_time import load_read_events, train_send_time_challenger
from models.serving import score_rows
from models.training import load_labelled_rows, train_challenger

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
        now = utc_now()
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
    args = size_arguments(__doc__)
    runs = [measure(accounts, args.days, args.seed) for accounts in args.accounts]
    write_results(
        "models",
        "model training, scoring and explanation",
        "Model training, scoring and explanation",
        runs,
        [
            "| accounts | days | feature rows (account / person) | step | seconds |",
            "| ---: | ---: | --- | --- | ---: |",
            *(
                f"| {run['accounts']} | {run['days']} | {run['rows']['account']:,} / {run['rows']['person']:,} "
                f"| {step} | {seconds} |"
                for run in runs
                for step, seconds in run["seconds"].items()
            ),
            "",
            "Held-out figures of each size's models:",
            "",
            *(f"- {run['accounts']} accounts: {json.dumps(run['held_out'])}" for run in runs),
        ],
    )


if __name__ == "__main__":
    main()
