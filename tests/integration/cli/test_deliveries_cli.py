"""`surgewise deliveries list|retry` as an operator types them, on a real warehouse file whose webhook
deliveries went to a real local receiver that was down."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from click.testing import Result
from typer.testing import CliRunner

from agents.adapters.webhook import WebhookAdapter, deliver_pending, load_webhook_config
from dagster_project.cli.deliveries_commands import deliveries_app
from dagster_project.core.settings import REPO_ROOT
from dagster_project.core.transactions import transaction
from dagster_project.core.warehouse import open_warehouse
from tests.environment import SurgewiseEnv, surgewise_environment
from tests.unit.agents.test_webhook_receiver import (
    CHANNEL,
    FAIL,
    OK,
    SECRET,
    SECRET_ENV,
    Receiver,
    enrolment,
    running_receiver,
    webhook_config,
)

WIDE = {"COLUMNS": "400", SECRET_ENV: SECRET}
T0 = datetime(2025, 1, 6, 9, 0)


def _cli(*args: str) -> Result:
    return CliRunner().invoke(deliveries_app, list(args), env=WIDE)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as receiver:
        yield receiver


@pytest.fixture
def env(tmp_path: Path, receiver: Receiver) -> Iterator[SurgewiseEnv]:
    """The repo's config with the sales-engagement channel sent to the receiver (one attempt, then a dead
    letter), and two enrolments that died against it."""
    config_dir = tmp_path / "config"
    shutil.copytree(REPO_ROOT / "config", config_dir)
    config = webhook_config(receiver, max_attempts=1)
    (config_dir / "webhooks.yaml").write_text(yaml.safe_dump(config.model_dump(mode="json")))
    with surgewise_environment(tmp_path / "data", config_dir) as env:
        env.data_dir.mkdir(parents=True)
        receiver.default = FAIL
        with open_warehouse(env.duckdb_path) as connection:
            adapter = WebhookAdapter(connection, load_webhook_config().endpoints[0])
            for person in ("p1", "p2"):
                with transaction(connection):
                    adapter.execute(enrolment(person), T0)
            assert deliver_pending(connection, T0, environ={SECRET_ENV: SECRET}).dead_lettered == 2
        receiver.default = OK
        yield env


def test_list_shows_dead_letters_with_their_host_and_last_error_as_plain_text(
    env: SurgewiseEnv, receiver: Receiver
) -> None:
    result = _cli("list")
    assert result.exit_code == 0, result.output
    host = receiver.url.split("/")[2]
    assert result.output.count("dead_lettered") >= 2 and host in result.output and CHANNEL in result.output
    assert "[/red] receiver unavailable" in result.output  # the receiver's text, never read as markup
    assert "2 dead_lettered" in result.output and "deliveries retry" in result.output


def test_retry_sends_one_dead_letter_again_by_its_short_id_and_refuses_a_delivered_one(
    env: SurgewiseEnv, receiver: Receiver
) -> None:
    first = enrolment("p1").action_id
    result = _cli("retry", first[:12])
    assert result.exit_code == 0, result.output
    assert "1 dead letter(s) back to pending" in result.output and "1 delivered" in result.output
    assert list(receiver.booked) == [first]

    again = _cli("retry", first)
    assert again.exit_code == 1 and "only dead letters are retried" in again.output
    assert len(receiver.seen) == 3  # two failed attempts, one delivery: the delivered row was not sent again

    rest = _cli("retry", "--all-dead")
    assert rest.exit_code == 0 and "1 delivered" in rest.output
    assert sorted(receiver.booked) == sorted([first, enrolment("p2").action_id])
    listed = _cli("list", "--status", "delivered")
    assert listed.exit_code == 0 and listed.output.count("delivered") >= 2 and "dead_lettered" not in listed.output


def test_retry_needs_ids_or_all_dead_and_names_an_unknown_id(env: SurgewiseEnv) -> None:
    assert _cli("retry").exit_code == 1
    unknown = _cli("retry", "ffffffff")
    assert unknown.exit_code == 1 and "no delivery 'ffffffff'" in unknown.output


def test_list_without_a_warehouse_says_so(tmp_path: Path) -> None:
    with surgewise_environment(tmp_path / "empty"):
        result = _cli("list")
    assert result.exit_code == 1 and "No warehouse" in result.output


def test_the_main_run_first_resends_what_a_crashed_process_left_in_flight(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A delivery the receiver booked but whose answer a crash never recorded is sent again at the next run's
    start with the same key (booked once), and a delivered one is never sent again."""
    from agents.adapters import webhook
    from dagster_project.run.driver import reconcile_deliveries

    config_dir = tmp_path / "config"
    shutil.copytree(REPO_ROOT / "config", config_dir)
    config = webhook_config(receiver)
    (config_dir / "webhooks.yaml").write_text(yaml.safe_dump(config.model_dump(mode="json")))
    monkeypatch.setenv(SECRET_ENV, SECRET)
    warehouse = tmp_path / "warehouse.duckdb"
    action = enrolment("p1")
    with open_warehouse(warehouse) as connection:
        with transaction(connection):
            WebhookAdapter(connection, config.endpoints[0]).execute(action, T0)

        class Crash(BaseException):
            pass

        def crash(*args: object) -> None:
            raise Crash

        monkeypatch.setattr(webhook, "_book", crash)
        with pytest.raises(Crash):
            deliver_pending(connection, T0, config=load_webhook_config(config_dir))
        monkeypatch.undo()
        monkeypatch.setenv(SECRET_ENV, SECRET)

    first = reconcile_deliveries(warehouse, config_dir)
    again = reconcile_deliveries(warehouse, config_dir)

    assert (first.delivered, first.recovered) == (1, 1)
    assert again.attempts == 0
    assert receiver.seen_per_key() == {action.action_id: 2} and list(receiver.booked) == [action.action_id]
