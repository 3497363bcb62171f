"""Best send hour per contact, in the contact's own time zone, from when they read email.

Each contact's reads (opens and clicks, one per local hour) form a 24-hour histogram, smoothed over
neighbouring hours. It is shrunk towards the contact's segment (department x industry), and the segment
towards everyone: a contact with no history gets their segment's hour, one with many reads their own.
A small, seeded share of contacts get an hour sampled from their distribution instead of the best one,
so the model keeps seeing reads at other hours.

The open-rate model behind the evaluation: an email is opened when it is near the top of the inbox at
the moment the contact reads, so a send at hour h earns the reads that fall in h..h+top_of_inbox_hours.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import duckdb
import numpy as np
import pandas as pd

from models.config import SendTimeSettings
from models.registry import (
    ModelCard,
    ModelRegistry,
    TrainingOutcome,
    code_version,
    decide_promotion,
    new_version,
    unused_version,
)

HOURS = 24
SMOOTHING = np.array([0.25, 0.5, 0.25])
"""A read at 9 says something about 8 and 10 too; circular, so 23 and 0 are neighbours."""
UNKNOWN = "unknown"
SEND_TIME_MODEL = "send_time"
PROMOTION_METRIC = "expected_open_rate"


def local_reads(events: pd.DataFrame) -> pd.DataFrame:
    """One row per person and local clock hour of reading (an open and its click are one read).

    `events` holds person_id, occurred_at (UTC), timezone, department and industry."""
    located = events.dropna(subset=["timezone"])
    frames = []
    for timezone, group in located.groupby("timezone"):
        local = pd.to_datetime(group["occurred_at"]).dt.tz_localize("UTC").dt.tz_convert(str(timezone))
        frames.append(group.assign(local_date=local.dt.date, local_hour=local.dt.hour))
    if not frames:
        return pd.DataFrame(columns=["person_id", "occurred_at", "segment", "local_date", "local_hour"])
    reads = pd.concat(frames)
    reads["segment"] = segment_of(reads["department"], reads["industry"])
    reads = reads.sort_values("occurred_at").drop_duplicates(["person_id", "local_date", "local_hour"])
    return reads[["person_id", "occurred_at", "segment", "local_date", "local_hour"]].reset_index(drop=True)


def segment_of(department: pd.Series, industry: pd.Series) -> pd.Series:
    return department.fillna(UNKNOWN).astype(str) + " x " + industry.fillna(UNKNOWN).astype(str)


def _histogram(hours: pd.Series) -> np.ndarray:
    counts = np.bincount(hours.astype(int).to_numpy(), minlength=HOURS).astype(float)
    return sum(weight * np.roll(counts, shift) for shift, weight in zip((-1, 0, 1), SMOOTHING, strict=True))


@dataclass
class SendTimeModel:
    settings: SendTimeSettings
    everyone: np.ndarray
    segments: dict[str, tuple[np.ndarray, int]] = field(default_factory=dict)
    contacts: dict[str, tuple[np.ndarray, int]] = field(default_factory=dict)
    """person_id -> (smoothed read histogram, number of reads)."""

    def segment_distribution(self, segment: str) -> np.ndarray:
        counts, reads = self.segments.get(segment, (np.zeros(HOURS), 0))
        strength = self.settings.segment_prior_strength
        return (counts + strength * self.everyone) / (reads + strength)

    def distribution(self, person_id: str, segment: str) -> np.ndarray:
        counts, reads = self.contacts.get(person_id, (np.zeros(HOURS), 0))
        strength = self.settings.contact_prior_strength
        return (counts + strength * self.segment_distribution(segment)) / (reads + strength)

    def own_weight(self, person_id: str) -> float:
        """How much of the distribution is the contact's own history (0 for a new contact)."""
        reads = self.contacts.get(person_id, (None, 0))[1]
        return reads / (reads + self.settings.contact_prior_strength)

    def without_contact(self, person_id: str) -> bool:
        """Forget one contact's history (GDPR erasure); the segment and global counts hold no identity."""
        return self.contacts.pop(person_id, None) is not None

    def allowed_hours(self) -> np.ndarray:
        return np.arange(self.settings.earliest_local_hour, self.settings.latest_local_hour + 1)

    def best_hour(self, person_id: str, segment: str) -> int:
        allowed = self.allowed_hours()
        return int(allowed[np.argmax(self.distribution(person_id, segment)[allowed])])

    def recommend(self, person_id: str, segment: str, as_of: date) -> tuple[int, bool]:
        """The hour to send at and whether it is an exploration; the same person and day always agree."""
        digest = hashlib.sha256(f"{self.settings.seed}:{person_id}:{as_of.isoformat()}".encode()).digest()
        generator = np.random.default_rng(int.from_bytes(digest[:8], "big"))
        best = self.best_hour(person_id, segment)
        if generator.random() >= self.settings.exploration_rate:
            return best, False
        allowed = self.allowed_hours()
        weights = self.distribution(person_id, segment)[allowed]
        return int(generator.choice(allowed, p=weights / weights.sum())), True


