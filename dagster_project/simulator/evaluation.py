"""Scoring what the system detected, flagged and recommended against the simulator's hidden ground truth.

The pipeline never reads the ground-truth files; this module is where they are read back (for `surgewise
evaluate` and the run report), so it lives beside the simulator that writes them and knows their format.
It reads the built warehouse and the model registry like any other consumer. `evaluate_against_ground_truth`
does all the computing behind `surgewise evaluate`, whose command is left to parse arguments and print.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Protocol

import duckdb
import pandas as pd

from agents.config import AccountSurgeRule, QualityWeightedSurgeRule, load_surge_rules
from agents.surge import detect_account_surges
from dagster_project.core.warehouse import open_warehouse
from models.aql import qualify_leads
from models.config import ModelSettings, load_model_settings
from models.features import PERSON_LEVEL
from models.registry import ModelRegistry
from models.training import intent_model_name, load_labelled_rows

ALL_TIERS = (1, 2, 3)


@dataclass(frozen=True)
class Unavailable:
    """A comparison that could not be made yet, and what to run first."""

    reason: str


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
class GroundTruthWindow:
    """A buying window as written to the ground-truth file: what a detection is scored against."""

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


def load_buying_windows(ground_truth_dir: Path) -> list[GroundTruthWindow]:
    document = json.loads((ground_truth_dir / "buying_windows.json").read_text())
    return [
        GroundTruthWindow(
            account_id=window["account_id"],
            tier=int(window["tier"]),
            window_start=date.fromisoformat(window["window_start"]),
            window_end=date.fromisoformat(window["window_end"]),
        )
        for window in document["buying_windows"]
    ]


def score_surges(
    surges: list[Detection], windows: list[GroundTruthWindow], tiers: tuple[int, ...], grace_days: int = 3
) -> SurgeAccuracy:
    """A surge is right when its account really was in a buying window then (a few days' grace for
    late-arriving data); recall counts the true windows of the watched tiers that got a surge."""
    watched = [window for window in windows if window.tier in tiers]

    def matches(surge: Detection, window: GroundTruthWindow) -> bool:
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
    windows: list[GroundTruthWindow],
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


# --------------------------------------------------------------------------------------------------
# Leads and send times against the ground truth


@dataclass(frozen=True)
class LeadFlagOutcome:
    """People a flag picked during the champion's held-out days, and how many became an opportunity."""

    flag: str
    people: int
    converted: int
    accounts: int
    accounts_converted: int

    @property
    def conversion_rate(self) -> float:
        return self.converted / self.people if self.people else 0.0


def load_opportunity_days(ground_truth_dir: Path) -> dict[str, date]:
    """Account -> the day its buying window became an opportunity, for windows that did."""
    document = json.loads((ground_truth_dir / "buying_windows.json").read_text())
    return {
        window["account_id"]: date.fromisoformat(window["opportunity_created_on"])
        for window in document["buying_windows"]
        if window["opportunity_created_on"]
    }


def compare_lead_flags(
    connection: duckdb.DuckDBPyConnection,
    registry: ModelRegistry,
    settings: ModelSettings,
    ground_truth_dir: Path,
) -> tuple[LeadFlagOutcome, ...] | Unavailable:
    """AQL against MQL on the champion person model's held-out days (which it never trained on): each
    person counts once, from the first day a flag picked them, and converts if the truth has their
    account opening an opportunity within the intent horizon after that day."""
    champion = registry.champion(intent_model_name(PERSON_LEVEL))
    if champion is None:
        return Unavailable("no promoted person intent model: run `surgewise run` first")
    model, card = champion
    start = date.fromisoformat(str(card.training["holdout_start"]))
    end = date.fromisoformat(str(card.training["holdout_end"]))
    rows = load_labelled_rows(connection, settings)[PERSON_LEVEL]
    rows = rows[rows["in_population"] & (rows["snapshot_date"] >= start) & (rows["snapshot_date"] <= end)]
    rows = rows.reset_index(drop=True)
    leads = qualify_leads(rows, pd.Series(model.predict(rows)), settings)
    opportunities = load_opportunity_days(ground_truth_dir)
    horizon = timedelta(days=settings.intent.horizon_days)
    return tuple(
        _flag_outcome(flag, leads[leads[column]] if len(leads) else leads, opportunities, horizon)
        for flag, column in (
            ("AQL (intent model + ICP + engagement)", "is_aql"),
            ("MQL (engagement points > 80)", "is_mql"),
        )
    )


