"""The `surgewise` command line as a user types it."""

from __future__ import annotations

from typer.testing import CliRunner

from dagster_project.cli import app
from tests.environment import SurgewiseEnv


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


def test_live_mode_delivers_one_batch_at_a_time_into_the_landing_zone(surgewise_env: SurgewiseEnv) -> None:
    result = CliRunner().invoke(
        app, ["run", "--live", "--interval", "0", "--accounts", "8", "--days", "3", "--start-date", "2026-10-01"]
    )

    assert result.exit_code == 0, result.output
    assert [line.split()[1] for line in result.output.splitlines() if "delivered" in line] == [
        "batch_20261001",
        "batch_20261002",
        "batch_20261003",
    ]
    assert len(list((surgewise_env.landing_dir / "crm_contacts").glob("batch_*.csv"))) == 3
    assert not list((surgewise_env.data_dir / "outbox").glob("*/batch_*"))


def test_live_delivery_waits_between_batches(tmp_path) -> None:
    from dagster_project.run.live import deliver_live

    for day in ("batch_20261001", "batch_20261002"):
        for source in ("web_events", "crm_contacts"):
            (tmp_path / "outbox" / source).mkdir(parents=True, exist_ok=True)
            (tmp_path / "outbox" / source / f"{day}.jsonl").write_text("{}\n")
    waits: list[float] = []
    delivered: list[tuple[str, int]] = []

    count = deliver_live(
        tmp_path / "outbox",
        tmp_path / "landing",
        interval_seconds=2.5,
        on_batch=lambda batch, files: delivered.append((batch, len(files))),
        sleep=waits.append,
    )

    assert count == 2
    assert delivered == [("batch_20261001", 2), ("batch_20261002", 2)]
    assert waits == [2.5]
