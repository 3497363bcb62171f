"""The governor's correctness under attack (issue 11, findings 1-3 and 11), each reproduced on a real DuckDB file:
a proposal that names itself a rollback, money that is not a finite number, two executions or rollbacks of one
action at once (threads on one database, and processes on one file), required checks and quiet hours re-judged
at execution, and a conflict-retried execution that leaves one trace per committed attempt."""

from __future__ import annotations

import json
import math
import multiprocessing
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from agents.actions import ProposedAction
from agents.adapters.sandbox import ExecutionOutcome, SandboxAdsAdapter, sandbox_adapters
from agents.config import AgentRegistry, PolicySet, load_agent_registry, load_policies
from agents.governance.governor import Governor
from agents.governance.policy import Verdict
from agents.governance.rollbacks import RollbackResult
from agents.governance.session import GovernanceError
from agents.governance.store import LedgerError, book_spend, load_action, load_actions
from agents.orchestrator import follow_handoffs
from dagster_project.core.check_results import CheckOutcome, record_check_result
from tests.signing import Reviewers, signed_config

NOW = datetime(2026, 11, 25, 10, 0)
"""11:00 in Berlin: outside quiet hours."""
ADS = "account_ads_agent"
SDR = "sdr_sequence_agent"
HUMAN = "dana.reyes"
REVIEWER = {ADS: "priya.natarajan", SDR: "sam.okafor"}
CAMPAIGN = "cmp_linkedin_01"
ROUNDS = 4
PEOPLE = [(f"per_{index}", f"person{index}@example.com") for index in range(ROUNDS)]
ACCOUNTS = [(f"acc_{index}", 2, "saas") for index in range(12)] + [("acc_health", 2, "healthcare")]


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Reviewers]:
    """The shipped config with a key pair per reviewer, and the ads agent graduated to phase 3 by its owner (so
    boosts up to the approval threshold execute at once)."""
    directory = tmp_path_factory.mktemp("config")
    reviewers = signed_config(directory)
    document = yaml.safe_load((directory / "agents.yaml").read_text())
    graduated_on = (NOW - timedelta(days=30)).date()
    next(agent for agent in document["agents"] if agent["id"] == ADS)["rollout"].update(
        graduated_to_phase=3,
        graduated_by=REVIEWER[ADS],
        graduated_on=graduated_on,
        graduation_signature=reviewers.graduation(ADS, 3, REVIEWER[ADS], graduated_on),
    )
    (directory / "agents.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    return directory, reviewers


@pytest.fixture(scope="module")
def registry(config_dir: tuple[Path, Reviewers]) -> AgentRegistry:
    return load_agent_registry(config_dir[0])


@pytest.fixture(scope="module")
def policies(config_dir: tuple[Path, Reviewers]) -> PolicySet:
    return load_policies(config_dir[0])


@pytest.fixture(scope="module")
def keys(config_dir: tuple[Path, Reviewers]) -> Reviewers:
    return config_dir[1]


# Every human decision in this file goes through these helpers, so a change to how decisions are signed is made
# in one place.


def _approve(governor: Governor, keys: Reviewers, action_id: str, reviewer: str, now: datetime) -> None:
    signature = keys.approval(governor.connection, action_id, reviewer, "integrity test", now)
    governor.approve(action_id, reviewer, "integrity test", now, signature=signature)


def _rollback(governor: Governor, keys: Reviewers, action_id: str, now: datetime = NOW) -> RollbackResult:
    signature = keys.rollback(governor.connection, action_id, HUMAN, "integrity test", now)
    return governor.rollback(action_id, by=HUMAN, reason="integrity test", now=now, signature=signature)


def _switch(governor: Governor, keys: Reviewers, agent_id: str, *, pause: bool, now: datetime = NOW) -> None:
    signature = keys.switch(pause, agent_id, HUMAN, "integrity test", now)
    switch = governor.pause if pause else governor.resume
    switch(agent_id, by=HUMAN, reason="integrity test", now=now, signature=signature)


def build_warehouse(connection: duckdb.DuckDBPyConnection) -> None:
    """The marts the governor reads, and passing results for every check the agents require."""
    connection.execute("create schema marts")
    connection.execute(
        """
        create table marts.dim_person (
            person_id varchar, email varchar, consent_status varchar, has_unsubscribed boolean,
            has_bounced boolean, unsubscribe_events bigint, complaint_events bigint, seniority varchar,
            job_title varchar, timezone varchar
        )
        """
    )
    connection.executemany(
        "insert into marts.dim_person values (?, ?, 'opted_in', false, false, 0, 0, 'manager', 'Ops Manager', "
        "'Europe/Berlin')",
        PEOPLE,
    )
    connection.execute("create table marts.dim_account (account_id varchar, tier integer, industry varchar)")
    connection.executemany("insert into marts.dim_account values (?, ?, ?)", ACCOUNTS)
    for check_name in ("dim_person_expectations", "dim_person_freshness"):
        record_check(connection, check_name, passed=True, at=NOW - timedelta(hours=1))


def record_check(connection: duckdb.DuckDBPyConnection, check_name: str, *, passed: bool, at: datetime) -> None:
    failures = () if passed else ("email is not unique",)
    record_check_result(connection, CheckOutcome(check_name, "marts/dim_person", passed, at, failures, "test-run"))


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as connection:
        build_warehouse(connection)
    return path


@pytest.fixture
def connection(database: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect(str(database)) as opened:
        yield opened


def boost(account: str, amount: float, trigger: str = "h1", **overrides: Any) -> ProposedAction:
    values: dict[str, Any] = {
        "agent_id": ADS,
        "action_type": "adjust_campaign_budget",
        "channel": "linkedin",
        "person_id": None,
        "account_id": account,
        "payload": {"daily_budget_change": amount},
        "reasoning": "integrity test",
        "inputs": {},
        "inverse": {"action_type": "revert_campaign_budget"},
        "trigger_key": f"handoff:{trigger}",
        "campaign_id": CAMPAIGN,
        "spend": amount,
    }
    values.update(overrides)
    return ProposedAction(**values)


def enrol(account: str = "acc_health", trigger: str = "s1", **overrides: Any) -> ProposedAction:
    values: dict[str, Any] = {
        "agent_id": SDR,
        "action_type": "enrol_in_sequence",
        "channel": "sales_engagement",
        "person_id": "per_0",
        "account_id": account,
        "payload": {"sequence_id": "evaluation-guide", "send_at_local_hour": 10},
        "reasoning": "integrity test",
        "inputs": {},
        "inverse": {"action_type": "remove_from_sequence"},
        "trigger_key": f"surge:{trigger}",
    }
    values.update(overrides)
    return ProposedAction(**values)


def ledger(connection: duckdb.DuckDBPyConnection) -> list[tuple[str, float]]:
    return connection.execute("select action_id, amount from governance.budget_ledger order by entry_id").fetchall()


def status(connection: duckdb.DuckDBPyConnection, action_id: str) -> str:
    stored = load_action(connection, action_id)
    assert stored is not None
    return stored.status.value


def audited_outcomes(connection: duckdb.DuckDBPyConnection, action_id: str, rule_id: str) -> list[str]:
    """The outcome of every audit entry about the action whose recorded policy rules name `rule_id`."""
    rows = connection.execute(
        "select outcome, policy_rules from audit.audit_log where action_id = ? and policy_rules is not null",
        [action_id],
    ).fetchall()
    return [outcome for outcome, rules in rows if rule_id in {rule["rule_id"] for rule in json.loads(rules)}]


def ten_boosts_of_700(governor: Governor) -> list[str]:
    """The issue's probe: ten boosts of 700 on a campaign capped at 2,500 a day; returns their outcomes."""
    records = governor.submit([boost(f"acc_{index}", 700.0, trigger=f"probe{index}") for index in range(10)], NOW)
    return [record.outcome for record in records]


# --- finding 1: a proposal that labels itself a rollback --------------------------------------------------------


def test_a_forged_rollback_is_denied_audited_and_lifts_no_cap(connection, registry, policies, keys) -> None:
    governor = Governor(connection, registry, policies, "run-forged")
    _switch(governor, keys, ADS, pause=True)
    forged = boost("acc_0", -50_000.0, action_type="revert_campaign_budget", rollback_of="f" * 32)

    (record,) = governor.submit([forged], NOW)

    assert record.decision is not None and record.decision.verdict is Verdict.DENIED
    assert "scope.rollback_forged" in {rule.rule_id for rule in record.decision.fired}
    assert status(connection, forged.action_id) == "denied"
    assert audited_outcomes(connection, forged.action_id, "scope.rollback_forged") == ["denied"]
    assert ledger(connection) == []
    _switch(governor, keys, ADS, pause=False, now=NOW + timedelta(minutes=1))
    assert ten_boosts_of_700(governor).count("executed") == 3


def test_a_forged_rollback_of_a_real_action_is_denied_and_the_real_rollback_still_works(
    connection, registry, policies, keys
) -> None:
    governor = Governor(connection, registry, policies, "run-real")
    original = boost("acc_0", 700.0)
    assert governor.submit([original], NOW)[0].outcome == "executed"
    forged = boost(
        "acc_0",
        -700.0,
        action_type="revert_campaign_budget",
        rollback_of=original.action_id,
        trigger_key=f"rollback:{original.action_id}",
    )

    (record,) = governor.submit([forged], NOW)
    result = _rollback(governor, keys, original.action_id)

    assert record.outcome == "denied"
    assert result.restored
    assert ledger(connection) == [(original.action_id, 700.0), (result.rollback_action_id, -700.0)]
    with pytest.raises(GovernanceError, match="only executed actions roll back"):
        _rollback(governor, keys, original.action_id)


def test_the_ledger_books_a_release_only_as_the_exact_reversal_of_a_booking(connection, registry, policies) -> None:
    Governor(connection, registry, policies, "run-ledger")
    original = boost("acc_0", 700.0)
    book_spend(connection, original, NOW)

    for spend, rollback_of in ((-700.01, original.action_id), (-50_000.0, "f" * 32), (-700.0, None)):
        release = boost("acc_0", spend, action_type="revert_campaign_budget", rollback_of=rollback_of)
        with pytest.raises(LedgerError):
            book_spend(connection, release, NOW)
    exact = boost("acc_0", -700.0, action_type="revert_campaign_budget", rollback_of=original.action_id)
    book_spend(connection, exact, NOW)
    with pytest.raises(LedgerError, match="booked already"):
        book_spend(connection, exact, NOW)
    assert [amount for _, amount in ledger(connection)] == [700.0, -700.0]


# --- finding 2: money that is not a finite number ------------------------------------------------------------


@pytest.mark.parametrize("spend", [math.nan, math.inf, -math.inf, -700.0])
def test_money_that_is_not_finite_and_non_negative_is_denied_and_caps_still_hold(
    connection, registry, policies, spend
) -> None:
    governor = Governor(connection, registry, policies, "run-nan")

    (record,) = governor.submit([boost("acc_11", spend)], NOW)

    assert record.decision is not None and record.decision.verdict is Verdict.DENIED
    assert "budget.invalid_amount" in {rule.rule_id for rule in record.decision.fired}
    assert ledger(connection) == []
    assert ten_boosts_of_700(governor).count("executed") == 3
    (total,) = connection.execute("select sum(amount) from governance.budget_ledger").fetchone()
    assert total == 2100.0


@pytest.mark.parametrize("spend", [math.nan, math.inf, -math.inf])
def test_the_ledger_refuses_a_non_finite_amount(connection, registry, policies, spend) -> None:
    Governor(connection, registry, policies, "run-ledger")

    with pytest.raises(LedgerError, match="not a finite amount"):
        book_spend(connection, boost("acc_0", spend), NOW)
    with pytest.raises(duckdb.ConstraintException):
        connection.execute(
            "insert into governance.budget_ledger (action_id, agent_id, campaign_id, channel, account_id, amount, "
            "booked_at) values ('x', ?, ?, 'linkedin', 'acc_0', ?, ?)",
            [ADS, CAMPAIGN, spend, NOW],
        )


# --- finding 3: two executions or rollbacks of one action at once --------------------------------------------


def _together(workers: list[Any]) -> list[Any]:
    """Run each callable in its own thread, released at once; returns what each returned or raised."""
    barrier = threading.Barrier(len(workers))
    results: list[Any] = [None] * len(workers)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = workers[index]()
        except BaseException as error:  # returned to the test, not swallowed
            results[index] = error

    threads = [threading.Thread(target=run, args=(index,), daemon=True) for index in range(len(workers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a thread is stuck"
    return results


def _queue_approved(governor: Governor, keys: Reviewers, actions: list[ProposedAction], now: datetime = NOW) -> None:
    for record in governor.submit(actions, now):
        assert record.outcome == "pending_approval", record.decision.summary() if record.decision else record
        _approve(governor, keys, record.action.action_id, REVIEWER[record.action.agent_id], now)


def test_concurrent_executions_of_approvals_book_and_execute_each_once(connection, registry, policies, keys) -> None:
    # Boosts above the 750 threshold and a regulated account's enrolment wait for a reviewer; three governors on
    # their own cursors then execute the approved queue at the same moment, over several rounds (a day apart, so
    # the campaign's daily cap has room; a person apart, so the frequency cap does).
    cursors = [connection.cursor() for _ in range(3)]
    governors = [Governor(cursor, registry, policies, f"run-{index}") for index, cursor in enumerate(cursors)]
    for round_ in range(ROUNDS):
        now = NOW + timedelta(days=round_)
        boosts = [boost(f"acc_{round_ * 3 + index}", 760.0, trigger=f"r{round_}") for index in range(3)]
        enrolment = enrol(trigger=f"r{round_}", person_id=f"per_{round_}")
        _queue_approved(governors[0], keys, [*boosts, enrolment], now)
        before = {b.action_id: b for b in boosts}

        results = _together([lambda g=g, now=now: g.execute_approved(now) for g in governors])

        assert not any(isinstance(result, BaseException) for result in results), results
        executed = [r.action.action_id for result in results for r in result if r.outcome == "executed"]
        assert sorted(executed) == sorted([*before, enrolment.action_id])
        assert status(connection, enrolment.action_id) == "executed"
        for action_id in before:
            assert [row for row in ledger(connection) if row[0] == action_id] == [(action_id, 760.0)]
            stored = load_action(connection, action_id)
            assert stored is not None and stored.state_before == {
                "budget_change_active": False,
                "creative_live": False,
            }
        assert _rollback(governors[1], keys, enrolment.action_id, now).restored
    result = _rollback(governors[2], keys, boosts[0].action_id, NOW + timedelta(days=ROUNDS))
    assert result.restored, result.detail


def test_concurrent_rollbacks_of_one_action_undo_it_once(connection, registry, policies, keys) -> None:
    cursors = [connection.cursor() for _ in range(3)]
    governors = [Governor(cursor, registry, policies, f"run-{index}") for index, cursor in enumerate(cursors)]
    originals = [boost(f"acc_{index}", 500.0, trigger="rb") for index in range(3)]
    assert [record.outcome for record in governors[0].submit(originals, NOW)] == ["executed"] * 3

    for original in originals:
        action_id = original.action_id
        results = _together([lambda g=g, a=action_id: _rollback(g, keys, a) for g in governors])

        succeeded = [result for result in results if not isinstance(result, BaseException)]
        refused = [result for result in results if isinstance(result, BaseException)]
        assert len(succeeded) == 1 and succeeded[0].restored
        assert all(isinstance(error, GovernanceError) for error in refused), refused
        assert status(connection, original.action_id) == "rolled_back"
        released = [amount for action_id, amount in ledger(connection) if action_id == succeeded[0].rollback_action_id]
        assert released == [-500.0]
    (total,) = connection.execute("select sum(amount) from governance.budget_ledger").fetchone()
    assert total == 0.0


def _execute_in_process(
    database: str, registry: AgentRegistry, policies: PolicySet, run_id: str, start: Any, locked_out: Any, results: Any
) -> None:
    """One process: wait for the file (DuckDB lets one process open it read-write; another one's attempt fails
    at once), execute the approved queue, close. Reports how often the file was locked and what it executed."""
    start.wait()
    locked = 0
    deadline = time.monotonic() + 60
    while True:
        try:
            connection = duckdb.connect(database)
            break
        except duckdb.IOException as error:
            assert "lock" in str(error).lower(), error
            locked += 1
            locked_out.set()
            if time.monotonic() > deadline:
                results.put((run_id, locked, None))
                return
            time.sleep(0.01)
    try:
        records = Governor(connection, registry, policies, run_id).execute_approved(NOW)
        results.put((run_id, locked, [(r.action.action_id, r.outcome) for r in records]))
    finally:
        connection.close()


def test_processes_on_one_file_fail_cleanly_or_wait_and_never_book_twice(database, registry, policies, keys) -> None:
    approvals = [boost(f"acc_{index}", 760.0, trigger="proc") for index in range(3)]
    with duckdb.connect(str(database)) as connection:
        _queue_approved(Governor(connection, registry, policies, "run-queue"), keys, approvals)
        # While this process holds the file, another cannot open it: it fails at once, having written nothing.
        context = multiprocessing.get_context("spawn")
        start, locked_out, results = context.Event(), context.Event(), context.Queue()
        start.set()
        blocked = context.Process(
            target=_execute_in_process,
            args=(str(database), registry, policies, "run-blocked", start, locked_out, results),
        )
        blocked.start()
        assert locked_out.wait(timeout=120), "the second process was never locked out"
        assert ledger(connection) == []
    start.clear()
    unused = [context.Event() for _ in range(2)]  # held here: a semaphore collected before a child starts is gone
    racers = [
        context.Process(
            target=_execute_in_process,
            args=(str(database), registry, policies, f"run-p{index}", start, unused[index], results),
        )
        for index in range(2)
    ]
    for process in racers:
        process.start()
    start.set()
    for process in [blocked, *racers]:
        process.join(timeout=120)
        assert process.exitcode == 0
    reports = [results.get(timeout=5) for _ in range(3)]

    blocked_report = next(report for report in reports if report[0] == "run-blocked")
    assert blocked_report[1] > 0, "the process started while the file was held was not locked out"
    assert all(report[2] is not None for report in reports), reports
    executed = [action_id for *_, records in reports for action_id, outcome in records if outcome == "executed"]
    assert sorted(executed) == sorted(action.action_id for action in approvals)
    with duckdb.connect(str(database)) as connection:
        booked = ledger(connection)
        assert sorted(booked) == sorted((action.action_id, 760.0) for action in approvals)


# --- finding 11: required checks and quiet hours at execution, adapters inside the transaction ----------------


def test_an_approved_action_is_escalated_if_a_required_check_fails_before_it_executes(
    connection, registry, policies, keys
) -> None:
    governor = Governor(connection, registry, policies, "run-gates")
    enrolment = enrol()
    _queue_approved(governor, keys, [enrolment])
    record_check(connection, "dim_person_expectations", passed=False, at=NOW)

    (record,) = governor.execute_approved(NOW + timedelta(minutes=5))

    assert record.outcome == "escalated"
    assert record.decision is not None
    assert [rule.rule_id for rule in record.decision.fired] == ["data_checks.required"]
    assert status(connection, enrolment.action_id) == "escalated"
    assert connection.execute("select count(*) from channel_sandbox.sequence_enrolments").fetchone() == (0,)
    assert connection.execute(
        "select escalated_to from governance.escalations where action_id = ?", [enrolment.action_id]
    ).fetchall() == [("dana.reyes",)]


def test_a_failing_required_check_stops_an_allowed_action_at_submit_too(connection, registry, policies) -> None:
    """The orchestrator asks the gates before an agent proposes; the governor asks again, for any caller."""
    record_check(connection, "dim_person_expectations", passed=False, at=NOW)
    boosted, enrolled = Governor(connection, registry, policies, "run-gated").submit(
        [boost("acc_0", 100.0, trigger="gated"), enrol(account="acc_0", trigger="gated")], NOW + timedelta(minutes=5)
    )

    assert (boosted.outcome, enrolled.outcome) == ("escalated", "escalated")
    assert ledger(connection) == []
    assert connection.execute("select count(*) from channel_sandbox.sequence_enrolments").fetchone() == (0,)


def test_quiet_hours_are_judged_on_the_governors_schedule_again_at_execution(
    connection, registry, policies, keys
) -> None:
    """The governor reads the contact's send hour from the send-time model itself: an agent naming another hour
    is denied, and an approved enrolment whose contact's hour moved into the night since is denied when it
    would execute."""
    connection.execute("create schema ml")
    connection.execute("create table ml.send_time_recommendations (person_id varchar, recommended_local_hour integer)")
    connection.execute("insert into ml.send_time_recommendations values ('per_0', 9)")
    governor = Governor(connection, registry, policies, "run-quiet")
    forged = enrol(
        account="acc_0", trigger="night", payload={"sequence_id": "evaluation-guide", "send_at_local_hour": 3}
    )
    (denied,) = governor.submit([forged], NOW)
    assert denied.outcome == "denied"
    assert "the agent scheduled 3, but the governor's schedule for this contact is 09:00" in (
        denied.decision.fired[0].reason if denied.decision else ""
    )
    enrolment = enrol(trigger="late", payload={"sequence_id": "evaluation-guide", "send_at_local_hour": 9})
    _queue_approved(governor, keys, [enrolment])
    connection.execute("update ml.send_time_recommendations set recommended_local_hour = 22")

    (record,) = governor.execute_approved(NOW)

    assert record.outcome == "denied"
    assert record.decision is not None
    assert [rule.rule_id for rule in record.decision.fired] == ["quiet_hours"]
    assert "the governor's schedule for this contact is 22:00" in record.decision.fired[0].reason


class CountingAdsAdapter(SandboxAdsAdapter):
    """The sandbox ads adapter, counting calls; on its first call a concurrent writer takes the audit chain's
    head and commits, so the governor's transaction loses the conflict at its audit append and runs again."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, rival: Governor) -> None:
        super().__init__(connection)
        self.calls = 0
        self._rival = rival

    def execute(self, action: ProposedAction, now: datetime) -> ExecutionOutcome:
        self.calls += 1
        outcome = super().execute(action, now)
        if self.calls == 1:
            self._rival.audit("agent_run_blocked", None, now, agent_id=ADS, reasoning="a concurrent writer")
        return outcome


def test_a_conflict_retried_execution_leaves_one_effect_per_committed_attempt(connection, registry, policies) -> None:
    rival = Governor(connection.cursor(), registry, policies, "run-rival")
    cursor = connection.cursor()
    adapter = CountingAdsAdapter(cursor, rival)
    governor = Governor(
        cursor, registry, policies, "run-retried", adapters={**sandbox_adapters(cursor), "linkedin": adapter}
    )
    action = boost("acc_0", 500.0)

    (record,) = governor.submit([action], NOW)

    assert record.outcome == "executed"
    assert adapter.calls == 2, "the first attempt should have lost its conflict and been retried"
    assert connection.execute(
        "select count(*) from channel_sandbox.ad_budget_changes where idempotency_key = ?", [action.action_id]
    ).fetchone() == (1,)
    assert connection.execute("select daily_budget from channel_sandbox.ad_campaigns").fetchone() == (1000.0,)
    assert ledger(connection) == [(action.action_id, 500.0)]


# --- a run that dies between an executed handoff and the receiving agent's proposals ---------------------------
# The crash campaign found the ads agent's actions lost: the retried surge saw the handoff as already executed
# and woke nobody.


def surge_handoff() -> ProposedAction:
    return ProposedAction(
        agent_id="sdr_sequence_agent",
        action_type="handoff_to_agent",
        channel="internal",
        person_id=None,
        account_id="acc_0",
        payload={
            "account_name": "Acme",
            "industry": "saas",
            "tier": 1,
            "engaged_contacts": 4,
            "surge_window": ["2026-11-17", "2026-11-25"],
            "account_intent": None,
        },
        reasoning="surging",
        inputs={},
        inverse={"action_type": "cancel_handoff"},
        trigger_key="surge:acc_0:2026-11-25",
        handoff_to="account_ads_agent",
    )


def test_a_handoff_executed_by_a_run_that_died_still_wakes_the_receiving_agent(connection, registry, policies) -> None:
    (executed,) = Governor(connection, registry, policies, "run-killed").submit([surge_handoff()], NOW)
    assert executed.outcome == "executed"
    # The run dies here, before the ads agent proposes; the retried surge submits the handoff again.
    retry = Governor(connection, registry, policies, "run-retry")
    (again,) = retry.submit([surge_handoff()], NOW)
    assert again.outcome == "already_executed"

    woken = follow_handoffs(retry, [again], NOW)
    twice = follow_handoffs(retry, [again], NOW)

    ads = load_actions(connection, "agent_id = ?", ["account_ads_agent"])
    assert {stored.action.action_type for stored in ads} == {"adjust_campaign_budget", "launch_ad_creative"}
    assert len(woken) == 2 and all(record.decision is not None for record in woken)
    assert {record.outcome for record in twice} <= {"already_executed", "already_pending_approval"}
    assert len(ads) == 2
