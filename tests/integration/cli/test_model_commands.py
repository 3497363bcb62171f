"""The CLI on the default market: `explain person` shows why a score is high, `models` lists the champions,
`evaluate` compares AQL with MQL and send times with 10:00, and `forget` reaches into the send-time models."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from dagster_project.cli import app
from models.registry import ModelRegistry
from models.send_time import SEND_TIME_MODEL, SendTimeModel
from models.serving import INTENT_SCORES_TABLE
from tests.environment import surgewise_environment
from tests.markets import DefaultMarket

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("default_market")]

WIDE = {"COLUMNS": "250"}


def test_explain_person_shows_why_the_score_is_high(market: DefaultMarket) -> None:
    (person_id, top_features) = market.query(
        f"select entity_id, top_features from {INTENT_SCORES_TABLE} where entity_type = 'person' "
        "order by probability desc limit 1"
    )[0]
    result = CliRunner().invoke(app, ["explain", "person", person_id], env=WIDE)
    assert result.exit_code == 0, result.output
    assert f"Intent score of the person {person_id}" in result.output
    assert json.loads(top_features)[0]["feature"] in result.output
    assert "Agent-Qualified Lead" in result.output and "engagement points" in result.output
    assert "Send time:" in result.output


def test_the_models_command_lists_champions_with_their_figures(market: DefaultMarket) -> None:
    result = CliRunner().invoke(app, ["models"], env=WIDE)
    assert result.exit_code == 0, result.output
    for status in market.report.models:
        assert status.name in result.output and status.champion in result.output
    assert "PR AUC" in result.output and "expected open rate" in result.output


def test_evaluate_compares_aql_with_mql_and_send_times_with_ten_oclock(market: DefaultMarket) -> None:
    result = CliRunner().invoke(app, ["evaluate"], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "AQL (intent model + ICP + engagement)" in result.output and "MQL (engagement points > 80)" in result.output
    assert "Send times: the recommended hour" in result.output
    card = market.registry.card(SEND_TIME_MODEL, market.registry.champion_version(SEND_TIME_MODEL))
    assert card.metrics["expected_open_rate"] > card.metrics["fixed_hour_open_rate"]


def test_forget_erases_a_person_from_the_send_time_models(market: DefaultMarket, tmp_path: Path) -> None:
    shutil.copytree(market.env.data_dir, tmp_path / "data")
    with surgewise_environment(tmp_path / "data") as env, pytest.MonkeyPatch.context() as patch:
        patch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
        (tmp_path / "dagster_home").mkdir()
        registry = ModelRegistry(env.model_registry_dir)
        model, _ = registry.champion(SEND_TIME_MODEL)
        assert isinstance(model, SendTimeModel)
        reader = next(iter(sorted(model.contacts)))
        with duckdb.connect(str(env.duckdb_path), read_only=True) as connection:
            (email,) = connection.execute("select email from marts.dim_person where person_id = ?", [reader]).fetchone()
        result = CliRunner().invoke(app, ["forget", email, "--yes"], env=WIDE)
        assert result.exit_code == 0, result.output
        assert "model_registry/send_time" in result.output
        for version in registry.versions(SEND_TIME_MODEL):
            assert reader not in registry.load(SEND_TIME_MODEL, version)[0].contacts
        with duckdb.connect(str(env.duckdb_path), read_only=True) as connection:
            for table in ("ml.intent_scores", "ml.aql_leads", "ml.send_time_recommendations"):
                (count,) = connection.execute(f"select count(*) from {table} where person_id = ?", [reader]).fetchone()
                assert count == 0, table
