"""Delivering the outbox to a real local HTTP receiver after the governor commits: signed requests with the
action's key, backoff with jitter on a fake clock, timeouts, slow answers, duplicates after a crash between
the call and the commit (a real kill -9 too), the circuit breaker, dead letters and their retry."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import httpx
import pytest

from agents.actions import ProposedAction
from agents.adapters import webhook
from agents.adapters.deliveries import (
    DEAD_LETTERS_TABLE,
    OUTBOX_TABLE,
    Breaker,
    BreakerState,
    RetryRefused,
    list_breakers,
    retry_dead_letters,
)
from agents.adapters.webhook import LEASE_GRACE, Backoff, WebhookAdapter, WebhookConfig, deliver_pending
from dagster_project.core.settings import REPO_ROOT
from dagster_project.core.transactions import transaction
from tests.unit.agents.test_webhook_receiver import (
    FAIL,
    HANG,
    LATE,
    OK,
    REJECT,
    SECRET,
    SECRET_ENV,
    SLOW,
    Receiver,
    enrolment,
    inverse_of,
    running_receiver,
    webhook_config,
)

T0 = datetime(2025, 1, 6, 9, 0)
ENV = {SECRET_ENV: SECRET}
LATER = timedelta(hours=1)
"""Past any backoff the tests configure."""
HTTP = httpx.Client()
"""One client for every dispatch of these tests (a dispatch on its own makes one each time)."""


class Crash(BaseException):
    """The process dies: nothing after this point runs, no transaction commits."""


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "warehouse.duckdb"


@pytest.fixture
def connection(database: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect(str(database)) as connection:
        yield connection


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as receiver:
        yield receiver


def _queue(connection: duckdb.DuckDBPyConnection, config: WebhookConfig, *actions: ProposedAction) -> None:
    """As the governor does: each action's outbox row written in its own transaction."""
    adapter = WebhookAdapter(connection, config.endpoints[0])
    for action in actions:
        with transaction(connection):
            adapter.execute(action, T0)


def _deliver(connection: duckdb.DuckDBPyConnection, config: WebhookConfig, now: datetime) -> webhook.DeliveryReport:
    return deliver_pending(connection, now, config=config, client=HTTP, environ=ENV, rng=random.Random(11))


def _row(connection: duckdb.DuckDBPyConnection, key: str) -> dict[str, object]:
    cursor = connection.execute(f"select * from {OUTBOX_TABLE} where idempotency_key = ?", [key])
    names = [column[0] for column in cursor.description]
    return dict(zip(names, cursor.fetchone(), strict=True))


def _crash_after_the_call(monkeypatch: pytest.MonkeyPatch, calls: set[int]) -> None:
    """Die after the receiver answered and before the answer is booked, on these (1-based) calls."""
    book = webhook._book
    count = [0]

    def book_or_crash(*args: object) -> object:
        count[0] += 1
        if count[0] in calls:
            raise Crash
        return book(*args)

    monkeypatch.setattr(webhook, "_book", book_or_crash)


def test_a_delivery_is_signed_keyed_confirmed_and_never_sent_again(
    connection: duckdb.DuckDBPyConnection, receiver: Receiver
) -> None:
    config = webhook_config(receiver)
    action = enrolment("p1")
    _queue(connection, config, action)
    report = _deliver(connection, config, T0)
    assert (report.delivered, report.retrying) == (1, 0)
    (seen,) = receiver.seen
    assert seen.key == action.action_id and seen.signature_valid and seen.body["idempotency_key"] == action.action_id
    row = _row(connection, action.action_id)
    assert (row["status"], row["attempts"], row["response_status"]) == ("delivered", 1, 200)
    assert '"receipt": 1' in str(row["confirmation"])
    for later in (T0, T0 + LATER, T0 + 10 * LATER):
        assert _deliver(connection, config, later).attempts == 0
    with pytest.raises(RetryRefused, match="only dead letters"):
        retry_dead_letters(connection, [action.action_id], by="ops", now=T0)
    assert len(receiver.seen) == 1


