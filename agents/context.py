"""Reads what an agent needs to know about a surge from the marts: who engaged, with what, and their consent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from itertools import groupby

import duckdb

from agents.surge import AccountSurge
from dagster_project.core.warehouse import table_exists
from models.serving import SEND_TIMES_TABLE


@dataclass(frozen=True)
class QualifyingSignal:
    signal_id: str
    content_category: str
    occurred_at: datetime
    quality_score: float


@dataclass(frozen=True)
class EngagedPerson:
    person_id: str
    email: str
    department: str | None
    seniority: str | None
    consent_status: str
    is_contactable: bool
    signals: tuple[QualifyingSignal, ...]


def engaged_people(
    connection: duckdb.DuckDBPyConnection,
    surge: AccountSurge,
    content_categories: tuple[str, ...],
    window_end: date,
) -> list[EngagedPerson]:
    """The people behind a surge with the qualifying signals each of them produced in its window."""
    rows = connection.execute(
        """
        select
            people.person_id, people.email, people.department,
            people.seniority, people.consent_status, people.is_contactable,
            signals.signal_id, signals.content_category, signals.occurred_at, signals.quality_score
        from marts.dim_person as people
        inner join marts.fct_signals as signals on signals.person_id = people.person_id
        where people.person_id in (select unnest($person_ids))
          and signals.account_id = $account_id
          and list_contains($categories, signals.content_category)
          and cast(signals.occurred_at as date) between $window_start and $window_end
        order by people.person_id, signals.occurred_at
        """,
        {
            "person_ids": list(surge.person_ids),
            "account_id": surge.account_id,
            "categories": list(content_categories),
            "window_start": surge.window_start,
            "window_end": window_end,
        },
    ).fetchall()
    people = []
    for _, person_rows in groupby(rows, key=lambda row: row[0]):
        person_rows = list(person_rows)
        signals = tuple(QualifyingSignal(*row[6:]) for row in person_rows)
        people.append(EngagedPerson(*person_rows[0][:6], signals=signals))
    return people


def recommended_send_hours(connection: duckdb.DuckDBPyConnection, person_ids: list[str]) -> dict[str, int]:
    """Each person's recommended local send hour from the send-time model, where there is one."""
    if not table_exists(connection, SEND_TIMES_TABLE):
        return {}
    return dict(
        connection.execute(
            f"select person_id, recommended_local_hour from {SEND_TIMES_TABLE} "
            "where person_id in (select unnest($person_ids))",
            {"person_ids": person_ids},
        ).fetchall()
    )
