"""`surgewise run` killed (SIGKILL) at each step boundary, then run again: no action lost, none done twice, the
audit chain verifies and no run is left in flight. The full campaign of random kills is `make crash-test`.

The market is built once by a real `surgewise run`, killed at its first signal (tests/crash.py); the other
boundaries kill `surgewise run --resume` one after the other on one copy, each run recovering what the
previous kill left, and a last `--resume` finishes. An uncrashed `--resume` on another copy is the reference.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from dagster_project.core.crash_points import BOUNDARIES
from tests.crash import CrashMarket, build_base, compare, copy_market, snapshot, surgewise

pytestmark = pytest.mark.slow

KILLED = -signal.SIGKILL


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The campaign market built by `surgewise run`, killed at its first surge's signal."""
    root = tmp_path_factory.mktemp("crash") / "base"
    assert build_base(root, CrashMarket()) == KILLED, (
        f"`surgewise run` never reached the signal boundary (see {root / 'cli.log'})"
    )
    return root


def test_a_run_killed_at_every_step_boundary_loses_nothing_and_does_nothing_twice(base: Path, tmp_path: Path) -> None:
    reference_root = copy_market(base, tmp_path / "reference")
    assert surgewise(reference_root, "run", "--resume") == 0, f"see {reference_root / 'cli.log'}"
    reference = snapshot(reference_root)
    assert reference.executed_actions > 0 and reference.chain_verified and not reference.unfinished_runs

    crashed = copy_market(base, tmp_path / "crashed")
    for boundary in BOUNDARIES[1:]:
        exit_code = surgewise(crashed, "run", "--resume", crash_at=f"{boundary}:1")
        assert exit_code == KILLED, (
            f"boundary {boundary!r} was never reached: `surgewise run --resume` exited {exit_code} instead of "
            f"being killed there (see {crashed / 'cli.log'})"
        )
    assert surgewise(crashed, "run", "--resume") == 0, f"see {crashed / 'cli.log'}"

    outcome = compare(reference, snapshot(crashed))
    assert outcome.clean, outcome
