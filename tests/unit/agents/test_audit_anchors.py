"""The keyed, anchored audit log on real DuckDB files: the three attacks of finding 6 (entries cut off with the
head moved back, an old entry rewritten and everything after it re-hashed, the audit schema dropped), forged
checkpoints, effects with no audit entry, the keys outside the warehouse, the webhook and `surgewise audit`."""

from __future__ import annotations

import json
import os
import stat
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import Result
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from agents.governance import audit, audit_anchors, audit_chain, audit_reading
from agents.governance.audit import AuditEntry, AuditEvent
from agents.governance.schema import ACTIONS_TABLE, ensure_governance_tables
from dagster_project.cli.audit_commands import audit_app
from tests.environment import SurgewiseEnv
from tests.unit.agents.test_audit_chain import START, auditor_hash, enrolment, history, write_history

TRUNCATED = "(truncated below it)"


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    """Six entries, signed into checkpoint 1; keys and anchors beside the file, as the settings' defaults put them."""
    path = tmp_path / "surgewise.duckdb"
    write_history(path)
    with duckdb.connect(str(path)) as connection:
        assert audit_anchors.anchor_head(connection, START) is not None
    return path


@pytest.fixture
def connection(warehouse: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect(str(warehouse)) as connection:
        yield connection


def records(connection: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    return [json.loads(line) for line in _export(connection).read_text().splitlines()]


def _export(connection: duckdb.DuckDBPyConnection) -> Path:
    (path,) = connection.execute(
        "select path from duckdb_databases() where database_name = current_database()"
    ).fetchone()
    target = Path(path).parent / "export.jsonl"
    audit_reading.export_jsonl(connection, target)
    return target


def add_entries(connection: duckdb.DuckDBPyConnection, count: int) -> None:
    for step in range(count):
        audit.append(
            connection,
            AuditEntry(
                START + timedelta(hours=1, minutes=step), f"run_{step}", "sdr_sequence_agent", "action_proposed"
            ),
        )


# --------------------------------------------------------------------------------------------------
# The three attacks of finding 6


def cut_off_the_end(connection: duckdb.DuckDBPyConnection) -> None:
    """Attack 1: delete the last two entries and move the chain head back to the new last one."""
    connection.execute("delete from audit.audit_log where seq > 4")
    connection.execute(
        "update audit.chain_head set seq = 4, entry_hash = (select entry_hash from audit.audit_log where seq = 4)"
    )


def rewrite_and_rehash(connection: duckdb.DuckDBPyConnection) -> None:
    """Attack 2: rewrite entry 2 and recompute every later hash by the public rule, head included, without the
    chain key (the MACs are left as they were: nobody without the key can make new ones)."""
    chain = records(connection)
    previous = chain[0]["entry_hash"]
    for record in chain[1:]:
        if record["seq"] == 2:
            record["outcome"] = "denied"
        record["prev_hash"] = previous
        record["entry_hash"] = auditor_hash(record)
        connection.execute(
            "update audit.audit_log set outcome = ?, prev_hash = ?, entry_hash = ? where seq = ?",
            [record["outcome"], record["prev_hash"], record["entry_hash"], record["seq"]],
        )
        previous = record["entry_hash"]
    connection.execute("update audit.chain_head set entry_hash = ?", [previous])


def test_cutting_entries_off_the_end_and_moving_the_head_back_fails_verification(
    connection: duckdb.DuckDBPyConnection,
) -> None:
    cut_off_the_end(connection)

    report = audit_reading.verify_chain(connection)
    assert not report.ok
    assert report.describe() == [
        f"entry 5: missing: checkpoint checkpoint-0000000001.json signed 6 entries at {START.isoformat()}+00:00, "
        f"the log now ends at entry 4 {TRUNCATED}"
    ]
    with pytest.raises(audit_anchors.AuditAnchorError, match="below checkpoint"):
        audit_anchors.anchor_head(connection, START)


def test_rewriting_an_old_entry_and_rehashing_everything_after_fails_verification(
    connection: duckdb.DuckDBPyConnection, warehouse: Path
) -> None:
    rewrite_and_rehash(connection)

    report = audit_reading.verify_chain(connection)
    assert not report.ok
    assert (
        report.describe()[0] == "entry 2: its MAC does not match under the chain key (rewritten, or re-hashed "
        "without the key)"
    )
    assert [seq for seq, _ in report.problems if "MAC" in _] == [2, 3, 4, 5, 6]
    assert any("checkpoint" in problem and "(rewritten)" in problem for _, problem in report.problems)
    # The public rule alone passes the rewritten export; the checkpoints, or the key, catch it offline.
    export = _export(connection)
    assert audit_reading.verify_jsonl(export).ok
    anchors = warehouse.parent / "audit_anchors"
    assert not audit_reading.verify_jsonl(export, anchors=anchors).ok
    key = (warehouse.parent / "keys" / "audit_chain.key").read_bytes().strip()
    assert audit_reading.verify_jsonl(export, key=key).describe()[0].startswith("entry 2: its MAC does not match")


def test_a_rewrite_after_the_last_checkpoint_is_caught_by_the_mac_alone(connection: duckdb.DuckDBPyConnection) -> None:
    add_entries(connection, 2)
    connection.execute("update audit.audit_log set reasoning = 'forged' where seq = 8")
    forged = next(record for record in records(connection) if record["seq"] == 8)
    connection.execute("update audit.audit_log set entry_hash = ? where seq = 8", [auditor_hash(forged)])
    connection.execute("update audit.chain_head set entry_hash = ?", [auditor_hash(forged)])

    assert [problem for seq, problem in audit_reading.verify_chain(connection).problems if seq == 8] == [
        "its MAC does not match under the chain key (rewritten, or re-hashed without the key)"
    ]


def insert_action(connection: duckdb.DuckDBPyConnection, action_id: str = "act_1", executed: bool = True) -> None:
    ensure_governance_tables(connection)
    connection.execute(
        f"insert into {ACTIONS_TABLE} (action_id, run_id, agent_id, action_type, channel, account_id, spend, "
        "trigger_key, status, verdict, rules, policy_version, proposed_at, executed_at) values "
        "(?, 'run_1', 'sdr_sequence_agent', 'enrol_in_sequence', 'sales_engagement', 'acc_surge', 0, 't', "
        "'executed', 'allowed', '[]', 'policies@7', ?, ?)",
        [action_id, START, START if executed else None],
    )


def test_dropping_the_audit_schema_fails_verification(connection: duckdb.DuckDBPyConnection) -> None:
    insert_action(connection, enrolment("per_jane_7f3a").action_id)
    assert not audit_reading.verify_chain(connection).unrecorded  # its execution was audited (entry 2)

    connection.execute("drop schema audit cascade")

    report = audit_reading.verify_chain(connection)
    assert not report.ok and report.entries == 0
    assert report.describe()[0] == (
        f"entry 1: missing: checkpoint checkpoint-0000000001.json signed 6 entries at {START.isoformat()}+00:00, "
        f"the log now ends at entry 0 {TRUNCATED}"
    )
    assert report.unrecorded[0] == (
        "the audit log is missing, but governance.actions holds 1 actions (the log was dropped or emptied)"
    )
    # Recreated empty, it still fails; and it is never signed over.
    audit.ensure_audit_log(connection)
    assert audit_reading.verify_chain(connection).unrecorded[0].startswith("the audit log is empty")
    with pytest.raises(audit_anchors.AuditAnchorError):
        audit_anchors.anchor_head(connection, START)


def test_an_empty_log_with_actions_fails_even_without_any_checkpoint(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "surgewise.duckdb")) as connection:
        audit.ensure_audit_log(connection)
        assert audit_reading.verify_chain(connection).ok
        insert_action(connection)

        report = audit_reading.verify_chain(connection)
        assert report.unrecorded == [
            "the audit log is empty, but governance.actions holds 1 actions (the log was dropped or emptied)",
            "governance.actions: 1 action(s) with no audit entry: act_1",
            "governance.actions: 1 executed action(s) with no audit entry recording the execution: act_1",
        ]


# --------------------------------------------------------------------------------------------------
# Effects with no audit entry


def test_executed_actions_and_channel_writes_with_no_audit_entry_fail(connection: duckdb.DuckDBPyConnection) -> None:
    jane = enrolment("per_jane_7f3a").action_id
    insert_action(connection, jane)
    insert_action(connection, "act_unaudited")
    connection.execute("create schema channel_sandbox")
    connection.execute(
        "create table channel_sandbox.sequence_enrolments (idempotency_key varchar primary key, person_id varchar, "
        "account_id varchar, sequence_id varchar, status varchar, enrolled_at timestamp, removed_at timestamp)"
    )
    connection.execute(
        "insert into channel_sandbox.sequence_enrolments values (?, 'per_jane_7f3a', 'acc_surge', 's', 'removed', "
        "?, ?), ('enrolled_behind_the_governors_back', 'per_x', 'acc_surge', 's', 'active', ?, null)",
        [jane, START, START, START],
    )

    report = audit_reading.verify_chain(connection)
    assert report.problems == []
    assert report.unrecorded == [
        "governance.actions: 1 action(s) with no audit entry: act_unaudited",
        "governance.actions: 1 executed action(s) with no audit entry recording the execution: act_unaudited",
        "channel_sandbox.sequence_enrolments: 1 channel write(s) with no audit entry recording the execution: "
        "enrolled_behind_the_governors_back",
    ]  # jane's enrolment was executed and rolled back on the record (entries 2 and 5)


# --------------------------------------------------------------------------------------------------
# Checkpoints


def test_a_checkpoint_whose_signature_does_not_verify_fails(
    connection: duckdb.DuckDBPyConnection, warehouse: Path
) -> None:
    path = warehouse.parent / "audit_anchors" / "checkpoint-0000000001.json"
    document = json.loads(path.read_text())
    path.write_text(json.dumps({**document, "entries": 4}))

    problems = audit_reading.verify_chain(connection).describe()
    assert (
        problems[0]
        == "entry 4: checkpoint checkpoint-0000000001.json: its signature does not verify (forged or altered)"
    )
    with pytest.raises(audit_anchors.AuditAnchorError, match="signature does not verify"):
        audit_anchors.anchor_head(connection, START)


def test_checkpoints_re_signed_with_another_key_fail(connection: duckdb.DuckDBPyConnection, warehouse: Path) -> None:
    """Whoever replaces the public key beside the checkpoints and signs with their own is caught in the warehouse,
    where the signing key's own half is the reference."""
    anchors = warehouse.parent / "audit_anchors"
    cut_off_the_end(connection)
    forger = Ed25519PrivateKey.generate()
    (anchors / "checkpoint-0000000001.json").unlink()
    forged = audit_anchors.sign(
        forger, audit_anchors.Checkpoint(1, 4, records(connection)[-1]["entry_hash"], "t", "0" * 64)
    )
    (anchors / "checkpoint-0000000001.json").write_text(json.dumps(forged.document()))
    (anchors / "anchor_public_key.pem").write_bytes(audit_anchors.public_key_pem(forger))

    problems = audit_reading.verify_chain(connection).describe()
    assert "entry 1: anchor_public_key.pem is not the public half of the anchor key" in problems
    assert any("its signature does not verify" in problem for problem in problems)


def test_checkpoints_chain_and_a_deleted_one_shows(connection: duckdb.DuckDBPyConnection, warehouse: Path) -> None:
    anchors = warehouse.parent / "audit_anchors"
    assert audit_anchors.anchor_head(connection, START) is None  # nothing new to sign
    add_entries(connection, 1)
    second = audit_anchors.anchor_head(connection, START)
    add_entries(connection, 1)
    third = audit_anchors.anchor_head(connection, START)
    assert second is not None and third is not None
    assert (second.sequence, second.entries, third.sequence, third.entries) == (2, 7, 3, 8)
    assert third.previous == second.digest() and third.path == anchors / "checkpoint-0000000003.json"
    report = audit_reading.verify_chain(connection)
    assert report.ok and (report.checkpoints, report.anchored_entries) == (3, 8)

    (anchors / "checkpoint-0000000002.json").unlink()
    assert audit_reading.verify_chain(connection).describe() == [
        "entry 8: checkpoint checkpoint-0000000003.json: checkpoint 2 before it is missing (deleted)"
    ]


def test_keys_live_outside_the_warehouse_with_mode_0600(connection: duckdb.DuckDBPyConnection, warehouse: Path) -> None:
    keys = warehouse.parent / "keys"
    for name in ("audit_chain.key", "audit_anchor_ed25519.pem"):
        assert stat.S_IMODE(os.stat(keys / name).st_mode) == 0o600
    chain_key = (keys / "audit_chain.key").read_bytes().strip()
    private = serialization.load_pem_private_key((keys / "audit_anchor_ed25519.pem").read_bytes(), password=None)
    connection.execute("checkpoint")
    database = warehouse.read_bytes()
    assert chain_key not in database
    assert private.private_bytes_raw() not in database  # type: ignore[union-attr]
    assert (warehouse.parent / "audit_anchors" / "anchor_public_key.pem").is_file()


def test_a_lost_chain_key_stops_appends_and_fails_verification(
    connection: duckdb.DuckDBPyConnection, warehouse: Path
) -> None:
    (warehouse.parent / "keys" / "audit_chain.key").unlink()
    audit.ensure_audit_log(connection)  # never replaces the key of a log that has entries

    assert not (warehouse.parent / "keys" / "audit_chain.key").exists()
    with pytest.raises(audit_chain.AuditKeyError):
        audit.append(connection, history()[0])
    assert (
        audit_reading.verify_chain(connection).describe()[0].startswith("entry 1: no MAC can be checked: the chain key")
    )


def test_entries_keep_a_reviewers_signature_covered_by_hash_and_mac(connection: duckdb.DuckDBPyConnection) -> None:
    entry = AuditEntry(START, "run_9", "approvals", AuditEvent.APPROVED, reviewer="rev_maria", signature="c2lnbmVk")
    assert audit.append(connection, entry) == 7
    exported = records(connection)
    assert exported[-1]["signature"] == "c2lnbmVk" and "signature" not in exported[0]
    assert exported[-1]["entry_hash"] == auditor_hash(exported[-1])
    assert audit_reading.verify_chain(connection).ok

    connection.execute("update audit.audit_log set signature = 'Zm9yZ2Vk' where seq = 7")
    assert (
        audit_reading.verify_chain(connection).describe()[0]
        == "entry 7: stored hash does not match its contents (edited)"
    )


def test_a_log_from_before_the_key_is_keyed_with_its_hashes_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "surgewise.duckdb"
    write_history(path)
    with duckdb.connect(str(path)) as connection:
        before = connection.execute("select seq, entry_hash from audit.audit_log order by seq").fetchall()
        connection.execute("alter table audit.audit_log drop column entry_mac")
        connection.execute("alter table audit.audit_log drop column signature")
        (tmp_path / "keys" / "audit_chain.key").unlink()

        audit.ensure_audit_log(connection)

        assert connection.execute("select seq, entry_hash from audit.audit_log order by seq").fetchall() == before
        report = audit_reading.verify_chain(connection)
        assert report.ok and report.macs_checked, report.describe()


def test_an_in_memory_warehouse_keeps_its_key_in_memory_and_writes_no_checkpoint() -> None:
    with duckdb.connect() as connection:
        audit.ensure_audit_log(connection)
        for entry in history():
            audit.append(connection, entry)
        assert audit_anchors.anchor_head(connection, START) is None
        assert audit_reading.verify_chain(connection).ok


# --------------------------------------------------------------------------------------------------
# The webhook


class Receiver(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        """Quiet."""


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[Receiver]]]:
    handler = type("Handler", (Receiver,), {"received": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/checkpoints", handler
    server.shutdown()
    server.server_close()


def test_each_checkpoint_is_posted_to_the_webhook(
    connection: duckdb.DuckDBPyConnection, receiver: tuple[str, type[Receiver]]
) -> None:
    url, handler = receiver
    add_entries(connection, 1)

    checkpoint = audit_anchors.anchor_head(connection, START, webhook_url=url)

    assert checkpoint is not None and checkpoint.webhook_error is None
    assert handler.received == [checkpoint.document()]


def test_a_webhook_that_fails_or_is_gone_loses_no_local_checkpoint(
    connection: duckdb.DuckDBPyConnection, receiver: tuple[str, type[Receiver]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, handler = receiver
    handler.status = 503
    add_entries(connection, 1)
    failed = audit_anchors.anchor_head(connection, START, webhook_url=url)
    assert failed is not None and failed.path is not None and failed.path.is_file()
    assert failed.webhook_error is not None and "503" in failed.webhook_error

    add_entries(connection, 1)
    monkeypatch.setenv(audit_anchors.AUDIT_ANCHOR_WEBHOOK_ENV, "http://127.0.0.1:9/nobody-listens")
    unreachable = audit_anchors.anchor_head(connection, START)
    assert unreachable is not None and unreachable.path is not None and unreachable.path.is_file()
    assert unreachable.webhook_error is not None and "ConnectError" in unreachable.webhook_error
    assert audit_reading.verify_chain(connection).checkpoints == 3


# --------------------------------------------------------------------------------------------------
# surgewise audit


def invoke(*args: str) -> Result:
    return CliRunner().invoke(audit_app, list(args), env={"COLUMNS": "200"})


def test_cli_verify_fails_each_attack_and_anchor_signs_the_head(surgewise_env: SurgewiseEnv) -> None:
    write_history(surgewise_env.duckdb_path)
    signed = invoke("anchor")
    assert signed.exit_code == 0 and "Checkpoint 1 signed: 6 entries" in signed.output, signed.output
    assert (surgewise_env.audit_anchor_dir / "checkpoint-0000000001.json").is_file()
    assert (surgewise_env.keys_dir / "audit_chain.key").is_file()
    intact = invoke("verify")
    assert intact.exit_code == 0 and "1 signed checkpoint(s) verified" in intact.output, intact.output

    with duckdb.connect(str(surgewise_env.duckdb_path)) as connection:
        cut_off_the_end(connection)
    result = invoke("verify")
    assert result.exit_code == 1 and TRUNCATED in result.output, result.output
    refused = invoke("anchor")
    assert refused.exit_code == 1 and "Not signed" in refused.output


def test_cli_verifies_an_export_offline_with_the_checkpoints(surgewise_env: SurgewiseEnv, tmp_path: Path) -> None:
    write_history(surgewise_env.duckdb_path)
    assert invoke("anchor").exit_code == 0
    export = tmp_path / "audit.jsonl"
    exported = invoke("export", "--output", str(export))
    assert exported.exit_code == 0 and "--anchors" in exported.output, exported.output

    anchored = invoke("verify", "--file", str(export), "--anchors", str(surgewise_env.audit_anchor_dir))
    assert anchored.exit_code == 0 and "the last covering 6 entries" in anchored.output, anchored.output
    keyed = invoke("verify", "--file", str(export), "--key-file", str(surgewise_env.keys_dir / "audit_chain.key"))
    assert keyed.exit_code == 0 and "every MAC checked" in keyed.output, keyed.output
    linked = invoke("verify", "--file", str(export))
    assert linked.exit_code == 0 and "are only linked" in linked.output, linked.output

    lines = export.read_text().splitlines(keepends=True)
    export.write_text("".join(lines[:4]))
    cut = invoke("verify", "--file", str(export), "--anchors", str(surgewise_env.audit_anchor_dir))
    assert cut.exit_code == 1 and TRUNCATED in cut.output, cut.output
