"""The hash-chained audit log on a real DuckDB file: building the chain, catching tampering in the warehouse and
in an export, concurrent appenders, crypto-shredding a forgotten person, and `surgewise audit`."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import Result
from typer.testing import CliRunner

from agents.actions import ProposedAction
from agents.governance import audit, audit_chain, audit_reading, audit_subjects
from agents.governance.audit import AuditEntry, AuditEvent
from agents.governance.policy import PolicyDecision, RuleResult, Verdict
from dagster_project.cli.audit_commands import audit_app
from tests.environment import SurgewiseEnv

JANE, OMAR = "per_jane_7f3a", "per_omar_19c2"
START = datetime(2026, 10, 5, 9, 0)
GENESIS = "0" * 64


@dataclass(frozen=True)
class VersionedDecision(PolicyDecision):
    """A decision from a policy engine that stamps the version of the policies it applied."""

    policy_version: str = "policies@7"


ALLOWED = VersionedDecision(Verdict.ALLOWED, (RuleResult("scope.declared_actions", Verdict.ALLOWED, "within scope"),))


def enrolment(person_id: str) -> ProposedAction:
    trigger = "account_intent_surge:acc_surge:2026-10-05"
    return ProposedAction(
        agent_id="sdr_sequence_agent",
        action_type="enrol_in_sequence",
        channel="sales_engagement",
        person_id=person_id,
        account_id="acc_surge",
        payload={"sequence_id": "executive-briefing"},
        reasoning="Surge Corp (tier 1) is surging; this contact viewed 2 pricing pages.",
        inputs={"trigger": trigger, "quality_score_sum": 1.75, "signal_ids": ["sig_1", "sig_2"]},
        inverse={"action_type": "remove_from_sequence", "sequence_id": "executive-briefing"},
        trigger_key=trigger,
    )


def history() -> list[AuditEntry]:
    """Six entries of one surge: proposals, a decision, an approval, a rollback and a blocked run."""
    jane, omar = enrolment(JANE), enrolment(OMAR)
    at = [START + timedelta(minutes=minute) for minute in range(6)]
    return [
        AuditEntry(at[0], "run_1", "sdr_sequence_agent", AuditEvent.PROPOSED, action=jane),
        AuditEntry(
            at[1], "run_1", "sdr_sequence_agent", AuditEvent.DECIDED, action=jane, decision=ALLOWED, outcome="executed"
        ),
        AuditEntry(at[2], "run_1", "sdr_sequence_agent", AuditEvent.APPROVAL_REQUESTED, action=omar),
        AuditEntry(
            at[3].replace(tzinfo=UTC), "run_1", "approvals", AuditEvent.APPROVED, action=omar, reviewer="rev_maria"
        ),
        AuditEntry(
            at[4],
            "run_2",
            "sdr_sequence_agent",
            AuditEvent.ROLLED_BACK,
            action=jane,
            reviewer="rev_maria",
            related_action_id=jane.action_id,
            policy_version="policies@8",
            outcome="removed_from_sequence",
        ),
        AuditEntry(
            at[5],
            "run_3",
            "sdr_sequence_agent",
            AuditEvent.RUN_BLOCKED,
            reasoning="Did not act: dim_person_expectations failed",
            inputs={"trigger": "account_intent_surge:acc_other:2026-10-05", "account_id": "acc_other"},
            outcome="not_acted",
        ),
    ]


def write_history(path: Path) -> str:
    """A warehouse file holding the six entries; returns the head hash."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as connection:
        audit.ensure_audit_log(connection)
        for entry in history():
            audit.append(connection, entry)
        return audit_reading.verify_chain(connection).head_hash


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "surgewise.duckdb"
    write_history(path)
    return path


@pytest.fixture
def connection(warehouse: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect(str(warehouse)) as connection:
        yield connection


def auditor_hash(record: dict[str, Any]) -> str:
    """The entry hash as an auditor computes it from an exported line, by the documented rule alone: sha256 of
    the canonical JSON (sorted keys, no spaces) of every field but entry_hash and entry_mac."""
    body = {key: value for key, value in record.items() if key not in ("entry_hash", "entry_mac")}
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    ).hexdigest()


