"""Explaining a person: their identities, profile, signals, scores, agent actions and channel state.

Every relation is optional: a warehouse that has not built one yet (or a model that dropped a column) still
explains what it holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb

from agents.governance import audit_reading
from dagster_project.core.suppression import email_fingerprint, suppressed_fingerprints
from dagster_project.core.warehouse import table_exists
from dagster_project.privacy.resolve import (
    PERSON_RELATION,
    PersonIdentities,
    UnknownPersonError,
    dict_rows,
    relation_columns,
    resolve_person,
)
from models.serving import AQL_TABLE, INTENT_SCORES_TABLE, SEND_TIMES_TABLE

SIGNALS_RELATION = "marts.fct_signals"
ENROLMENTS_RELATION = "channel_sandbox.sequence_enrolments"
SIGNAL_COLUMNS = (
    "occurred_at",
    "signal_type",
    "signal_source",
    "content_category",
    "account_id",
    "quality_score",
    "signal_id",
)
"""The signal columns shown, those of them the signals mart has."""


@dataclass
class PersonExplanation:
    person: PersonIdentities
    profile: dict[str, Any] | None
    signals: list[dict[str, Any]]
    signal_count: int
    quality_score_sum: float
    audit_entries: list[dict[str, Any]]
    enrolments: list[dict[str, Any]]
    suppressed: bool
    intent_scores: list[dict[str, Any]] = field(default_factory=list)
    """Today's intent scores of the person and of their account, each with its top contributing features."""
    lead: dict[str, Any] | None = None
    """The person's AQL and MQL flags with reasons (ml.aql_leads)."""
    send_time: dict[str, Any] | None = None


def explain_person(connection: duckdb.DuckDBPyConnection, key: str, *, signal_limit: int = 20) -> PersonExplanation:
    """Everything the warehouse holds about one person and every action that touched them."""
    person = resolve_person(connection, key)
    if person is None:
        raise UnknownPersonError(f"no person found for {key!r} (looked up e-mail, person id, CRM contact and cookie)")
    person_id = person.person_id
    profile = _person_row(connection, PERSON_RELATION, person_id)
    signal_count, quality_sum = _signal_totals(connection, person_id)
    return PersonExplanation(
        person=person,
        profile=profile,
        signals=_latest_signals(connection, person_id, signal_limit),
        signal_count=signal_count,
        quality_score_sum=float(quality_sum),
        audit_entries=audit_reading.entries_for_person(connection, person_id),
        enrolments=_enrolments(connection, person_id),
        suppressed=_any_suppressed(connection, person.emails),
        intent_scores=_intent_scores(connection, person_id, (profile or {}).get("account_id")),
        lead=_person_row(connection, AQL_TABLE, person_id),
        send_time=_person_row(connection, SEND_TIMES_TABLE, person_id),
    )


def _person_row(connection: duckdb.DuckDBPyConnection, relation: str, person_id: str) -> dict[str, Any] | None:
    """The person's row of a one-row-per-person relation, if it is built and has one."""
    if not table_exists(connection, relation):
        return None
    rows = dict_rows(connection.execute(f"select * from {relation} where person_id = ?", [person_id]))
    return rows[0] if rows else None


def _signal_totals(connection: duckdb.DuckDBPyConnection, person_id: str) -> tuple[int, float]:
    if "person_id" not in relation_columns(connection, SIGNALS_RELATION):
        return 0, 0.0
    return connection.execute(
        f"select count(*), coalesce(sum(quality_score), 0) from {SIGNALS_RELATION} where person_id = ?",
        [person_id],
    ).fetchone()


def _latest_signals(connection: duckdb.DuckDBPyConnection, person_id: str, limit: int) -> list[dict[str, Any]]:
    columns = relation_columns(connection, SIGNALS_RELATION)
    if "person_id" not in columns:
        return []
    wanted = [column for column in SIGNAL_COLUMNS if column in columns]
    order = "order by occurred_at desc" if "occurred_at" in columns else ""
    return dict_rows(
        connection.execute(
            f"select {', '.join(wanted)} from {SIGNALS_RELATION} where person_id = ? {order} limit ?",
            [person_id, limit],
        )
    )


def _enrolments(connection: duckdb.DuckDBPyConnection, person_id: str) -> list[dict[str, Any]]:
    if "person_id" not in relation_columns(connection, ENROLMENTS_RELATION):
        return []
    return dict_rows(
        connection.execute(f"select * from {ENROLMENTS_RELATION} where person_id = ? order by enrolled_at", [person_id])
    )


def _any_suppressed(connection: duckdb.DuckDBPyConnection, emails: list[str]) -> bool:
    if not emails:
        return False
    fingerprints = suppressed_fingerprints(connection)
    return any(email_fingerprint(email) in fingerprints for email in emails)


def _intent_scores(
    connection: duckdb.DuckDBPyConnection, person_id: str, account_id: str | None
) -> list[dict[str, Any]]:
    if not table_exists(connection, INTENT_SCORES_TABLE):
        return []
    return dict_rows(
        connection.execute(
            f"""
            select entity_type, entity_id, snapshot_date, probability, reference_probability, top_features,
                model_version
            from {INTENT_SCORES_TABLE}
            where (entity_type = 'person' and entity_id = $person_id)
               or (entity_type = 'account' and entity_id = $account_id)
            order by entity_type desc
            """,
            {"person_id": person_id, "account_id": account_id},
        )
    )
