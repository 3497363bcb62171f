"""How good a score is on held-out rows, the same way for the model and for the rule it replaces."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score


@dataclass(frozen=True)
class ScoreMetrics:
    rows: int
    positives: int
    roc_auc: float
    pr_auc: float
    """Average precision: the area under the precision-recall curve, honest when positives are rare."""
    brier: float
    """Mean squared error of the probabilities (lower is better); for the rule, of its 0/1 flag."""
    lift_top_decile: float
    """How many times the base rate the positives are among the top-scored 10%."""

    def as_dict(self) -> dict[str, float]:
        return {key: round(float(value), 4) for key, value in asdict(self).items()}


def score_metrics(labels: np.ndarray, scores: np.ndarray, probabilities: np.ndarray) -> ScoreMetrics:
    labels = np.asarray(labels, dtype=int)
    both_classes = 0 < labels.sum() < len(labels)
    return ScoreMetrics(
        rows=len(labels),
        positives=int(labels.sum()),
        roc_auc=float(roc_auc_score(labels, scores)) if both_classes else float("nan"),
        pr_auc=float(average_precision_score(labels, scores)) if both_classes else float("nan"),
        brier=float(brier_score_loss(labels, probabilities)) if len(labels) else float("nan"),
        lift_top_decile=lift_table(labels, scores, bins=10)[0]["lift"] if labels.sum() else float("nan"),
    )


def _ranked(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Labels from the highest score down, each tied group replaced by its mean label, so the order rows
    arrive in never earns lift: a flat score has lift 1 in every decile."""
    labels = np.asarray(labels, dtype=float)
    order = np.argsort(-np.asarray(scores, dtype=float), kind="stable")
    ranked_scores = np.asarray(scores, dtype=float)[order]
    ranked = labels[order]
    _, group_starts, group_sizes = np.unique(ranked_scores, return_index=True, return_counts=True)
    for start, size in zip(group_starts, group_sizes, strict=True):
        ranked[start : start + size] = ranked[start : start + size].mean()
    return ranked


def lift_table(labels: np.ndarray, scores: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Rows split into score deciles, best first: each decile's positive rate and lift over the base rate."""
    ranked = _ranked(labels, scores)
    base_rate = ranked.mean() if len(ranked) else 0.0
    table = []
    for index, chunk in enumerate(np.array_split(ranked, bins), start=1):
        rate = float(chunk.mean()) if len(chunk) else 0.0
        table.append(
            {
                "decile": index,
                "rows": len(chunk),
                "positives": round(float(chunk.sum()), 2),
                "positive_rate": rate,
                "lift": rate / base_rate if base_rate else float("nan"),
            }
        )
    return table


def calibration_table(labels: np.ndarray, probabilities: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Predicted against observed rates in equal-count bins of the predicted probability."""
    order = np.argsort(probabilities, kind="stable")
    table = []
    for chunk in np.array_split(order, bins):
        if len(chunk):
            table.append(
                {
                    "rows": len(chunk),
                    "mean_predicted": float(np.mean(probabilities[chunk])),
                    "observed": float(np.mean(np.asarray(labels)[chunk])),
                }
            )
    return table


def bootstrap_pr_auc_gain(
    labels: np.ndarray,
    model_scores: np.ndarray,
    rule_scores: np.ndarray,
    groups: np.ndarray,
    *,
    resamples: int = 400,
    seed: int = 0,
) -> dict[str, float]:
    """The model's PR AUC minus the rule's, with a 90% interval from resampling whole accounts (an
    account's days are not independent). A lower bound above zero means the model is better, not lucky."""
    labels = np.asarray(labels, dtype=int)
    unique_groups, group_index = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(group_index == index) for index in range(len(unique_groups))]
    generator = np.random.default_rng(seed)
    gains = []
    for _ in range(resamples):
        chosen = generator.integers(0, len(members), len(members))
        rows = np.concatenate([members[index] for index in chosen])
        if 0 < labels[rows].sum() < len(rows):
            gains.append(
                average_precision_score(labels[rows], model_scores[rows])
                - average_precision_score(labels[rows], rule_scores[rows])
            )
    observed = average_precision_score(labels, model_scores) - average_precision_score(labels, rule_scores)
    return {
        "gain": round(float(observed), 4),
        "low_5pct": round(float(np.percentile(gains, 5)), 4),
        "high_95pct": round(float(np.percentile(gains, 95)), 4),
        "resamples": len(gains),
    }
