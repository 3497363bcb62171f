"""Rollout phases advance from the review count, and an agent run unlike the agent's past pauses it."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from agents.actions import ProposedAction
from agents.config import AgentRegistry, AnomalyPolicy, RolloutPlan, load_agent_registry, load_policies
from agents.governance.anomaly import RunBehaviour, detect_anomalies
from agents.governance.facts import agent_state, pause_state, rollout_phase, run_history
from agents.governance.governor import Governor
from agents.governance.interventions import ANOMALY_DETECTOR
from dagster_project.core.check_results import CheckOutcome, record_check_result
from dagster_project.core.settings import REPO_ROOT
from tests.signing import signed_config

NOW = datetime(2026, 11, 25, 15, 0)
PLAN = RolloutPlan(started_on=date(2026, 11, 1), review_first_decisions=3, handoff_approval_days=30)


def test_phase_1_lasts_until_the_first_decisions_are_reviewed() -> None:
    reviews = [NOW - timedelta(hours=3), NOW - timedelta(hours=2)]

    assert rollout_phase(PLAN, reviews, NOW).phase == 1
    assert rollout_phase(PLAN, reviews, NOW).note == "2 of the first 3 decisions reviewed"
    third = [*reviews, NOW - timedelta(hours=1)]
    status = rollout_phase(PLAN, third, NOW)
    assert (status.phase, status.reviewed_decisions, status.phase_2_started) == (2, 3, third[-1])
    assert rollout_phase(PLAN, third, third[-1] + timedelta(days=30)).phase == 3


def test_a_signed_graduation_starts_the_agent_later() -> None:
    graduated = PLAN.model_copy(
        update={"graduated_to_phase": 2, "graduated_by": "dana.reyes", "graduated_on": date(2026, 11, 20)}
    )

    assert rollout_phase(graduated, [], NOW).phase == 2
    assert rollout_phase(graduated, [], datetime(2026, 12, 20)).phase == 3


@pytest.fixture
def warehouse(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    connection.execute("create schema marts")
    connection.execute(
        "create table marts.dim_person (person_id varchar, email varchar, consent_status varchar, "
        "has_unsubscribed boolean, has_bounced boolean, unsubscribe_events bigint, complaint_events bigint, "
        "seniority varchar, job_title varchar, timezone varchar)"
    )
    connection.execute(
        "insert into marts.dim_person select 'p' || i, 'p' || i || '@example.com', 'opted_in', false, false, 0, 0, "
        "'manager', 'Manager', 'Europe/Berlin' from range(40) t(i)"
    )
    connection.execute("create table marts.dim_account (account_id varchar, tier integer, industry varchar)")
    connection.execute("insert into marts.dim_account select 'a' || i, 1, 'saas' from range(40) t(i)")
    for check_name in ("dim_person_expectations", "dim_person_freshness"):
        # The agents' required checks vouch for the hand-built marts (the governor re-reads them at submit).
        record_check_result(
            connection, CheckOutcome(check_name, "marts/dim_person", True, NOW - timedelta(days=30), (), "build")
        )
    yield connection
    connection.close()


def _budget_change(account: int, trigger: str) -> ProposedAction:
    return ProposedAction(
        agent_id="account_ads_agent",
        action_type="adjust_campaign_budget",
        channel="linkedin",
        person_id=None,
        account_id=f"a{account}",
        payload={"daily_budget_change": 100.0},
        reasoning="test",
        inputs={},
        inverse={},
        trigger_key=trigger,
        campaign_id="cmp_linkedin_01",
        spend=100.0,
    )


def _graduated(registry: AgentRegistry) -> AgentRegistry:
    """Every agent past its rollout, so its actions execute without review."""
    return registry.model_copy(
        update={
            "agents": tuple(
                agent.model_copy(
                    update={
                        "rollout": agent.rollout.model_copy(
                            update={
                                "graduated_to_phase": 3,
                                "graduated_by": "priya.natarajan",
                                "graduated_on": date(2026, 1, 1),
                            }
                        )
                    }
                )
                for agent in registry.agents
            )
        }
    )


def test_reviewing_the_first_decisions_moves_the_ads_agent_to_phase_2(
    warehouse: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    reviewers = signed_config(config)
    agents_file = config / "agents.yaml"
    agents_file.write_text(
        agents_file.read_text().replace(
            "review_first_decisions: 50\n      handoff_approval_days: 30\n      checkpoints: [launch_ad_creative]",
            "review_first_decisions: 2\n      handoff_approval_days: 30\n      checkpoints: [launch_ad_creative]",
        )
    )
    registry, policies = load_agent_registry(config), load_policies(config)
    governor = Governor(warehouse, registry, policies, "run-1")
    ads = registry.get("account_ads_agent")

    first = governor.submit([_budget_change(0, "t0"), _budget_change(1, "t1")], NOW)
    assert [record.outcome for record in first] == ["pending_approval", "pending_approval"]
    assert all("rollout.phase_1" in {r.rule_id for r in record.decision.fired} for record in first)
    approved, rejected = first[0].action.action_id, first[1].action.action_id
    approval = reviewers.approval(warehouse, approved, "priya.natarajan", "ok", NOW)
    governor.approve(approved, "priya.natarajan", "ok", NOW, signature=approval)
    assert agent_state(warehouse, ads, NOW)[0].phase == 1
    rejection = reviewers.rejection(warehouse, rejected, "dana.reyes", "not this one", NOW)
    governor.reject(rejected, "dana.reyes", "not this one", NOW, signature=rejection)

    state, rollout = agent_state(warehouse, ads, NOW)
    assert (state.phase, rollout.reviewed_decisions) == (2, 2)
    (after,) = governor.submit([_budget_change(2, "t2")], NOW)
    assert after.outcome == "executed", after.decision.summary()


def test_a_run_far_larger_than_usual_pauses_the_agent_and_escalates_to_its_owner(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    registry, policies = _graduated(load_agent_registry(REPO_ROOT / "config")), load_policies(REPO_ROOT / "config")
    for run in range(6):
        Governor(warehouse, registry, policies, f"usual-{run}").submit(
            [_budget_change(run, f"usual-{run}")], NOW - timedelta(days=6 - run)
        )
    assert not pause_state(warehouse, "account_ads_agent").paused

    burst = [_budget_change(account, f"burst-{account}") for account in range(10, 30)]
    records = Governor(warehouse, registry, policies, "burst").submit(burst, NOW)

    pause = pause_state(warehouse, "account_ads_agent")
    assert pause.paused and pause.changed_by == ANOMALY_DETECTOR
    assert "20 actions in one run" in pause.reason and "committed in one run" in pause.reason
    assert {record.outcome for record in records} == {"denied"}
    assert all("kill_switch" in {r.rule_id for r in record.decision.fired} for record in records)
    ((owner, reason),) = warehouse.execute(
        "select escalated_to, reason from governance.escalations where action_id is null"
    ).fetchall()
    assert owner == "priya.natarajan" and reason.startswith("anomaly:")
    events = [row[0] for row in warehouse.execute("select event from audit.audit_log order by seq").fetchall()]
    assert "anomaly_detected" in events and "agent_paused" in events

    # While paused, every run is all kill-switch denials: the pause's effect, judged neither as a new anomaly
    # nor, after a resume, as the agent's usual behaviour.
    again = [_budget_change(account, f"again-{account}") for account in range(10, 30)]
    Governor(warehouse, registry, policies, "while-paused").submit(again, NOW + timedelta(hours=1))
    assert warehouse.execute("select count(*) from governance.escalations").fetchone() == (1,)
    history = run_history(warehouse, "account_ads_agent", current_run_id="next")
    assert [run.actions for run in history] == [1] * 6


def _enrolment(person: int, trigger: str) -> ProposedAction:
    return ProposedAction(
        agent_id="sdr_sequence_agent",
        action_type="enrol_in_sequence",
        channel="sales_engagement",
        person_id=f"p{person}",
        account_id=f"a{person}",
        payload={"sequence_id": "evaluation-guide", "send_at_local_hour": 10},
        reasoning="test",
        inputs={},
        inverse={"action_type": "remove_from_sequence"},
        trigger_key=trigger,
    )


def test_one_ordinary_run_of_five_with_four_denied_does_not_pause_the_agent(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    """The reproduction of finding 10: six runs of five enrolments, one of them to an unsubscribed contact
    each time; then a run of five with four unsubscribed. Before, a denial rate 60 points over the usual
    paused the SDR agent for everyone; five actions are too few to judge."""
    warehouse.execute("update marts.dim_person set has_unsubscribed = true where cast(person_id[2:] as integer) >= 30")
    registry, policies = _graduated(load_agent_registry(REPO_ROOT / "config")), load_policies(REPO_ROOT / "config")
    allowed, unsubscribed = iter(range(30)), iter(range(30, 40))
    for run in range(6):
        people = [next(allowed) for _ in range(4)] + [next(unsubscribed)]
        records = Governor(warehouse, registry, policies, f"usual-{run}").submit(
            [_enrolment(person, f"usual-{run}-{person}") for person in people], NOW - timedelta(days=6 - run)
        )
        assert [record.outcome for record in records].count("denied") == 1

    people = [next(allowed)] + [next(unsubscribed) for _ in range(4)]
    records = Governor(warehouse, registry, policies, "bad-afternoon").submit(
        [_enrolment(person, f"bad-{person}") for person in people], NOW
    )

    assert [record.outcome for record in records].count("denied") == 4
    assert not pause_state(warehouse, "sdr_sequence_agent").paused
    events = {row[0] for row in warehouse.execute("select event from audit.audit_log").fetchall()}
    assert "anomaly_detected" not in events


def test_anomalies_need_a_baseline_and_look_at_every_behaviour() -> None:
    policy = AnomalyPolicy(min_baseline_runs=3)
    usual = [RunBehaviour(actions=20, spend=1000.0, denied=2, channels={"linkedin": 20})] * 3
    runaway = RunBehaviour(200, 20_000.0, 160, {"email": 200})

    assert detect_anomalies(runaway, usual[:2], policy) == []
    assert detect_anomalies(RunBehaviour(20, 1000.0, 2, {"linkedin": 20}), usual, policy) == []
    findings = {f.metric for f in detect_anomalies(runaway, usual, policy)}
    assert findings == {"action_volume", "spend_rate", "denial_rate", "channel_mix"}


def _ghost_enrolment(index: int, run: str) -> ProposedAction:
    """An enrolment of a person not in the profile: denied (consent.contactable)."""
    return replace(_enrolment(index, f"{run}-{index}"), person_id=f"ghost-{run}-{index}")


def _usual_sdr_runs(warehouse: duckdb.DuckDBPyConnection, registry: AgentRegistry, policies) -> None:
    """Six ordinary runs of five enrolments, one of them denied."""
    warehouse.execute("update marts.dim_person set has_unsubscribed = true where cast(person_id[2:] as integer) >= 30")
    allowed, unsubscribed = iter(range(30)), iter(range(30, 40))
    for run in range(6):
        people = [next(allowed) for _ in range(4)] + [next(unsubscribed)]
        Governor(warehouse, registry, policies, f"usual-{run}").submit(
            [_enrolment(person, f"usual-{run}-{person}") for person in people], NOW - timedelta(days=6 - run)
        )


def _anomalies(warehouse: duckdb.DuckDBPyConnection, run_id: str) -> int:
    (count,) = warehouse.execute(
        "select count(*) from audit.audit_log where event = 'anomaly_detected' and run_id = ?", [run_id]
    ).fetchone()
    return count


def test_a_runaway_split_into_many_small_calls_is_judged_as_one_run(warehouse: duckdb.DuckDBPyConnection) -> None:
    """The reproduction of B8: 20 calls of five denied enrolments in one run never paused the agent, while one
    call of 100 did. The detector now judges the run so far, so the fourth call (20 actions, all denied) pauses."""
    registry, policies = _graduated(load_agent_registry(REPO_ROOT / "config")), load_policies(REPO_ROOT / "config")
    _usual_sdr_runs(warehouse, registry, policies)
    governor = Governor(warehouse, registry, policies, "runaway")
    actions = [_ghost_enrolment(index, "runaway") for index in range(100)]

    calls = [governor.submit(actions[start : start + 5], NOW) for start in range(0, 100, 5)]

    pause = pause_state(warehouse, "sdr_sequence_agent")
    assert pause.paused and pause.changed_by == ANOMALY_DETECTOR
    assert "20 of the run's 20 actions denied" in pause.reason
    assert _anomalies(warehouse, "runaway") == 1
    fired = [[{r.rule_id for r in record.decision.fired} for record in call] for call in calls]
    assert all("kill_switch" not in rules for call in fired[:3] for rules in call)
    assert all("kill_switch" in rules for call in fired[3:] for rules in call)
    # The baseline still leaves out the run being judged.
    assert [run.actions for run in run_history(warehouse, "sdr_sequence_agent", "runaway")] == [5] * 6


def test_a_run_is_paused_at_most_once_even_after_a_resume(warehouse: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    reviewers = signed_config(tmp_path / "config")
    registry, policies = _graduated(load_agent_registry(tmp_path / "config")), load_policies(tmp_path / "config")
    _usual_sdr_runs(warehouse, registry, policies)
    governor = Governor(warehouse, registry, policies, "runaway")
    governor.submit([_ghost_enrolment(index, "first") for index in range(20)], NOW)
    assert pause_state(warehouse, "sdr_sequence_agent").paused

    resumed_at = NOW + timedelta(minutes=5)
    signature = reviewers.switch(False, "sdr_sequence_agent", "priya.natarajan", "looked at it", resumed_at)
    governor.resume(
        "sdr_sequence_agent", by="priya.natarajan", reason="looked at it", now=resumed_at, signature=signature
    )
    records = governor.submit([_ghost_enrolment(index, "second") for index in range(5)], resumed_at)

    assert not pause_state(warehouse, "sdr_sequence_agent").paused
    assert _anomalies(warehouse, "runaway") == 1
    assert all("kill_switch" not in {r.rule_id for r in record.decision.fired} for record in records)
