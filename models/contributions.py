"""Why a score is high: per-prediction feature contributions by baseline Shapley values.

Method (Sundararajan & Najmi, "The many Shapley values for model explanation", 2020): the reference is
a typical training row (medians, modes for categories). Walking the features in an order, each feature
is switched from the reference value to the row's value and credited with the change in the predicted
probability. Contributions are averaged over several orderings (each with its reverse, which halves the
variance), so for every row

    reference probability + sum of contributions = the row's probability

exactly, on the probability scale the agents read. It treats the calibrated model as a black box, so the
same method explains any challenger. Switching a feature that already equals the reference changes no
prediction; rows that repeat are predicted once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Predict = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Contributions:
    reference_probability: float
    probabilities: np.ndarray
    """Each row's predicted probability."""
    values: np.ndarray
    """rows x features: each feature's share of (probability - reference probability)."""


def baseline_shapley(
    predict: Predict, rows: np.ndarray, reference: np.ndarray, *, permutations: int, seed: int
) -> Contributions:
    n_rows, n_features = rows.shape
    if n_rows == 0:
        return Contributions(float(predict(reference[np.newaxis, :])[0]), np.empty(0), np.empty((0, n_features)))
    generator = np.random.default_rng(seed)
    orders = []
    for _ in range(max(1, permutations // 2)):
        order = generator.permutation(n_features)
        orders += [order, order[::-1]]
    values = np.zeros((n_rows, n_features))
    probabilities = np.empty((n_features + 1, n_rows))
    for order in orders:
        # hybrids[k] has the first k features of the order taken from the row, the rest from the reference
        hybrids = np.repeat(reference[np.newaxis, np.newaxis, :], n_features + 1, axis=0).repeat(n_rows, axis=1)
        for step, feature in enumerate(order, start=1):
            hybrids[step:, :, feature] = rows[:, feature]
        flat = hybrids.reshape(-1, n_features)
        probabilities = _predict_unique(predict, flat).reshape(n_features + 1, n_rows)
        values[:, order] += np.diff(probabilities, axis=0).T
    values /= len(orders)
    # the first hybrid is the reference itself and the last the row itself, whatever the order
    return Contributions(float(probabilities[0, 0]), probabilities[-1], values)


def _predict_unique(predict: Predict, flat: np.ndarray) -> np.ndarray:
    """Predict each distinct row once: most hybrids repeat, because most features equal the reference."""
    keyed = np.nan_to_num(flat, nan=np.inf)
    unique, inverse = np.unique(keyed, axis=0, return_inverse=True)
    unique[np.isinf(unique)] = np.nan
    return predict(unique)[inverse.reshape(-1)]


def top_contributions(
    feature_names: tuple[str, ...], row: np.ndarray, contributions: np.ndarray, top: int, decode: Callable
) -> list[dict[str, object]]:
    """The features that moved this score most, largest first, with the values the model saw."""
    ranked = np.argsort(-np.abs(contributions), kind="stable")[:top]
    return [
        {
            "feature": feature_names[index],
            "value": decode(feature_names[index], row[index]),
            "contribution": round(float(contributions[index]), 6),
        }
        for index in ranked
        if contributions[index] != 0
    ]
