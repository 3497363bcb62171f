"""Training and scoring rows for the intent models: point-in-time features, the label and the time split.

The features come from the dbt marts `fct_account_features_daily` and `fct_person_features_daily`, one
row per account (person) per snapshot day, built only from signals on or before that day. The label is
added here, so its horizon lives in `config/models.yaml`: did the account open an opportunity within
`horizon_days` after the snapshot day?
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta

import duckdb
import numpy as np
import pandas as pd

from models.config import IntentSettings

ACCOUNT_LEVEL = "account"
PERSON_LEVEL = "person"

ACCOUNT_ACTIVITY = (
    "page_views_14d",
    "form_fills_14d",
    "email_opens_14d",
    "email_clicks_14d",
    "pricing_views_14d",
    "comparison_views_14d",
    "product_views_14d",
    "case_study_views_14d",
    "docs_views_14d",
    "blog_views_14d",
    "engaged_contacts_14d",
    "engaged_departments_14d",
    "senior_contacts_14d",
    "buying_content_contacts_14d",
    "active_days_14d",
    "signals_7d",
    "signals_prior_7d",
    "signal_quality_14d",
    "third_party_signals_14d",
    "third_party_topics_14d",
    "third_party_score_max_14d",
    "days_since_buying_content",
)
PERSON_ACTIVITY = (
    "page_views_14d",
    "form_fills_14d",
    "email_opens_14d",
    "email_clicks_14d",
    "pricing_views_14d",
    "comparison_views_14d",
    "product_views_14d",
    "case_study_views_14d",
    "docs_views_14d",
    "blog_views_14d",
    "active_days_14d",
    "signal_quality_14d",
    "days_since_buying_content",
)
ACCOUNT_CONTEXT_FOR_PERSONS = (
    "tier",
    "employee_count",
    "industry",
    "engaged_contacts_14d",
    "engaged_departments_14d",
    "senior_contacts_14d",
    "buying_content_contacts_14d",
    "signals_7d",
    "third_party_score_max_14d",
)
"""The account's side of a person row: a person buys as part of a buying group."""


@dataclass(frozen=True)
class FeatureSet:
    """The columns one intent model reads; categorical columns are coded by the model at training.

    `engagement_points` is the classic lead score itself (the best person's at account level): with the
    rule's own score as a feature, the model starts from what the rule knows."""

    level: str
    entity_column: str
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return self.numeric + self.categorical


ACCOUNT_FEATURES = FeatureSet(
    level=ACCOUNT_LEVEL,
    entity_column="account_id",
    numeric=("tier", "employee_count", *ACCOUNT_ACTIVITY, "engagement_points"),
    categorical=("industry",),
)
PERSON_FEATURES = FeatureSet(
    level=PERSON_LEVEL,
    entity_column="person_id",
    numeric=(
        *PERSON_ACTIVITY,
        "engagement_points",
        *(f"account_{column}" for column in ACCOUNT_CONTEXT_FOR_PERSONS if column != "industry"),
    ),
    categorical=("seniority", "department", "account_industry"),
)
FEATURE_SETS = {ACCOUNT_LEVEL: ACCOUNT_FEATURES, PERSON_LEVEL: PERSON_FEATURES}


def _filter(table: str, account_id: str | None, snapshot_date: date | None) -> tuple[str, dict[str, object]]:
    """A where clause for one account and/or one day, so an agent reads only the rows it scores."""
    clauses, parameters = ["true"], {}
    if account_id is not None:
        clauses.append(f"{table}.account_id = $account_id")
        parameters["account_id"] = account_id
    if snapshot_date is not None:
        clauses.append(f"{table}.snapshot_date = $snapshot_date")
        parameters["snapshot_date"] = snapshot_date
    return " and ".join(clauses), parameters


def load_account_rows(
    connection: duckdb.DuckDBPyConnection, *, account_id: str | None = None, snapshot_date: date | None = None
) -> pd.DataFrame:
    where, parameters = _filter("accounts", account_id, snapshot_date)
    return _dates(
        connection.execute(
            f"select * from marts.fct_account_features_daily as accounts where {where} "
            "order by account_id, snapshot_date",
            parameters,
        ).df()
    )


