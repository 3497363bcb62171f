"""Forgetting a person: erase them everywhere they can be found, keep them out, and verify.

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
5. the person's lock rows (`governance.resource_locks`, keyed by a hash of the person id) are deleted;
then `surgewise_build_job` rebuilds staging, identity, profile and signals without them; the live mode's
outbox and Dagster's storage (event logs with check metadata, compute logs) are scrubbed; the warehouse is
rewritten into a fresh file, so no free block keeps a deleted row. Every text column of every table and
view, the audit log included, is scanned for what was erased (and the person id), and so are the bytes of
the warehouse file, Dagster's storage and the data directory's files. Anything found is reported.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from agents.governance import audit, audit_schema, audit_subjects
from agents.governance.audit_anchors import anchor_head
from agents.governance.schema import LOCKS_TABLE
from agents.governance.store import person_lock_resource
from dagster_project.core.clock import utc_now
from dagster_project.core.suppression import SUPPRESSION_TABLE, email_fingerprint, ensure_suppression_list
from dagster_project.core.transactions import transaction
from dagster_project.core.warehouse import (
    DEFAULT_LOCK_TIMEOUT_SECONDS,
    WarehouseBusyError,
    open_warehouse,
    table_exists,
)
from dagster_project.lib.jobs_in_process import JobRun, run_job_in_process
from dagster_project.lib.names import BUILD_JOB
from dagster_project.privacy.dagster_storage import scrub_dagster_storage
from dagster_project.privacy.erase import (
    ERASED_MARKER,
    dbt_tables,
    erase_derived_mentions,
    erase_rows,
    pseudonymise_mentions,
)
from dagster_project.privacy.resolve import (
    CONTACT_TYPE,
    COOKIE_TYPE,
    EMAIL_TYPE,
    Identity,
    PersonIdentities,
    UnknownPersonError,
    dict_rows,
    is_email,
    normalise_email,
    resolve_person,
)
from dagster_project.privacy.rewrite import RewriteResult, rewrite_warehouse
from dagster_project.privacy.scan import FileTrace, Trace, mention_pattern, scan_files, scan_for_traces
from dagster_project.privacy.scrub import record_scrubbed_digests, scrub_landing
from models.registry import ModelRegistry
from models.send_time import SEND_TIME_MODEL, forget_contact, models_mentioning

FORGOTTEN_EVENT = audit.AuditEvent.PERSON_FORGOTTEN
PRIVACY_AGENT_ID = "privacy"
DEFAULT_REASON = "erasure request (GDPR art. 17)"


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
    build: JobRun | None = None
    remaining: list[Trace] = field(default_factory=list)
    model_versions_scrubbed: list[str] = field(default_factory=list)
    """Send-time model versions whose per-contact read history held the person."""
    outbox_lines: dict[str, int] = field(default_factory=dict)
    """live-mode outbox file → lines erased or pseudonymised (batches not yet delivered to the landing zone)."""
    dagster_storage: dict[str, int] = field(default_factory=dict)
    """Dagster storage file → values (events, log lines) pseudonymised."""
    rewrite: RewriteResult | None = None
    rewrite_error: str | None = None
    """Why the warehouse could not be rewritten (another process held it): its free blocks may keep copies."""
    file_traces: list[FileTrace] = field(default_factory=list)
    """Files whose bytes still hold the person (after the rewrite and the scrubs)."""

    @property
    def verified(self) -> bool:
        """Nothing mentions the person any more, in the tables or in the files' bytes. (A failed step in the
        rebuild, e.g. a data check, is reported but does not undo the erasure: the scans run on whatever is
        left afterwards.)"""
        return not self.remaining and not self.file_traces and self.rewrite_error is None


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
    outbox_dir: Path | None = None,
    scan_dirs: tuple[Path, ...] = (),
    unscanned_dirs: tuple[Path, ...] = (),
    lock_timeout_seconds: float = DEFAULT_LOCK_TIMEOUT_SECONDS,
) -> ForgetReport:
    """Erase a person (by e-mail or id) from the warehouse, landing zone and outbox, suppress them, and verify.

        An e-mail that resolves to nobody is still suppressed and searched for, so it can be refused in
        advance. Pass `landing_dir=None` (and `outbox_dir=None`) to leave those files untouched; `scan_dirs`
        (the data directory) are scanned byte for byte with the warehouse file and Dagster's storage, except what is
    under `unscanned_dirs`. Raises
        `WarehouseBusyError`, having changed nothing, if another process holds the warehouse for longer than
        `lock_timeout_seconds`."""
    now = now or utc_now()
    with open_warehouse(duckdb_path, lock_timeout_seconds=lock_timeout_seconds) as connection:
        person = _person_to_forget(connection, key)
        values = person.all_values()
        report = ForgetReport(
            key=key, person_id=person.person_id, identities=list(person.identities), suppressed_emails=0
        )
        # Landing first: if anything below fails, the changed files are simply reloaded without the person.
        scrubbed = scrub_landing(landing_dir, person, values) if landing_dir is not None else {}
        report.landing_lines = {source_file: lines for source_file, (lines, _) in scrubbed.items()}
        with transaction(connection):
            report.suppressed_emails = _suppress(connection, person.emails, reason, now)
            _erase_from_warehouse(connection, person, values, report)
            record_scrubbed_digests(connection, scrubbed)
            report.tombstone_entry_id = _append_tombstone(connection, person, values, reason, now, report)
            if person.person_id:
                audit_subjects.forget_subject(connection, person.person_id)
        anchor_head(connection, now)

    if outbox_dir is not None:
        report.outbox_lines = {name: lines for name, (lines, _) in scrub_landing(outbox_dir, person, values).items()}
    if model_registry is not None and person.person_id:
        report.model_versions_scrubbed = forget_contact(model_registry, person.person_id)
    report.build = run_job_in_process(defs, instance, BUILD_JOB)
    # After the rebuild, whose own events and dropped tables are scrubbed and compacted with the rest.
    traced = [value for value in (*values, person.person_id) if value]
    # The instance's local storage: SQLite event logs and compute logs (a Postgres event log is not reached).
    dagster_root = Path(instance.root_directory)
    report.dagster_storage = scrub_dagster_storage(dagster_root, traced)
    try:
        report.rewrite = rewrite_warehouse(duckdb_path, lock_timeout_seconds=lock_timeout_seconds)
    except WarehouseBusyError as error:
        report.rewrite_error = str(error)
    report.remaining = _remaining_traces(duckdb_path, person, values, model_registry)
    roots = [duckdb_path.parent, *scan_dirs, dagster_root]
    if model_registry is not None:
        roots.append(model_registry.root)
    if landing_dir is not None:
        roots.append(landing_dir)
    if outbox_dir is not None:
        roots.append(outbox_dir)
    report.file_traces = scan_files(roots, values, person_id=person.person_id, excluded=unscanned_dirs)
    return report


def _person_to_forget(connection: duckdb.DuckDBPyConnection, key: str) -> PersonIdentities:
    """The person behind the key, with the key itself among their e-mails; an unknown e-mail is a person too."""
    person = resolve_person(connection, key)
    if person is None:
        if not is_email(key):
            raise UnknownPersonError(f"no person found for {key!r} (looked up person id, CRM contact and cookie)")
        person = PersonIdentities(key=key, person_id=None, identities=[])
    if is_email(key) and normalise_email(key) not in person.emails:
        person.identities.append(Identity(EMAIL_TYPE, normalise_email(key)))
    return person


def _suppress(connection: duckdb.DuckDBPyConnection, emails: list[str], reason: str, now: datetime) -> int:
    """Put the e-mails' fingerprints on the suppression list; returns how many were not on it yet."""
    ensure_suppression_list(connection)
    added = 0
    for email in emails:
        inserted = connection.execute(
            f"insert into {SUPPRESSION_TABLE} values (?, ?, ?) on conflict do nothing returning 1",
            [email_fingerprint(email), reason, now],
        ).fetchall()
        added += len(inserted)
    return added


