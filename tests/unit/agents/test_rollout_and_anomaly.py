"""Rollout phases advance from the review count, and an agent run unlike the agent's past pauses it."""

from __future__ import annotations

import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from agents.actions import ProposedAction
from agents.config import AnomalyPolicy, RolloutPlan, load_agent_registry, load_policies
from agents.governance.anomaly import RunBehaviour, detect_anomalies
from agents.governance.facts import agent_state, pause_state, rollout_phase
from agents.governance.governor import Governor
from agents.governance.interventions import ANOMALY_DETECTOR
from dagster_project.core.settings import REPO_ROOT

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
    yield connection
    connection.close()


def _budget_change(account: int, trigger: str) -> ProposedAction:
    return ProposedAction(
        agent_id="account_ads_agent",
        action_type="adjust_campaign_budget",
        channel="linkedin",
        person_id=None,
        account_id=f"a{account}",
        payload={},
        reasoning="test",
        inputs={},
        inverse={},
        trigger_key=trigger,
        campaign_id="cmp_linkedin_01",
        spend=100.0,
    )


def test_reviewing_the_first_decisions_moves_the_ads_agent_to_phase_2(
    warehouse: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    shutil.copytree(REPO_ROOT / "config", config)
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
    governor.approve(first[0].action.action_id, "priya.natarajan", "ok", NOW)
    assert agent_state(warehouse, ads, NOW)[0].phase == 1
    governor.reject(first[1].action.action_id, "dana.reyes", "not this one", NOW)

    state, rollout = agent_state(warehouse, ads, NOW)
    assert (state.phase, rollout.reviewed_decisions) == (2, 2)
    (after,) = governor.submit([_budget_change(2, "t2")], NOW)
    assert after.outcome == "executed", after.decision.summary()


def test_a_run_far_larger_than_usual_pauses_the_agent_and_escalates_to_its_owner(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    registry, policies = load_agent_registry(REPO_ROOT / "config"), load_policies(REPO_ROOT / "config")
    registry = registry.model_copy(
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


def test_anomalies_need_a_baseline_and_look_at_every_behaviour() -> None:
    policy = AnomalyPolicy(min_baseline_runs=3, min_volume=5, min_spend=100)
    usual = [RunBehaviour(actions=2, spend=100.0, denied=0, channels={"linkedin": 2})] * 3

    assert detect_anomalies(RunBehaviour(50, 10_000.0, 50, {"email": 50}), usual[:2], policy) == []
    assert detect_anomalies(RunBehaviour(2, 100.0, 0, {"linkedin": 2}), usual, policy) == []
    findings = {f.metric for f in detect_anomalies(RunBehaviour(10, 1000.0, 8, {"email": 10}), usual, policy)}
    assert findings == {"action_volume", "spend_rate", "denial_rate", "channel_mix"}