def test_a_5xx_is_retried_after_a_jittered_exponential_backoff_and_booked_once(
    connection: duckdb.DuckDBPyConnection, receiver: Receiver
) -> None:
    config = webhook_config(receiver)  # base 10 s, factor 2, jitter 0.5: waits in [5, 10] s, then [10, 20] s
    receiver.script = [FAIL, FAIL]
    action = enrolment("p1")
    _queue(connection, config, action)
    assert _deliver(connection, config, T0).retrying == 1
    first_wait = _row(connection, action.action_id)["next_attempt_at"] - T0
    assert timedelta(seconds=5) <= first_wait <= timedelta(seconds=10)
    assert _deliver(connection, config, T0 + first_wait - timedelta(seconds=1)).attempts == 0  # not due yet
    now = T0 + first_wait
    assert _deliver(connection, config, now).retrying == 1
    second_wait = _row(connection, action.action_id)["next_attempt_at"] - now
    assert timedelta(seconds=10) <= second_wait <= timedelta(seconds=20)
    assert _deliver(connection, config, now + second_wait).delivered == 1
    row = _row(connection, action.action_id)
    assert (row["status"], row["attempts"], row["last_error"]) == ("delivered", 3, None)
    assert len(receiver.seen) == 3 and list(receiver.booked) == [action.action_id]


def test_backoff_grows_by_its_factor_is_capped_and_jitter_only_shortens_it() -> None:
    backoff = Backoff(base_seconds=10, factor=2, max_seconds=60, jitter=0.5)
    rng = random.Random(3)
    for attempts, ceiling in [(1, 10), (2, 20), (3, 40), (4, 60), (50, 60), (10_000, 60)]:
        delays = [backoff.delay(attempts, rng).total_seconds() for _ in range(50)]
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
        assert len(set(delays)) > 1
    assert Backoff(jitter=0).delay(1, rng) == timedelta(seconds=5)


def test_a_timeout_is_retried_and_the_receiver_books_the_late_request_once(
    connection: duckdb.DuckDBPyConnection, receiver: Receiver
) -> None:
    config = webhook_config(receiver, timeout_seconds=0.2)
    receiver.script = [HANG]
    action = enrolment("p1")
    _queue(connection, config, action)
    assert _deliver(connection, config, T0).retrying == 1
    assert _row(connection, action.action_id)["last_error"] == "timed out after 0.2s"
    receiver.settle()  # the hung request finishes on the receiver's side and is booked
    assert _deliver(connection, config, T0 + LATER).delivered == 1
    assert receiver.seen_per_key() == {action.action_id: 2} and list(receiver.booked) == [action.action_id]
    assert receiver.replayed == 1
    assert '"status": "duplicate"' in str(_row(connection, action.action_id)["confirmation"])


def test_a_slow_answer_under_the_timeout_is_one_delivery(
    connection: duckdb.DuckDBPyConnection, receiver: Receiver
) -> None:
    config = webhook_config(receiver, timeout_seconds=5)
    receiver.script = [SLOW]
    action = enrolment("p1")
    _queue(connection, config, action)
    report = _deliver(connection, config, T0)
    assert (report.delivered, report.retrying) == (1, 0) and _row(connection, action.action_id)["attempts"] == 1


