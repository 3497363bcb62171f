"""Anomaly detection on agent behaviour: one run's volume, spend, denial rate and channel mix against
the agent's trailing runs. Pure; the governor reads the history and pauses the agent on a breach.

This is what catches "a well-intentioned agent taking a subtly incorrect action, at scale, repeatedly":
every single action may pass every rule while the run as a whole looks nothing like the agent's past.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from statistics import median

from agents.config import AnomalyPolicy


@dataclass(frozen=True)
class RunBehaviour:
    """What one agent run proposed, after governance decided."""

    actions: int
    spend: float
    denied: int
    channels: dict[str, int]

    @property
    def denial_rate(self) -> float:
        return self.denied / self.actions if self.actions else 0.0


@dataclass(frozen=True)
class AnomalyFinding:
    metric: str
    observed: float
    baseline: float
    reason: str


def _channel_shares(channels: dict[str, int]) -> dict[str, float]:
    total = sum(channels.values())
    return {channel: count / total for channel, count in channels.items()} if total else {}


def detect_anomalies(run: RunBehaviour, history: list[RunBehaviour], policy: AnomalyPolicy) -> list[AnomalyFinding]:
    """Breaches of the run against the median of the trailing runs; nothing until the baseline is long
    enough to mean something (`min_baseline_runs`)."""
    baseline = history[-policy.trailing_runs :]
    if len(baseline) < policy.min_baseline_runs or run.actions == 0:
        return []
    findings = []
    typical_volume = median(behaviour.actions for behaviour in baseline)
    if run.actions >= policy.min_volume and run.actions > policy.max_volume_ratio * max(typical_volume, 1):
        findings.append(
            AnomalyFinding(
                "action_volume",
                run.actions,
                typical_volume,
                f"{run.actions} actions in one run, over {policy.max_volume_ratio:g}x the usual {typical_volume:g}",
            )
        )
    typical_spend = median(behaviour.spend for behaviour in baseline)
    if run.spend >= policy.min_spend and run.spend > policy.max_spend_ratio * max(typical_spend, 1.0):
        findings.append(
            AnomalyFinding(
                "spend_rate",
                run.spend,
                typical_spend,
                f"{run.spend:,.2f} committed in one run, over {policy.max_spend_ratio:g}x "
                f"the usual {typical_spend:,.2f}",
            )
        )
    typical_denials = median(behaviour.denial_rate for behaviour in baseline)
    if run.denial_rate - typical_denials > policy.max_denial_rate_increase:
        findings.append(
            AnomalyFinding(
                "denial_rate",
                run.denial_rate,
                typical_denials,
                f"{run.denial_rate:.0%} of the run's actions denied, against a usual {typical_denials:.0%}",
            )
        )
    usual = Counter()
    for behaviour in baseline:
        usual.update(behaviour.channels)
    usual_shares, run_shares = _channel_shares(dict(usual)), _channel_shares(run.channels)
    shift = 0.5 * sum(
        abs(run_shares.get(c, 0.0) - usual_shares.get(c, 0.0)) for c in set(usual_shares) | set(run_shares)
    )
    if shift > policy.max_channel_mix_shift:
        findings.append(
            AnomalyFinding(
                "channel_mix",
                shift,
                0.0,
                f"channel mix moved {shift:.0%} from the usual ({', '.join(sorted(run.channels))} "
                f"against {', '.join(sorted(usual))})",
            )
        )
    return findings
