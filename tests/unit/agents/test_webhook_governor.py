"""The webhook adapter behind the governor: a channel routed to a real system in `webhooks.yaml` receives the
governor's executed actions only after they commit, once each, and their rollbacks after them; every operation
ends with a signed checkpoint of the audit log's head outside the warehouse."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import yaml

from agents.config import load_agent_registry, load_policies
from agents.governance.audit_anchors import read_checkpoints
from agents.governance.governor import Governor
from agents.governance.session import GovernanceError
from tests.signing import Reviewers, signed_config
from tests.unit.agents.test_governor_integrity import HUMAN, NOW, build_warehouse, enrol
from tests.unit.agents.test_webhook_receiver import SECRET, SECRET_ENV, Receiver, running_receiver


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    with running_receiver() as running:
        yield running


def routed_config(directory: Path, channel: str, url: str) -> Reviewers:
    reviewers = signed_config(directory)
    endpoint = {
        "channel": channel,
        "url": url,
        "secret_env": SECRET_ENV,
        "action_types": ["enrol_in_sequence", "remove_from_sequence"],
        "timeout_seconds": 5.0,
    }
    (directory / "webhooks.yaml").write_text(yaml.safe_dump({"version": 1, "endpoints": [endpoint]}))
    return reviewers


@pytest.fixture
def connection(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as opened:
        build_warehouse(opened)
        yield opened


def test_an_executed_action_reaches_the_receiver_once_after_commit_and_its_rollback_after_it(
    connection: duckdb.DuckDBPyConnection, receiver: Receiver, tmp_path: Path
) -> None:
    config_dir = tmp_path / "config"
    reviewers = routed_config(config_dir, "sales_engagement", receiver.url)
    governor = Governor(connection, load_agent_registry(config_dir), load_policies(config_dir), "run-webhook")

    (record,) = governor.submit([enrol(account="acc_0")], NOW)
    assert record.outcome == "executed", record.decision.summary() if record.decision else record
    again = Governor(connection, governor.registry, governor.policies, "run-webhook-again")
    again.submit([enrol(account="acc_0")], NOW)
    again.execute_approved(NOW)

    assert receiver.seen_per_key()[record.action.action_id] == 1
    assert list(receiver.booked) == [record.action.action_id]
    assert all(seen.signature_valid for seen in receiver.seen)
    (status,) = connection.execute(
        "select status from channel_webhook.outbox where idempotency_key = ?", [record.action.action_id]
    ).fetchone()
    assert status == "delivered"

    signature = reviewers.rollback(connection, record.action.action_id, HUMAN, "wrong account", NOW)
    result = governor.rollback(record.action.action_id, by=HUMAN, reason="wrong account", now=NOW, signature=signature)
    assert result.restored
    assert [seen.body["event"] for seen in receiver.seen] == ["action", "rollback"]


def test_every_governor_operation_ends_with_a_signed_checkpoint_outside_the_warehouse(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    config_dir = tmp_path / "config"
    signed_config(config_dir)
    governor = Governor(connection, load_agent_registry(config_dir), load_policies(config_dir), "run-anchor")
    governor.submit([enrol(account="acc_0")], NOW)
    checkpoints, problems = read_checkpoints(tmp_path / "audit_anchors")
    assert not problems
    (entries,) = connection.execute("select count(*) from audit.audit_log").fetchone()
    assert checkpoints and checkpoints[-1].entries == entries


def test_a_webhook_for_a_channel_nobody_knows_is_refused(connection: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    config_dir = tmp_path / "config"
    routed_config(config_dir, "hubspot_sequences", "http://127.0.0.1:9/hooks")
    with pytest.raises(
        GovernanceError, match=r"unknown channel\(s\) hubspot_sequences; known channels: .*sales_engagement"
    ):
        Governor(connection, load_agent_registry(config_dir), load_policies(config_dir), "run-unknown")