def fit_send_time_model(reads: pd.DataFrame, settings: SendTimeSettings) -> SendTimeModel:
    everyone = _histogram(reads["local_hour"]) + 1.0
    model = SendTimeModel(settings, everyone / everyone.sum())
    for segment, group in reads.groupby("segment"):
        model.segments[str(segment)] = (_histogram(group["local_hour"]), len(group))
    for person_id, group in reads.groupby("person_id"):
        model.contacts[str(person_id)] = (_histogram(group["local_hour"]), len(group))
    return model


def split_reads(reads: pd.DataFrame, settings: SendTimeSettings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reads before the last `holdout_days` train; the later ones judge the recommendations."""
    occurred = pd.to_datetime(reads["occurred_at"])
    cutoff = occurred.max().normalize() - timedelta(days=settings.holdout_days - 1)
    return reads[occurred < cutoff].reset_index(drop=True), reads[occurred >= cutoff].reset_index(drop=True)


def _in_top_of_inbox(read_hours: np.ndarray, send_hours: np.ndarray, settings: SendTimeSettings) -> np.ndarray:
    return (read_hours - send_hours) % HOURS <= settings.top_of_inbox_hours


def evaluate_send_times(model: SendTimeModel, holdout: pd.DataFrame) -> dict[str, float]:
    """Expected open rate (share of held-out reads at the top of the inbox) for the model's best hour and
    for the fixed 10:00 local send, overall and for contacts the model had never seen read."""
    settings = model.settings
    if holdout.empty:
        return {"holdout_reads": 0}
    best = np.array([model.best_hour(row.person_id, row.segment) for row in holdout.itertuples()])
    read_hours = holdout["local_hour"].to_numpy(dtype=int)
    model_hits = _in_top_of_inbox(read_hours, best, settings)
    fixed_hits = _in_top_of_inbox(read_hours, np.full_like(best, settings.fixed_baseline_local_hour), settings)
    new = ~holdout["person_id"].isin(model.contacts.keys()).to_numpy()
    model_rate, fixed_rate = float(model_hits.mean()), float(fixed_hits.mean())
    return {
        "holdout_reads": len(holdout),
        "holdout_contacts": int(holdout["person_id"].nunique()),
        "expected_open_rate": round(model_rate, 4),
        "fixed_hour_open_rate": round(fixed_rate, 4),
        "open_rate_uplift": round(model_rate / fixed_rate - 1, 4) if fixed_rate else float("nan"),
        "new_contact_reads": int(new.sum()),
        "new_contact_open_rate": round(float(model_hits[new].mean()), 4) if new.any() else float("nan"),
        "new_contact_fixed_hour_open_rate": round(float(fixed_hits[new].mean()), 4) if new.any() else float("nan"),
    }


def reads_snapshot_hash(reads: pd.DataFrame) -> str:
    """A hash of the reads a model trained on, whatever order the warehouse returned them in (its query has
    no order, and DuckDB's parallel join does not keep one), so the same data gives the same version."""
    columns = ["person_id", "occurred_at", "local_hour"]
    ordered = reads[columns].sort_values(columns, kind="mergesort", ignore_index=True)
    return hashlib.sha256(pd.util.hash_pandas_object(ordered, index=False).to_numpy().tobytes()).hexdigest()


def load_read_events(connection: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Email opens and clicks of known people, with the time zone and segment their sends are planned in."""
    return connection.sql(
        """
        select signals.person_id, signals.occurred_at, people.timezone, people.department, accounts.industry
        from marts.fct_signals as signals
        inner join marts.dim_person as people on signals.person_id = people.person_id
        left join marts.dim_account as accounts on people.account_id = accounts.account_id
        where signals.signal_type in ('email_open', 'email_click')
        """
    ).df()


def load_recipients(connection: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Everyone a send could be planned for: known people with a time zone."""
    return connection.sql(
        """
        select people.person_id, people.timezone, people.department, accounts.industry
        from marts.dim_person as people
        left join marts.dim_account as accounts on people.account_id = accounts.account_id
        where people.timezone is not null
        order by people.person_id
        """
    ).df()


def recommendations(model: SendTimeModel, recipients: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Each recipient's best and recommended local hour, and how much of it is their own history."""
    segments = segment_of(recipients["department"], recipients["industry"])
    rows = []
    for person_id, timezone, segment in zip(recipients["person_id"], recipients["timezone"], segments, strict=True):
        recommended, exploring = model.recommend(person_id, segment, as_of)
        rows.append(
            {
                "person_id": person_id,
                "timezone": timezone,
                "segment": segment,
                "best_local_hour": model.best_hour(person_id, segment),
                "recommended_local_hour": recommended,
                "is_exploration": exploring,
                "own_reads": model.contacts.get(person_id, (None, 0))[1],
                "own_weight": round(model.own_weight(person_id), 4),
            }
        )
    return pd.DataFrame.from_records(rows)


def train_send_time_challenger(
    events: pd.DataFrame, settings: SendTimeSettings, registry: ModelRegistry, trained_at: datetime
) -> TrainingOutcome:
    """Fit on the earlier reads, judge on the later ones, register, and compete with the champion."""
    reads = local_reads(events)
    train, holdout = split_reads(reads, settings) if len(reads) else (reads, reads)
    if train.empty or holdout.empty:
        reason = (
            f"reads span too few days to hold out the last {settings.holdout_days}"
            if len(reads)
            else "no email opens or clicks from contacts with a time zone"
        )
        registry.log_attempt(SEND_TIME_MODEL, trained_at, f"not trained: {reason}")
        return TrainingOutcome(SEND_TIME_MODEL, None, None, reason)
    model = fit_send_time_model(train, settings)
    metrics = evaluate_send_times(model, holdout)
    data_hash = reads_snapshot_hash(reads)
    card = ModelCard(
        name=SEND_TIME_MODEL,
        version=unused_version(registry, SEND_TIME_MODEL, new_version(trained_at, data_hash)),
        trained_at=trained_at.isoformat(),
        code_version=code_version(),
        data_snapshot_hash=data_hash,
        features=["local read hour", "segment (department x industry)"],
        parameters=settings.model_dump(),
        metrics=metrics,
        training={
            "train_reads": len(train),
            "train_contacts": int(train["person_id"].nunique()),
            "train_end": str(pd.to_datetime(train["occurred_at"]).max()),
            "holdout_start": str(pd.to_datetime(holdout["occurred_at"]).min()),
            "holdout_end": str(pd.to_datetime(holdout["occurred_at"]).max()),
            "segments": len(model.segments),
        },
    )
    registry.save(card, model)
    champion = registry.champion(SEND_TIME_MODEL)
    champion_score = None
    if champion is not None and isinstance(champion[0], SendTimeModel):
        champion_score = evaluate_send_times(champion[0], holdout)[PROMOTION_METRIC]
    decision = decide_promotion(
        SEND_TIME_MODEL,
        PROMOTION_METRIC,
        card.version,
        float(metrics[PROMOTION_METRIC]),
        registry.champion_version(SEND_TIME_MODEL),
        champion_score,
        rule_score=float(metrics["fixed_hour_open_rate"]),
    )
    registry.record_decision(SEND_TIME_MODEL, decision, trained_at)
    registry.log_attempt(SEND_TIME_MODEL, trained_at, f"trained {card.version}: {decision.reason}")
    return TrainingOutcome(SEND_TIME_MODEL, card, decision)


def forget_contact(registry: ModelRegistry, person_id: str) -> list[str]:
    """Remove a person's read history from every registered send-time model; the versions rewritten."""
    rewritten = []
    for version in registry.versions(SEND_TIME_MODEL):
        model, card = registry.load(SEND_TIME_MODEL, version)
        if isinstance(model, SendTimeModel) and model.without_contact(person_id):
            registry.save(card, model)
            rewritten.append(version)
    return rewritten


def models_mentioning(registry: ModelRegistry, person_id: str) -> list[str]:
    """Registered send-time model versions that still hold this person's read history."""
    return [
        version
        for version in registry.versions(SEND_TIME_MODEL)
        if person_id in getattr(registry.load(SEND_TIME_MODEL, version)[0], "contacts", {})
    ]
