"""The anomaly detector judges a run with statistics: a minimum volume per rule, and a p-value that accounts for
how many actions and trailing runs it rests on. Small ordinary runs never pause an agent; a runaway does; and
under the null (runs drawn from the agent's own behaviour) the false-pause rate stays near `significance`."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.config import AnomalyPolicy
from agents.governance.anomaly import RULES, RunBehaviour, detect_anomalies

DEFAULTS = AnomalyPolicy()
OPEN_GATES = AnomalyPolicy(
    significance=0.05,
    min_volume=1,
    min_spend=0,
    max_volume_ratio=1.000001,
    max_spend_ratio=1.000001,
    max_denial_rate_increase=1e-9,
    max_channel_mix_shift=1e-9,
    min_denial_actions=1,
    min_channel_actions=1,
)
"""Every minimum and effect size switched off, so what is measured is the tests' own false-positive rate."""


DEFAULT_MARKET_SDR_RUNS = tuple(
    RunBehaviour(enrolments + 1, 0.0, denied, {"sales_engagement": enrolments, "internal": 1})
    for enrolments, denied in (
        (3, 0), (3, 0), (3, 0), (3, 0), (3, 2), (4, 0), (3, 0), (4, 2), (3, 1), (4, 1),
        (4, 2), (3, 0), (4, 1), (3, 2), (4, 0), (3, 1), (3, 1), (3, 1), (3, 2),
    )
)  # fmt: skip
"""The SDR agent's 19 runs on the default market (seed 42, 200 accounts, 75 days), in order: enrolments and one
handoff each, 16 of 82 actions denied or escalated (consent, frequency caps)."""
DEFAULT_MARKET_ADS_RUNS = tuple(
    RunBehaviour(2, spend, 0, {"linkedin": 2})
    for spend in (475.0, 475.0, 550.0, 550.0, 550.0, 550.0, 475.0, 475.0, 550.0, 475.0, 475.0, 475.0, 475.0)
)
"""The ads agent's 13 runs there: a budget boost and a creative, each run."""
STATISTICS_ONLY = DEFAULTS.model_copy(
    update={"min_volume": 1, "min_spend": 0, "min_denial_actions": 1, "min_channel_actions": 1}
)
"""The defaults with every minimum volume off: what the p-values alone decide."""


def _ordinary_rates(runs: int = 20) -> list[RunBehaviour]:
    """Runs of 50 actions, 10% denied, on a stable mix of two channels."""
    return [RunBehaviour(50, 5_000.0, 5, {"sales_engagement": 40, "linkedin": 10}) for _ in range(runs)]


def test_one_ordinary_run_of_five_actions_with_four_denied_pauses_nothing() -> None:
    run = RunBehaviour(actions=5, spend=0.0, denied=4, channels={"sales_engagement": 4, "internal": 1})

    assert detect_anomalies(run, list(DEFAULT_MARKET_SDR_RUNS), DEFAULTS) == []
    assert detect_anomalies(run, list(DEFAULT_MARKET_SDR_RUNS), STATISTICS_ONLY) == [], "nor is it significant"


def test_a_planted_denial_runaway_pauses_and_explains_itself() -> None:
    runaway = RunBehaviour(60, 6_000.0, 48, {"sales_engagement": 48, "linkedin": 12})

    (finding,) = detect_anomalies(runaway, _ordinary_rates(), DEFAULTS)

    assert finding.metric == "denial_rate"
    assert (finding.observed, finding.n, finding.baseline_runs) == (0.8, 60, 20)
    assert math.isclose(finding.baseline, 101 / 1002)
    assert finding.p_value < 1e-25 and finding.significance == DEFAULTS.significance / RULES
    assert finding.reason.startswith("48 of the run's 60 actions denied (80%), against a usual 10% (100 of 1000")
    assert "p=" in finding.reason


