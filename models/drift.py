"""Has today's population drifted from the one the model learnt from? Population stability index.

PSI = sum over bins of (actual share - expected share) * ln(actual share / expected share), with bins
cut at the training distribution's quantiles. Counts are zero-heavy, so repeated edges collapse into
fewer bins; an empty bin gets a tiny share instead of an infinite term.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

EMPTY_BIN_SHARE = 1e-4


def reference_bins(values: pd.Series, bins: int) -> dict[str, list[float]]:
    """Bin edges at the training quantiles, and the training share in each bin (missing values apart)."""
    present = values.dropna().astype(float).to_numpy()
    edges = np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1])) if present.size else np.array([])
    return {"edges": edges.tolist(), "shares": _shares(values, edges).tolist()}


def _shares(values: pd.Series, edges: np.ndarray) -> np.ndarray:
    """Shares of values per bin (right-closed bins between the edges), with missing values last."""
    numbers = values.astype(float).to_numpy()
    present = numbers[~np.isnan(numbers)]
    counts = np.bincount(np.searchsorted(edges, present, side="left"), minlength=len(edges) + 1)
    counts = np.append(counts, np.isnan(numbers).sum())
    return counts / max(1, len(numbers))


def population_stability(reference: dict[str, list[float]], values: pd.Series) -> float:
    expected = np.maximum(np.asarray(reference["shares"], dtype=float), EMPTY_BIN_SHARE)
    actual = np.maximum(_shares(values, np.asarray(reference["edges"], dtype=float)), EMPTY_BIN_SHARE)
    return float(np.sum((actual - expected) * np.log(actual / expected)))