def mentions(connection: duckdb.DuckDBPyConnection, value: str) -> list[str]:
    """The audit log's columns, of any type, that hold the value anywhere in any row."""
    columns = [name for (name,) in connection.execute("select column_name from (describe audit.audit_log)").fetchall()]
    return [
        column
        for column in columns
        if connection.execute(
            f'select count(*) from audit.audit_log where contains(cast("{column}" as varchar), ?)', [value]
        ).fetchone()[0]
    ]


def exported(connection: duckdb.DuckDBPyConnection, path: Path) -> list[dict[str, Any]]:
    audit_reading.export_jsonl(connection, path)
    return [json.loads(line) for line in path.read_text().splitlines()]


# --------------------------------------------------------------------------------------------------
# Building the chain


def test_appending_links_every_entry_to_the_one_before(connection: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    rows = connection.execute(
        "select entry_id, seq, prev_hash, entry_hash from audit.audit_log order by seq"
    ).fetchall()

    assert [(entry_id, seq) for entry_id, seq, _, _ in rows] == [(n, n) for n in range(1, 7)]
    assert rows[0][2] == GENESIS
    assert all(row[2] == before[3] for before, row in pairwise(rows))
    assert connection.execute("select seq, entry_hash from audit.chain_head").fetchall() == [(6, rows[-1][3])]
    report = audit_reading.verify_chain(connection)
    assert report.ok and report.entries == 6 and report.head_hash == rows[-1][3]
    # An auditor recomputes every hash from the export with nothing but the documented rule.
    records = exported(connection, tmp_path / "export.jsonl")
    assert [auditor_hash(record) for record in records] == [row[3] for row in rows]


def test_entries_keep_reviewer_link_and_policy_version(connection: duckdb.DuckDBPyConnection) -> None:
    rows = connection.execute(
        "select event, reviewer, related_action_id, policy_version, policy_verdict, recorded_at "
        "from audit.audit_log order by seq"
    ).fetchall()

    jane = enrolment(JANE).action_id
    assert rows[1][1:5] == (None, None, "policies@7", "allowed")  # the decision's own policy version
    assert rows[3][:2] == (AuditEvent.APPROVED, "rev_maria")
    assert rows[4][:4] == (AuditEvent.ROLLED_BACK, "rev_maria", jane, "policies@8")
    assert rows[3][5] == START + timedelta(minutes=3)  # an aware time is stored as naive UTC


def test_an_append_inside_the_callers_transaction_commits_or_rolls_back_with_it(
    connection: duckdb.DuckDBPyConnection,
) -> None:
    entry = AuditEntry(START, "run_4", "sdr_sequence_agent", AuditEvent.PROPOSED, action=enrolment(OMAR))

    connection.execute("begin transaction")
    audit.append(connection, entry)
    connection.execute("rollback")
    assert connection.execute("select max(seq) from audit.audit_log").fetchone() == (6,)
    assert audit_reading.verify_chain(connection).ok

    connection.execute("begin transaction")
    assert audit.append(connection, entry) == 7
    connection.execute("commit")
    assert audit_reading.verify_chain(connection).entries == 7 and audit_reading.verify_chain(connection).ok


def test_concurrent_appenders_make_one_contiguous_chain(connection: duckdb.DuckDBPyConnection) -> None:
    errors: list[BaseException] = []

    def agent(number: int) -> None:
        cursor = connection.cursor()
        try:
            for step in range(25):
                audit.append(
                    cursor,
                    AuditEntry(
                        START,
                        f"thread_{number}",
                        "sdr_sequence_agent",
                        AuditEvent.PROPOSED,
                        action=enrolment(f"per_{number}_{step % 3}"),
                    ),
                )
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=agent, args=(number,)) for number in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    seqs = [seq for (seq,) in connection.execute("select seq from audit.audit_log order by seq").fetchall()]
    assert seqs == list(range(1, 107))
    assert connection.execute(
        "select run_id, count(*) from audit.audit_log where run_id like 'thread_%' group by 1 order by 1"
    ).fetchall() == [(f"thread_{number}", 25) for number in range(4)]
    report = audit_reading.verify_chain(connection)
    assert report.ok, report.describe()


# --------------------------------------------------------------------------------------------------
# Tampering


Tamper = Callable[[duckdb.DuckDBPyConnection, list[dict[str, Any]]], None]


def _edit_reasoning(connection: duckdb.DuckDBPyConnection, _: list[dict[str, Any]]) -> None:
    connection.execute("update audit.audit_log set reasoning = 'Approved by the CMO' where seq = 3")