def load_person_rows(
    connection: duckdb.DuckDBPyConnection, *, account_id: str | None = None, snapshot_date: date | None = None
) -> pd.DataFrame:
    """Person rows with their account's context columns, prefixed `account_`."""
    account_columns = ", ".join(f"accounts.{column} as account_{column}" for column in ACCOUNT_CONTEXT_FOR_PERSONS)
    where, parameters = _filter("persons", account_id, snapshot_date)
    return _dates(
        connection.execute(
            f"""
            select persons.*, {account_columns}
            from marts.fct_person_features_daily as persons
            inner join marts.fct_account_features_daily as accounts
                on persons.account_id = accounts.account_id and persons.snapshot_date = accounts.snapshot_date
            where {where}
            order by persons.person_id, persons.snapshot_date
            """,
            parameters,
        ).df()
    )


FLOAT_DECIMALS = 9
"""DuckDB sums in parallel, so a double feature can differ in its last bits between two builds of the same
data; rounding keeps a seeded model identical across builds, not only across fits on one build."""


def _dates(frame: pd.DataFrame) -> pd.DataFrame:
    for column in ("snapshot_date", "data_as_of", "next_opportunity_created_on"):
        frame[column] = pd.to_datetime(frame[column]).dt.date
    floats = frame.select_dtypes("float").columns
    frame[floats] = frame[floats].round(FLOAT_DECIMALS)
    return frame.reset_index(drop=True)


def with_labels(rows: pd.DataFrame, horizon_days: int) -> pd.DataFrame:
    """Add `label` (an opportunity within the horizon), `label_is_mature` (its whole window observed) and
    `in_population` (no opportunity yet: an account already in the pipeline is not a prediction)."""
    horizon = timedelta(days=horizon_days)
    labelled = rows.copy()
    horizon_end = labelled["snapshot_date"] + horizon
    next_opportunity = labelled["next_opportunity_created_on"]
    labelled["label"] = next_opportunity.notna() & (next_opportunity <= horizon_end).fillna(False)
    labelled["label"] = labelled["label"].astype(bool)
    labelled["label_is_mature"] = horizon_end <= labelled["data_as_of"]
    labelled["in_population"] = labelled["prior_opportunities"] == 0
    return labelled


@dataclass(frozen=True)
class TimeSplit:
    """Train on the past, evaluate on a later window: every training label was known before the first
    held-out day, so nothing the model learnt comes from the held-out period."""

    train_start: date
    train_end: date
    holdout_start: date
    holdout_end: date
    horizon_days: int

    def describe(self) -> str:
        return (
            f"train on snapshots {self.train_start}..{self.train_end} (labels known by "
            f"{self.train_end + timedelta(days=self.horizon_days)}), hold out {self.holdout_start}..{self.holdout_end}"
        )


def time_split(labelled: pd.DataFrame, settings: IntentSettings) -> TimeSplit | None:
    """The split for these rows, or None when the data is too short to hold any days out."""
    mature_days = labelled.loc[labelled["label_is_mature"], "snapshot_date"]
    if mature_days.empty:
        return None
    first_day = labelled["snapshot_date"].min() + timedelta(days=settings.min_history_days)
    holdout_end = mature_days.max()
    holdout_start = holdout_end - timedelta(days=settings.holdout_days - 1)
    train_end = holdout_start - timedelta(days=settings.horizon_days + 1)
    if train_end < first_day:
        return None
    return TimeSplit(first_day, train_end, holdout_start, holdout_end, settings.horizon_days)


def split_rows(labelled: pd.DataFrame, split: TimeSplit) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The training and held-out rows of the population, each with a known label."""
    usable = labelled[labelled["in_population"] & labelled["label_is_mature"]]
    days = usable["snapshot_date"]
    train = usable[(days >= split.train_start) & (days <= split.train_end)]
    holdout = usable[(days >= split.holdout_start) & (days <= split.holdout_end)]
    return train.reset_index(drop=True), holdout.reset_index(drop=True)


def latest_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of the newest snapshot day: what is scored and served today."""
    return rows[rows["snapshot_date"] == rows["snapshot_date"].max()].reset_index(drop=True)


def positive_accounts(rows: pd.DataFrame) -> int:
    return int(rows.loc[rows["label"], "account_id"].nunique())


def snapshot_hash(rows: pd.DataFrame, columns: tuple[str, ...]) -> str:
    """A fingerprint of exactly the data a model was trained and evaluated on."""
    ordered = rows.sort_values(["snapshot_date", *[c for c in ("account_id", "person_id") if c in rows]])
    hashed = pd.util.hash_pandas_object(ordered[list(columns)], index=False).to_numpy()
    return hashlib.sha256(np.ascontiguousarray(hashed).tobytes()).hexdigest()
