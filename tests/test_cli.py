"""The `surgewise` command line as a user types it."""

from __future__ import annotations

from typer.testing import CliRunner

from dagster_project.cli import app
from tests.conftest import SurgewiseEnv


def test_simulate_writes_the_landing_zone_and_reports_it(surgewise_env: SurgewiseEnv) -> None:
    result = CliRunner().invoke(app, ["simulate", "--seed", "3", "--accounts", "12", "--days", "3"])

    assert result.exit_code == 0, result.output
    assert "web_events" in result.output and "hidden buying windows" in result.output
    assert len(list((surgewise_env.landing_dir / "web_events").glob("batch_*.jsonl"))) == 3
    assert (surgewise_env.ground_truth_dir / "buying_windows.json").exists()


def test_bad_options_are_refused_with_a_message(surgewise_env: SurgewiseEnv) -> None:
    result = CliRunner().invoke(app, ["simulate", "--accounts", "0"])

    assert result.exit_code != 0
    assert "accounts" in result.output
