"""Agent-Qualified Leads: people worth an agent's (and a salesperson's) time, each with its reasons.

An AQL needs all three: the intent model's probability for the person, a fit with the ideal customer
profile, and a qualifying engagement in the last 14 days. The classic MQL flag (engagement points over
the threshold) sits beside it so the two can be compared on the same people.
"""

from __future__ import annotations

import pandas as pd

from models.baseline import engagement_points, is_mql
from models.config import ModelSettings

QUALIFYING_ENGAGEMENT = {
    "pricing_views_14d": "pricing view",
    "comparison_views_14d": "comparison view",
    "form_fills_14d": "form fill",
    "email_clicks_14d": "email click",
}


def qualify_leads(person_rows: pd.DataFrame, probabilities: pd.Series, settings: ModelSettings) -> pd.DataFrame:
    """AQL and MQL flags with reasons for person rows (with their `account_*` context columns).

    `probabilities` is aligned with `person_rows`; missing values mean no usable intent score."""
    aql = settings.aql
    points = engagement_points(person_rows, settings.engagement_points)
    records = []
    for index, row in enumerate(person_rows.itertuples(index=False)):
        probability = probabilities.iloc[index]
        has_intent = pd.notna(probability) and probability >= aql.min_intent_probability
        intent_reason = (
            "no usable intent score"
            if pd.isna(probability)
            else f"intent probability {probability:.2f} {'>=' if has_intent else '<'} {aql.min_intent_probability:.2f}"
        )
        icp_misses = _icp_misses(row, settings)
        icp_reason = (
            f"ICP fit: tier {row.account_tier}, {int(row.account_employee_count):,} employees, {row.account_industry}"
            if not icp_misses
            else "outside the ICP: " + ", ".join(icp_misses)
        )
        engagements = [
            f"{int(getattr(row, column))} {label}{'s' if getattr(row, column) != 1 else ''}"
            for column, label in QUALIFYING_ENGAGEMENT.items()
            if getattr(row, column) > 0
        ]
        engagement_reason = (
            "qualifying engagement in 14 days: " + ", ".join(engagements)
            if engagements
            else "no qualifying engagement in 14 days"
        )
        records.append(
            {
                "person_id": row.person_id,
                "account_id": row.account_id,
                "snapshot_date": row.snapshot_date,
                "intent_probability": None if pd.isna(probability) else float(probability),
                "has_intent": bool(has_intent),
                "icp_fit": not icp_misses,
                "qualifying_engagement": bool(engagements),
                "is_aql": bool(has_intent and not icp_misses and engagements),
                "aql_reasons": [intent_reason, icp_reason, engagement_reason],
                "engagement_points": float(points.iloc[index]),
            }
        )
    leads = pd.DataFrame.from_records(records)
    if leads.empty:
        return leads
    leads["is_mql"] = is_mql(leads["engagement_points"], settings.engagement_points)
    return leads


def _icp_misses(row: object, settings: ModelSettings) -> list[str]:
    icp = settings.aql.icp
    misses = []
    if row.account_tier not in icp.tiers:
        misses.append(f"tier {row.account_tier} (ICP tiers {', '.join(map(str, icp.tiers))})")
    if pd.isna(row.account_employee_count):
        misses.append(f"employee count unknown (ICP needs {icp.min_employees:,} or more)")
    elif row.account_employee_count < icp.min_employees:
        misses.append(f"{int(row.account_employee_count):,} employees (fewer than {icp.min_employees:,})")
    if row.account_industry in icp.excluded_industries:
        misses.append(f"industry {row.account_industry} is excluded")
    return misses