def _flag_outcome(
    flag: str, flagged: pd.DataFrame, opportunities: dict[str, date], horizon: timedelta
) -> LeadFlagOutcome:
    if flagged.empty:
        return LeadFlagOutcome(flag, 0, 0, 0, 0)
    first = flagged.groupby(["person_id", "account_id"], as_index=False)["snapshot_date"].min()
    converted_accounts = []
    for account_id, day in zip(first["account_id"], first["snapshot_date"], strict=True):
        if account_id in opportunities and day < opportunities[account_id] <= day + horizon:
            converted_accounts.append(account_id)
    return LeadFlagOutcome(
        flag,
        people=len(first),
        converted=len(converted_accounts),
        accounts=int(first["account_id"].nunique()),
        accounts_converted=len(set(converted_accounts)),
    )


@dataclass(frozen=True)
class SendTimeAccuracy:
    contacts: int
    model_hits: int
    fixed_hour_hits: int
    contacts_without_history: int
    model_hits_without_history: int


def compare_send_times(
    connection: duckdb.DuckDBPyConnection, ground_truth_dir: Path, fixed_hour: int
) -> SendTimeAccuracy | Unavailable:
    """How often the recommended best hour is within an hour of the contact's hidden preferred reading
    hour, against sending everyone at the fixed hour."""
    truth_file = ground_truth_dir / "contacts.json"
    if not truth_file.exists():
        return Unavailable(f"no ground truth contacts in {ground_truth_dir}")
    preferred = {
        contact["contact_id"]: contact["preferred_local_hour"] for contact in json.loads(truth_file.read_text())
    }
    try:
        rows = connection.execute(
            """
            select people.crm_contact_id, recommendations.best_local_hour, recommendations.own_reads
            from ml.send_time_recommendations as recommendations
            inner join marts.dim_person as people on recommendations.person_id = people.person_id
            where people.crm_contact_id is not null
            """
        ).fetchall()
    except duckdb.CatalogException:
        return Unavailable("no send-time recommendations: run `surgewise run` first")
    known = [(preferred[contact], best, reads) for contact, best, reads in rows if contact in preferred]
    return SendTimeAccuracy(
        contacts=len(known),
        model_hits=sum(abs(best - hour) <= 1 for hour, best, _ in known),
        fixed_hour_hits=sum(abs(fixed_hour - hour) <= 1 for hour, _, _ in known),
        contacts_without_history=sum(reads == 0 for _, _, reads in known),
        model_hits_without_history=sum(abs(best - hour) <= 1 for hour, best, reads in known if reads == 0),
    )


# --------------------------------------------------------------------------------------------------
# Everything `surgewise evaluate` reports


class NoGroundTruthError(FileNotFoundError):
    """The ground-truth directory holds no buying windows: no market has been simulated into it."""

    def __init__(self, directory: Path) -> None:
        super().__init__(f"no ground truth in {directory}")
        self.directory = directory


@dataclass(frozen=True)
class GroundTruthEvaluation:
    """Surge rules, AQL against MQL and send times, each scored against the hidden ground truth."""

    surge_rules: tuple[RuleEvaluation, ...]
    lead_flags: tuple[LeadFlagOutcome, ...] | Unavailable
    lead_horizon_days: int
    """A flagged person converts when their account opens an opportunity within this many days."""
    send_times: SendTimeAccuracy | Unavailable
    fixed_send_hour: int
    """The local hour the send-time model is compared against: sending everyone at one hour."""


def evaluate_against_ground_truth(
    ground_truth_dir: Path, *, config_dir: Path, warehouse_path: Path, model_registry_dir: Path
) -> GroundTruthEvaluation:
    """Score the built warehouse and the promoted models against the ground truth, with the configured
    surge rules and model settings. Raises `NoGroundTruthError` before opening anything else when the
    ground truth is missing; the warehouse is opened read-only."""
    if not (ground_truth_dir / "buying_windows.json").exists():
        raise NoGroundTruthError(ground_truth_dir)
    rules = load_surge_rules(config_dir)
    settings = load_model_settings(config_dir)
    fixed_hour = settings.send_time.fixed_baseline_local_hour
    with open_warehouse(warehouse_path, read_only=True) as connection:
        surge_rules = evaluate_surge_rules(
            connection, load_buying_windows(ground_truth_dir), rules.account_intent_surge, rules.quality_weighted_surge
        )
        lead_flags = compare_lead_flags(connection, ModelRegistry(model_registry_dir), settings, ground_truth_dir)
        send_times = compare_send_times(connection, ground_truth_dir, fixed_hour)
    return GroundTruthEvaluation(
        surge_rules=tuple(surge_rules),
        lead_flags=lead_flags,
        lead_horizon_days=settings.intent.horizon_days,
        send_times=send_times,
        fixed_send_hour=fixed_hour,
    )
