"""Train a challenger intent model, judge it against the rule and the champion, and register it."""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score

from models.baseline import engagement_points, is_mql, with_account_engagement_points
from models.config import ModelSettings
from models.contributions import __doc__ as EXPLANATION_METHOD
from models.drift import reference_bins
from models.features import (
    ACCOUNT_LEVEL,
    FEATURE_SETS,
    PERSON_LEVEL,
    FeatureSet,
    TimeSplit,
    load_account_rows,
    load_person_rows,
    positive_accounts,
    snapshot_hash,
    split_rows,
    time_split,
    with_labels,
)
from models.intent import IntentModel, train_intent_model
from models.metrics import bootstrap_pr_auc_gain, calibration_table, lift_table, score_metrics
from models.registry import (
    ModelCard,
    ModelRegistry,
    PromotionDecision,
    TrainingOutcome,
    code_version,
    decide_promotion,
    new_version,
    unused_version,
)

PROMOTION_METRIC = "pr_auc"


def intent_model_name(level: str) -> str:
    return f"{level}_intent"


def labelled_rows(
    level: str, account_rows: pd.DataFrame, person_rows: pd.DataFrame, settings: ModelSettings
) -> pd.DataFrame:
    """The level's rows with the label and the rule's score (engagement points) beside the features."""
    points = settings.engagement_points
    if level == ACCOUNT_LEVEL:
        rows = with_account_engagement_points(account_rows, person_rows, points)
    else:
        rows = person_rows.assign(engagement_points=engagement_points(person_rows, points))
    return with_labels(rows, settings.intent.horizon_days)


def load_labelled_rows(
    connection: duckdb.DuckDBPyConnection,
    settings: ModelSettings,
    *,
    account_id: str | None = None,
    snapshot_date: date | None = None,
) -> dict[str, pd.DataFrame]:
    """Both levels' rows from the feature marts, labelled and with the rule's score, as models read them
    (optionally one account's rows, or one day's)."""
    account_rows = load_account_rows(connection, account_id=account_id, snapshot_date=snapshot_date)
    person_rows = load_person_rows(connection, account_id=account_id, snapshot_date=snapshot_date)
    return {level: labelled_rows(level, account_rows, person_rows, settings) for level in (ACCOUNT_LEVEL, PERSON_LEVEL)}


def prepare_training_data(
    labelled: pd.DataFrame, settings: ModelSettings
) -> tuple[TimeSplit, pd.DataFrame, pd.DataFrame] | str:
    """The split and its two row sets, or the reason the data cannot train a model yet."""
    split = time_split(labelled, settings.intent)
    if split is None:
        return (
            f"too little history: {labelled['snapshot_date'].nunique()} snapshot days cannot hold out "
            f"{settings.intent.holdout_days} mature days and still train on earlier ones"
        )
    train, holdout = split_rows(labelled, split)
    needed = settings.intent.min_positive_accounts
    for part, rows in (("training", train), ("held-out", holdout)):
        if positive_accounts(rows) < needed:
            return (
                f"only {positive_accounts(rows)} accounts opened an opportunity in the {part} days "
                f"({split.describe()}); at least {needed} are needed"
            )
    return split, train, holdout


def evaluate(model: IntentModel, holdout: pd.DataFrame, settings: ModelSettings) -> dict[str, object]:
    """The model and the rule on the same held-out rows: every figure a RevOps user needs to compare."""
    labels = holdout["label"].to_numpy(dtype=int)
    probabilities = model.predict(holdout)
    points = holdout["engagement_points"].to_numpy(dtype=float)
    flags = is_mql(holdout["engagement_points"], settings.engagement_points).to_numpy(dtype=int)
    flagged = int(flags.sum())
    top = np.argsort(-probabilities, kind="stable")[:flagged]
    return {
        "model": score_metrics(labels, probabilities, probabilities).as_dict(),
        "rule": score_metrics(labels, points, flags.astype(float)).as_dict(),
        "rule_flag": {
            "flagged": flagged,
            "precision": round(float(labels[flags == 1].mean()), 4) if flagged else None,
            "recall": round(float(labels[flags == 1].sum() / labels.sum()), 4) if labels.sum() else None,
        },
        "model_at_rule_volume": {
            "flagged": flagged,
            "precision": round(float(labels[top].mean()), 4) if flagged else None,
            "recall": round(float(labels[top].sum() / labels.sum()), 4) if labels.sum() else None,
        },
        "pr_auc_gain_over_rule": bootstrap_pr_auc_gain(
            labels, probabilities, points, holdout["account_id"].to_numpy(), seed=settings.intent.seed
        ),
        "calibration": calibration_table(labels, probabilities),
        "lift": lift_table(labels, probabilities),
        "rule_lift": lift_table(labels, points),
    }


