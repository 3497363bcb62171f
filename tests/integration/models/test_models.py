"""The ML models on the default simulated market, through the real pipeline: `surgewise run` simulates,
loads, builds dbt (with the feature marts), trains, promotes, scores and lets the agents act.

Every assertion about model quality is on held-out snapshot days the model never trained on.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pytest

from dagster_project.defs.ml.assets import intent_scores
from dagster_project.defs.ml.checks import intent_feature_drift
from dagster_project.lib.names import RETRAINING_SENSOR
from models.config import ModelSettings
from models.features import ACCOUNT_LEVEL, FEATURE_SETS, PERSON_LEVEL, snapshot_hash
from models.intent import IntentModel, train_intent_model
from models.registry import ModelRegistry, TrainingOutcome
from models.serving import INTENT_SCORES_TABLE, served_latest_scores
from models.training import intent_model_name, prepare_training_data, train_challenger
from tests.environment import surgewise_environment
from tests.markets import DefaultMarket

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("default_market")]


def test_surgewise_run_trains_promotes_and_scores(market: DefaultMarket) -> None:
    report = market.report
    assert report.build_succeeded and report.training_runs == 1 and report.training_failed == 0
    assert report.warehouse.checks["intent_feature_drift"] is True
    champions = {status.name: status.champion for status in report.models}
    assert all(champions.values()), champions
    for name, version in champions.items():
        folder = market.env.model_registry_dir / name / version
        assert (folder / "model.joblib").exists()
        card = json.loads((folder / "model_card.json").read_text())
        for field in ("data_snapshot_hash", "features", "parameters", "metrics", "trained_at", "code_version"):
            assert card[field], f"{name} card lacks {field}"
    scored = dict(market.query(f"select entity_type, count(*) from {INTENT_SCORES_TABLE} group by 1"))
    (people_with_account,) = market.query("select count(*) from marts.dim_person where account_id is not null")[0]
    assert scored == {"account": 200, "person": people_with_account}
    (recommended,) = market.query("select count(*) from ml.send_time_recommendations")[0]
    (with_timezone,) = market.query("select count(*) from marts.dim_person where timezone is not null")[0]
    assert recommended == with_timezone
    assert report.warehouse.aqls > 0 and report.warehouse.mqls > 0


def test_the_ui_shows_each_model_with_its_metrics_and_charts(market: DefaultMarket) -> None:
    """What a RevOps user sees on the intent_model asset in the Dagster UI: numbers that plot over time,
    the comparison with the rule, and the calibration and lift charts."""
    event = market.instance.get_latest_materialization_event(dg.AssetKey("intent_model"))
    metadata = event.asset_materialization.metadata
    for name in ("account_intent", "person_intent"):
        assert metadata[f"{name}_model_pr_auc"].value > metadata[f"{name}_rule_pr_auc"].value
        report = metadata[f"{name}_report"].value
        assert "#### Calibration" in report and "#### Lift by decile" in report and "█" in report
        assert "rule: engagement points > 80" in report
        assert Path(metadata[f"{name}_card"].value).exists()
    scores = market.instance.get_latest_materialization_event(dg.AssetKey("intent_scores"))
    assert "top drivers" in scores.asset_materialization.metadata["top_accounts"].value
    send_time = market.instance.get_latest_materialization_event(dg.AssetKey("send_time_model"))
    assert send_time.asset_materialization.metadata["open_rate_uplift"].value > 0


def test_the_time_split_never_lets_training_see_the_held_out_period(market: DefaultMarket) -> None:
    """Every training label (an opportunity within the horizon) was known before the first held-out day."""
    for level, rows in market.labelled().items():
        prepared = prepare_training_data(rows, market.settings)
        assert not isinstance(prepared, str), prepared
        split, train, holdout = prepared
        horizon = timedelta(days=market.settings.intent.horizon_days)
        assert train["snapshot_date"].max() + horizon < holdout["snapshot_date"].min()
        label_days = train.loc[train["label"], "next_opportunity_created_on"]
        assert len(label_days) and label_days.max() < split.holdout_start, level
        # The features of a row only count signals up to its own day: the 14-day window of the last
        # training day ends before any held-out day starts.
        assert (train["snapshot_date"] <= split.train_end).all() and (
            holdout["snapshot_date"] >= split.holdout_start
        ).all()
        assert not train["person_id" if level == PERSON_LEVEL else "account_id"].isna().any()


def test_training_is_deterministic_for_a_seed(market: DefaultMarket) -> None:
    rows = market.labelled()[ACCOUNT_LEVEL]
    _, train, holdout = prepare_training_data(rows, market.settings)
    first = train_intent_model(train, FEATURE_SETS[ACCOUNT_LEVEL], market.settings.intent)
    second = train_intent_model(train, FEATURE_SETS[ACCOUNT_LEVEL], market.settings.intent)
    assert np.array_equal(first.predict(holdout), second.predict(holdout))
    columns = (*FEATURE_SETS[ACCOUNT_LEVEL].columns, "label")
    assert snapshot_hash(train, columns) == snapshot_hash(train.sample(frac=1, random_state=1), columns)


def test_a_saved_model_loads_and_scores_exactly_as_trained(market: DefaultMarket) -> None:
    name = intent_model_name(PERSON_LEVEL)
    version = market.registry.champion_version(name)
    model, card = market.registry.load(name, version)
    assert isinstance(model, IntentModel) and card.version == version
    _, _, holdout = prepare_training_data(market.labelled()[PERSON_LEVEL], market.settings)
    recomputed = round(float(np.mean(model.predict(holdout))), 6)
    assert card.features == list(FEATURE_SETS[PERSON_LEVEL].columns)
    assert card.training["holdout_rows"] == len(holdout)
    assert recomputed > 0
    assert card.metrics["model"]["rows"] == len(holdout)


def test_the_person_model_beats_the_engagement_points_rule_on_held_out_days(market: DefaultMarket) -> None:
    """The classic lead score is a person score: the model must rank people better than "points > 80", and
    by more than chance. The margin is a bootstrap over whole accounts (an account's days are not
    independent): the 5th percentile of the PR AUC gain must be above zero."""
    card = market.registry.card(intent_model_name(PERSON_LEVEL), market.registry.champion_version("person_intent"))
    model, rule = card.metrics["model"], card.metrics["rule"]
    assert card.metrics["pr_auc_gain_over_rule"]["low_5pct"] > 0, card.metrics["pr_auc_gain_over_rule"]
    assert model["pr_auc"] > 2 * rule["pr_auc"]
    assert model["roc_auc"] > rule["roc_auc"] + 0.1
    assert model["brier"] < rule["brier"]
    assert model["lift_top_decile"] > rule["lift_top_decile"]
    same_volume, flagged = card.metrics["model_at_rule_volume"], card.metrics["rule_flag"]
    assert same_volume["precision"] > flagged["precision"]


def test_the_account_model_is_calibrated_where_the_rule_is_a_flag(market: DefaultMarket) -> None:
    """At account level the best person's points rank accounts well on this market; the model must rank
    at least as well and give usable probabilities (a far lower Brier score than the 0/1 flag)."""
    name = intent_model_name(ACCOUNT_LEVEL)
    card = market.registry.card(name, market.registry.champion_version(name))
    model, rule = card.metrics["model"], card.metrics["rule"]
    assert model["pr_auc"] > rule["pr_auc"]
    assert model["brier"] < rule["brier"] / 2
    assert card.metrics["calibration"][-1]["mean_predicted"] > card.metrics["calibration"][0]["mean_predicted"]


def test_explanations_add_up_to_the_score_and_name_its_drivers(market: DefaultMarket) -> None:
    name = intent_model_name(ACCOUNT_LEVEL)
    model, _ = market.registry.load(name, market.registry.champion_version(name))
    rows = market.labelled()[ACCOUNT_LEVEL]
    today = rows[rows["snapshot_date"] == rows["snapshot_date"].max()].reset_index(drop=True)
    contributions, tops = model.explain(today, market.settings.intent)
    np.testing.assert_allclose(
        contributions.reference_probability + contributions.values.sum(axis=1), model.predict(today), atol=1e-9
    )
    stored = dict(
        market.query(f"select entity_id, top_features from {INTENT_SCORES_TABLE} where entity_type = 'account'")
    )
    for index, account_id in enumerate(today["account_id"]):
        assert json.loads(stored[account_id]) == tops[index]
        sizes = [abs(item["contribution"]) for item in tops[index]]
        assert sizes == sorted(sizes, reverse=True)
    top_account = int(np.argmax(contributions.probabilities))
    assert tops[top_account][0]["contribution"] > 0


def test_the_champion_stays_unless_a_challenger_beats_it(market: DefaultMarket, tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "registry")
    rows = market.labelled()[PERSON_LEVEL]
    good = market.settings
    weak_boosting = good.intent.gradient_boosting.model_copy(update={"max_iter": 2, "learning_rate": 0.01})
    weak = good.model_copy(update={"intent": good.intent.model_copy(update={"gradient_boosting": weak_boosting})})

    def trained(settings: ModelSettings, second: int) -> TrainingOutcome:
        return train_challenger(PERSON_LEVEL, rows, settings, registry, datetime(2026, 11, 25, 12, 0, second))

    first = trained(weak, 1)
    assert first.decision.promoted and first.decision.reason == "no champion yet"
    better = trained(good, 2)
    assert better.decision.promoted and "beats the champion" in better.decision.reason
    worse = trained(weak, 3)
    assert not worse.decision.promoted
    assert registry.champion_version("person_intent") == better.card.version
    again = trained(good, 4)
    assert not again.decision.promoted, "an equal challenger must not replace the champion"
    assert [entry["promoted"] for entry in registry.decisions("person_intent")] == [True, True, False, False]


def test_agents_copy_scores_from_the_champion_into_their_reasoning(market: DefaultMarket) -> None:
    versions = {market.registry.champion_version(intent_model_name(level)) for level in (ACCOUNT_LEVEL, PERSON_LEVEL)}
    proposals = market.query(
        "select reasoning, inputs from audit.audit_log "
        "where event = 'action_proposed' and action_type = 'enrol_in_sequence'"
    )
    assert proposals
    for reasoning, inputs in proposals:
        payload = json.loads(inputs)
        assert payload["account_intent"]["model_version"] in versions
        assert payload["account_intent"]["top_features"], reasoning
        assert f"Account intent (model {payload['account_intent']['model_version']})" in reasoning
        assert "Contact intent" in reasoning and "local time (send-time model)" in reasoning
        assert payload["account_intent"]["snapshot_date"] <= payload["surge_window"][1]


def test_the_drift_check_fails_on_a_shifted_population_and_the_sensor_retrains(
    market: DefaultMarket, definitions: dg.Definitions, tmp_path: Path
) -> None:
    """A tracking change that triples every page view today: the drift check fails, agents stop reading
    the scores, and the retraining sensor asks for a training run."""
    shutil.copytree(market.env.data_dir, tmp_path / "data")
    with surgewise_environment(tmp_path / "data") as env, dg.instance_for_test() as instance:
        with duckdb.connect(str(env.duckdb_path)) as connection:
            for table in ("fct_account_features_daily", "fct_person_features_daily"):
                connection.execute(
                    f"update marts.{table} set page_views_14d = page_views_14d * 3 + 5, "
                    f"email_opens_14d = email_opens_14d * 3 + 5 where snapshot_date = data_as_of"
                )
            connection.execute(
                "update marts.fct_account_features_daily set engaged_contacts_14d = engaged_contacts_14d + 6 "
                "where snapshot_date = data_as_of"
            )
        result = dg.materialize(
            [intent_scores, intent_feature_drift],
            instance=instance,
            resources=definitions.get_repository_def().get_top_level_resources(),
            raise_on_error=False,
        )
        evaluations = result.get_asset_check_evaluations()
        assert [evaluation.check_name for evaluation in evaluations] == ["intent_feature_drift"]
        assert not evaluations[0].passed
        assert "PSI" in evaluations[0].metadata["failures"].value

        with duckdb.connect(str(env.duckdb_path), read_only=True) as connection:
            served = served_latest_scores(connection, ModelRegistry(env.model_registry_dir))
        assert not served.accounts and any(
            "intent_feature_drift check failed" in reason for reason in served.unavailable
        )

        sensor = definitions.resolve_sensor_def(RETRAINING_SENSOR)
        request = sensor(
            dg.build_sensor_context(
                instance=instance,
                definitions=definitions,
                resources=definitions.get_repository_def().get_top_level_resources(),
            )
        )
        assert isinstance(request, dg.RunRequest)
        assert "feature drift" in request.tags["surgewise/retraining_reasons"]


def test_the_retraining_sensor_skips_while_the_champions_are_current(
    market: DefaultMarket, definitions: dg.Definitions
) -> None:
    with dg.instance_for_test() as instance:
        result = definitions.resolve_sensor_def(RETRAINING_SENSOR)(
            dg.build_sensor_context(
                instance=instance,
                definitions=definitions,
                resources=definitions.get_repository_def().get_top_level_resources(),
            )
        )
    assert isinstance(result, dg.SkipReason), result
    assert "current" in result.skip_message
