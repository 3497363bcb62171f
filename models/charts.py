"""Model quality as Markdown, so the Dagster UI shows the calibration and lift charts with the metrics."""

from __future__ import annotations

from models.registry import ModelCard, PromotionDecision

BAR_WIDTH = 20


def _bar(value: float, scale: float) -> str:
    filled = 0 if scale <= 0 else round(BAR_WIDTH * min(value, scale) / scale)
    return "█" * filled + "·" * (BAR_WIDTH - filled)


def metrics_table(card: ModelCard) -> str:
    model, rule = card.metrics["model"], card.metrics["rule"]
    rows = [
        ("ROC AUC", "roc_auc", "higher"),
        ("PR AUC (average precision)", "pr_auc", "higher"),
        ("Brier score", "brier", "lower"),
        ("lift in the top decile", "lift_top_decile", "higher"),
    ]
    lines = ["| held-out metric | model | rule: engagement points > 80 | better |", "|---|---|---|---|"]
    lines += [f"| {label} | {model[key]:.3f} | {rule[key]:.3f} | {better} |" for label, key, better in rows]
    flag, same = card.metrics["rule_flag"], card.metrics["model_at_rule_volume"]
    lines.append(
        f"| precision / recall flagging {flag['flagged']} rows | {same['precision']} / {same['recall']} | "
        f"{flag['precision']} / {flag['recall']} | higher |"
    )
    return "\n".join(lines)


def calibration_chart(card: ModelCard) -> str:
    lines = ["| predicted | observed | rows | observed rate |", "|---|---|---|---|"]
    scale = max(
        [row["observed"] for row in card.metrics["calibration"]]
        + [row["mean_predicted"] for row in card.metrics["calibration"]]
        + [1e-9]
    )
    for row in card.metrics["calibration"]:
        bar = _bar(row["observed"], scale)
        lines.append(f"| {row['mean_predicted']:.3f} | {row['observed']:.3f} | {row['rows']} | `{bar}` |")
    return "\n".join(lines)


def lift_chart(card: ModelCard) -> str:
    model, rule = card.metrics["lift"], card.metrics["rule_lift"]
    scale = max([row["lift"] for row in model + rule if row["lift"] == row["lift"]] + [1e-9])
    lines = ["| decile | model lift | | rule lift | |", "|---|---|---|---|---|"]
    for ours, theirs in zip(model, rule, strict=True):
        lines.append(
            f"| {ours['decile']} | {ours['lift']:.2f} | `{_bar(ours['lift'], scale)}` | "
            f"{theirs['lift']:.2f} | `{_bar(theirs['lift'], scale)}` |"
        )
    return "\n".join(lines)


def model_report(card: ModelCard, decision: PromotionDecision) -> str:
    gain = card.metrics["pr_auc_gain_over_rule"]
    return "\n\n".join(
        [
            f"### {card.name} {card.version}",
            f"**Decision:** {'promoted' if decision.promoted else 'not promoted'}: {decision.reason}. "
            f"Champion: `{decision.version or 'none'}`.",
            f"**Split:** {card.training['split']}; {card.training['train_rows']} training rows "
            f"({card.training['train_positive_accounts']} accounts with an opportunity), "
            f"{card.training['holdout_rows']} held-out rows ({card.training['holdout_positive_accounts']}).",
            metrics_table(card),
            f"PR AUC gain over the rule: {gain['gain']:+.3f} (90% interval {gain['low_5pct']:+.3f} to "
            f"{gain['high_95pct']:+.3f}, {gain['resamples']} account resamples).",
            "#### Calibration (held-out, equal-count bins)",
            calibration_chart(card),
            "#### Lift by decile (held-out)",
            lift_chart(card),
        ]
    )
