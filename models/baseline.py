"""The rule the models must beat: classic marketing automation's engagement-points lead score.

Points per activity in the last 30 days plus points for seniority, and a Marketing-Qualified Lead when
the total exceeds the threshold ("score > 80"). An account's rule score is its best person's score: the
account has an MQL as soon as one of its people does.
"""

from __future__ import annotations

import pandas as pd

from models.config import EngagementPoints


def engagement_points(person_rows: pd.DataFrame, points: EngagementPoints) -> pd.Series:
    """Each person row's lead score; buying-content views earn their own points on top of a page view's."""
    activity = (
        points.page_view * person_rows["page_views_30d"]
        + points.buying_content_view * person_rows["buying_content_views_30d"]
        + points.form_fill * person_rows["form_fills_30d"]
        + points.email_open * person_rows["email_opens_30d"]
        + points.email_click * person_rows["email_clicks_30d"]
    )
    seniority = person_rows["seniority"].map(points.seniority).fillna(0.0)
    return (activity + seniority).astype(float).rename("engagement_points")


def is_mql(score: pd.Series, points: EngagementPoints) -> pd.Series:
    return (score > points.mql_threshold).rename("is_mql")


def account_engagement_points(person_rows: pd.DataFrame, points: EngagementPoints) -> pd.DataFrame:
    """The best person's score per account and snapshot day (0 for accounts with no people)."""
    scored = person_rows[["account_id", "snapshot_date"]].assign(
        engagement_points=engagement_points(person_rows, points)
    )
    return scored.groupby(["account_id", "snapshot_date"], as_index=False)["engagement_points"].max()


def with_account_engagement_points(
    account_rows: pd.DataFrame, person_rows: pd.DataFrame, points: EngagementPoints
) -> pd.DataFrame:
    merged = account_rows.merge(
        account_engagement_points(person_rows, points), on=["account_id", "snapshot_date"], how="left"
    )
    merged["engagement_points"] = merged["engagement_points"].fillna(0.0)
    return merged
