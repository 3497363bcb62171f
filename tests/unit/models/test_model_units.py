"""Fast unit tests of `models/` on small hand-made frames: no warehouse, no dbt, no Dagster.

`test_models.py` judges the models end to end on the simulated market; these tests pin the arithmetic
underneath (explanations that add up, labels that cannot leak across the time split, promotion rules,
drift, send-time shrinkage, AQL reasons), so a regression names the function that broke.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from dagster_project.core.settings import REPO_ROOT
from models.aql import qualify_leads
from models.baseline import account_engagement_points, engagement_points, is_mql, with_account_engagement_points
from models.config import ModelSettings, load_model_settings
from models.contributions import baseline_shapley, top_contributions
from models.drift import EMPTY_BIN_SHARE, population_stability, reference_bins
from models.features import FeatureSet, TimeSplit, split_rows, time_split, with_labels
from models.intent import IntentModel, train_intent_model
from models.metrics import bootstrap_pr_auc_gain, calibration_table, lift_table, score_metrics
from models.registry import ModelCard, ModelRegistry, code_version, decide_promotion, unused_version
from models.send_time import (
    SendTimeModel,
    evaluate_send_times,
    fit_send_time_model,
    local_reads,
    reads_snapshot_hash,
    split_reads,
)

# Its module fixtures simulate or train once: the module runs on one worker.
pytestmark = pytest.mark.xdist_group("model_units")

CONFIG_DIR = REPO_ROOT / "config"
EXACT = {"atol": 1e-9, "rtol": 0.0}


@pytest.fixture(scope="module")
def settings() -> ModelSettings:
    return load_model_settings(CONFIG_DIR)


# --- 1. explain: baseline Shapley ---------------------------------------------------------------------


def nonlinear(matrix: np.ndarray) -> np.ndarray:
    """A probability with an interaction (b*c) and a non-monotone term, so no order gives the same split."""
    a, b, c = matrix.T
    return 1.0 / (1.0 + np.exp(-(0.8 * a - 0.5 * b * c + np.sin(c))))


def additive_terms(matrix: np.ndarray) -> np.ndarray:
    """Per-feature terms f_j(x_j) of an additive function; missing `c` has its own value, as in a tree."""
    a, b, c = matrix.T
    return np.column_stack([0.1 * a, 0.2 * np.tanh(b), np.where(np.isnan(c), 0.3, 0.05 * c)])


def additive(matrix: np.ndarray) -> np.ndarray:
    return additive_terms(matrix).sum(axis=1)


@pytest.fixture(scope="module")
def random_rows() -> tuple[np.ndarray, np.ndarray]:
    generator = np.random.default_rng(7)
    rows = generator.normal(size=(25, 3))
    return rows, np.median(rows, axis=0)


def test_contributions_add_up_to_the_probability_of_a_nonlinear_function(random_rows) -> None:
    rows, reference = random_rows
    result = baseline_shapley(nonlinear, rows, reference, permutations=6, seed=1)

    assert result.values.shape == rows.shape
    assert result.reference_probability == pytest.approx(nonlinear(reference[np.newaxis])[0], abs=1e-12)
    assert np.allclose(result.probabilities, nonlinear(rows), **EXACT)
    assert np.allclose(result.reference_probability + result.values.sum(axis=1), result.probabilities, **EXACT)
    assert np.abs(result.values).sum() > 0.5, "the rows differ from the reference, so something must be credited"


def test_contributions_add_up_for_a_fitted_gradient_boosting_classifier_with_missing_values() -> None:
    """The real model is a black box with NaN handling; the identity must hold for it too."""
    generator = np.random.default_rng(3)
    features = generator.normal(size=(400, 4))
    features[generator.random(400) < 0.2, 2] = np.nan
    labels = (features[:, 0] + np.nan_to_num(features[:, 2], nan=1.5) * features[:, 1] > 0.3).astype(int)
    classifier = HistGradientBoostingClassifier(max_iter=40, random_state=0).fit(features, labels)

    def predict(matrix: np.ndarray) -> np.ndarray:
        return classifier.predict_proba(matrix)[:, 1]

    rows = features[:40]
    reference = np.nanmedian(features, axis=0)
    result = baseline_shapley(predict, rows, reference, permutations=4, seed=0)

    assert np.isnan(rows[:, 2]).any(), "the sample must exercise missing values"
    assert not np.isnan(result.values).any()
    assert np.allclose(result.probabilities, predict(rows), **EXACT)
    assert np.allclose(result.reference_probability + result.values.sum(axis=1), predict(rows), **EXACT)


def test_a_feature_equal_to_the_reference_contributes_exactly_zero(random_rows) -> None:
    rows, reference = random_rows
    rows = rows.copy()
    rows[:, 1] = reference[1]
    values = baseline_shapley(nonlinear, rows, reference, permutations=6, seed=2).values

    assert np.all(values[:, 1] == 0.0)
    assert np.all(np.abs(values[:, [0, 2]]).sum(axis=1) > 0)


def test_an_additive_function_credits_each_feature_with_its_own_change(random_rows) -> None:
    rows, reference = random_rows
    values = baseline_shapley(additive, rows, reference, permutations=4, seed=5).values
    expected = additive_terms(rows) - additive_terms(reference[np.newaxis])

    assert np.allclose(values, expected, atol=1e-12, rtol=0)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_a_pure_interaction_is_split_equally_by_every_antithetic_pair(seed: int) -> None:
    """An ordering and its reverse swap which of two interacting features comes first, so each gets half."""
    rows = np.array([[2.0, 3.0, 5.0], [-1.0, 4.0, 0.5]])

    def product(matrix: np.ndarray) -> np.ndarray:
        return matrix[:, 0] * matrix[:, 1]

    values = baseline_shapley(product, rows, np.zeros(3), permutations=2, seed=seed).values

    assert np.allclose(values[:, 0], [3.0, -2.0], **EXACT)
    assert np.allclose(values[:, 1], [3.0, -2.0], **EXACT)
    assert np.all(values[:, 2] == 0.0)


def test_the_same_seed_gives_identical_contributions(random_rows) -> None:
    rows, reference = random_rows
    first = baseline_shapley(nonlinear, rows, reference, permutations=6, seed=11)
    second = baseline_shapley(nonlinear, rows, reference, permutations=6, seed=11)

    assert np.array_equal(first.values, second.values)
    assert np.array_equal(first.probabilities, second.probabilities)


def test_missing_feature_values_reach_the_model_as_missing(random_rows) -> None:
    """Hybrids are deduplicated with NaN keyed as inf; the model must still see NaN, not inf."""
    rows, reference = random_rows
    rows = rows.copy()
    rows[::2, 2] = np.nan
    values = baseline_shapley(additive, rows, reference, permutations=4, seed=0).values

    assert np.allclose(values[::2, 2], 0.3 - 0.05 * reference[2], **EXACT)
    assert np.allclose(values, additive_terms(rows) - additive_terms(reference[np.newaxis]), **EXACT)


def test_a_missing_value_equal_to_a_missing_reference_contributes_zero() -> None:
    rows = np.array([[1.0, 2.0, np.nan], [0.5, -1.0, np.nan]])
    reference = np.array([0.0, 0.0, np.nan])
    result = baseline_shapley(additive, rows, reference, permutations=2, seed=0)

    assert np.all(result.values[:, 2] == 0.0)
    assert result.reference_probability == pytest.approx(0.3)
    assert np.allclose(result.reference_probability + result.values.sum(axis=1), additive(rows), **EXACT)


def test_no_rows_give_the_reference_probability_and_no_contributions() -> None:
    result = baseline_shapley(additive, np.empty((0, 3)), np.array([1.0, 0.0, 2.0]), permutations=2, seed=0)

    assert result.values.shape == (0, 3)
    assert result.reference_probability == pytest.approx(0.1 + 0.1)


def test_top_contributions_rank_by_absolute_size_and_drop_zeros() -> None:
    names = ("a", "b", "c", "d", "e")
    row = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    contributions = np.array([0.1, -0.3, 0.0, 0.2, -0.0000001234567])

    def decode(name: str, value: float) -> str:
        return f"{name}={value:g}"

    top = top_contributions(names, row, contributions, 10, decode)

    assert [entry["feature"] for entry in top] == ["b", "d", "a", "e"]
    assert top[0] == {"feature": "b", "value": "b=2", "contribution": -0.3}
    assert top[-1]["contribution"] == -0.0, "rounded to 6 places, but kept: it was not zero"
    assert [entry["feature"] for entry in top_contributions(names, row, contributions, 2, decode)] == ["b", "d"]
    assert top_contributions(names, row, np.zeros(5), 3, decode) == []


# --- 2. intent model -----------------------------------------------------------------------------------

TINY_FEATURES = FeatureSet(
    level="account", entity_column="account_id", numeric=("signal", "noise", "visits"), categorical=("industry",)
)
INDUSTRIES = ("software", "retail", "finance")


def intent_frame(seed: int = 0, accounts: int = 90, days: int = 6) -> pd.DataFrame:
    """Rows whose label depends on `signal` only; `visits` has missing values like a recency feature."""
    generator = np.random.default_rng(seed)
    size = accounts * days
    signal = generator.uniform(0, 10, size)
    visits = generator.poisson(3, size).astype(float)
    visits[generator.random(size) < 0.15] = np.nan
    return pd.DataFrame(
        {
            "account_id": np.repeat([f"acc-{index:03d}" for index in range(accounts)], days),
            "signal": signal,
            "noise": generator.normal(size=size),
            "visits": visits,
            "industry": generator.choice(INDUSTRIES, size),
            "label": signal + generator.normal(scale=1.0, size=size) > 7.0,
        }
    )


@pytest.fixture(scope="module")
def intent_train() -> pd.DataFrame:
    return intent_frame()


@pytest.fixture(scope="module")
def intent_model(intent_train: pd.DataFrame, settings: ModelSettings) -> IntentModel:
    return train_intent_model(intent_train, TINY_FEATURES, settings.intent)


def test_the_intent_model_learns_the_signal(intent_model: IntentModel) -> None:
    scored = intent_frame(seed=1, accounts=40)
    probabilities = intent_model.predict(scored)
    high, low = scored["signal"] > 8.5, scored["signal"] < 4

    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    assert probabilities[high.to_numpy()].mean() > 0.7
    assert probabilities[low.to_numpy()].mean() < 0.1
    assert intent_model.categories == {"industry": ("finance", "retail", "software")}


def test_training_twice_on_the_same_rows_and_seed_predicts_identically(
    intent_model: IntentModel, intent_train: pd.DataFrame, settings: ModelSettings
) -> None:
    again = train_intent_model(intent_train, TINY_FEATURES, settings.intent)
    scored = intent_frame(seed=2, accounts=30)

    assert np.array_equal(again.predict(scored), intent_model.predict(scored))
    assert np.array_equal(again.reference, intent_model.reference, equal_nan=True)


def test_an_unseen_category_is_scored_as_missing_instead_of_crashing(intent_model: IntentModel) -> None:
    scored = intent_frame(seed=3, accounts=10)
    unseen = scored.assign(industry="aerospace")
    missing = scored.assign(industry=None)

    assert np.isnan(intent_model.matrix(unseen)[:, -1]).all()
    probabilities = intent_model.predict(unseen)
    assert np.isfinite(probabilities).all()
    assert np.array_equal(probabilities, intent_model.predict(missing))


def test_intent_explanations_add_up_to_the_prediction(intent_model: IntentModel, settings: ModelSettings) -> None:
    scored = intent_frame(seed=4, accounts=8).assign(industry=["aerospace", *["retail"] * 47])
    contributions, tops = intent_model.explain(scored, settings.intent)

    assert np.allclose(
        contributions.reference_probability + contributions.values.sum(axis=1), intent_model.predict(scored), **EXACT
    )
    assert len(tops) == len(scored)
    assert all(len(top) <= settings.intent.explanation.top_features for top in tops)
    assert all(
        abs(top[index]["contribution"]) >= abs(top[index + 1]["contribution"])
        for top in tops
        for index in range(len(top) - 1)
    )


def test_a_row_at_the_reference_but_for_one_feature_is_explained_by_that_feature_alone(
    intent_model: IntentModel, settings: ModelSettings
) -> None:
    reference = intent_model.reference
    row = pd.DataFrame(
        {
            "signal": [9.5],
            "noise": [reference[1]],
            "visits": [reference[2]],
            "industry": [intent_model.categories["industry"][int(reference[3])]],
        }
    )
    contributions, tops = intent_model.explain(row, settings.intent)

    assert [entry["feature"] for entry in tops[0]] == ["signal"]
    assert tops[0][0]["value"] == 9.5
    assert tops[0][0]["contribution"] == pytest.approx(
        intent_model.predict(row)[0] - contributions.reference_probability, abs=1e-6
    )
    assert tops[0][0]["contribution"] > 0.3


def test_decode_gives_category_names_whole_counts_and_none(intent_model: IntentModel) -> None:
    assert intent_model.decode("industry", 0.0) == "finance"
    assert intent_model.decode("industry", 2.0) == "software"
    assert intent_model.decode("visits", 3.0) == 3
    assert isinstance(intent_model.decode("visits", 3.0), int)
    assert intent_model.decode("noise", 0.123456789) == 0.1235
    assert intent_model.decode("industry", float("nan")) is None


def test_an_explained_category_is_shown_by_name(intent_model: IntentModel, settings: ModelSettings) -> None:
    scored = intent_frame(seed=5, accounts=20)
    _, tops = intent_model.explain(scored, settings.intent)
    industry_values = {entry["value"] for top in tops for entry in top if entry["feature"] == "industry"}

    assert industry_values <= {*INDUSTRIES, None}


# --- 3. features: labels and the time split ------------------------------------------------------------

DAY0 = date(2025, 1, 1)


def day(offset: int) -> date:
    return DAY0 + timedelta(days=offset)


def as_loaded_dates(values: list[date | None]) -> pd.Series:
    """Dates as `features._dates` leaves them: python dates, NaT for missing."""
    return pd.to_datetime(pd.Series(values, dtype=object)).dt.date


def test_the_label_is_true_up_to_exactly_the_horizon_and_false_a_day_later() -> None:
    horizon = 10
    rows = pd.DataFrame(
        {
            "account_id": ["next-day", "at-horizon", "past-horizon", "never", "prior"],
            "snapshot_date": [day(0)] * 5,
            "data_as_of": [day(40)] * 5,
            "next_opportunity_created_on": as_loaded_dates([day(1), day(10), day(11), None, day(3)]),
            "prior_opportunities": [0, 0, 0, 0, 2],
        }
    )
    labelled = with_labels(rows, horizon)

    assert labelled["label"].tolist() == [True, True, False, False, True]
    assert labelled["label"].dtype == bool
    assert labelled["in_population"].tolist() == [True, True, True, True, False]
    assert "label" not in rows, "the input frame is not modified"


def test_a_label_is_mature_only_once_its_whole_window_is_observed() -> None:
    rows = pd.DataFrame(
        {
            "account_id": ["a", "b", "c"],
            "snapshot_date": [day(0), day(1), day(2)],
            "data_as_of": [day(10)] * 3,
            "next_opportunity_created_on": as_loaded_dates([None, None, None]),
            "prior_opportunities": [0, 0, 0],
        }
    )
    assert with_labels(rows, 10)["label_is_mature"].tolist() == [True, False, False]
    assert with_labels(rows, 9)["label_is_mature"].tolist() == [True, True, False]


def market_rows(days: int, opportunities: dict[str, list[int]]) -> pd.DataFrame:
    """One row per account and day, as the feature mart has them: the next opportunity strictly after
    the snapshot and the count of opportunities on or before it."""
    records = []
    for account_id, opened in opportunities.items():
        for offset in range(days):
            later = [when for when in opened if when > offset]
            records.append(
                {
                    "account_id": account_id,
                    "snapshot_date": day(offset),
                    "data_as_of": day(days - 1),
                    "next_opportunity_created_on": day(min(later)) if later else None,
                    "prior_opportunities": sum(when <= offset for when in opened),
                }
            )
    frame = pd.DataFrame.from_records(records)
    frame["next_opportunity_created_on"] = as_loaded_dates(frame["next_opportunity_created_on"].tolist())
    return frame


OPPORTUNITIES = {
    "early": [12],
    "middle": [35],
    "late": [52],
    "twice": [20, 45],
    "never": [],
    "edge": [41],
}


def test_the_time_split_holds_out_the_last_mature_days_after_a_full_horizon_gap(settings: ModelSettings) -> None:
    intent = settings.intent
    labelled = with_labels(market_rows(60, OPPORTUNITIES), intent.horizon_days)
    split = time_split(labelled, intent)

    mature_end = day(59 - intent.horizon_days)
    holdout_start = mature_end - timedelta(days=intent.holdout_days - 1)
    assert split == TimeSplit(
        train_start=day(intent.min_history_days),
        train_end=holdout_start - timedelta(days=intent.horizon_days + 1),
        holdout_start=holdout_start,
        holdout_end=mature_end,
        horizon_days=intent.horizon_days,
    )


@pytest.mark.parametrize(("horizon", "holdout"), [(1, 1), (5, 7), (10, 10), (14, 3)])
def test_no_training_label_window_reaches_into_the_held_out_days(
    settings: ModelSettings, horizon: int, holdout: int
) -> None:
    intent = settings.intent.model_copy(update={"horizon_days": horizon, "holdout_days": holdout})
    labelled = with_labels(market_rows(60, OPPORTUNITIES), horizon)
    split = time_split(labelled, intent)
    assert split is not None
    train, held_out = split_rows(labelled, split)

    assert len(train) and len(held_out)
    assert train["snapshot_date"].max() + timedelta(days=horizon) < held_out["snapshot_date"].min()
    window_ends = train["snapshot_date"] + timedelta(days=horizon)
    assert (window_ends < split.holdout_start).all()
    positives = train.loc[train["label"], "next_opportunity_created_on"]
    assert (positives < split.holdout_start).all(), "a training positive was known only in the held-out period"
    assert train["snapshot_date"].min() >= day(intent.min_history_days)
    assert held_out["label_is_mature"].all() and train["label_is_mature"].all()


def test_split_rows_keep_only_accounts_without_an_earlier_opportunity(settings: ModelSettings) -> None:
    labelled = with_labels(market_rows(60, OPPORTUNITIES), settings.intent.horizon_days)
    split = time_split(labelled, settings.intent)
    train, held_out = split_rows(labelled, split)
    both = pd.concat([train, held_out])

    assert (both["prior_opportunities"] == 0).all()
    assert not ((both["account_id"] == "early") & (both["snapshot_date"] >= day(12))).any()
    assert ((labelled["prior_opportunities"] > 0) & labelled["label_is_mature"]).any(), "the test must exclude rows"
    assert train["label"].any() and not train["label"].all()


def test_the_time_split_is_none_when_history_is_too_short(settings: ModelSettings) -> None:
    intent = settings.intent
    shortest = intent.min_history_days + 2 * intent.horizon_days + intent.holdout_days + 1
    just_enough = with_labels(market_rows(shortest, {"a": []}), intent.horizon_days)
    too_short = with_labels(market_rows(shortest - 1, {"a": []}), intent.horizon_days)
    immature = with_labels(market_rows(intent.horizon_days, {"a": []}), intent.horizon_days)

    split = time_split(just_enough, intent)
    assert split is not None and split.train_start == split.train_end
    assert time_split(too_short, intent) is None
    assert time_split(immature, intent) is None


# --- 4. metrics ----------------------------------------------------------------------------------------


def test_a_perfect_score_has_auc_one_and_the_largest_possible_lift() -> None:
    labels = np.zeros(100, dtype=int)
    labels[[3, 17, 25, 40, 51, 60, 72, 80, 91, 99]] = 1
    metrics = score_metrics(labels, labels * 0.9 + 0.05, labels.astype(float))

    assert metrics.rows == 100 and metrics.positives == 10
    assert metrics.roc_auc == 1.0
    assert metrics.pr_auc == 1.0
    assert metrics.brier == 0.0
    assert metrics.lift_top_decile == pytest.approx(1 / 0.1)


def test_with_fewer_positives_than_a_decile_the_top_decile_lift_is_capped_at_ten() -> None:
    """Lift is the top decile's rate over the base rate, so 5 positives in 100 rows give 0.5/0.05 = 10,
    not 1/base_rate = 20."""
    labels = np.zeros(100, dtype=int)
    labels[:5] = 1

    assert score_metrics(labels, labels.astype(float), labels.astype(float)).lift_top_decile == pytest.approx(10.0)


def test_metrics_without_both_classes_are_nan_instead_of_raising() -> None:
    metrics = score_metrics(np.zeros(20), np.linspace(0, 1, 20), np.full(20, 0.1))

    assert np.isnan(metrics.roc_auc) and np.isnan(metrics.pr_auc) and np.isnan(metrics.lift_top_decile)
    assert metrics.brier == pytest.approx(0.01)


def test_a_flat_score_earns_no_lift_whatever_the_row_order() -> None:
    positives_first = np.r_[np.ones(10), np.zeros(90)].astype(int)
    flat = np.full(100, 0.5)

    assert [row["lift"] for row in lift_table(positives_first, flat)] == [pytest.approx(1.0)] * 10
    assert [row["lift"] for row in lift_table(positives_first[::-1], flat)] == [pytest.approx(1.0)] * 10


def test_lift_table_splits_rows_into_deciles_best_first() -> None:
    labels = np.r_[np.ones(20), np.zeros(80)].astype(int)
    scores = np.r_[np.linspace(0.9, 0.7, 20), np.linspace(0.6, 0.0, 80)]
    table = lift_table(labels[::-1], scores[::-1])

    assert [row["decile"] for row in table] == list(range(1, 11))
    assert [row["rows"] for row in table] == [10] * 10
    assert [row["positives"] for row in table] == [10, 10, 0, 0, 0, 0, 0, 0, 0, 0]
    assert table[0]["lift"] == pytest.approx(5.0) and table[2]["lift"] == 0.0


def test_calibration_table_bins_by_predicted_probability() -> None:
    levels = np.array([0.1, 0.3, 0.5, 0.7, 0.9])
    probabilities = np.repeat(levels, 20)
    labels = np.concatenate([np.r_[np.ones(hits), np.zeros(20 - hits)] for hits in (2, 6, 10, 14, 18)])
    order = np.random.default_rng(0).permutation(100)

    table = calibration_table(labels[order], probabilities[order], bins=5)

    assert [row["rows"] for row in table] == [20] * 5
    assert [row["mean_predicted"] for row in table] == pytest.approx(levels.tolist())
    assert [row["observed"] for row in table] == pytest.approx(levels.tolist())
    assert len(calibration_table(np.array([0, 1, 1]), np.array([0.2, 0.9, 0.5]), bins=10)) == 3


def bootstrap_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    generator = np.random.default_rng(0)
    groups = np.repeat(np.arange(60), 5)
    labels = (generator.random(300) < 0.2).astype(int)
    good = labels + generator.normal(scale=0.4, size=300)
    weak = labels * 0.3 + generator.normal(scale=1.0, size=300)
    return labels, good, weak, groups


def test_the_bootstrap_gain_is_surely_positive_for_a_clearly_better_model() -> None:
    labels, good, weak, groups = bootstrap_data()
    gain = bootstrap_pr_auc_gain(labels, good, weak, groups, resamples=200, seed=1)

    assert gain["gain"] > 0.2
    assert 0 < gain["low_5pct"] <= gain["gain"] <= gain["high_95pct"]
    assert gain["resamples"] == 200


def test_the_bootstrap_gain_is_surely_negative_when_the_model_is_the_worse_one() -> None:
    labels, good, weak, groups = bootstrap_data()
    gain = bootstrap_pr_auc_gain(labels, weak, good, groups, resamples=200, seed=1)

    assert gain["low_5pct"] <= gain["high_95pct"] < 0
    assert gain == bootstrap_pr_auc_gain(labels, weak, good, groups, resamples=200, seed=1), "seeded"


def test_swapping_model_and_rule_mirrors_the_interval() -> None:
    """The same seed draws the same accounts, so every resampled gain changes sign: the 5% bound of one
    order is minus the 95% bound of the other (a wrong percentile would break the mirror)."""
    labels, good, weak, groups = bootstrap_data()
    forward = bootstrap_pr_auc_gain(labels, good, weak, groups, resamples=200, seed=4)
    backward = bootstrap_pr_auc_gain(labels, weak, good, groups, resamples=200, seed=4)

    assert forward["gain"] == -backward["gain"]
    assert forward["low_5pct"] == pytest.approx(-backward["high_95pct"], abs=1e-4)
    assert forward["high_95pct"] == pytest.approx(-backward["low_5pct"], abs=1e-4)
    assert forward["high_95pct"] - forward["low_5pct"] > 0.02, "a real interval, not a point"


# --- 5. registry ---------------------------------------------------------------------------------------


def a_card(model: IntentModel, version: str = "20250301T120000-abcdef12") -> ModelCard:
    return ModelCard(
        name="account_intent",
        version=version,
        trained_at="2025-03-01T12:00:00",
        code_version=code_version(),
        data_snapshot_hash="abcdef12" * 8,
        features=list(model.feature_names),
        parameters=model.parameters,
        metrics={"model": {"pr_auc": 0.61, "roc_auc": 0.8}, "rule": {"pr_auc": 0.4}},
        training={"split": "train on ...", "train_rows": 540, "train_positive_accounts": 50},
        explanation_method="baseline Shapley",
        drift_reference={"signal": {"edges": [1.0, 5.0], "shares": [0.1, 0.4, 0.5, 0.0]}},
    )


def test_a_saved_model_loads_and_predicts_identically_with_its_card(tmp_path: Path, intent_model: IntentModel) -> None:
    registry = ModelRegistry(tmp_path / "model_registry")
    card = a_card(intent_model)
    folder = registry.save(card, intent_model)
    loaded, loaded_card = registry.load(card.name, card.version)
    scored = intent_frame(seed=6, accounts=15)

    assert folder == tmp_path / "model_registry" / "account_intent" / card.version
    assert isinstance(loaded, IntentModel)
    assert np.array_equal(loaded.predict(scored), intent_model.predict(scored))
    assert loaded_card == card
    assert json.loads(registry.card_path(card.name, card.version).read_text())["metrics"]["model"]["pr_auc"] == 0.61
    assert registry.versions(card.name) == [card.version]
    assert registry.champion(card.name) is None


def test_the_first_challenger_is_promoted() -> None:
    decision = decide_promotion("m", "pr_auc", "v2", 0.5, None, None)

    assert decision.promoted and decision.version == "v2" and decision.reason == "no champion yet"


def test_a_better_challenger_replaces_the_champion() -> None:
    decision = decide_promotion("m", "pr_auc", "v2", 0.61, "v1", 0.6)

    assert decision.promoted and decision.version == "v2" and decision.champion_version == "v1"
    assert "beats the champion" in decision.reason


@pytest.mark.parametrize("challenger_score", [0.6, 0.59, 0.1])
def test_a_tied_or_worse_challenger_leaves_the_champion_in_place(challenger_score: float) -> None:
    decision = decide_promotion("m", "pr_auc", "v2", challenger_score, "v1", 0.6)

    assert not decision.promoted
    assert decision.version == "v1"
    assert "the champion stays" in decision.reason


def test_the_challenger_must_beat_the_champion_by_more_than_min_improvement() -> None:
    short = decide_promotion("m", "pr_auc", "v2", 0.64, "v1", 0.6, min_improvement=0.05)
    enough = decide_promotion("m", "pr_auc", "v2", 0.66, "v1", 0.6, min_improvement=0.05)

    assert not short.promoted and short.version == "v1" and "by more than 0.05" in short.reason
    assert enough.promoted and enough.version == "v2"


def test_a_champion_that_cannot_score_the_new_rows_is_replaced() -> None:
    decision = decide_promotion("m", "pr_auc", "v2", 0.5, "v1", None)

    assert decision.promoted and "cannot score" in decision.reason


@pytest.mark.parametrize("champion", [("v1", 0.3), (None, None)])
def test_a_challenger_that_does_not_beat_the_rule_is_never_promoted(champion: tuple) -> None:
    for challenger_score in (0.45, 0.5):
        decision = decide_promotion("m", "pr_auc", "v2", challenger_score, *champion, rule_score=0.5)

        assert not decision.promoted
        assert "does not beat the rule baseline" in decision.reason
    assert decide_promotion("m", "pr_auc", "v2", 0.51, *champion, rule_score=0.5).promoted


def test_a_challenger_blocked_by_the_rule_keeps_the_champion_version() -> None:
    decision = decide_promotion("m", "pr_auc", "v2", 0.4, "v1", 0.3, rule_score=0.5)

    assert decision.version == "v1"


def test_a_challenger_blocked_by_the_rule_with_no_champion_is_not_named_champion() -> None:
    decision = decide_promotion("m", "pr_auc", "v2", 0.4, None, None, rule_score=0.5)

    assert decision.version != "v2"


def test_record_decision_moves_the_champion_only_when_promoted_and_logs_every_decision(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    first = decide_promotion("m", "pr_auc", "v1", 0.5, None, None)
    worse = decide_promotion("m", "pr_auc", "v2", 0.4, "v1", 0.5)
    better = decide_promotion("m", "pr_auc", "v3", 0.7, "v1", 0.5)

    registry.record_decision("m", first, datetime(2025, 3, 1, 9))
    assert registry.champion_version("m") == "v1"
    registry.record_decision("m", worse, datetime(2025, 3, 2, 9))
    assert registry.champion_version("m") == "v1"
    assert json.loads((tmp_path / "m" / "champion.json").read_text())["decided_at"] == "2025-03-01T09:00:00"
    registry.record_decision("m", better, datetime(2025, 3, 3, 9))
    assert registry.champion_version("m") == "v3"

    logged = registry.decisions("m")
    assert [(entry["challenger_version"], entry["promoted"]) for entry in logged] == [
        ("v1", True),
        ("v2", False),
        ("v3", True),
    ]
    assert len((tmp_path / "m" / "promotions.jsonl").read_text().splitlines()) == 3


def test_unused_version_suffixes_a_version_that_is_already_taken(tmp_path: Path, intent_model: IntentModel) -> None:
    registry = ModelRegistry(tmp_path)
    version = "20250301T120000-abcdef12"

    assert unused_version(registry, "account_intent", version) == version
    registry.save(a_card(intent_model, version), intent_model)
    assert unused_version(registry, "account_intent", version) == f"{version}-2"
    registry.save(a_card(intent_model, f"{version}-2"), intent_model)
    assert unused_version(registry, "account_intent", version) == f"{version}-3"
    assert unused_version(registry, "person_intent", version) == version


# --- 6. drift ------------------------------------------------------------------------------------------


def test_a_sample_is_stable_against_its_own_reference() -> None:
    sample = pd.Series(np.random.default_rng(0).poisson(3, 5000))
    reference = reference_bins(sample, 10)

    assert population_stability(reference, sample) < 0.01
    assert sum(reference["shares"]) == pytest.approx(1.0)
    fresh = pd.Series(np.random.default_rng(1).poisson(3, 5000))
    assert population_stability(reference, fresh) < 0.01


def test_a_shifted_sample_is_a_significant_drift() -> None:
    generator = np.random.default_rng(0)
    sample = pd.Series(generator.poisson(3, 3000).astype(float))
    reference = reference_bins(sample, 10)

    assert population_stability(reference, sample + 20) > 0.25
    assert population_stability(reference, pd.Series(np.zeros(3000))) > 0.25
    assert population_stability(reference, pd.Series(generator.poisson(3.3, 3000))) < 0.1


def test_zero_heavy_counts_collapse_repeated_edges_and_still_measure_drift() -> None:
    generator = np.random.default_rng(2)
    counts = pd.Series(np.where(generator.random(4000) < 0.8, 0, generator.poisson(4, 4000)))
    reference = reference_bins(counts, 10)

    assert len(reference["edges"]) < 9, "equal quantile edges are merged"
    assert len(reference["edges"]) == len(set(reference["edges"]))
    assert reference["shares"][0] == pytest.approx((counts == 0).mean())
    assert population_stability(reference, counts) < 0.01
    assert population_stability(reference, pd.Series(np.zeros(500))) > 0.25
    assert population_stability(reference, pd.Series(generator.poisson(4, 500))) > 0.25


def test_an_all_zero_reference_flags_any_activity() -> None:
    reference = reference_bins(pd.Series(np.zeros(100)), 10)

    assert reference == {"edges": [0.0], "shares": [1.0, 0.0, 0.0]}
    assert population_stability(reference, pd.Series(np.zeros(50))) == pytest.approx(0.0)
    assert population_stability(reference, pd.Series(np.ones(50))) > 0.25


def test_bins_are_right_closed_between_the_edges() -> None:
    reference = reference_bins(pd.Series(np.arange(10, dtype=float)), 5)

    assert reference["edges"] == pytest.approx([1.8, 3.6, 5.4, 7.2])
    assert reference["shares"] == pytest.approx([0.2, 0.2, 0.2, 0.2, 0.2, 0.0])


def test_missing_values_have_their_own_bin() -> None:
    generator = np.random.default_rng(3)
    values = generator.normal(size=2000)
    values[:400] = np.nan
    sample = pd.Series(values)
    reference = reference_bins(sample, 10)

    assert reference["shares"][-1] == pytest.approx(0.2)
    assert sum(reference["shares"]) == pytest.approx(1.0)
    assert population_stability(reference, sample) < 0.01
    more_missing = sample.copy()
    more_missing[:1400] = np.nan
    assert population_stability(reference, more_missing) > 0.25
    assert population_stability(reference, sample.dropna()) > 0.25, "losing every missing value is a drift too"
    assert population_stability(reference, sample.dropna()) < 20 * (0.2 * np.log(0.2 / EMPTY_BIN_SHARE))


# --- 7. send time --------------------------------------------------------------------------------------

SALES_RETAIL = "sales x retail"
IT_FINANCE = "it x finance"


def read_frame(reads: list[tuple[str, str, int, int]]) -> pd.DataFrame:
    """(person_id, segment, day offset, local hour) -> the frame `local_reads` returns (UTC = local here)."""
    records = [
        {
            "person_id": person_id,
            "occurred_at": datetime.combine(day(offset), datetime.min.time()) + timedelta(hours=hour),
            "segment": segment,
            "local_date": day(offset),
            "local_hour": hour,
        }
        for person_id, segment, offset, hour in reads
    ]
    return pd.DataFrame.from_records(
        records, columns=["person_id", "occurred_at", "segment", "local_date", "local_hour"]
    )


@pytest.fixture(scope="module")
def send_time_model(settings: ModelSettings) -> SendTimeModel:
    reads = [("afternoon", SALES_RETAIL, offset, 15) for offset in range(20)]
    reads += [(f"morning-{index}", SALES_RETAIL, offset, 9) for index in range(6) for offset in range(10)]
    reads += [(f"evening-{index}", IT_FINANCE, offset, 17) for index in range(4) for offset in range(10)]
    reads += [("one-read", IT_FINANCE, 0, 12)]
    reads += [("night-owl", IT_FINANCE, offset, 3) for offset in range(30)]
    reads += [("late", SALES_RETAIL, offset, 23) for offset in range(30)]
    return fit_send_time_model(read_frame(reads), settings.send_time)


def test_a_contact_with_many_reads_at_one_hour_gets_that_hour(send_time_model: SendTimeModel) -> None:
    assert send_time_model.best_hour("afternoon", SALES_RETAIL) == 15
    assert send_time_model.best_hour("morning-0", SALES_RETAIL) == 9
    assert send_time_model.best_hour("evening-0", IT_FINANCE) == 17


def test_a_new_contact_gets_their_segments_peak_hour(send_time_model: SendTimeModel) -> None:
    assert send_time_model.best_hour("brand-new", SALES_RETAIL) == 9
    assert send_time_model.best_hour("brand-new", IT_FINANCE) == 17
    assert send_time_model.own_weight("brand-new") == 0.0


def test_a_segment_without_reads_falls_back_to_everyone(send_time_model: SendTimeModel) -> None:
    everyone = send_time_model.everyone
    allowed = send_time_model.allowed_hours()

    assert np.allclose(send_time_model.segment_distribution("legal x energy"), everyone, atol=1e-15)
    assert np.allclose(send_time_model.distribution("brand-new", "legal x energy"), everyone, atol=1e-15)
    assert send_time_model.best_hour("brand-new", "legal x energy") == allowed[np.argmax(everyone[allowed])] == 9
    assert everyone.sum() == pytest.approx(1.0)


def test_distributions_are_probabilities(send_time_model: SendTimeModel) -> None:
    for person_id, segment in [("afternoon", SALES_RETAIL), ("one-read", IT_FINANCE), ("x", "unknown x unknown")]:
        distribution = send_time_model.distribution(person_id, segment)
        assert distribution.sum() == pytest.approx(1.0)
        assert (distribution > 0).all()


def test_own_weight_grows_with_the_contacts_reads(send_time_model: SendTimeModel, settings: ModelSettings) -> None:
    strength = settings.send_time.contact_prior_strength
    weights = [send_time_model.own_weight(person) for person in ("brand-new", "one-read", "morning-0", "afternoon")]

    assert weights == pytest.approx([0.0, 1 / (1 + strength), 10 / (10 + strength), 20 / (20 + strength)])
    assert weights == sorted(weights) and weights[-1] < 1


def test_the_best_hour_never_leaves_the_allowed_window(send_time_model: SendTimeModel, settings: ModelSettings) -> None:
    window = range(settings.send_time.earliest_local_hour, settings.send_time.latest_local_hour + 1)
    people = [*send_time_model.contacts, "brand-new"]

    assert send_time_model.best_hour("night-owl", IT_FINANCE) in window
    assert send_time_model.best_hour("late", SALES_RETAIL) in window
    for person_id in people:
        for segment in (SALES_RETAIL, IT_FINANCE, "nobody x nothing"):
            assert send_time_model.best_hour(person_id, segment) in window
            hour, _ = send_time_model.recommend(person_id, segment, day(3))
            assert hour in window


def test_recommendations_are_deterministic_and_explore_at_the_configured_rate(
    send_time_model: SendTimeModel, settings: ModelSettings
) -> None:
    persons = [f"person-{index}" for index in range(2000)]
    first = [send_time_model.recommend(person, SALES_RETAIL, day(5)) for person in persons]
    second = [send_time_model.recommend(person, SALES_RETAIL, day(5)) for person in persons]
    next_day = [send_time_model.recommend(person, SALES_RETAIL, day(6)) for person in persons]
    best = send_time_model.best_hour("person-0", SALES_RETAIL)

    assert first == second
    share = np.mean([exploring for _, exploring in first])
    assert settings.send_time.exploration_rate == 0.1
    assert 0.05 <= share <= 0.15
    assert all(hour == best for hour, exploring in first if not exploring)
    assert len({hour for hour, exploring in first if exploring}) > 3, "explorations are sampled across hours"
    assert [exploring for _, exploring in first] != [exploring for _, exploring in next_day]


def test_the_model_trained_at_fifteen_hits_every_held_out_read_at_fifteen(settings: ModelSettings) -> None:
    people = [f"p{index}" for index in range(10)]
    train = read_frame([(person, SALES_RETAIL, offset, 15) for person in people for offset in range(20)])
    holdout = read_frame([(person, SALES_RETAIL, offset, 15) for person in people for offset in range(20, 30)])
    metrics = evaluate_send_times(fit_send_time_model(train, settings.send_time), holdout)

    assert settings.send_time.fixed_baseline_local_hour == 10
    assert metrics["holdout_reads"] == 100 and metrics["holdout_contacts"] == 10
    assert metrics["expected_open_rate"] == 1.0
    assert metrics["fixed_hour_open_rate"] == 0.0
    assert metrics["new_contact_reads"] == 0


def test_evaluation_counts_reads_within_the_top_of_inbox_hours(settings: ModelSettings) -> None:
    """With top_of_inbox_hours 1, a 15:00 send earns reads at 15 and 16 but not 14 or 17; 10:00 earns 10, 11."""
    train = read_frame([(f"p{index}", SALES_RETAIL, offset, 15) for index in range(5) for offset in range(20)])
    holdout = read_frame(
        [("p0", SALES_RETAIL, 21, hour) for hour in (14, 15, 16, 17, 10, 11)] + [("new", IT_FINANCE, 22, 15)]
    )
    metrics = evaluate_send_times(fit_send_time_model(train, settings.send_time), holdout)

    assert settings.send_time.top_of_inbox_hours == 1
    assert metrics["expected_open_rate"] == round(3 / 7, 4)
    assert metrics["fixed_hour_open_rate"] == round(2 / 7, 4)
    assert metrics["new_contact_reads"] == 1 and metrics["new_contact_open_rate"] == 1.0
    assert evaluate_send_times(fit_send_time_model(train, settings.send_time), holdout.iloc[:0]) == {"holdout_reads": 0}


def test_split_reads_holds_out_the_last_days(settings: ModelSettings) -> None:
    reads = read_frame([("p", SALES_RETAIL, offset, 12) for offset in range(30)])
    train, holdout = split_reads(reads, settings.send_time)

    assert len(holdout) == settings.send_time.holdout_days
    assert pd.to_datetime(train["occurred_at"]).max() < pd.to_datetime(holdout["occurred_at"]).min()
    assert len(train) + len(holdout) == 30


def test_local_reads_convert_utc_to_the_contacts_zone_across_daylight_saving_time() -> None:
    """New York moved from UTC-5 to UTC-4 at 07:00 UTC on 10 March 2024; Berlin was still at UTC+1."""
    events = pd.DataFrame(
        {
            "person_id": ["ny", "ny", "ny", "ny", "ny", "berlin", "nowhere"],
            "occurred_at": pd.to_datetime(
                [
                    "2024-03-09 14:00",
                    "2024-03-10 06:30",
                    "2024-03-10 07:30",
                    "2024-03-11 14:00",
                    "2024-03-11 14:40",
                    "2024-03-11 14:00",
                    "2024-03-11 14:00",
                ]
            ),
            "timezone": ["America/New_York"] * 5 + ["Europe/Berlin", None],
            "department": ["sales"] * 5 + [None, "it"],
            "industry": ["retail"] * 5 + ["software", "retail"],
        }
    )
    reads = local_reads(events).sort_values(["person_id", "occurred_at"]).reset_index(drop=True)

    assert list(reads.columns) == ["person_id", "occurred_at", "segment", "local_date", "local_hour"]
    assert reads["person_id"].tolist() == ["berlin", "ny", "ny", "ny", "ny"]
    assert reads["local_hour"].tolist() == [15, 9, 1, 3, 10]
    assert reads["local_date"].tolist() == [
        date(2024, 3, 11),
        date(2024, 3, 9),
        *[date(2024, 3, 10)] * 2,
        date(2024, 3, 11),
    ]
    assert reads["segment"].tolist() == ["unknown x software", *["sales x retail"] * 4]
    assert reads.loc[4, "occurred_at"] == pd.Timestamp("2024-03-11 14:00"), "the open is kept, its click dropped"


def test_local_reads_without_time_zones_are_empty() -> None:
    events = pd.DataFrame(
        {
            "person_id": ["a"],
            "occurred_at": [pd.Timestamp("2024-03-11 14:00")],
            "timezone": [None],
            "department": ["it"],
            "industry": ["retail"],
        }
    )
    reads = local_reads(events)

    assert reads.empty
    assert list(reads.columns) == ["person_id", "occurred_at", "segment", "local_date", "local_hour"]


# --- 8. AQL --------------------------------------------------------------------------------------------


def person(**overrides: object) -> dict[str, object]:
    """A person who qualifies on all three counts unless overridden."""
    return {
        "person_id": "p-1",
        "account_id": "acc-1",
        "snapshot_date": day(0),
        "seniority": "vp",
        "page_views_30d": 4,
        "buying_content_views_30d": 1,
        "form_fills_30d": 0,
        "email_opens_30d": 2,
        "email_clicks_30d": 0,
        "pricing_views_14d": 2,
        "comparison_views_14d": 0,
        "form_fills_14d": 0,
        "email_clicks_14d": 0,
        "account_tier": 1,
        "account_employee_count": 500,
        "account_industry": "software",
    } | overrides


def qualify(settings: ModelSettings, probability: float, **overrides: object) -> dict[str, object]:
    leads = qualify_leads(pd.DataFrame([person(**overrides)]), pd.Series([probability]), settings)
    assert len(leads) == 1
    return leads.iloc[0].to_dict()


def test_a_person_meeting_all_three_criteria_is_an_aql_with_three_reasons(settings: ModelSettings) -> None:
    lead = qualify(settings, 0.6)

    assert lead["is_aql"] and lead["has_intent"] and lead["icp_fit"] and lead["qualifying_engagement"]
    assert lead["aql_reasons"] == [
        "intent probability 0.60 >= 0.30",
        "ICP fit: tier 1, 500 employees, software",
        "qualifying engagement in 14 days: 2 pricing views",
    ]
    assert lead["intent_probability"] == 0.6
    assert (lead["person_id"], lead["account_id"], lead["snapshot_date"]) == ("p-1", "acc-1", day(0))


@pytest.mark.parametrize(
    ("probability", "overrides", "flag", "reason_index", "reason"),
    [
        (0.29, {}, "has_intent", 0, "intent probability 0.29 < 0.30"),
        (float("nan"), {}, "has_intent", 0, "no usable intent score"),
        (0.6, {"account_tier": 3}, "icp_fit", 1, "outside the ICP: tier 3 (ICP tiers 1, 2)"),
        (
            0.6,
            {"account_industry": "public_sector"},
            "icp_fit",
            1,
            "outside the ICP: industry public_sector is excluded",
        ),
        (0.6, {"account_employee_count": 199}, "icp_fit", 1, "outside the ICP: 199 employees (fewer than 200)"),
        (0.6, {"account_employee_count": float("nan")}, "icp_fit", 1, "employee count unknown (ICP needs 200 or more)"),
        (0.6, {"pricing_views_14d": 0}, "qualifying_engagement", 2, "no qualifying engagement in 14 days"),
    ],
)
def test_each_failing_criterion_alone_stops_an_aql_and_says_why(
    settings: ModelSettings, probability: float, overrides: dict, flag: str, reason_index: int, reason: str
) -> None:
    lead = qualify(settings, probability, **overrides)

    assert not lead["is_aql"]
    assert not lead[flag]
    assert reason in lead["aql_reasons"][reason_index]
    others = {"has_intent", "icp_fit", "qualifying_engagement"} - {flag}
    assert all(lead[other] for other in others), "only the one criterion fails"


def test_a_missing_probability_is_reported_as_none(settings: ModelSettings) -> None:
    assert qualify(settings, float("nan"))["intent_probability"] is None


def test_the_thresholds_are_inclusive_for_intent_and_employees(settings: ModelSettings) -> None:
    lead = qualify(settings, 0.3, account_employee_count=200, account_tier=2)

    assert lead["is_aql"]
    assert lead["aql_reasons"][:2] == ["intent probability 0.30 >= 0.30", "ICP fit: tier 2, 200 employees, software"]


def test_every_icp_miss_and_every_qualifying_engagement_is_named(settings: ModelSettings) -> None:
    lead = qualify(
        settings,
        0.9,
        account_tier=4,
        account_employee_count=50,
        account_industry="public_sector",
        pricing_views_14d=0,
        comparison_views_14d=1,
        form_fills_14d=1,
        email_clicks_14d=3,
    )

    assert lead["aql_reasons"][1] == (
        "outside the ICP: tier 4 (ICP tiers 1, 2), 50 employees (fewer than 200), industry public_sector is excluded"
    )
    assert lead["aql_reasons"][2] == "qualifying engagement in 14 days: 1 comparison view, 1 form fill, 3 email clicks"


def test_mql_means_more_engagement_points_than_the_threshold(settings: ModelSettings) -> None:
    """A director (10) with 35 page views (70) has exactly 80 points: not above the threshold."""
    quiet = {"buying_content_views_30d": 0, "email_opens_30d": 0, "seniority": "director", "page_views_30d": 35}
    rows = pd.DataFrame([person(person_id="at", **quiet), person(person_id="above", **quiet | {"email_opens_30d": 1})])
    leads = qualify_leads(rows, pd.Series([0.1, 0.1]), settings)

    assert settings.engagement_points.mql_threshold == 80
    assert leads["engagement_points"].tolist() == [80.0, 82.0]
    assert leads["is_mql"].tolist() == [False, True]
    assert leads["is_aql"].tolist() == [False, False], "an MQL is not an AQL without intent"


# --- 9. baseline: engagement points --------------------------------------------------------------------


def test_engagement_points_add_each_activitys_weight_and_the_seniority_bonus(settings: ModelSettings) -> None:
    points = settings.engagement_points
    rows = pd.DataFrame(
        [
            person(
                seniority="c_suite",
                page_views_30d=3,
                buying_content_views_30d=2,
                form_fills_30d=1,
                email_opens_30d=4,
                email_clicks_30d=2,
            ),
            person(seniority="intern", page_views_30d=1, buying_content_views_30d=0, email_opens_30d=0),
            person(seniority=None, page_views_30d=0, buying_content_views_30d=0, email_opens_30d=0),
        ]
    )
    expected = (
        3 * points.page_view
        + 2 * points.buying_content_view
        + points.form_fill
        + 4 * points.email_open
        + 2 * points.email_click
        + points.seniority["c_suite"]
    )
    scores = engagement_points(rows, points)

    assert expected == 3 * 2 + 2 * 8 + 25 + 4 * 2 + 2 * 5 + 20
    assert scores.tolist() == [expected, points.page_view, 0.0]
    assert scores.name == "engagement_points"
    assert is_mql(scores, points).tolist() == [expected > points.mql_threshold, False, False]


def test_an_account_scores_its_best_person_each_day(settings: ModelSettings) -> None:
    points = settings.engagement_points
    rows = pd.DataFrame(
        [
            person(person_id="a1", account_id="A", snapshot_date=day(0), seniority="manager", page_views_30d=2),
            person(person_id="a2", account_id="A", snapshot_date=day(0), seniority="c_suite", page_views_30d=1),
            person(person_id="a1", account_id="A", snapshot_date=day(1), seniority="manager", page_views_30d=30),
            person(person_id="b1", account_id="B", snapshot_date=day(0), seniority=None, page_views_30d=2),
        ]
    )
    individual = engagement_points(rows, points).tolist()
    accounts = account_engagement_points(rows, points)

    assert list(accounts.columns) == ["account_id", "snapshot_date", "engagement_points"]
    by_key = {(row.account_id, row.snapshot_date): row.engagement_points for row in accounts.itertuples()}
    assert by_key == {
        ("A", day(0)): max(individual[0], individual[1]),
        ("A", day(1)): individual[2],
        ("B", day(0)): individual[3],
    }
    assert individual[1] > individual[0], "the best person on day 0 is the c-suite one"

    account_rows = pd.DataFrame({"account_id": ["A", "B", "C"], "snapshot_date": [day(0)] * 3})
    merged = with_account_engagement_points(account_rows, rows, points)
    assert merged["engagement_points"].tolist() == [individual[1], individual[3], 0.0]


def test_the_reads_hash_ignores_row_order_and_sees_a_changed_read() -> None:
    reads = pd.DataFrame(
        {
            "person_id": ["per_a", "per_b", "per_a", "per_c"],
            "occurred_at": pd.to_datetime(
                ["2026-10-01 09:00", "2026-10-01 10:00", "2026-10-02 08:00", "2026-10-03 11:00"]
            ),
            "local_hour": [9, 10, 8, 11],
        }
    )
    shuffled = reads.sample(frac=1, random_state=7).reset_index(drop=True)
    assert not shuffled.equals(reads)
    assert reads_snapshot_hash(shuffled) == reads_snapshot_hash(reads)
    changed = reads.assign(local_hour=[9, 10, 8, 12])
    assert reads_snapshot_hash(changed) != reads_snapshot_hash(reads)
