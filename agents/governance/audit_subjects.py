"""People in the audit log, by keyed reference only: the log outlives GDPR erasures, so it names no one in clear.

The person an entry concerns is a `subject_ref`, the HMAC of their person id under a random key of their own
(`audit.subject_keys`). Forgetting a person deletes that key (crypto-shredding): their entries, and the
chain, stay intact but can no longer be linked to them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

import duckdb

from agents.governance.audit_schema import SUBJECT_KEYS_TABLE
from dagster_project.core.clock import utc_now
from dagster_project.core.warehouse import table_exists


def subject_ref(connection: duckdb.DuckDBPyConnection, person_id: str, *, create: bool = False) -> str | None:
    """The audit log's reference to a person: HMAC-SHA256 of their id under their own key. None if they have no
    key (never audited, or forgotten) and `create` is false."""
    if not table_exists(connection, SUBJECT_KEYS_TABLE):
        return None
    row = connection.execute(f"select key from {SUBJECT_KEYS_TABLE} where person_id = ?", [person_id]).fetchone()
    if row is None:
        if not create:
            return None
        connection.execute(
            f"insert into {SUBJECT_KEYS_TABLE} values (?, ?, ?) on conflict do nothing",
            [person_id, secrets.token_bytes(32), utc_now()],
        )
        row = connection.execute(f"select key from {SUBJECT_KEYS_TABLE} where person_id = ?", [person_id]).fetchone()
    return hmac.new(bytes(row[0]), person_id.encode(), hashlib.sha256).hexdigest()


def forget_subject(connection: duckdb.DuckDBPyConnection, person_id: str) -> bool:
    """Delete a person's subject key (crypto-shredding): their audit entries stay, and the chain stays valid,
    but nothing can link them to the person any more. False if they had no key."""
    if not table_exists(connection, SUBJECT_KEYS_TABLE):
        return False
    deleted = connection.execute(
        f"delete from {SUBJECT_KEYS_TABLE} where person_id = ? returning person_id", [person_id]
    ).fetchall()
    return bool(deleted)


def without_person_ids(connection: duckdb.DuckDBPyConnection, value: Any) -> Any:
    """JSON inputs with every `person_id` key replaced by a `subject_ref` key, at any depth."""
    if isinstance(value, dict):
        return {
            ("subject_ref" if key == "person_id" else key): (
                (subject_ref(connection, str(item), create=True) if item is not None else None)
                if key == "person_id"
                else without_person_ids(connection, item)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [without_person_ids(connection, item) for item in value]
    return value