def _erase_from_warehouse(
    connection: duckdb.DuckDBPyConnection, person: PersonIdentities, values: list[str], report: ForgetReport
) -> None:
    """Delete the person's rows and the dbt-built rows naming them, then pseudonymise any other mention."""
    derived = dbt_tables()
    report.erased = erase_rows(connection, person, values)
    for table, count in erase_derived_mentions(connection, values, derived).items():
        report.erased[table] = report.erased.get(table, 0) + count
    report.pseudonymised = pseudonymise_mentions(connection, values, derived)
    if person.person_id and table_exists(connection, LOCKS_TABLE):
        resources = [person_lock_resource(person.person_id)]
        erased = _delete_locks(connection, resources)
        if erased:
            report.erased[LOCKS_TABLE] = erased


def _delete_locks(connection: duckdb.DuckDBPyConnection, resources: list[str]) -> int:
    if not resources:
        return 0
    return len(
        connection.execute(
            f"delete from {LOCKS_TABLE} where list_contains(?, resource) returning 1", [resources]
        ).fetchall()
    )


def _append_tombstone(
    connection: duckdb.DuckDBPyConnection,
    person: PersonIdentities,
    values: list[str],
    reason: str,
    now: datetime,
    report: ForgetReport,
) -> int:
    """The tombstone carries the subject reference of the person's earlier entries; the caller then deletes
    the key that derives it from the person id, so nothing in the log can be tied to them again."""
    audit.ensure_audit_log(connection)
    counts = {"identities": {t: len(person.values(t)) for t in (EMAIL_TYPE, COOKIE_TYPE, CONTACT_TYPE)}}
    stated_reason = _without(reason, [value for value in (*values, person.person_id) if value])
    return audit.append(
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


def _without(text: str, values: list[str]) -> str:
    """The reason as given, minus any identity the requester may have typed into it."""
    return re.sub(mention_pattern(values), rf"\1{ERASED_MARKER}\3", text, flags=re.IGNORECASE) if values else text


def _remaining_traces(
    duckdb_path: Path, person: PersonIdentities, values: list[str], model_registry: ModelRegistry | None
) -> list[Trace]:
    """What still mentions the person after the rebuild: in the warehouse, and in saved send-time models."""
    with open_warehouse(duckdb_path, read_only=True) as connection:
        remaining = scan_for_traces(connection, values, person_id=person.person_id)
    if model_registry is not None and person.person_id:
        remaining += [
            Trace(f"model_registry/{SEND_TIME_MODEL}/{version}", "contacts", person.person_id, 1)
            for version in models_mentioning(model_registry, person.person_id)
        ]
    return remaining


def tombstones(connection: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """The forget tombstones in the audit log, oldest first (for `explain` and audits of erasures)."""
    if not table_exists(connection, audit_schema.AUDIT_TABLE):
        return []
    rows = dict_rows(
        connection.execute(
            f"select entry_id, recorded_at, subject_ref, reasoning, inputs from {audit_schema.AUDIT_TABLE} "
            "where event = ? order by seq",
            [FORGOTTEN_EVENT],
        )
    )
    for row in rows:
        row["inputs"] = json.loads(row["inputs"]) if row["inputs"] else {}
    return rows