def _edit_outcome(connection: duckdb.DuckDBPyConnection, _: list[dict[str, Any]]) -> None:
    connection.execute("update audit.audit_log set outcome = 'denied' where seq = 2")


def _edit_and_rehash(connection: duckdb.DuckDBPyConnection, records: list[dict[str, Any]]) -> None:
    forged = {**records[2], "reasoning": "Approved by the CMO"}
    connection.execute(
        "update audit.audit_log set reasoning = ?, entry_hash = ? where seq = 3",
        [forged["reasoning"], auditor_hash(forged)],
    )


def _delete_middle(connection: duckdb.DuckDBPyConnection, _: list[dict[str, Any]]) -> None:
    connection.execute("delete from audit.audit_log where seq = 3")


def _delete_last(connection: duckdb.DuckDBPyConnection, _: list[dict[str, Any]]) -> None:
    connection.execute("delete from audit.audit_log where seq = 6")


def _swap(connection: duckdb.DuckDBPyConnection, _: list[dict[str, Any]]) -> None:
    connection.execute("update audit.audit_log set seq = case seq when 2 then 3 else 2 end where seq in (2, 3)")


def _forge_at_the_end(connection: duckdb.DuckDBPyConnection, records: list[dict[str, Any]]) -> None:
    """A well-formed entry 7, linked and hashed by the rules, written without going through `append`."""
    forged = {**records[5], "seq": 7, "prev_hash": records[5]["entry_hash"], "reasoning": "Rollback approved"}
    connection.execute(
        "insert into audit.audit_log by name select * exclude (entry_id, seq, prev_hash, entry_hash, reasoning), "
        "7 as seq, ? as prev_hash, ? as entry_hash, ? as reasoning from audit.audit_log where seq = 6",
        [forged["prev_hash"], auditor_hash(forged), forged["reasoning"]],
    )


def _forge_a_duplicate(connection: duckdb.DuckDBPyConnection, records: list[dict[str, Any]]) -> None:
    """A second, well-formed entry 4, after rebuilding the table without its key."""
    forged = {**records[3], "reviewer": "rev_someone_else"}
    connection.execute("create table audit.rebuilt as select * exclude (entry_id) from audit.audit_log")
    connection.execute(
        "insert into audit.rebuilt by name select * exclude (reviewer, entry_hash), ? as reviewer, ? as entry_hash "
        "from audit.rebuilt where seq = 4",
        [forged["reviewer"], auditor_hash(forged)],
    )
    connection.execute("drop table audit.audit_log")
    connection.execute("alter table audit.rebuilt rename to audit_log")


LINK = "does not link to the entry before it (an entry was deleted, inserted or moved)"
EDITED = "stored hash does not match its contents (edited)"
REKEYED = "its MAC does not match under the chain key (rewritten, or re-hashed without the key)"


@pytest.mark.parametrize(
    ("tamper", "first_problem", "first_problem_in_export"),
    [
        (_edit_reasoning, f"entry 3: {EDITED}", None),
        (_edit_outcome, f"entry 2: {EDITED}", None),
        (_edit_and_rehash, f"entry 3: {REKEYED}", f"entry 4: {LINK}"),
        (_delete_middle, "entry 3: missing (deleted)", None),
        (
            _delete_last,
            "entry 6: missing: the chain head says the log ends at entry 6 (truncated)",
            "entry 5: the export ends here, but not at the expected head (truncated or extended)",
        ),
        (_swap, f"entry 2: {LINK}", None),
        (
            _forge_at_the_end,
            f"entry 7: {REKEYED}",
            "entry 7: the export ends here, but not at the expected head (truncated or extended)",
        ),
        (_forge_a_duplicate, "entry 4: a second entry at this position (duplicated or forged)", None),
    ],
    ids=lambda value: getattr(value, "__name__", "").strip("_") or None,
)
def test_tampering_is_caught_in_the_warehouse_and_in_an_export(
    warehouse: Path, tmp_path: Path, tamper: Tamper, first_problem: str, first_problem_in_export: str | None
) -> None:
    with duckdb.connect(str(warehouse)) as connection:
        head = audit_reading.verify_chain(connection).head_hash
        tamper(connection, exported(connection, tmp_path / "before.jsonl"))

        report = audit_reading.verify_chain(connection)
        assert not report.ok
        # The first problem is at the expected entry; a forged twin may sort first there and show its bad MAC.
        assert report.describe()[0].split(":")[0] == first_problem.split(":")[0], report.describe()
        assert first_problem in report.describe(), report.describe()
        assert audit_reading.export_jsonl(connection, tmp_path / "after.jsonl") == report.entries

    in_export = audit_reading.verify_jsonl(tmp_path / "after.jsonl", expected_head_hash=head)
    assert not in_export.ok
    assert in_export.describe()[0] == (first_problem_in_export or first_problem), in_export.describe()


