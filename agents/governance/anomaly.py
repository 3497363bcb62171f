"""Anomaly detection on agent behaviour: one run's volume, spend, denial rate and channel mix against
the agent's trailing runs. Pure; the governor reads the history and pauses the agent on a breach.

This is what catches "a well-intentioned agent taking a subtly incorrect action, at scale, repeatedly":
every single action may pass every rule while the run as a whole looks nothing like the agent's past.

A pause stops the agent for everyone until a human resumes it, so a rule fires only when three things hold:
the run is large enough to judge (a minimum volume per rule), the change is large enough to matter (a ratio
or an increase), and it is unlikely to be chance given how many actions and runs it rests on (a p-value
under `significance`, which is shared between the rules so an ordinary run pauses the agent with at most
that probability). Small runs are noisy: four denials in five actions is an ordinary bad afternoon, 48 in
60 against a usual 10% is not.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from statistics import median

from scipy.stats import binomtest, norm

from agents.config import AnomalyPolicy

RULES = 4
"""Volume, spend, denial rate and channel mix share `significance` equally (Bonferroni)."""
MAD_TO_SD = 1.4826
"""The median absolute deviation times this estimates the standard deviation of a normal distribution."""
VOLUME_SCALE_FLOOR = 0.5
"""The spread of sqrt(actions) is at least Poisson's (1/2), so identical trailing runs do not make one more
action infinitely surprising."""
SPEND_SCALE_FLOOR = 0.25
"""The spread of log(spend) is taken to be at least a quarter (about 28%), for the same reason."""


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
    """A breach that explains itself: what was seen, against what, how unlikely by chance, on how much."""

    metric: str
    observed: float
    baseline: float
    p_value: float
    """The chance of a run at least this far from the baseline if the agent behaved as in its trailing runs."""
    significance: float
    """The p-value this rule had to fall below (the policy's `significance` split between the rules)."""
    n: int
    """Actions in the run."""
    baseline_runs: int
    reason: str


def detect_anomalies(run: RunBehaviour, history: list[RunBehaviour], policy: AnomalyPolicy) -> list[AnomalyFinding]:
    """Breaches of the run against the agent's trailing runs; nothing until the baseline is long enough to
    mean something (`min_baseline_runs`)."""
    baseline = history[-policy.trailing_runs :]
    if len(baseline) < policy.min_baseline_runs or run.actions == 0:
        return []
    findings = [rule(run, baseline, policy) for rule in (_volume, _spend, _denial_rate, _channel_mix)]
    return [finding for finding in findings if finding is not None and finding.p_value < finding.significance]


def _per_rule(policy: AnomalyPolicy) -> float:
    return policy.significance / RULES


def _robust_p_value(observed: float, trailing: list[float], scale_floor: float) -> float:
    """One-sided p-value of `observed` against the trailing values' median and MAD: robust to the odd
    unusual run already in the history, which a mean and standard deviation would let hide the next."""
    centre = median(trailing)
    spread = MAD_TO_SD * median(abs(value - centre) for value in trailing)
    return float(norm.sf((observed - centre) / max(spread, scale_floor)))


def _volume(run: RunBehaviour, baseline: list[RunBehaviour], policy: AnomalyPolicy) -> AnomalyFinding | None:
    typical = median(behaviour.actions for behaviour in baseline)
    if run.actions < policy.min_volume or run.actions <= policy.max_volume_ratio * max(typical, 1):
        return None
    p_value = _robust_p_value(
        math.sqrt(run.actions), [math.sqrt(behaviour.actions) for behaviour in baseline], VOLUME_SCALE_FLOOR
    )
    return AnomalyFinding(
        "action_volume",
        run.actions,
        typical,
        p_value,
        _per_rule(policy),
        run.actions,
        len(baseline),
        f"{run.actions} actions in one run, over {policy.max_volume_ratio:g}x the usual {typical:g} "
        f"(median of {len(baseline)} runs; p={p_value:.2g})",
    )


def _spend(run: RunBehaviour, baseline: list[RunBehaviour], policy: AnomalyPolicy) -> AnomalyFinding | None:
    typical = median(behaviour.spend for behaviour in baseline)
    if run.spend < policy.min_spend or run.spend <= policy.max_spend_ratio * max(typical, 1.0):
        return None
    p_value = _robust_p_value(
        math.log1p(run.spend), [math.log1p(behaviour.spend) for behaviour in baseline], SPEND_SCALE_FLOOR
    )
    return AnomalyFinding(
        "spend_rate",
        run.spend,
        typical,
        p_value,
        _per_rule(policy),
        run.actions,
        len(baseline),
        f"{run.spend:,.2f} committed in one run, over {policy.max_spend_ratio:g}x the usual {typical:,.2f} "
        f"(median of {len(baseline)} runs; p={p_value:.2g})",
    )


def _smoothed_rate(successes: int, trials: int, categories: int = 2) -> float:
    """The baseline rate with one pseudo-count per category, so a baseline that never saw a denial (or a
    channel) does not make the first one infinitely surprising."""
    return (successes + 1) / (trials + categories)


def _denial_rate(run: RunBehaviour, baseline: list[RunBehaviour], policy: AnomalyPolicy) -> AnomalyFinding | None:
    """A one-sided binomial test of the run's denials against the trailing runs' pooled denial rate."""
    if run.actions < policy.min_denial_actions:
        return None
    usual_denied = sum(behaviour.denied for behaviour in baseline)
    usual_actions = sum(behaviour.actions for behaviour in baseline)
    usual_rate = _smoothed_rate(usual_denied, usual_actions)
    if run.denial_rate - usual_rate <= policy.max_denial_rate_increase:
        return None
    p_value = float(binomtest(run.denied, run.actions, usual_rate, alternative="greater").pvalue)
    return AnomalyFinding(
        "denial_rate",
        run.denial_rate,
        usual_rate,
        p_value,
        _per_rule(policy),
        run.actions,
        len(baseline),
        f"{run.denied} of the run's {run.actions} actions denied ({run.denial_rate:.0%}), against a usual "
        f"{usual_rate:.0%} ({usual_denied} of {usual_actions} in {len(baseline)} runs; p={p_value:.2g})",
    )


def _shares(counts: dict[str, int]) -> dict[str, float]:
    total = sum(counts.values())
    return {channel: count / total for channel, count in counts.items()} if total else {}


def _channel_mix(run: RunBehaviour, baseline: list[RunBehaviour], policy: AnomalyPolicy) -> AnomalyFinding | None:
    """The mix moved if some channel's share grew: a one-sided binomial test per channel against its smoothed
    share of the trailing runs, the smallest p-value corrected for the number of channels (Bonferroni).
    Exact at any count, so a channel the agent never used needs no minimum expected count to be judged."""
    total = sum(run.channels.values())
    if total < policy.min_channel_actions:
        return None
    usual: Counter[str] = Counter()
    for behaviour in baseline:
        usual.update(behaviour.channels)
    usual_total = sum(usual.values())
    usual_shares, run_shares = _shares(dict(usual)), _shares(run.channels)
    channels = sorted(set(usual) | set(run.channels))
    shift = 0.5 * sum(abs(run_shares.get(c, 0.0) - usual_shares.get(c, 0.0)) for c in channels)
    if shift <= policy.max_channel_mix_shift:
        return None
    expected = {c: _smoothed_rate(usual[c], usual_total, len(channels)) for c in channels}
    tests = {
        c: float(binomtest(run.channels[c], total, expected[c], alternative="greater").pvalue) for c in run.channels
    }
    grown = min(tests, key=lambda c: (tests[c], c))
    p_value = min(1.0, len(channels) * tests[grown])
    return AnomalyFinding(
        "channel_mix",
        run_shares[grown],
        expected[grown],
        p_value,
        _per_rule(policy),
        total,
        len(baseline),
        f"channel mix moved {shift:.0%} from the usual: {grown} {run.channels[grown]} of {total} actions "
        f"({run_shares[grown]:.0%}) against a usual {expected[grown]:.0%} ({usual[grown]} of {usual_total} in "
        f"{len(baseline)} runs; p={p_value:.2g})",
    )