def train_challenger(
    level: str,
    labelled: pd.DataFrame,
    settings: ModelSettings,
    registry: ModelRegistry,
    trained_at: datetime,
) -> TrainingOutcome:
    """Train, evaluate, register and let the challenger compete with the champion."""
    name = intent_model_name(level)
    features = FEATURE_SETS[level]
    prepared = prepare_training_data(labelled, settings)
    if isinstance(prepared, str):
        registry.log_attempt(name, trained_at, f"not trained: {prepared}")
        return TrainingOutcome(name, None, None, prepared)
    split, train, holdout = prepared
    model = train_intent_model(train, features, settings.intent)
    metrics = evaluate(model, holdout, settings)
    data_hash = snapshot_hash(pd.concat([train, holdout]), (*features.columns, "label"))
    card = ModelCard(
        name=name,
        version=unused_version(registry, name, new_version(trained_at, data_hash)),
        trained_at=trained_at.isoformat(),
        code_version=code_version(),
        data_snapshot_hash=data_hash,
        features=list(features.columns),
        parameters={**model.parameters, "horizon_days": settings.intent.horizon_days},
        metrics=metrics,
        training={
            "split": split.describe(),
            "train_start": split.train_start.isoformat(),
            "train_end": split.train_end.isoformat(),
            "holdout_start": split.holdout_start.isoformat(),
            "holdout_end": split.holdout_end.isoformat(),
            "labels_known_through": split.holdout_end.isoformat(),
            "train_rows": len(train),
            "train_positive_rows": int(train["label"].sum()),
            "train_positive_accounts": positive_accounts(train),
            "holdout_rows": len(holdout),
            "holdout_positive_rows": int(holdout["label"].sum()),
            "holdout_positive_accounts": positive_accounts(holdout),
        },
        explanation_method=(EXPLANATION_METHOD or "").strip(),
        drift_reference={
            column: reference_bins(train[column], settings.drift.bins)
            for column in drift_features(features, settings.drift.key_features)
        },
    )
    registry.save(card, model)
    decision = _compete(registry, name, card, model, holdout, settings)
    registry.record_decision(name, decision, trained_at)
    registry.log_attempt(name, trained_at, f"trained {card.version}: {decision.reason}")
    return TrainingOutcome(name, card, decision)


def drift_features(features: FeatureSet, key_features: tuple[str, ...]) -> list[str]:
    """The key features as this level names them (a person row carries the account's as `account_*`)."""
    columns = []
    for feature in key_features:
        if feature in features.columns:
            columns.append(feature)
        elif f"account_{feature}" in features.columns:
            columns.append(f"account_{feature}")
    return columns


def _compete(
    registry: ModelRegistry,
    name: str,
    card: ModelCard,
    challenger: IntentModel,
    holdout: pd.DataFrame,
    settings: ModelSettings,
) -> PromotionDecision:
    """Both models scored unrounded on the same held-out rows, so equal models tie instead of a rounding
    difference deciding."""
    labels = holdout["label"].to_numpy(dtype=int)
    champion_version = registry.champion_version(name)
    champion_score = None
    if champion_version is not None:
        champion, champion_card = registry.load(name, champion_version)
        if isinstance(champion, IntentModel) and champion_card.features == card.features:
            champion_score = float(average_precision_score(labels, champion.predict(holdout)))
    return decide_promotion(
        name,
        PROMOTION_METRIC,
        card.version,
        float(average_precision_score(labels, challenger.predict(holdout))),
        champion_version,
        champion_score,
        min_improvement=settings.intent.min_improvement,
        rule_score=float(average_precision_score(labels, holdout["engagement_points"].to_numpy(dtype=float))),
    )