def test_an_export_changed_in_transit_fails_verification(connection: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = tmp_path / "export.jsonl"
    assert audit_reading.export_jsonl(connection, path) == 6
    head = audit_reading.verify_chain(connection).head_hash
    lines = path.read_text().splitlines()
    assert audit_reading.verify_jsonl(path, expected_head_hash=head).ok

    def verify(changed: list[str], *, with_head: bool = True) -> list[str]:
        path.write_text("\n".join(changed) + "\n")
        return audit_reading.verify_jsonl(path, expected_head_hash=head if with_head else None).describe()

    edited = json.loads(lines[1])
    edited["outcome"] = "denied"
    assert verify([lines[0], json.dumps(edited), *lines[2:]])[0] == f"entry 2: {EDITED}"
    assert verify([*lines[:3], *lines[4:]])[0] == "entry 4: missing (deleted)"
    assert verify([*lines[:2], "{not json", *lines[3:]])[0] == "entry 3: line 3 of the export is not a JSON entry"
    # Cut after a whole entry, a file is still a chain: only the head given apart from it shows the cut.
    assert verify(lines[:4], with_head=False) == []
    assert verify(lines[:4]) == ["entry 4: the export ends here, but not at the expected head (truncated or extended)"]


def test_a_lost_chain_head_stops_appends_instead_of_starting_a_second_chain(
    connection: duckdb.DuckDBPyConnection,
) -> None:
    connection.execute("drop table audit.chain_head")
    audit.ensure_audit_log(connection)

    assert audit_reading.verify_chain(connection).describe() == [
        "entry 7: the chain head is missing, so entries cut off the end would not show"
    ]
    with pytest.raises(audit_chain.AuditChainError):
        audit.append(connection, history()[0])
    assert connection.execute("select count(*) from audit.audit_log").fetchone() == (6,)


# --------------------------------------------------------------------------------------------------
# Personal data


def test_the_log_holds_no_person_id_in_clear(connection: duckdb.DuckDBPyConnection) -> None:
    audit.append(
        connection,
        AuditEntry(
            START,
            "forget-1",
            "privacy",
            AuditEvent.PERSON_FORGOTTEN,
            subject_person_id=OMAR,
            inputs={"person_id": OMAR, "contacts": [{"person_id": JANE, "role": "forwarded_by"}]},
        ),
    )

    assert mentions(connection, JANE) == [] and mentions(connection, OMAR) == []
    omar, jane = audit_subjects.subject_ref(connection, OMAR), audit_subjects.subject_ref(connection, JANE)
    ((subject, inputs),) = connection.execute(
        "select subject_ref, inputs from audit.audit_log where event = ?", [AuditEvent.PERSON_FORGOTTEN]
    ).fetchall()
    assert subject == omar and omar is not None and omar != jane
    assert json.loads(inputs) == {"subject_ref": omar, "contacts": [{"subject_ref": jane, "role": "forwarded_by"}]}
    assert (
        audit_reading.entries_for_person(connection, JANE)[-1]["event"] == AuditEvent.PERSON_FORGOTTEN
    )  # named inside
    assert audit_subjects.subject_ref(connection, "per_never_audited") is None
    assert connection.execute("select count(*) from audit.subject_keys").fetchone() == (2,)


def test_forgetting_a_subject_unlinks_their_entries_and_keeps_the_chain(connection: duckdb.DuckDBPyConnection) -> None:
    jane_entries = audit_reading.entries_for_person(connection, JANE)
    assert [entry["event"] for entry in jane_entries] == [
        AuditEvent.PROPOSED,
        AuditEvent.DECIDED,
        AuditEvent.ROLLED_BACK,
    ]
    assert [entry["entry_id"] for entry in jane_entries] == [1, 2, 5]
    rows_before = connection.execute("select * from audit.audit_log order by seq").fetchall()

    assert audit_subjects.forget_subject(connection, JANE)

    assert audit_reading.entries_for_person(connection, JANE) == []
    assert audit_subjects.subject_ref(connection, JANE) is None
    assert connection.execute("select * from audit.audit_log order by seq").fetchall() == rows_before
    assert audit_reading.verify_chain(connection).ok
    assert [entry["entry_id"] for entry in audit_reading.entries_for_person(connection, OMAR)] == [3, 4]
    assert not audit_subjects.forget_subject(connection, JANE)


def test_a_log_from_before_the_chain_is_chained_without_clear_ids(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "old.duckdb")) as connection:
        connection.execute("create schema audit")
        connection.execute("create sequence audit.audit_entry_id")
        connection.execute(
            """
            create table audit.audit_log (
                entry_id bigint primary key default nextval('audit.audit_entry_id'), recorded_at timestamp not null,
                run_id varchar not null, agent_id varchar not null, event varchar not null, action_id varchar,
                action_type varchar, channel varchar, person_id varchar, account_id varchar, reasoning varchar,
                inputs json, policy_verdict varchar, policy_rules json, outcome varchar
            )
            """
        )
        connection.execute(
            "insert into audit.audit_log (recorded_at, run_id, agent_id, event, person_id, inputs, policy_rules, "
            "outcome) values (?, 'run_1', 'sdr_sequence_agent', 'action_decided', ?, '{}', ?, 'executed'), "
            "(?, 'forget-1', 'privacy', 'person_forgotten', null, ?, null, 'erased')",
            [START, OMAR, '[{"rule_id": "scope"}]', START, json.dumps({"person_id": JANE})],
        )

        audit.ensure_audit_log(connection)

        assert audit_reading.verify_chain(connection).entries == 2 and audit_reading.verify_chain(connection).ok
        assert [row[0] for row in connection.execute("select event from audit.audit_log order by seq").fetchall()] == [
            "action_decided",
            "person_forgotten",
        ]
        assert len(audit_reading.entries_for_person(connection, OMAR)) == 1
        # The person the old tombstone names was forgotten: their key is shredded as soon as it is made.
        assert audit_subjects.subject_ref(connection, JANE) is None
        assert mentions(connection, JANE) == [] and mentions(connection, OMAR) == []
        assert connection.execute(
            "select count(*) from duckdb_sequences() where sequence_name = 'audit_entry_id'"
        ).fetchone() == (0,)


