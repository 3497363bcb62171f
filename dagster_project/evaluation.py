"""Scoring what the system detected against the simulator's hidden ground truth (never read by the pipeline)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Protocol

import duckdb

from agents.config import AccountSurgeRule, QualityWeightedSurgeRule
from agents.surge import detect_account_surges

ALL_TIERS = (1, 2, 3)


class Detection(Protocol):
    @property
    def account_id(self) -> str: ...

    @property
    def detected_on(self) -> date: ...


@dataclass(frozen=True)
class DetectedSurge:
    account_id: str
    detected_on: date


@dataclass(frozen=True)
class BuyingWindow:
    account_id: str
    tier: int
    window_start: date
    window_end: date


@dataclass(frozen=True)
class SurgeAccuracy:
    surges: int
    surges_in_true_window: int
    windows: int
    windows_detected: int

    @property
    def precision(self) -> float:
        return self.surges_in_true_window / self.surges if self.surges else 0.0

    @property
    def recall(self) -> float:
        return self.windows_detected / self.windows if self.windows else 0.0


def load_buying_windows(ground_truth_dir: Path) -> list[BuyingWindow]:
    document = json.loads((ground_truth_dir / "buying_windows.json").read_text())
    return [
        BuyingWindow(
            account_id=window["account_id"],
            tier=int(window["tier"]),
            window_start=date.fromisoformat(window["window_start"]),
            window_end=date.fromisoformat(window["window_end"]),
        )
        for window in document["buying_windows"]
    ]


def score_surges(
    surges: list[Detection], windows: list[BuyingWindow], tiers: tuple[int, ...], grace_days: int = 3
) -> SurgeAccuracy:
    """A surge is right when its account really was in a buying window then (a few days' grace for
    late-arriving data); recall counts the true windows of the watched tiers that got a surge."""
    watched = [window for window in windows if window.tier in tiers]

    def matches(surge: Detection, window: BuyingWindow) -> bool:
        return (
            surge.account_id == window.account_id
            and window.window_start <= surge.detected_on <= window.window_end + timedelta(days=grace_days)
        )

    return SurgeAccuracy(
        surges=len(surges),
        surges_in_true_window=sum(1 for surge in surges if any(matches(surge, w) for w in watched)),
        windows=len(watched),
        windows_detected=sum(1 for window in watched if any(matches(surge, window) for surge in surges)),
    )


_NAIVE_DAYS_SQL = """
with events as (
    select account_id, cast(occurred_at as date) as event_date
    from intermediate.int_signals__unioned
    where account_id is not null
),

days as (select distinct account_id, event_date from events)

select days.account_id, days.event_date
from days
inner join events
    on events.account_id = days.account_id
    and events.event_date between days.event_date - ($window_days - 1) and days.event_date
group by days.account_id, days.event_date
having count(*) >= $min_events
"""

_QUALITY_DAYS_SQL = """
with signals as (
    select
        signals.account_id,
        cast(signals.occurred_at as date) as signal_date,
        signals.quality_score,
        people.department
    from marts.fct_signals as signals
    left join marts.dim_person as people on signals.person_id = people.person_id
    where signals.account_id is not null
),

days as (select distinct account_id, signal_date from signals)

select days.account_id, days.signal_date
from days
inner join signals
    on signals.account_id = days.account_id
    and signals.signal_date between days.signal_date - ($window_days - 1) and days.signal_date
group by days.account_id, days.signal_date
having sum(signals.quality_score) >= $min_quality_score
   and count(distinct signals.department) >= $min_departments
"""


def surge_episodes(days: list[tuple[str, date]], window_days: int) -> list[DetectedSurge]:
    """Qualifying account-days to surges: a new surge only after a gap longer than the window."""
    surges: list[DetectedSurge] = []
    last_day: dict[str, date] = {}
    for account_id, day in sorted(days):
        previous = last_day.get(account_id)
        if previous is None or (day - previous).days > window_days:
            surges.append(DetectedSurge(account_id, day))
        last_day[account_id] = day
    return surges


def naive_surges(connection: duckdb.DuckDBPyConnection, window_days: int, min_events: int = 3) -> list[DetectedSurge]:
    """Classic marketing automation: any three events of an account within the window, noise included."""
    rows = connection.execute(_NAIVE_DAYS_SQL, {"window_days": window_days, "min_events": min_events}).fetchall()
    return surge_episodes(rows, window_days)


def quality_weighted_surges(
    connection: duckdb.DuckDBPyConnection, rule: QualityWeightedSurgeRule
) -> list[DetectedSurge]:
    """Clean signals only, weighted by quality, with a buying group spanning several departments."""
    rows = connection.execute(
        _QUALITY_DAYS_SQL,
        {
            "window_days": rule.window_days,
            "min_quality_score": rule.min_quality_score,
            "min_departments": rule.min_departments,
        },
    ).fetchall()
    return surge_episodes(rows, rule.window_days)


@dataclass(frozen=True)
class RuleEvaluation:
    rule: str
    description: str
    accuracy: SurgeAccuracy


def evaluate_surge_rules(
    connection: duckdb.DuckDBPyConnection,
    windows: list[BuyingWindow],
    contacts_rule: AccountSurgeRule,
    quality_rule: QualityWeightedSurgeRule | None,
) -> list[RuleEvaluation]:
    """Every rule scored on all tiers against the same ground truth, so they compare side by side."""
    all_tier_contacts_rule = contacts_rule.model_copy(update={"account_tiers": ALL_TIERS})
    evaluations = [
        RuleEvaluation(
            "naive_any_3_events",
            f"any 3 events of an account within {contacts_rule.window_days} days (bots, duplicates, all content)",
            score_surges(naive_surges(connection, contacts_rule.window_days), windows, ALL_TIERS),
        ),
        RuleEvaluation(
            "distinct_contacts",
            f"{contacts_rule.min_distinct_contacts}+ contacts on {'/'.join(contacts_rule.content_categories)} "
            f"within {contacts_rule.window_days} days (the sensor's rule, all tiers)",
            score_surges(detect_account_surges(connection, all_tier_contacts_rule), windows, ALL_TIERS),
        ),
    ]
    if quality_rule is not None:
        evaluations.append(
            RuleEvaluation(
                "quality_weighted",
                f"quality score >= {quality_rule.min_quality_score:g} and {quality_rule.min_departments}+ departments "
                f"within {quality_rule.window_days} days",
                score_surges(quality_weighted_surges(connection, quality_rule), windows, ALL_TIERS),
            )
        )
    return evaluations
