"""GDPR, data side: explain everything the warehouse holds about a person, and forget them.

`explain_person` resolves an e-mail address or an id (person, CRM contact or cookie) to a person and
collects their identities, profile, signals, agent actions and channel state.

`forget_person` erases the person everywhere they can be found and keeps them out:

1. the e-mails' fingerprints go on `governance.suppression_list`, so agents never contact them again
   (and identity resolution can leave them out);
2. raw rows carrying any of the person's identities (e-mail, cookie, CRM contact id) are deleted, with
   the quarantined rows that mention them; every table keyed by `person_id` outside the audit log
   (channel state, agent memory, marts, snapshots) loses the person's rows; rows of dbt-built tables
   that mention an identity are deleted (incremental models and snapshots are not rebuilt from
   scratch); any other mention (a data-check example, an unknown field of someone else's raw row) is
   pseudonymised in place;
3. in the landing zone their rows become blank lines (line numbers, and so lineage, stay the same) and
   other rows that name them are pseudonymised;
4. the audit log gains a `person_forgotten` tombstone naming only the person's subject reference and the
   counts, then the person's subject key is deleted (crypto-shredding): audit entries are never rewritten
   or deleted, and the hash chain stays valid, but nothing links the entries to the person any more;
then `surgewise_build_job` rebuilds staging, identity, profile and signals without them, and every
text column of every table and view, the audit log included, is scanned for what was erased (and the
person id). Anything found is reported.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from agents.governance import audit
from dagster_project.connectors.loader import LOADED_FILES_TABLE, QUARANTINE_TABLE
from dagster_project.connectors.sources import SOURCES, FileFormat, SourceSpec
from dagster_project.core.clock import utc_now
from dagster_project.core.suppression import SUPPRESSION_TABLE, email_fingerprint, ensure_suppression_list
from dagster_project.core.warehouse import open_warehouse
from dagster_project.quarantine import BuildOutcome, run_build_job
from models.registry import ModelRegistry
from models.send_time import SEND_TIME_MODEL, forget_contact, models_mentioning
from models.serving import AQL_TABLE, INTENT_SCORES_TABLE, SEND_TIMES_TABLE

IDENTITIES_RELATION = "intermediate.int_identity__person_identities"
PERSON_RELATION = "marts.dim_person"
SIGNALS_RELATION = "marts.fct_signals"
ENROLMENTS_RELATION = "channel_sandbox.sequence_enrolments"
AUDIT_SCHEMA = "audit"

FORGOTTEN_EVENT = audit.AuditEvent.PERSON_FORGOTTEN
PRIVACY_AGENT_ID = "privacy"
ERASED_MARKER = "[erased]"
DEFAULT_REASON = "erasure request (GDPR art. 17)"

EMAIL_TYPE = "email"
COOKIE_TYPE = "anonymous_id"
CONTACT_TYPE = "crm_contact_id"

RAW_IDENTITY_COLUMNS = {"email": EMAIL_TYPE, "anonymous_id": COOKIE_TYPE, "contact_id": CONTACT_TYPE}
"""Raw columns that carry an identity: a raw row with one of the person's values there is theirs."""

_TEXT_TYPES = ("VARCHAR", "JSON")
_WORD = "a-z0-9_"


class UnknownPersonError(LookupError):
    """Nothing in the warehouse resolves to the e-mail address or id given."""


# --------------------------------------------------------------------------------------------------
# Resolving a person


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


def _columns(connection: duckdb.DuckDBPyConnection, relation: str) -> list[str]:
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


