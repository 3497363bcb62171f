"""The purchase-intent model: a calibrated gradient-boosting classifier on point-in-time features.

HistGradientBoosting handles the skewed counts and missing recency natively; sigmoid calibration (fitted
on folds grouped by account, so an account's days never sit on both sides) turns its scores into
probabilities an agent and a RevOps user can read as "chance of an opportunity within N days".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import StratifiedGroupKFold

from models.config import IntentSettings
from models.contributions import Contributions, baseline_shapley, top_contributions
from models.features import FeatureSet


@dataclass
class IntentModel:
    """A fitted intent model with everything needed to score and explain new rows the same way."""

    features: FeatureSet
    categories: dict[str, tuple[str, ...]]
    """Each categorical column's known values; a value's code is its index, an unseen value is missing."""
    estimator: CalibratedClassifierCV
    reference: np.ndarray
    """The typical training row that explanations start from."""
    parameters: dict[str, object] = field(default_factory=dict)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self.features.columns

    def matrix(self, rows: pd.DataFrame) -> np.ndarray:
        numeric = rows[list(self.features.numeric)].astype(float).to_numpy()
        coded = [
            rows[column].map({value: code for code, value in enumerate(self.categories[column])}).astype(float)
            for column in self.features.categorical
        ]
        return np.column_stack([numeric, *coded]) if coded else numeric

    def predict_matrix(self, matrix: np.ndarray) -> np.ndarray:
        return self.estimator.predict_proba(matrix)[:, 1]

    def predict(self, rows: pd.DataFrame) -> np.ndarray:
        return self.predict_matrix(self.matrix(rows))

    def decode(self, feature: str, value: float) -> object:
        """A feature value as a person would read it: the category name, a whole count, or None."""
        if np.isnan(value):
            return None
        if feature in self.categories:
            return self.categories[feature][int(value)]
        return int(value) if float(value).is_integer() else round(float(value), 4)

    def explain(self, rows: pd.DataFrame, settings: IntentSettings) -> tuple[Contributions, list[list[dict]]]:
        """Contributions for every row, and each row's top features for agents and `surgewise explain`."""
        matrix = self.matrix(rows)
        contributions = baseline_shapley(
            self.predict_matrix,
            matrix,
            self.reference,
            permutations=settings.explanation.permutations,
            seed=settings.seed,
        )
        tops = [
            top_contributions(
                self.feature_names,
                matrix[index],
                contributions.values[index],
                settings.explanation.top_features,
                self.decode,
            )
            for index in range(len(rows))
        ]
        return contributions, tops


def train_intent_model(train: pd.DataFrame, features: FeatureSet, settings: IntentSettings) -> IntentModel:
    """Fit on the training rows only; the same rows and seed always give the same model."""
    categories = {column: tuple(sorted(train[column].dropna().astype(str).unique())) for column in features.categorical}
    model = IntentModel(features, categories, estimator=None, reference=np.empty(0))  # type: ignore[arg-type]
    matrix = model.matrix(train)
    labels = train["label"].astype(int).to_numpy()
    booster = HistGradientBoostingClassifier(
        **settings.gradient_boosting.model_dump(),
        categorical_features=[features.columns.index(column) for column in features.categorical] or None,
        early_stopping=False,
        random_state=settings.seed,
    )
    folds = StratifiedGroupKFold(n_splits=settings.calibration_folds, shuffle=True, random_state=settings.seed)
    splits = list(folds.split(matrix, labels, groups=train["account_id"].to_numpy()))
    model.estimator = CalibratedClassifierCV(booster, method="sigmoid", cv=splits).fit(matrix, labels)
    model.reference = _reference_row(matrix, len(features.numeric))
    model.parameters = {
        **settings.gradient_boosting.model_dump(),
        "calibration": "sigmoid",
        "calibration_folds": settings.calibration_folds,
        "seed": settings.seed,
    }
    return model


def _reference_row(matrix: np.ndarray, numeric_columns: int) -> np.ndarray:
    """Medians of the numeric features and the most common code of each categorical one."""
    reference = np.nanmedian(matrix[:, :numeric_columns], axis=0) if numeric_columns else np.empty(0)
    modes = []
    for column in range(numeric_columns, matrix.shape[1]):
        codes = matrix[:, column][~np.isnan(matrix[:, column])]
        modes.append(np.bincount(codes.astype(int)).argmax() if codes.size else np.nan)
    return np.concatenate([reference, np.asarray(modes, dtype=float)])
