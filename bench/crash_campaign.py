"""Crash campaign: kill `surgewise run` at random points, restart it, and count what was lost or done twice.

The market is built once (tests/crash.py: a real `surgewise run`, killed at its first signal). An uncrashed
`surgewise run --resume` on a copy gives the reference actions. Then, per chain, a fresh copy is killed
`--kills-per-chain` times in a row (each `--resume` first recovers what the previous kill left, then dies):
at a random step boundary and passage (`SURGEWISE_CRASH_AT=<boundary>:<n>`) or, one time in four, by
SIGKILL after a random delay; a last `--resume` finishes, and the chain's actions are compared with the
reference: lost, extra, duplicated, runs left in flight, audit chain verified. A kill that was not reached
(the run finished first) is not counted.

`make crash-test` (about 30-60 minutes on 2 cores; never part of `make test`), or
`.venv/bin/python bench/crash_campaign.py --kills 100`; writes bench/results/crash.md.
"""

from __future__ import annotations

import argparse
import random
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dagster_project.core.crash_points import BOUNDARIES
from tests.crash import CrashMarket, build_base, compare, copy_market, snapshot, surgewise

RESULTS = Path(__file__).parent / "results" / "crash.md"
MAX_PASSAGE = {"signal": 4, "proposal": 6, "decision": 20, "channel": 8, "ledger": 4, "audit": 60}
"""Highest n drawn per boundary, about how often one `--resume` on the campaign market passes it."""
DELAY = "delay"


def _kill(root: Path, rng: random.Random, boundaries: list[str], reference_seconds: float) -> tuple[str, bool]:
    """One `--resume` killed at a random point; the point and whether it died by SIGKILL."""
    if rng.random() < 0.25:
        delay = rng.uniform(1.0, reference_seconds)
        return f"{DELAY}:{delay:.1f}s", surgewise(root, "run", "--resume", kill_after=delay) == -signal.SIGKILL
    boundary = rng.choice(boundaries)
    spec = f"{boundary}:{rng.randint(1, MAX_PASSAGE[boundary])}"
    return spec, surgewise(root, "run", "--resume", crash_at=spec) == -signal.SIGKILL


def _chain(
    root: Path, rng: random.Random, kills: int, boundaries: list[str], reference_seconds: float
) -> tuple[list[str], list[str]]:
    """Kill `--resume` on one market `kills` times in a row; the points killed at and those not reached."""
    killed_at: list[str] = []
    not_reached: list[str] = []
    for _ in range(kills):
        point, killed = _kill(root, rng, boundaries, reference_seconds)
        (killed_at if killed else not_reached).append(point)
        print(f"{root.name}: {point} {'killed' if killed else 'not reached'}", flush=True)
    return killed_at, not_reached


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--kills-per-chain", type=int, default=5)
    parser.add_argument("--seed", type=int, default=11, help="Seed of the random kill points.")
    parser.add_argument("--boundaries", nargs="+", choices=BOUNDARIES, default=list(BOUNDARIES))
    arguments = parser.parse_args()
    rng = random.Random(arguments.seed)
    market = CrashMarket()
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="surgewise-crash-"))
    if build_base(work / "base", market) != -signal.SIGKILL:
        raise SystemExit(f"the build never reached the signal boundary: see {work / 'base' / 'cli.log'}")
    reference_root = copy_market(work / "base", work / "reference")
    reference_started = time.monotonic()
    if surgewise(reference_root, "run", "--resume") != 0:
        raise SystemExit(f"the uncrashed reference run failed: see {reference_root / 'cli.log'}")
    reference_seconds = time.monotonic() - reference_started
    reference = snapshot(reference_root)
    kills: Counter[str] = Counter()
    missed: Counter[str] = Counter()
    totals = Counter[str]()
    while sum(kills.values()) < arguments.kills:
        totals["chains"] += 1
        root = copy_market(work / "base", work / f"chain_{totals['chains']}")
        killed_at, not_reached = _chain(root, rng, arguments.kills_per_chain, arguments.boundaries, reference_seconds)
        kills.update(point.split(":")[0] for point in killed_at)
        missed.update(point.split(":")[0] for point in not_reached)
        finished = surgewise(root, "run", "--resume")
        outcome = compare(reference, snapshot(root))
        totals.update(
            lost=len(outcome.lost),
            extra=len(outcome.extra),
            duplicated=len(outcome.duplicated),
            stuck=len(outcome.stuck_runs),
            unverified=0 if outcome.chain_verified else 1,
            failed_last_runs=0 if finished == 0 else 1,
        )
        print(f"{root.name}: last run exit {finished}; {outcome}", flush=True)
        if outcome.clean and finished == 0:
            shutil.rmtree(root)
    _write(market, arguments, kills, missed, totals, reference.executed_actions, len(reference.statuses), started)
    kept = sorted(path.name for path in work.glob("chain_*"))
    if kept:
        print(f"chains with a difference kept for inspection under {work}: {', '.join(kept)}")
    else:
        shutil.rmtree(work)


def _write(
    market: CrashMarket,
    arguments: argparse.Namespace,
    kills: Counter[str],
    missed: Counter[str],
    totals: Counter[str],
    executed: int,
    actions: int,
    started: float,
) -> None:
    rows = "\n".join(
        f"| {point} | {kills[point]} | {missed[point]} |"
        for point in (*BOUNDARIES, DELAY)
        if kills[point] or missed[point]
    )
    RESULTS.write_text(
        f"""# Crash campaign

`make crash-test` on {datetime.now(UTC):%Y-%m-%d}: market seed {market.seed}, {market.accounts} accounts,
{market.days} days; {actions} governed actions in the uncrashed reference ({executed} executed). Chains of
{arguments.kills_per_chain} kills of `surgewise run --resume` (random boundary and passage, or SIGKILL after a
random delay), each chain finished by one more `--resume` and compared with the reference. Boundaries
drawn from: {", ".join(arguments.boundaries)}. Kill seed {arguments.seed}; {time.monotonic() - started:.0f} s in all.

| kill point | kills | not reached |
| --- | --- | --- |
{rows}

| figure | value |
| --- | --- |
| kills (SIGKILL) | {sum(kills.values())} |
| chains | {totals["chains"]} |
| actions lost | {totals["lost"]} |
| actions only after a crash | {totals["extra"]} |
| actions duplicated (booked, sent or executed twice) | {totals["duplicated"]} |
| runs left in flight | {totals["stuck"]} |
| chains whose audit chain failed to verify | {totals["unverified"]} |
| chains whose last `--resume` exited non-zero | {totals["failed_last_runs"]} |
"""
    )
    print(RESULTS.read_text())


if __name__ == "__main__":
    main()
