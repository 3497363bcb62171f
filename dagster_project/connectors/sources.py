"""The connector contract: what each marketing source drops in the landing zone and how it lands in `raw`.

One `SourceSpec` per source. The simulator writes these files, the loader validates them row by row
against `fields`, and dbt's staging models read the resulting `raw.<table>` tables. Keeping the contract
in one place means a new field is added once, not three times.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FieldType(StrEnum):
    """Types a landing-zone field is coerced to; each maps to one DuckDB column type."""

    TEXT = "VARCHAR"
    INTEGER = "BIGINT"
    DECIMAL = "DOUBLE"
    TIMESTAMP = "TIMESTAMP"
    DATE = "DATE"


class FileFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: FieldType
    required: bool = True
    allowed: tuple[str, ...] = ()
    """For categorical text fields: the only values accepted; anything else is quarantined."""


@dataclass(frozen=True)
class SourceSpec:
    """A connector: landing folder `data/landing/<name>/`, file format, and the `raw.<name>` table."""

    name: str
    system: str
    description: str
    format: FileFormat
    fields: tuple[FieldSpec, ...]
    key: str
    """The source's own id for a row; duplicates of it are kept in raw and flagged downstream."""

    @property
    def table(self) -> str:
        return f"raw.{self.name}"


def _text(name: str, required: bool = True, allowed: tuple[str, ...] = ()) -> FieldSpec:
    return FieldSpec(name, FieldType.TEXT, required, allowed)


CONTENT_CATEGORIES = (
    "pricing",
    "comparison",
    "docs",
    "blog",
    "careers",
    "case_study",
    "product",
    "homepage",
)
EMAIL_EVENT_TYPES = ("send", "open", "click", "unsubscribe", "bounce", "complaint")
CONSENT_STATUSES = ("opted_in", "opted_out", "unknown")
SENIORITIES = ("c_suite", "vp", "director", "manager", "individual_contributor")
OPPORTUNITY_STAGES = ("discovery", "evaluation", "proposal", "closed_won", "closed_lost")
AD_CHANNELS = ("linkedin", "google", "meta")

SOURCES: tuple[SourceSpec, ...] = (
    SourceSpec(
        name="web_events",
        system="web",
        description="Page views from the website tag, keyed by the visitor's anonymous cookie id.",
        format=FileFormat.JSONL,
        key="event_id",
        fields=(
            _text("event_id"),
            _text("anonymous_id"),
            FieldSpec("occurred_at", FieldType.TIMESTAMP),
            _text("url"),
            _text("content_category", allowed=CONTENT_CATEGORIES),
            _text("user_agent"),
            _text("session_id"),
            _text("referrer", required=False),
        ),
    ),
    SourceSpec(
        name="form_fills",
        system="web",
        description="Form submissions: the moment an anonymous visitor gives an email address.",
        format=FileFormat.JSONL,
        key="form_fill_id",
        fields=(
            _text("form_fill_id"),
            _text("anonymous_id"),
            FieldSpec("occurred_at", FieldType.TIMESTAMP),
            _text("email"),
            _text("form_name"),
            _text("first_name", required=False),
            _text("last_name", required=False),
            _text("company", required=False),
            _text("job_title", required=False),
        ),
    ),
    SourceSpec(
        name="email_events",
        system="email",
        description="Marketing-automation email events; clicks carry the cookie set on the landing page.",
        format=FileFormat.JSONL,
        key="event_id",
        fields=(
            _text("event_id"),
            _text("email"),
            _text("campaign_id"),
            _text("event_type", allowed=EMAIL_EVENT_TYPES),
            FieldSpec("occurred_at", FieldType.TIMESTAMP),
            _text("url", required=False),
            _text("anonymous_id", required=False),
        ),
    ),
    SourceSpec(
        name="crm_accounts",
        system="crm",
        description="CRM account records; a later file may update an account (latest updated_at wins).",
        format=FileFormat.CSV,
        key="account_id",
        fields=(
            _text("account_id"),
            _text("name"),
            _text("domain"),
            _text("industry"),
            FieldSpec("employee_count", FieldType.INTEGER),
            FieldSpec("tier", FieldType.INTEGER, allowed=("1", "2", "3")),
            _text("country"),
            FieldSpec("updated_at", FieldType.TIMESTAMP),
        ),
    ),
    SourceSpec(
        name="crm_contacts",
        system="crm",
        description="CRM contacts with role, seniority, consent and time zone (latest updated_at wins).",
        format=FileFormat.CSV,
        key="contact_id",
        fields=(
            _text("contact_id"),
            _text("account_id"),
            _text("email"),
            _text("first_name"),
            _text("last_name"),
            _text("job_title"),
            _text("department"),
            _text("seniority", allowed=SENIORITIES),
            _text("timezone"),
            _text("consent_status", allowed=CONSENT_STATUSES),
            FieldSpec("updated_at", FieldType.TIMESTAMP),
        ),
    ),
    SourceSpec(
        name="crm_opportunities",
        system="crm",
        description="CRM opportunities; the outcome that intent is meant to predict.",
        format=FileFormat.CSV,
        key="opportunity_id",
        fields=(
            _text("opportunity_id"),
            _text("account_id"),
            _text("stage", allowed=OPPORTUNITY_STAGES),
            FieldSpec("amount", FieldType.DECIMAL),
            FieldSpec("created_at", FieldType.TIMESTAMP),
            FieldSpec("updated_at", FieldType.TIMESTAMP),
        ),
    ),
    SourceSpec(
        name="intent_topics",
        system="intent",
        description="Third-party intent: research topics a provider observed for a company domain.",
        format=FileFormat.CSV,
        key="record_id",
        fields=(
            _text("record_id"),
            _text("domain"),
            _text("topic"),
            FieldSpec("score", FieldType.INTEGER),
            FieldSpec("observed_on", FieldType.DATE),
            _text("provider"),
        ),
    ),
    SourceSpec(
        name="ad_performance",
        system="ads",
        description="Daily spend, impressions, clicks and conversions per campaign and ad channel.",
        format=FileFormat.CSV,
        key="record_id",
        fields=(
            _text("record_id"),
            FieldSpec("report_date", FieldType.DATE),
            _text("campaign_id"),
            _text("channel", allowed=AD_CHANNELS),
            FieldSpec("spend", FieldType.DECIMAL),
            FieldSpec("impressions", FieldType.INTEGER),
            FieldSpec("clicks", FieldType.INTEGER),
            FieldSpec("conversions", FieldType.INTEGER),
        ),
    ),
)

SOURCES_BY_NAME: dict[str, SourceSpec] = {source.name: source for source in SOURCES}

LOAD_COLUMNS: tuple[tuple[str, str], ...] = (
    ("_extra", "JSON"),
    ("_batch_id", "VARCHAR"),
    ("_source_file", "VARCHAR"),
    ("_source_line", "BIGINT"),
    ("_loaded_at", "TIMESTAMP"),
)
"""Columns the loader adds to every raw table: unknown fields (as JSON), lineage and load time."""