def _dicts(cursor: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
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
    for row in _dicts(connection.execute(f"select * from {IDENTITIES_RELATION} where person_id = ?", [person_id])):
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


# --------------------------------------------------------------------------------------------------
# explain person


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


def _relation_exists(connection: duckdb.DuckDBPyConnection, relation: str) -> bool:
    return bool(_columns(connection, relation))


def explain_person(connection: duckdb.DuckDBPyConnection, key: str, *, signal_limit: int = 20) -> PersonExplanation:
    """Everything the warehouse holds about one person and every action that touched them."""
    person = resolve_person(connection, key)
    if person is None:
        raise UnknownPersonError(f"no person found for {key!r} (looked up e-mail, person id, CRM contact and cookie)")
    person_id = person.person_id
    profile = None
    if _relation_exists(connection, PERSON_RELATION):
        rows = _dicts(connection.execute(f"select * from {PERSON_RELATION} where person_id = ?", [person_id]))
        profile = rows[0] if rows else None

    signals: list[dict[str, Any]] = []
    signal_count, quality_sum = 0, 0.0
    signal_columns = _columns(connection, SIGNALS_RELATION)
    if "person_id" in signal_columns:
        signal_count, quality_sum = connection.execute(
            f"select count(*), coalesce(sum(quality_score), 0) from {SIGNALS_RELATION} where person_id = ?",
            [person_id],
        ).fetchone()
        wanted = [
            column
            for column in (
                "occurred_at",
                "signal_type",
                "signal_source",
                "content_category",
                "account_id",
                "quality_score",
                "signal_id",
            )
            if column in signal_columns
        ]
        order = "order by occurred_at desc" if "occurred_at" in signal_columns else ""
        signals = _dicts(
            connection.execute(
                f"select {', '.join(wanted)} from {SIGNALS_RELATION} where person_id = ? {order} limit ?",
                [person_id, signal_limit],
            )
        )

    audit_entries = audit.entries_for_person(connection, person_id)
    enrolments: list[dict[str, Any]] = []
    if "person_id" in _columns(connection, ENROLMENTS_RELATION):
        enrolments = _dicts(
            connection.execute(
                f"select * from {ENROLMENTS_RELATION} where person_id = ? order by enrolled_at", [person_id]
            )
        )
    suppressed = False
    if person.emails and _relation_exists(connection, SUPPRESSION_TABLE):
        suppressed = (
            connection.execute(
                f"select 1 from {SUPPRESSION_TABLE} where list_contains(?, email_sha256) limit 1",
                [[email_fingerprint(email) for email in person.emails]],
            ).fetchone()
            is not None
        )
    intent_scores: list[dict[str, Any]] = []
    if _relation_exists(connection, INTENT_SCORES_TABLE):
        account_id = (profile or {}).get("account_id")
        intent_scores = _dicts(
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
    lead = None
    if _relation_exists(connection, AQL_TABLE):
        leads = _dicts(connection.execute(f"select * from {AQL_TABLE} where person_id = ?", [person_id]))
        lead = leads[0] if leads else None
    send_time = None
    if _relation_exists(connection, SEND_TIMES_TABLE):
        send_times = _dicts(connection.execute(f"select * from {SEND_TIMES_TABLE} where person_id = ?", [person_id]))
        send_time = send_times[0] if send_times else None
    return PersonExplanation(
        person=person,
        profile=profile,
        signals=signals,
        signal_count=signal_count,
        quality_score_sum=float(quality_sum),
        audit_entries=audit_entries,
        enrolments=enrolments,
        suppressed=suppressed,
        intent_scores=intent_scores,
        lead=lead,
        send_time=send_time,
    )


# --------------------------------------------------------------------------------------------------
# Scanning for traces


@dataclass(frozen=True)
class Trace:
    relation: str
    column: str
    value: str
    rows: int


def _mention_pattern(values: list[str]) -> str:
    """A case-insensitive regex for any of the values as a whole token (not inside a longer id)."""
    alternatives = "|".join(re.escape(value.lower()) for value in sorted(values, key=len, reverse=True))
    return f"(^|[^{_WORD}])({alternatives})($|[^{_WORD}])"


def _text_columns(connection: duckdb.DuckDBPyConnection, *, base_tables_only: bool) -> dict[str, list[str]]:
    """relation → its text-bearing columns (VARCHAR, JSON, and lists/structs of them), in every schema."""
    rows = connection.execute(
        """
        select c.table_schema, c.table_name, c.column_name, c.data_type, t.table_type
        from information_schema.columns as c
        inner join information_schema.tables as t
            on c.table_catalog = t.table_catalog and c.table_schema = t.table_schema
            and c.table_name = t.table_name
        where c.table_catalog = current_database()
          and c.table_schema not in ('information_schema', 'pg_catalog')
        order by c.table_schema, c.table_name, c.ordinal_position
        """
    ).fetchall()
    relations: dict[str, list[str]] = {}
    for schema, table, column, data_type, table_type in rows:
        if base_tables_only and table_type != "BASE TABLE":
            continue
        if any(text_type in data_type.upper() for text_type in _TEXT_TYPES):
            relations.setdefault(f'"{schema}"."{table}"', []).append(column)
    return relations


def scan_for_traces(
    connection: duckdb.DuckDBPyConnection, values: list[str], *, person_id: str | None = None
) -> list[Trace]:
    """Every table and view column that still mentions one of the values, or the person id (case-insensitive).

    The audit log is scanned too: it names people only by subject reference, whose key forget deletes."""
    wanted = sorted({value.lower() for value in [*values, person_id] if value})
    if not wanted:
        return []
    traces = []
    for relation, columns in _text_columns(connection, base_tables_only=False).items():
        checks = [
            (column, value, f"""count_if(regexp_matches(lower(cast("{column}" as varchar)), ?))""")
            for column in columns
            for value in wanted
        ]
        try:
            counts = connection.execute(
                f"select {', '.join(expression for _, _, expression in checks)} from {relation}",
                [_mention_pattern([value]) for _, value, _ in checks],
            ).fetchone()
        except duckdb.Error as error:
            # A relation that cannot be read cannot be shown to be clean: report it.
            traces.append(Trace(relation.replace('"', ""), "*", f"could not scan: {error}".splitlines()[0], -1))
            continue
        for (column, value, _), count in zip(checks, counts, strict=True):
            if count:
                traces.append(Trace(relation.replace('"', ""), column, value, int(count)))
    return traces


# --------------------------------------------------------------------------------------------------
# forget


@dataclass
class ForgetReport:
    key: str
    person_id: str | None
    identities: list[Identity]
    suppressed_emails: int
    erased: dict[str, int] = field(default_factory=dict)
    """relation → rows deleted."""
    pseudonymised: dict[str, int] = field(default_factory=dict)
    """relation.column → values rewritten (mentions outside the person's own rows)."""
    landing_lines: dict[str, int] = field(default_factory=dict)
    """landing file → lines erased (the person's rows) or pseudonymised (other rows naming them)."""
    tombstone_entry_id: int | None = None
    build: BuildOutcome | None = None
    remaining: list[Trace] = field(default_factory=list)
    model_versions_scrubbed: list[str] = field(default_factory=list)
    """Send-time model versions whose per-contact read history held the person."""

    @property
    def verified(self) -> bool:
        """Nothing mentions the person any more. (A failed step in the rebuild, e.g. a data check, is reported
        but does not undo the erasure: the scan runs on whatever the warehouse holds afterwards.)"""
        return not self.remaining


def _base_tables(connection: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    rows = connection.execute(
        """
        select c.table_schema, c.table_name, c.column_name
        from information_schema.columns as c
        inner join information_schema.tables as t
            on c.table_catalog = t.table_catalog and c.table_schema = t.table_schema
            and c.table_name = t.table_name
        where c.table_catalog = current_database() and t.table_type = 'BASE TABLE'
          and c.table_schema not in ('information_schema', 'pg_catalog')
        order by c.table_schema, c.table_name, c.ordinal_position
        """
    ).fetchall()
    tables: dict[str, list[str]] = {}
    for schema, table, column in rows:
        tables.setdefault(f"{schema}.{table}", []).append(column)
    return tables


def _delete(connection: duckdb.DuckDBPyConnection, table: str, where: str, params: Any) -> int:
    (count,) = connection.execute(f"select count(*) from {table} where {where}", params).fetchone()
    if count:
        connection.execute(f"delete from {table} where {where}", params)
    return int(count)


def _erase_rows(connection: duckdb.DuckDBPyConnection, person: PersonIdentities, values: list[str]) -> dict[str, int]:
    erased: dict[str, int] = {}
    tables = _base_tables(connection)
    by_type = {
        EMAIL_TYPE: [normalise_email(email) for email in person.emails],
        COOKIE_TYPE: person.anonymous_ids,
        CONTACT_TYPE: person.contact_ids,
    }
    raw_tables = {spec.table for spec in SOURCES} | {table for table in tables if table.startswith("raw.")}
    for table in sorted(raw_tables - {QUARANTINE_TABLE, LOADED_FILES_TABLE}):
        columns = tables.get(table, [])
        clauses, params = [], []
        for column, identity_type in RAW_IDENTITY_COLUMNS.items():
            if column in columns and by_type[identity_type]:
                clauses.append(f'list_contains(?, lower(trim("{column}")))')
                params.append([value.lower() for value in by_type[identity_type]])
        if clauses:
            erased[table] = _delete(connection, table, " or ".join(clauses), params)
    if QUARANTINE_TABLE in tables and values:
        erased[QUARANTINE_TABLE] = _delete(
            connection, QUARANTINE_TABLE, "regexp_matches(lower(raw_payload), ?)", [_mention_pattern(values)]
        )
    if person.person_id:
        # Channel state, agent memory, marts: every table keyed by person, except the audit log.
        for table, columns in sorted(tables.items()):
            if "person_id" in columns and not table.startswith(f"{AUDIT_SCHEMA}."):
                erased[table] = _delete(connection, table, "person_id = ?", [person.person_id])
    return {table: count for table, count in erased.items() if count}


def dbt_tables() -> set[str]:
    """`schema.table` of everything dbt builds (models, snapshots, seeds), from its manifest."""
    try:
        from dagster_project.defs.transform.project import surgewise_dbt_project

        manifest = json.loads(Path(surgewise_dbt_project.manifest_path).read_text())
    except (OSError, ValueError):
        return set()
    return {
        f"{node['schema']}.{node.get('alias') or node['name']}"
        for node in manifest.get("nodes", {}).values()
        if node.get("resource_type") in ("model", "snapshot", "seed")
    }


def _erase_derived_mentions(
    connection: duckdb.DuckDBPyConnection, values: list[str], derived: set[str]
) -> dict[str, int]:
    """Delete rows of dbt-built tables that mention the person.

    Views and full-refresh tables are rebuilt anyway; incremental models and snapshots keep history, so
    their rows derived from the person (an identity edge, a delivery, a person-map version) must go."""
    if not values:
        return {}
    pattern = _mention_pattern(values)
    erased: dict[str, int] = {}
    for relation, columns in _text_columns(connection, base_tables_only=True).items():
        table = relation.replace('"', "")
        if table not in derived:
            continue
        where = " or ".join(f'regexp_matches(lower(cast("{column}" as varchar)), $pattern)' for column in columns)
        count = _delete(connection, relation, where, {"pattern": pattern})
        if count:
            erased[table] = count
    return erased


def _pseudonymise_mentions(
    connection: duckdb.DuckDBPyConnection, values: list[str], derived: set[str]
) -> dict[str, int]:
    """Rewrite remaining mentions (in rows that are not the person's own: a data-check example, an unknown
    field of someone else's row) to a marker, in tables that are neither dbt's nor the audit log."""
    if not values:
        return {}
    pattern = _mention_pattern(values)
    rewritten: dict[str, int] = {}
    protected = {audit.AUDIT_TABLE, SUPPRESSION_TABLE} | derived
    for relation, columns in _text_columns(connection, base_tables_only=True).items():
        table = relation.replace('"', "")
        if table in protected or table.startswith(f"{AUDIT_SCHEMA}."):
            continue
        for column in columns:
            data_type = connection.execute(
                "select data_type from information_schema.columns where table_catalog = current_database() "
                "and table_schema = ? and table_name = ? and column_name = ?",
                [*table.split("."), column],
            ).fetchone()[0]
            if data_type.upper() not in _TEXT_TYPES:
                continue  # lists and structs: reported by the scan, not rewritten
            where = f'regexp_matches(lower(cast("{column}" as varchar)), ?)'
            (count,) = connection.execute(f"select count(*) from {relation} where {where}", [pattern]).fetchone()
            if not count:
                continue
            replaced = f"""regexp_replace(cast("{column}" as varchar), ?, '\\1{ERASED_MARKER}\\3', 'gi')"""
            if data_type.upper() == "JSON":
                replaced = f"cast({replaced} as json)"
            # Two mentions separated by a single character share it as a boundary: repeat until none is left.
            for _ in range(5):
                connection.execute(f'update {relation} set "{column}" = {replaced} where {where}', [pattern, pattern])
                if not connection.execute(f"select count(*) from {relation} where {where}", [pattern]).fetchone()[0]:
                    break
            rewritten[f"{table}.{column}"] = int(count)
    return rewritten


def _pseudonymise_text(pattern: re.Pattern[str], text: str) -> str:
    # Two mentions separated by a single character share it as a boundary: repeat until none is left.
    for _ in range(5):
        text, count = pattern.subn(rf"\g<1>{ERASED_MARKER}\g<3>", text)
        if not count:
            break
    return text


def _landing_line(
    spec: SourceSpec, header: list[str], line: str, pattern: re.Pattern[str], owned: dict[str, set[str]]
) -> str:
    """A landing line that mentions the person: blank if it is their row (or unreadable), else the line with
    the mentions pseudonymised (someone else's row that names them keeps its place and its other values)."""
    ending = "\r" if line.endswith("\r") else ""
    body = line.removesuffix("\r")
    record: Any = None
    try:
        if spec.format is FileFormat.JSONL:
            record = json.loads(body)
        else:
            record = dict(zip(header, next(csv.reader([body])), strict=False))
    except (ValueError, StopIteration, csv.Error):
        record = None
    if not isinstance(record, dict):
        return ending
    for column, identity_type in RAW_IDENTITY_COLUMNS.items():
        value = record.get(column)
        if isinstance(value, str) and value.strip().lower() in owned[identity_type]:
            return ending
    return _pseudonymise_text(pattern, body) + ending


def _scrub_landing(landing_dir: Path, person: PersonIdentities, values: list[str]) -> dict[str, tuple[int, str]]:
    """Erase the person from the landing zone; returns file → (lines changed, new sha256).

    Their rows become blank lines, which the loader skips, so the other rows keep their line numbers (and
    lineage); other rows that mention them are pseudonymised as in the warehouse."""
    if not values or not landing_dir.is_dir():
        return {}
    pattern = re.compile(_mention_pattern(values), re.IGNORECASE)
    owned = {
        identity_type: {value.lower() for value in person.values(identity_type)}
        for identity_type in RAW_IDENTITY_COLUMNS.values()
    }
    scrubbed = {}
    for spec in SOURCES:
        folder = landing_dir / spec.name
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob(f"*.{spec.format.value}")):
            lines = path.read_bytes().decode("utf-8", errors="replace").split("\n")
            # A CSV header names columns, not people.
            first = 1 if spec.format is FileFormat.CSV else 0
            header = next(csv.reader([lines[0].removesuffix("\r")]), []) if first else []
            hits = [index for index in range(first, len(lines)) if pattern.search(lines[index])]
            if not hits:
                continue
            for index in hits:
                lines[index] = _landing_line(spec, header, lines[index], pattern, owned)
            data = "\n".join(lines).encode()
            temporary = path.with_name(f".{path.name}.forget-{uuid.uuid4().hex[:8]}")
            temporary.write_bytes(data)
            os.replace(temporary, path)
            scrubbed[path.relative_to(landing_dir).as_posix()] = (len(hits), hashlib.sha256(data).hexdigest())
    return scrubbed


def forget_person(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    key: str,
    *,
    duckdb_path: Path,
    landing_dir: Path | None,
    reason: str = DEFAULT_REASON,
    now: datetime | None = None,
    model_registry: ModelRegistry | None = None,
) -> ForgetReport:
    """Erase a person (by e-mail or id) from the warehouse and landing zone, suppress them, and verify.

    An e-mail that resolves to nobody is still suppressed and searched for, so it can be refused in
    advance. Pass `landing_dir=None` to leave the landing zone untouched."""
    now = now or utc_now()
    with open_warehouse(duckdb_path) as connection:
        person = resolve_person(connection, key)
        if person is None:
            if not is_email(key):
                raise UnknownPersonError(f"no person found for {key!r} (looked up person id, CRM contact and cookie)")
            person = PersonIdentities(key=key, person_id=None, identities=[])
        if is_email(key) and normalise_email(key) not in person.emails:
            person.identities.append(Identity(EMAIL_TYPE, normalise_email(key)))
        values = person.all_values()
        report = ForgetReport(
            key=key, person_id=person.person_id, identities=list(person.identities), suppressed_emails=0
        )

        # Landing first: if anything below fails, the changed files are simply reloaded without the person.
        scrubbed = _scrub_landing(landing_dir, person, values) if landing_dir is not None else {}
        report.landing_lines = {source_file: lines for source_file, (lines, _) in scrubbed.items()}

        connection.execute("begin transaction")
        try:
            ensure_suppression_list(connection)
            for email in person.emails:
                inserted = connection.execute(
                    f"insert into {SUPPRESSION_TABLE} values (?, ?, ?) on conflict do nothing returning 1",
                    [email_fingerprint(email), reason, now],
                ).fetchall()
                report.suppressed_emails += len(inserted)
            derived = dbt_tables()
            report.erased = _erase_rows(connection, person, values)
            for table, count in _erase_derived_mentions(connection, values, derived).items():
                report.erased[table] = report.erased.get(table, 0) + count
            report.pseudonymised = _pseudonymise_mentions(connection, values, derived)
            tables = _base_tables(connection)
            if LOADED_FILES_TABLE in tables:
                for source_file, (_, digest) in scrubbed.items():
                    connection.execute(
                        f"update {LOADED_FILES_TABLE} set sha256 = ? where source_file = ?", [digest, source_file]
                    )
            audit.ensure_audit_log(connection)
            counts = {"identities": {t: len(person.values(t)) for t in (EMAIL_TYPE, COOKIE_TYPE, CONTACT_TYPE)}}
            stated_reason = _without(reason, [value for value in (*values, person.person_id) if value])
            # The tombstone carries the subject reference of the person's earlier entries; then the key that
            # derives it from the person id goes, so nothing in the log can be tied to them again.
            report.tombstone_entry_id = audit.append(
                connection,
                audit.AuditEntry(
                    recorded_at=now,
                    run_id=f"forget-{uuid.uuid4()}",
                    agent_id=PRIVACY_AGENT_ID,
                    event=FORGOTTEN_EVENT,
                    reasoning=(
                        f"Person erased on request ({stated_reason}): raw rows, quarantine, landing "
                        "lines, channel state and person-keyed tables deleted, other mentions pseudonymised, "
                        "e-mail fingerprints added to the suppression list. Earlier audit entries are kept; "
                        "the key linking them to the person is destroyed."
                    ),
                    subject_person_id=person.person_id,
                    inputs={
                        **counts,
                        "suppression_entries_added": report.suppressed_emails,
                        "rows_erased": report.erased,
                        "values_pseudonymised": report.pseudonymised,
                        "landing_lines_changed": sum(report.landing_lines.values()),
                    },
                    outcome="erased",
                ),
            )
            if person.person_id:
                audit.forget_subject(connection, person.person_id)
            connection.execute("commit")
        except Exception:
            connection.execute("rollback")
            raise

    if model_registry is not None and person.person_id:
        report.model_versions_scrubbed = forget_contact(model_registry, person.person_id)

    report.build = run_build_job(defs, instance)

    with open_warehouse(duckdb_path, read_only=True) as connection:
        report.remaining = scan_for_traces(connection, values, person_id=person.person_id)
    if model_registry is not None and person.person_id:
        report.remaining += [
            Trace(f"model_registry/{SEND_TIME_MODEL}/{version}", "contacts", person.person_id, 1)
            for version in models_mentioning(model_registry, person.person_id)
        ]
    return report


def _without(text: str, values: list[str]) -> str:
    """The reason as given, minus any identity the requester may have typed into it."""
    return re.sub(_mention_pattern(values), rf"\1{ERASED_MARKER}\3", text, flags=re.IGNORECASE) if values else text


def tombstones(connection: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """The forget tombstones in the audit log, oldest first (for `explain` and audits of erasures)."""
    if not _relation_exists(connection, audit.AUDIT_TABLE):
        return []
    rows = _dicts(
        connection.execute(
            f"select entry_id, recorded_at, subject_ref, reasoning, inputs from {audit.AUDIT_TABLE} where event = ? "
            "order by seq",
            [FORGOTTEN_EVENT],
        )
    )
    for row in rows:
        row["inputs"] = json.loads(row["inputs"]) if row["inputs"] else {}
    return rows
