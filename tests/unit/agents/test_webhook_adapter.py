"""The webhook adapter inside the governor's transaction: it only writes the outbox, once per key, and a
transaction retried after a write conflict calls nothing; rollback queues the inverse; the config refuses
unsafe endpoints."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
import yaml

from agents.adapters.deliveries import OUTBOX_TABLE
from agents.adapters.sandbox import ExecutionOutcome
from agents.adapters.webhook import WebhookAdapter, WebhookConfig, deliver_pending, load_webhook_config
from dagster_project.core.config_files import ConfigError
from dagster_project.core.settings import KEYS_DIR_ENV, REPO_ROOT
from dagster_project.core.transactions import retry_on_conflict, transaction
from tests.unit.agents.test_webhook_receiver import (
    SECRET,
    SECRET_ENV,
    Receiver,
    enrolment,
    inverse_of,
    running_receiver,
    webhook_config,
)

T0 = datetime(2025, 1, 6, 9, 0)
ENV = {SECRET_ENV: SECRET}


@pytest.fixture
def connection(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as connection:
        yield connection


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as receiver:
        yield receiver


def _adapter(connection: duckdb.DuckDBPyConnection, config: WebhookConfig) -> WebhookAdapter:
    return WebhookAdapter(connection, config.endpoints[0])


def _status(connection: duckdb.DuckDBPyConnection, key: str) -> str:
    return connection.execute(f"select status from {OUTBOX_TABLE} where idempotency_key = ?", [key]).fetchone()[0]


def test_execute_writes_the_outbox_row_once_and_calls_nothing(
    connection: duckdb.DuckDBPyConnection, receiver: Receiver
) -> None:
    adapter = _adapter(connection, webhook_config(receiver))
    action = enrolment("p1")
    assert adapter.state(action.action_id) == {"webhook_effect_active": False}
    with transaction(connection):
        first = adapter.execute(action, T0)
    with transaction(connection):
        second = adapter.execute(action, T0)
    assert (first, second) == (ExecutionOutcome.EXECUTED, ExecutionOutcome.ALREADY_EXECUTED)
    key, status, attempts, body = connection.execute(
        f"select idempotency_key, status, attempts, body from {OUTBOX_TABLE}"
    ).fetchone()
    assert (key, status, attempts) == (action.action_id, "pending", 0)
    assert json.loads(body)["action"]["action_id"] == action.action_id
    assert adapter.state(action.action_id) == {"webhook_effect_active": True}
    assert receiver.seen == []


def test_a_governor_transaction_retried_after_a_write_conflict_makes_no_network_call(
    connection: duckdb.DuckDBPyConnection, receiver: Receiver
) -> None:
    """The governor's shape: retry_on_conflict around a transaction that executes the adapter. The first
    attempt loses a real DuckDB conflict to a rival writer on a lock row and rolls back."""
    config = webhook_config(receiver)
    adapter = _adapter(connection, config)
    connection.execute("create table locks (resource varchar primary key, version integer)")
    connection.execute("insert into locks values ('person:p1', 0)")
    rival = connection.cursor()
    rival.execute("begin transaction")
    rival.execute("update locks set version = version + 1 where resource = 'person:p1'")
    attempts: list[ExecutionOutcome] = []

    def governed() -> None:
        if attempts:
            rival.execute("commit")
        with transaction(connection):
            attempts.append(adapter.execute(enrolment("p1"), T0))
            connection.execute("update locks set version = version + 1 where resource = 'person:p1'")

    retry_on_conflict(governed)
    assert attempts == [ExecutionOutcome.EXECUTED, ExecutionOutcome.EXECUTED]  # the first rolled back
    assert receiver.seen == []
    assert connection.execute(f"select count(*) from {OUTBOX_TABLE}").fetchone() == (1,)
    report = deliver_pending(connection, T0, config=config, environ=ENV)
    assert report.delivered == 1 and len(receiver.seen) == 1


def test_dispatch_inside_a_transaction_is_refused(connection: duckdb.DuckDBPyConnection, receiver: Receiver) -> None:
    config = webhook_config(receiver)
    adapter = _adapter(connection, config)
    with transaction(connection):
        adapter.execute(enrolment("p1"), T0)
        with pytest.raises(duckdb.TransactionException):
            deliver_pending(connection, T0, config=config, environ=ENV)
    assert receiver.seen == []


def test_rollback_of_a_delivered_action_sends_the_inverse_and_restores_the_state(
    connection: duckdb.DuckDBPyConnection, receiver: Receiver
) -> None:
    config = webhook_config(receiver)
    adapter = _adapter(connection, config)
    action = enrolment("p1")
    before = adapter.state(action.action_id)
    with transaction(connection):
        adapter.execute(action, T0)
    deliver_pending(connection, T0, config=config, environ=ENV)
    with transaction(connection):
        assert adapter.execute(inverse_of(action), T0) is ExecutionOutcome.EXECUTED
    with transaction(connection):
        assert adapter.execute(inverse_of(action), T0) is ExecutionOutcome.ALREADY_EXECUTED
    assert adapter.state(action.action_id) == before
    report = deliver_pending(connection, T0, config=config, environ=ENV)
    assert report.delivered == 1
    assert [(seen.body["event"], seen.key) for seen in receiver.seen] == [
        ("action", action.action_id),
        ("rollback", inverse_of(action).action_id),
    ]
    assert receiver.seen[1].body["action"]["rollback_of"] == action.action_id


def test_rollback_before_any_attempt_cancels_both_and_sends_nothing(
    connection: duckdb.DuckDBPyConnection, receiver: Receiver
) -> None:
    config = webhook_config(receiver)
    adapter = _adapter(connection, config)
    action = enrolment("p1")
    with transaction(connection):
        adapter.execute(action, T0)
        adapter.execute(inverse_of(action), T0)
    assert adapter.state(action.action_id) == {"webhook_effect_active": False}
    report = deliver_pending(connection, T0, config=config, environ=ENV)
    assert report.attempts == 0 and receiver.seen == []
    assert (_status(connection, action.action_id), _status(connection, inverse_of(action).action_id)) == (
        "cancelled",
        "cancelled",
    )


def test_an_undeclared_action_type_is_refused(connection: duckdb.DuckDBPyConnection, receiver: Receiver) -> None:
    adapter = _adapter(connection, webhook_config(receiver, action_types=["launch_ad_creative"]))
    with pytest.raises(ValueError, match="does not accept enrol_in_sequence"):
        adapter.execute(enrolment("p1"), T0)


def test_the_secret_comes_from_the_keys_directory_when_the_variable_is_unset(
    connection: duckdb.DuckDBPyConnection, receiver: Receiver, tmp_path: Path
) -> None:
    config = webhook_config(receiver)
    (tmp_path / "keys" / "webhooks").mkdir(parents=True)
    (tmp_path / "keys" / "webhooks" / "sales_engagement.secret").write_text(SECRET + "\n")
    with transaction(connection):
        _adapter(connection, config).execute(enrolment("p1"), T0)
    report = deliver_pending(connection, T0, config=config, environ={KEYS_DIR_ENV: str(tmp_path / "keys")})
    assert report.delivered == 1 and receiver.seen[0].signature_valid


def test_without_a_secret_nothing_is_sent_and_no_attempt_is_used(
    connection: duckdb.DuckDBPyConnection, receiver: Receiver
) -> None:
    config = webhook_config(receiver)
    action = enrolment("p1")
    with transaction(connection):
        _adapter(connection, config).execute(action, T0)
    report = deliver_pending(connection, T0, config=config, environ={})
    assert report.problems and SECRET_ENV in report.problems[0] and receiver.seen == []
    assert connection.execute(f"select status, attempts from {OUTBOX_TABLE}").fetchone() == ("pending", 0)
    assert SECRET not in " ".join(str(value) for value in connection.execute(f"from {OUTBOX_TABLE}").fetchone())


def test_the_shipped_config_sends_nothing_anywhere() -> None:
    assert load_webhook_config(REPO_ROOT / "config").endpoints == ()


def test_a_missing_config_file_means_no_webhooks(tmp_path: Path) -> None:
    assert load_webhook_config(tmp_path).endpoints == ()


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("url: http://hooks.example.com/x", "https is required"),
        ("url: https://user:pw@hooks.example.com/x", "credentials do not belong in the URL"),
        ("url: ftp://hooks.example.com/x", "not an http(s) URL"),
        ("timeout_seconds: .inf", "finite number"),
        ("timeout_seconds: -1", "greater than 0"),
        ("max_attempts: 0", "greater than or equal to 1"),
        ("backoff: {base_seconds: .nan}", "finite number"),
        ("backoff: {jitter: 2}", "less than or equal to 1"),
        ("breaker: {cooldown_seconds: -5}", "greater than 0"),
        ("secret: hunter2", "Extra inputs are not permitted"),
    ],
)
def test_unsafe_endpoint_settings_are_refused(tmp_path: Path, setting: str, message: str) -> None:
    key, _, value = setting.partition(": ")
    endpoint = {
        "channel": "sales_engagement",
        "url": "https://hooks.example.com/x",
        "secret_env": "SURGEWISE_WEBHOOK_SECRET",
        "action_types": ["enrol_in_sequence"],
        key: yaml.safe_load(value),
    }
    (tmp_path / "webhooks.yaml").write_text(yaml.safe_dump({"version": 1, "endpoints": [endpoint]}))
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_webhook_config(tmp_path)


def test_two_endpoints_for_one_channel_are_refused(tmp_path: Path) -> None:
    endpoint = "  - {channel: crm, url: 'http://localhost:9/x', secret_env: CRM_SECRET, action_types: [route_lead]}\n"
    (tmp_path / "webhooks.yaml").write_text("version: 1\nendpoints:\n" + endpoint * 2)
    with pytest.raises(ConfigError, match="more than one endpoint: crm"):
        load_webhook_config(tmp_path)
