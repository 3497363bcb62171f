"""What every benchmark script shares: its size arguments and how its results are written."""

from __future__ import annotations

import argparse
import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).parent / "results"


def size_arguments(description: str | None) -> argparse.Namespace:
    """--accounts (one or more market sizes), --days and --seed of the simulated market."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--accounts", type=int, nargs="+", default=[200])
    parser.add_argument("--days", type=int, default=75)
    parser.add_argument("--seed", type=int, default=42)
    return parser.parse_args()


def write_results(name: str, title: str, heading: str, runs: list[dict[str, Any]], body: list[str]) -> None:
    """Write results/<name>.json (every figure, with the machine) and results/<name>.md (the table), and print
    the markdown."""
    result = {
        "benchmark": title,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "runs": runs,
    }
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        f"# {heading}",
        "",
        f"Measured {result['measured_at']} on {os.cpu_count()} CPUs, Python {platform.python_version()}.",
        "",
        *body,
    ]
    (RESULTS_DIR / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def history_scaling(runs: list[dict[str, Any]], aim: float) -> list[str]:
    """The sentence comparing the micro-batch on the most history with the one on the least, against the aim."""
    if len(runs) < 2:
        return []
    ratio = runs[-1]["micro_batch_seconds"] / runs[0]["micro_batch_seconds"]
    return [
        "",
        f"Micro-batch on {runs[-1]['history_events']:,} events of history costs {ratio:.2f}x the micro-batch on "
        f"{runs[0]['history_events']:,} (aim: at most {aim:g}x).",
    ]
