"""Resolving an e-mail address or an id (person, CRM contact or cookie) to a person and all their identities."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb

IDENTITIES_RELATION = "intermediate.int_identity__person_identities"
PERSON_RELATION = "marts.dim_person"

EMAIL_TYPE = "email"
COOKIE_TYPE = "anonymous_id"
CONTACT_TYPE = "crm_contact_id"


class UnknownPersonError(LookupError):
    """Nothing in the warehouse resolves to the e-mail address or id given."""


@dataclass(frozen=True)
class Identity:
    identity_type: str
    identity_value: str
    details: dict[str, Any] = field(default_factory=dict)
    """Whatever else the identity model says about it (account, rule), read at run time."""


@dataclass
class PersonIdentities:
    key: str
    person_id: str | None
    identities: list[Identity]

    def values(self, identity_type: str) -> list[str]:
        return sorted({i.identity_value for i in self.identities if i.identity_type == identity_type})

    @property
    def emails(self) -> list[str]:
        return self.values(EMAIL_TYPE)

    @property
    def anonymous_ids(self) -> list[str]:
        return self.values(COOKIE_TYPE)

    @property
    def contact_ids(self) -> list[str]:
        return self.values(CONTACT_TYPE)

    def all_values(self) -> list[str]:
        return sorted({i.identity_value for i in self.identities if i.identity_value})


def normalise_email(value: str) -> str:
    return value.strip().lower()


def is_email(key: str) -> bool:
    return "@" in key


def relation_columns(connection: duckdb.DuckDBPyConnection, relation: str) -> list[str]:
    """The columns of `schema.table`, in order; none if it is not built (models change, so readers ask)."""
    schema, name = relation.split(".")
    return [
        row[0]
        for row in connection.execute(
            """
            select column_name from information_schema.columns
            where table_catalog = current_database() and table_schema = ? and table_name = ?
            order by ordinal_position
            """,
            [schema, name],
        ).fetchall()
    ]


def dict_rows(cursor: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _find_person_id(connection: duckdb.DuckDBPyConnection, key: str) -> str | None:
    """The first match of: an e-mail (any case or spacing), a person id, a CRM contact id or a cookie."""
    if is_email(key):
        candidates = [
            (
                f"select person_id from {IDENTITIES_RELATION} where identity_type = '{EMAIL_TYPE}' "
                "and lower(trim(identity_value)) = $key and person_id is not null limit 1",
                normalise_email(key),
            ),
            (f"select person_id from {PERSON_RELATION} where lower(trim(email)) = $key limit 1", normalise_email(key)),
        ]
    else:
        candidates = [
            (f"select person_id from {PERSON_RELATION} where person_id = $key", key.strip()),
            (
                f"select person_id from {IDENTITIES_RELATION} where identity_value = $key and person_id is not null "
                "limit 1",
                key.strip(),
            ),
            (f"select person_id from {PERSON_RELATION} where crm_contact_id = $key limit 1", key.strip()),
        ]
    for sql, value in candidates:
        row = connection.execute(sql, {"key": value}).fetchone()
        if row:
            return row[0]
    return None


def resolve_person(connection: duckdb.DuckDBPyConnection, key: str) -> PersonIdentities | None:
    """The person behind an e-mail address, person id, CRM contact id or cookie, with all their identities."""
    person_id = _find_person_id(connection, key)
    if person_id is None:
        return None
    identities: dict[tuple[str, str], Identity] = {}
    for row in dict_rows(connection.execute(f"select * from {IDENTITIES_RELATION} where person_id = ?", [person_id])):
        identity_type, value = row.pop("identity_type"), row.pop("identity_value")
        row.pop("person_id", None)
        row.pop("identity_key", None)
        if value is not None:
            identities[(identity_type, value)] = Identity(identity_type, value, row)
    # The profile's primary e-mail and contact are identities too, whatever the graph says.
    for column, identity_type in (("email", EMAIL_TYPE), ("crm_contact_id", CONTACT_TYPE)):
        for (value,) in connection.execute(
            f"select {column} from {PERSON_RELATION} where person_id = ? and {column} is not null", [person_id]
        ).fetchall():
            identities.setdefault((identity_type, value), Identity(identity_type, value))
    ordered = sorted(identities.values(), key=lambda identity: (identity.identity_type, identity.identity_value))
    return PersonIdentities(key=key, person_id=person_id, identities=ordered)