def test_a_crash_between_the_call_and_the_commit_is_resent_with_the_same_key_and_booked_once(
    database: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = webhook_config(receiver)
    action = enrolment("p1")
    with duckdb.connect(str(database)) as connection:
        _queue(connection, config, action)
        _crash_after_the_call(monkeypatch, {1})
        with pytest.raises(Crash):
            _deliver(connection, config, T0)
    monkeypatch.undo()
    with duckdb.connect(str(database)) as restarted:
        assert _row(restarted, action.action_id)["status"] == "sending"
        assert _deliver(restarted, config, T0).attempts == 0  # its claim has not lapsed yet
        report = _deliver(restarted, config, T0 + timedelta(seconds=config.endpoints[0].timeout_seconds) + LEASE_GRACE)
        assert (report.delivered, report.recovered) == (1, 1)
        assert _row(restarted, action.action_id)["status"] == "delivered"
    assert receiver.seen_per_key() == {action.action_id: 2} and list(receiver.booked) == [action.action_id]


CHILD = """
import os, signal, sys
from datetime import datetime
import duckdb
from agents.adapters import webhook
from agents.adapters.webhook import WebhookConfig, deliver_pending

webhook._book = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
config = WebhookConfig.model_validate_json(sys.argv[2])
with duckdb.connect(sys.argv[1]) as connection:
    deliver_pending(connection, datetime.fromisoformat(sys.argv[3]), config=config)
"""


def test_a_process_killed_after_the_call_is_reconciled_on_restart(
    database: Path, connection: duckdb.DuckDBPyConnection, receiver: Receiver
) -> None:
    config = webhook_config(receiver)
    action = enrolment("p1")
    _queue(connection, config, action)
    connection.close()
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(database), config.model_dump_json(), T0.isoformat()],
        cwd=REPO_ROOT,
        env={**os.environ, **ENV, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()
    assert len(receiver.seen) == 1
    with duckdb.connect(str(database)) as restarted:
        report = _deliver(restarted, config, T0 + LATER)
        assert (report.delivered, report.recovered) == (1, 1)
    assert receiver.seen_per_key() == {action.action_id: 2} and len(receiver.booked) == 1


def test_a_rollback_waits_for_its_action_in_flight_and_reaches_the_receiver_after_it(
    connection: duckdb.DuckDBPyConnection, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = webhook_config(receiver)
    action = enrolment("p1")
    _queue(connection, config, action)
    _crash_after_the_call(monkeypatch, {1})
    with pytest.raises(Crash):
        _deliver(connection, config, T0)
    monkeypatch.undo()
    _queue(connection, config, inverse_of(action))  # the action is still `sending`
    assert _deliver(connection, config, T0).attempts == 0
    assert _deliver(connection, config, T0 + LATER).delivered == 2
    assert [seen.body["event"] for seen in receiver.seen] == ["action", "action", "rollback"]


def test_the_breaker_opens_after_its_threshold_skips_without_using_attempts_and_closes_after_a_probe(
    connection: duckdb.DuckDBPyConnection, receiver: Receiver
) -> None:
    config = webhook_config(receiver, breaker={"failure_threshold": 3, "cooldown_seconds": 60}, max_attempts=10)
    receiver.default = FAIL
    actions = [enrolment(f"p{n}") for n in range(5)]
    _queue(connection, config, *actions)
    report = _deliver(connection, config, T0)
    assert (report.retrying, report.skipped_open_breaker, len(receiver.seen)) == (3, 2, 3)
    (breaker,) = list_breakers(connection)
    assert (breaker.state, breaker.consecutive_failures, breaker.open_until) == (
        BreakerState.OPEN,
        3,
        T0 + timedelta(seconds=60),
    )
    assert sorted(_row(connection, action.action_id)["attempts"] for action in actions) == [0, 0, 1, 1, 1]

    report = _deliver(connection, config, T0 + timedelta(seconds=59))
    assert (report.attempts, report.skipped_open_breaker, len(receiver.seen)) == (0, 5, 3)

    report = _deliver(connection, config, T0 + timedelta(seconds=60))  # half-open: one probe, which fails
    assert (report.retrying, len(receiver.seen)) == (1, 4)
    assert list_breakers(connection)[0].open_until == T0 + timedelta(seconds=120)

    receiver.default = OK
    report = _deliver(connection, config, T0 + timedelta(seconds=120))  # the probe succeeds: closed again
    assert (report.delivered, report.skipped_open_breaker) == (5, 0)
    assert list_breakers(connection)[0] == Breaker(breaker.endpoint)
    assert len(receiver.booked) == 5


def test_the_breaker_is_shared_by_separate_runs(database: Path, receiver: Receiver) -> None:
    config = webhook_config(receiver, breaker={"failure_threshold": 1, "cooldown_seconds": 7200})
    receiver.default = FAIL
    with duckdb.connect(str(database)) as first_run:
        _queue(first_run, config, enrolment("p1"), enrolment("p2"))
        assert _deliver(first_run, config, T0).skipped_open_breaker == 1
    with duckdb.connect(str(database)) as second_run:
        assert _deliver(second_run, config, T0 + LATER / 2).skipped_open_breaker == 2
    assert len(receiver.seen) == 1


def test_after_max_attempts_a_dead_letter_keeps_the_last_error_and_a_retry_sends_it_again(
    connection: duckdb.DuckDBPyConnection, receiver: Receiver
) -> None:
    config = webhook_config(receiver, max_attempts=3)
    receiver.default = FAIL
    action = enrolment("p1")
    _queue(connection, config, action)
    reports = [_deliver(connection, config, T0 + n * LATER) for n in range(4)]
    assert [(report.retrying, report.dead_lettered) for report in reports] == [(1, 0), (1, 0), (0, 1), (0, 0)]
    assert connection.execute(
        f"select attempts, last_error, times_dead_lettered from {DEAD_LETTERS_TABLE}"
    ).fetchone() == (3, 'HTTP 503: {"error": "[/red] receiver unavailable"}', 1)

    receiver.default = OK
    assert retry_dead_letters(connection, None, by="ops", now=T0 + 5 * LATER) == [action.action_id]
    assert _deliver(connection, config, T0 + 5 * LATER).delivered == 1
    assert _row(connection, action.action_id)["status"] == "delivered"
    assert len(receiver.seen) == 4 and len(receiver.booked) == 1


def test_a_refusal_dead_letters_at_once_and_leaves_the_breaker_closed(
    connection: duckdb.DuckDBPyConnection, receiver: Receiver
) -> None:
    config = webhook_config(receiver, breaker={"failure_threshold": 1, "cooldown_seconds": 60})
    receiver.script = [REJECT]
    _queue(connection, config, enrolment("p1"), enrolment("p2"))
    report = _deliver(connection, config, T0)
    assert (report.dead_lettered, report.delivered) == (1, 1)
    assert list_breakers(connection)[0].state is BreakerState.CLOSED


def test_a_rolled_back_dead_letter_is_never_retried(connection: duckdb.DuckDBPyConnection, receiver: Receiver) -> None:
    config = webhook_config(receiver, max_attempts=1)
    receiver.script = [FAIL]
    action = enrolment("p1")
    _queue(connection, config, action)
    assert _deliver(connection, config, T0).dead_lettered == 1
    _queue(connection, config, inverse_of(action))
    with pytest.raises(RetryRefused, match="rolled back"):
        retry_dead_letters(connection, [action.action_id], by="ops", now=T0)
    assert retry_dead_letters(connection, None, by="ops", now=T0) == []
    assert _deliver(connection, config, T0).delivered == 1  # the inverse: the failed attempt may have landed
    assert [seen.body["event"] for seen in receiver.seen] == ["action", "rollback"]


def test_a_campaign_against_a_flaky_receiver_books_every_action_exactly_once(
    connection: duckdb.DuckDBPyConnection, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """40 actions; the receiver fails a quarter of the requests and answers a few too late; the dispatcher
    crashes twice between a call and its commit. Figures printed for the note (`pytest -s`)."""
    config = webhook_config(
        receiver, timeout_seconds=0.3, max_attempts=20, breaker={"failure_threshold": 4, "cooldown_seconds": 60}
    )
    chance = random.Random(2025)
    receiver.script = [chance.choices([OK, FAIL, LATE], weights=[71, 25, 4])[0] for _ in range(400)]
    actions = [enrolment(f"p{n}") for n in range(40)]
    _queue(connection, config, *actions)
    _crash_after_the_call(monkeypatch, {7, 23})
    now, rounds, crashes = T0, 0, 0
    while connection.execute(f"select count(*) from {OUTBOX_TABLE} where status <> 'delivered'").fetchone()[0]:
        rounds += 1
        assert rounds < 100
        try:
            _deliver(connection, config, now)
        except Crash:
            crashes += 1
        now += timedelta(minutes=10)
    receiver.settle()
    assert sorted(receiver.booked) == sorted(action.action_id for action in actions)
    assert crashes == 2 and not connection.execute(f"from {DEAD_LETTERS_TABLE}").fetchall()
    attempts = connection.execute(f"select sum(attempts) from {OUTBOX_TABLE}").fetchone()[0]
    assert attempts == len(receiver.seen)  # every attempt reached the receiver, and was counted before it left
    late = sum(seen.behaviour == LATE for seen in receiver.seen)
    failed = sum(seen.behaviour == FAIL for seen in receiver.seen)
    print(
        f"\nwebhook campaign: {len(actions)} actions in {rounds} dispatch rounds, {attempts} attempts; "
        f"receiver saw {len(receiver.seen)} requests ({failed} answered 503, {late} answered after the timeout, "
        f"{receiver.replayed} replays of a booked key answered `duplicate`), booked {len(receiver.booked)} once each"
    )