def test_a_tenfold_run_pauses_on_volume_and_spend() -> None:
    findings = detect_anomalies(
        RunBehaviour(500, 50_000.0, 50, {"sales_engagement": 400, "linkedin": 100}), _ordinary_rates(), DEFAULTS
    )

    by_metric = {finding.metric: finding for finding in findings}
    assert set(by_metric) == {"action_volume", "spend_rate"}
    assert (by_metric["action_volume"].observed, by_metric["action_volume"].baseline) == (500, 50)
    assert by_metric["action_volume"].reason.startswith("500 actions in one run, over 3x the usual 50")
    assert all(finding.p_value < 1e-10 for finding in findings)


def test_a_new_channel_taking_over_the_run_pauses_on_channel_mix() -> None:
    (finding,) = detect_anomalies(RunBehaviour(50, 5_000.0, 5, {"sms": 45, "linkedin": 5}), _ordinary_rates(), DEFAULTS)

    assert finding.metric == "channel_mix" and finding.observed == 0.9
    assert finding.reason.startswith("channel mix moved 90% from the usual: sms 45 of 50 actions (90%)")
    assert finding.p_value < 1e-50


@pytest.mark.parametrize(
    ("usual", "below", "at"),
    [
        (
            RunBehaviour(1, 0.0, 0, {"linkedin": 1}),
            RunBehaviour(DEFAULTS.min_volume - 1, 0.0, 0, {"linkedin": DEFAULTS.min_volume - 1}),
            RunBehaviour(DEFAULTS.min_volume, 0.0, 0, {"linkedin": DEFAULTS.min_volume}),
        ),
        (
            RunBehaviour(1, 10.0, 0, {"linkedin": 1}),
            RunBehaviour(1, DEFAULTS.min_spend - 1, 0, {"linkedin": 1}),
            RunBehaviour(1, DEFAULTS.min_spend, 0, {"linkedin": 1}),
        ),
        (
            RunBehaviour(20, 0.0, 0, {"linkedin": 20}),
            RunBehaviour(19, 0.0, 19, {"linkedin": 19}),
            RunBehaviour(20, 0.0, 20, {"linkedin": 20}),
        ),
        (
            RunBehaviour(20, 0.0, 0, {"linkedin": 20}),
            RunBehaviour(19, 0.0, 0, {"sms": 19}),
            RunBehaviour(20, 0.0, 0, {"sms": 20}),
        ),
    ],
    ids=["action_volume", "spend_rate", "denial_rate", "channel_mix"],
)
def test_every_rule_has_a_minimum_volume(
    usual: RunBehaviour, below: RunBehaviour, at: RunBehaviour, request: pytest.FixtureRequest
) -> None:
    """The same breach, one action (or one unit of spend) under the rule's minimum and at it."""
    assert detect_anomalies(below, [usual] * 20, DEFAULTS) == []
    assert [finding.metric for finding in detect_anomalies(at, [usual] * 20, DEFAULTS)] == [request.node.callspec.id]


def test_a_run_within_a_wide_history_is_not_an_anomaly_however_far_from_the_median() -> None:
    """Over three times the median, but the agent's runs have always ranged that widely."""
    usual = [RunBehaviour(actions, 0.0, 0, {"linkedin": actions}) for actions in (10, 100) * 10]

    assert detect_anomalies(RunBehaviour(200, 0.0, 0, {"linkedin": 200}), usual, DEFAULTS) == []


def test_nothing_is_judged_until_the_baseline_is_long_enough() -> None:
    runaway = RunBehaviour(600, 60_000.0, 600, {"sms": 600})

    assert detect_anomalies(runaway, _ordinary_rates(DEFAULTS.min_baseline_runs - 1), DEFAULTS) == []
    assert detect_anomalies(runaway, _ordinary_rates(DEFAULTS.min_baseline_runs), DEFAULTS) != []