# --------------------------------------------------------------------------------------------------
# surgewise audit


def invoke(*args: str) -> Result:
    return CliRunner().invoke(audit_app, list(args), env={"COLUMNS": "200"})


def test_cli_verify_passes_an_intact_log_and_fails_a_tampered_one(surgewise_env: SurgewiseEnv) -> None:
    write_history(surgewise_env.duckdb_path)

    result = invoke("verify")
    assert result.exit_code == 0, result.output
    assert "Audit log intact" in result.output and "6 entries" in result.output

    with duckdb.connect(str(surgewise_env.duckdb_path)) as connection:
        _edit_reasoning(connection, [])
    result = invoke("verify")
    assert result.exit_code == 1, result.output
    assert f"first at entry 3: {EDITED}" in result.output


def test_cli_export_writes_every_entry_for_an_auditor_to_verify(surgewise_env: SurgewiseEnv, tmp_path: Path) -> None:
    head = write_history(surgewise_env.duckdb_path)

    result = invoke("export")
    assert result.exit_code == 0, result.output
    default = surgewise_env.data_dir / "audit_export.jsonl"
    assert len(default.read_text().splitlines()) == 6
    assert head in result.output

    chosen = tmp_path / "for_the_auditor" / "audit.jsonl"
    assert invoke("export", "--output", str(chosen)).exit_code == 0
    assert chosen.read_text() == default.read_text()
    verified = invoke("verify", "--file", str(chosen), "--head", head)
    assert verified.exit_code == 0, verified.output
    chosen.write_text("".join(chosen.read_text().splitlines(keepends=True)[:5]))
    cut = invoke("verify", "--file", str(chosen), "--head", head)
    assert cut.exit_code == 1 and "entry 5: the export ends here" in cut.output
