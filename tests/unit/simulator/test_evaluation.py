"""`evaluate_against_ground_truth` on a real simulated market, scored from a hand-built warehouse.

Building the real warehouse takes the whole Dagster and dbt pipeline (`tests/test_end_to_end.py` covers
that through `surgewise evaluate`). Here the warehouse holds only the tables the evaluation reads, filled
as a perfect pipeline would from the market's own ground truth, plus one account of pure noise, so every
number the evaluation returns is known exactly. No model has been trained, so the lead comparison must
say what to run first.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from pathlib import Path

import duckdb
import pytest

from dagster_project.core.settings import REPO_ROOT
from dagster_project.simulator import SimulationSummary, simulate
from dagster_project.simulator.evaluation import (
    GroundTruthEvaluation,
    GroundTruthWindow,
    NoGroundTruthError,
    SurgeAccuracy,
    Unavailable,
    evaluate_against_ground_truth,
    load_buying_windows,
    load_opportunity_days,
)

# Its module fixtures simulate or train once: the module runs on one worker.
pytestmark = pytest.mark.xdist_group("evaluation")

CONFIG_DIR = REPO_ROOT / "config"
START_DATE = date(2026, 10, 1)
MARKET = {"seed": 7, "accounts": 30, "days": 14, "start_date": START_DATE}
NO_MODEL = Unavailable("no promoted person intent model: run `surgewise run` first")

Truth = tuple[list[dict], list[dict]]
"""The buying windows and the contacts of the ground truth, as written by the simulator."""


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SimulationSummary]:
    root = tmp_path_factory.mktemp("market")
    return root / "ground_truth", simulate(root / "landing", root / "ground_truth", **MARKET)


def _truth(ground_truth_dir: Path) -> Truth:
    windows = json.loads((ground_truth_dir / "buying_windows.json").read_text())["buying_windows"]
    return windows, json.loads((ground_truth_dir / "contacts.json").read_text())


def _person(contact_id: str) -> str:
    return f"per_{contact_id}"


def _build_warehouse(path: Path, truth: Truth, *, with_recommendations: bool = True) -> None:
    """Every buying-group member, each from a department of their own, views pricing on the first day of
    the window; one account that never buys has one person reading the blog three times in a day."""
    windows, contacts = truth
    noise_account = next(c["account_id"] for c in contacts if c["account_id"] not in {w["account_id"] for w in windows})
    noise_person = _person(next(c["contact_id"] for c in contacts if c["account_id"] == noise_account))
    departments = {
        member: f"department_{index}"
        for window in windows
        for index, member in enumerate(window["buying_group_contact_ids"])
    }
    signals = [
        (window["account_id"], _person(member), datetime.combine(date.fromisoformat(window["window_start"]), time(10)))
        for window in windows
        for member in window["buying_group_contact_ids"]
    ]
    noise_day = datetime.combine(START_DATE, time(9))
    with duckdb.connect(str(path)) as connection:
        connection.execute("create schema marts; create schema intermediate; create schema ml")
        connection.execute("create table marts.dim_account (account_id varchar, account_name varchar, tier integer)")
        connection.executemany(
            "insert into marts.dim_account values (?, ?, ?)",
            [(w["account_id"], w["domain"], w["tier"]) for w in windows] + [(noise_account, "noise", 1)],
        )
        connection.execute(
            "create table marts.dim_person (person_id varchar, crm_contact_id varchar, department varchar)"
        )
        connection.executemany(
            "insert into marts.dim_person values (?, ?, ?)",
            [(_person(c["contact_id"]), c["contact_id"], departments.get(c["contact_id"], "other")) for c in contacts],
        )
        connection.execute(
            "create table marts.fct_signals (account_id varchar, person_id varchar, occurred_at timestamp, "
            "content_category varchar, quality_score double)"
        )
        connection.executemany(
            "insert into marts.fct_signals values (?, ?, ?, ?, ?)",
            [(account, person, at, "pricing", 2.0) for account, person, at in signals]
            + [(noise_account, noise_person, noise_day + timedelta(minutes=m), "blog", 2.0) for m in range(3)],
        )
        connection.execute(
            "create view intermediate.int_signals__unioned as select account_id, occurred_at from marts.fct_signals"
        )
        if with_recommendations:
            _write_recommendations(connection, contacts)


def _write_recommendations(connection: duckdb.DuckDBPyConnection, contacts: list[dict]) -> None:
    """Every other contact gets their preferred hour, the rest one twelve hours off; every third contact
    has no reads of their own."""
    connection.execute(
        "create table ml.send_time_recommendations (person_id varchar, best_local_hour integer, own_reads integer)"
    )
    connection.executemany(
        "insert into ml.send_time_recommendations values (?, ?, ?)",
        [
            (
                _person(c["contact_id"]),
                c["preferred_local_hour"] if i % 2 == 0 else (c["preferred_local_hour"] + 12) % 24,
                0 if i % 3 == 0 else 5,
            )
            for i, c in enumerate(contacts)
        ],
    )


def _evaluate(ground_truth_dir: Path, warehouse: Path, tmp_path: Path) -> GroundTruthEvaluation:
    return evaluate_against_ground_truth(
        ground_truth_dir, config_dir=CONFIG_DIR, warehouse_path=warehouse, model_registry_dir=tmp_path / "registry"
    )


def test_every_rule_lead_flag_and_send_time_is_scored_against_the_truth(
    market: tuple[Path, SimulationSummary], tmp_path: Path
) -> None:
    ground_truth_dir, summary = market
    truth = _truth(ground_truth_dir)
    _build_warehouse(tmp_path / "warehouse.duckdb", truth)

    result = _evaluate(ground_truth_dir, tmp_path / "warehouse.duckdb", tmp_path)

    windows = summary.buying_windows
    assert windows > 0
    assert {evaluation.rule: evaluation.accuracy for evaluation in result.surge_rules} == {
        "naive_any_3_events": SurgeAccuracy(windows + 1, windows, windows, windows),
        "distinct_contacts": SurgeAccuracy(windows, windows, windows, windows),
        "quality_weighted": SurgeAccuracy(windows, windows, windows, windows),
    }
    assert all(evaluation.description for evaluation in result.surge_rules)
    assert result.lead_flags == NO_MODEL
    assert result.lead_horizon_days == 10 and result.fixed_send_hour == 10
    hours = [contact["preferred_local_hour"] for contact in truth[1]]
    send_times = result.send_times
    assert not isinstance(send_times, Unavailable)
    assert send_times.contacts == len(hours) == summary.contacts
    assert send_times.model_hits == len(hours[::2])
    assert send_times.fixed_hour_hits == sum(abs(hour - 10) <= 1 for hour in hours)
    assert send_times.contacts_without_history == len(hours[::3])
    assert send_times.model_hits_without_history == len(hours[::6])


def test_missing_ground_truth_is_refused_before_the_warehouse_is_opened(tmp_path: Path) -> None:
    with pytest.raises(NoGroundTruthError) as refused:
        _evaluate(tmp_path / "ground_truth", tmp_path / "no_warehouse.duckdb", tmp_path)
    assert refused.value.directory == tmp_path / "ground_truth"
    assert not (tmp_path / "no_warehouse.duckdb").exists()


def test_comparisons_that_need_a_run_first_say_which(market: tuple[Path, SimulationSummary], tmp_path: Path) -> None:
    ground_truth_dir, _ = market
    _build_warehouse(tmp_path / "warehouse.duckdb", _truth(ground_truth_dir), with_recommendations=False)

    result = _evaluate(ground_truth_dir, tmp_path / "warehouse.duckdb", tmp_path)

    assert result.lead_flags == NO_MODEL
    assert result.send_times == Unavailable("no send-time recommendations: run `surgewise run` first")
    assert len(result.surge_rules) == 3


def test_ground_truth_windows_and_opportunities_are_read_back_as_written(
    market: tuple[Path, SimulationSummary],
) -> None:
    ground_truth_dir, summary = market
    windows, _ = _truth(ground_truth_dir)

    read_back = load_buying_windows(ground_truth_dir)

    assert len(read_back) == summary.buying_windows
    assert read_back[0] == GroundTruthWindow(
        account_id=windows[0]["account_id"],
        tier=windows[0]["tier"],
        window_start=date.fromisoformat(windows[0]["window_start"]),
        window_end=date.fromisoformat(windows[0]["window_end"]),
    )
    assert load_opportunity_days(ground_truth_dir) == {
        w["account_id"]: date.fromisoformat(w["opportunity_created_on"]) for w in windows if w["opportunity_created_on"]
    }