@pytest.mark.parametrize("policy", [DEFAULTS, STATISTICS_ONLY], ids=["defaults", "statistics_only"])
@pytest.mark.parametrize("recorded", [DEFAULT_MARKET_SDR_RUNS, DEFAULT_MARKET_ADS_RUNS], ids=["sdr", "ads"])
def test_a_week_of_the_default_markets_ordinary_days_pauses_nothing(
    recorded: tuple[RunBehaviour, ...], policy: AnomalyPolicy
) -> None:
    """Seven days of as many runs as the market's day, each one of the market's own, judged as the governor does
    against the trailing runs (tests/integration/test_anomaly_week.py does the same on the built market)."""
    assert week_of_findings(recorded, policy) == []


def week_of_findings(
    recorded: tuple[RunBehaviour, ...] | list[RunBehaviour], policy: AnomalyPolicy, days: int = 7
) -> list[str]:
    """The reasons of every finding over `days` days of the recorded runs resampled, seeded by the runs."""
    draw = random.Random(repr(recorded))
    history, reasons = list(recorded), []
    for _ in range(days):
        for run in draw.choices(recorded, k=len(recorded)):
            reasons += [finding.reason for finding in detect_anomalies(run, history, policy)]
            history.append(run)
    return reasons


NULL_RUNS = 1_000
WARM_UP = OPEN_GATES.trailing_runs


def _false_pauses(mean_actions: int, denial_rate: float, weights: list[int], price: float, seed: int) -> int:
    """Runs drawn from one fixed behaviour, each judged against the trailing ones: every pause is a false one."""
    rng = np.random.default_rng(seed)
    shares = np.array(weights) / sum(weights)
    history: list[RunBehaviour] = []
    pauses = 0
    for index in range(WARM_UP + NULL_RUNS):
        actions = max(1, int(rng.poisson(mean_actions)))
        counts = rng.multinomial(actions, shares)
        run = RunBehaviour(
            actions=actions,
            spend=float(rng.gamma(actions, price)) if price else 0.0,
            denied=int(rng.binomial(actions, denial_rate)),
            channels={f"channel_{i}": int(count) for i, count in enumerate(counts) if count},
        )
        if index >= WARM_UP:
            pauses += bool(detect_anomalies(run, history, OPEN_GATES))
        history.append(run)
    return pauses


NULL_BOUND = OPEN_GATES.significance + 4 * math.sqrt(
    OPEN_GATES.significance * (1 - OPEN_GATES.significance) / NULL_RUNS
)
"""The significance level plus four standard errors of a rate counted over `NULL_RUNS` runs."""


@settings(max_examples=8, deadline=None, derandomize=True)
@given(
    mean_actions=st.integers(3, 150),
    denial_rate=st.floats(0.01, 0.5),
    weights=st.lists(st.integers(1, 10), min_size=1, max_size=4),
    price=st.sampled_from([0.0, 20.0, 500.0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_under_the_null_the_false_pause_rate_stays_within_the_significance_level(
    mean_actions: int, denial_rate: float, weights: list[int], price: float, seed: int
) -> None:
    pauses = _false_pauses(mean_actions, denial_rate, weights, price, seed)

    assert pauses / NULL_RUNS <= NULL_BOUND, f"{pauses} false pauses in {NULL_RUNS} ordinary runs"


def test_under_the_null_the_tests_are_not_vacuous_either() -> None:
    """Pooled over a few behaviours, the false-pause rate is near the significance level, not far below it: the
    tests spend the error rate they are given (Bonferroni and discreteness make them somewhat conservative)."""
    behaviours = [(5, 0.15, [4, 1], 0.0), (30, 0.1, [5, 3, 2], 20.0), (100, 0.3, [9, 1], 500.0)]
    pauses = sum(_false_pauses(*behaviour, seed=seed) for seed, behaviour in enumerate(behaviours))

    rate = pauses / (NULL_RUNS * len(behaviours))
    assert OPEN_GATES.significance / 4 <= rate <= NULL_BOUND, f"{pauses} false pauses"
