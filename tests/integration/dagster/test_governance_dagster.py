"""Governance through real Dagster runs and sensors on the hand-built market: the queue a surge leaves, the
approved_actions sensor executing approvals and expiring stale requests, decisions from the Launchpad job,
the governance view in the UI and the audit-chain check."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from agents.config import load_governance_config
from agents.governance.governor import Governor
from dagster_project.core.clock import utc_now
from dagster_project.core.settings import CONFIG_DIR_ENV
from dagster_project.lib.jobs_in_process import sensor_run_requests
from dagster_project.lib.names import AGENT_JOB, DECISION_JOB, SURGE_SENSOR
from dagster_project.run.driver import run_approved_actions
from tests.environment import SurgewiseEnv
from tests.signing import Reviewers, signed_config

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("scenario")]


def _now() -> datetime:
    return utc_now()


def _query(env: SurgewiseEnv, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(env.duckdb_path), read_only=True) as connection:
        return connection.execute(sql, params or []).fetchall()


def _pending(env: SurgewiseEnv, action_type: str) -> str:
    ((action_id,),) = _query(
        env,
        "select action_id from governance.actions where status = 'pending_approval' and action_type = ?",
        [action_type],
    )
    return action_id


def _answer_the_surge(definitions: dg.Definitions) -> dg.ExecuteInProcessResult:
    """What the daemon does: evaluate the surge sensor and run the agent job it asks for."""
    with dg.instance_for_test() as instance:
        (request,) = sensor_run_requests(definitions, instance, SURGE_SENSOR)
        return definitions.resolve_job_def(AGENT_JOB).execute_in_process(
            run_config=request.run_config, instance=instance, tags=request.tags
        )


@pytest.fixture
def surge_answered(scenario_copy: SurgewiseEnv, definitions: dg.Definitions) -> SurgewiseEnv:
    """The scenario's surge answered by the agents: two enrolments and a handoff executed, the ads agent's
    budget boost and creative waiting for a reviewer (phase 1)."""
    result = _answer_the_surge(definitions)
    assert result.success
    view = result.asset_materializations_for_node("agent_governance")[0].metadata
    assert view["account_ads_agent/phase"].value == 1
    assert view["account_ads_agent/pending_approvals"].value == 2
    assert view["sdr_sequence_agent/phase"].value == 3
    assert "phase 1: 0 of the first 50 decisions reviewed" in view["agents"].value
    return scenario_copy


@pytest.fixture
def reviewers(scenario_copy: SurgewiseEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Reviewers:
    """Test keys for every reviewer, in a config copy the runs read through `$SURGEWISE_CONFIG_DIR`."""
    config = tmp_path / "signed_config"
    keys = signed_config(config, source=scenario_copy.config_dir)
    monkeypatch.setenv(CONFIG_DIR_ENV, str(config))
    return keys


def _governor(connection: duckdb.DuckDBPyConnection) -> Governor:
    registry, policies = load_governance_config(Path(os.environ[CONFIG_DIR_ENV]))
    return Governor(connection, registry, policies, "test-review")


def test_the_sensor_executes_an_approved_action_and_never_a_rejected_one(
    surge_answered: SurgewiseEnv, definitions: dg.Definitions, reviewers: Reviewers
) -> None:
    budget = _pending(surge_answered, "adjust_campaign_budget")
    creative = _pending(surge_answered, "launch_ad_creative")
    with duckdb.connect(str(surge_answered.duckdb_path)) as connection:
        governor, now = _governor(connection), _now()
        fits, legal = "fits the Q4 plan", "headline needs legal review"
        approval = reviewers.approval(connection, budget, "priya.natarajan", fits, now)
        governor.approve(budget, "priya.natarajan", fits, now, signature=approval)
        rejection = reviewers.rejection(connection, creative, "lee.martin", legal, now)
        governor.reject(creative, "lee.martin", legal, now, signature=rejection)

    with dg.instance_for_test() as instance:
        (run_id,) = run_approved_actions(definitions, instance)
        assert instance.get_run_by_id(run_id).is_success
        assert run_approved_actions(definitions, instance) == [], "nothing is due once the approval ran"

    statuses = dict(
        _query(
            surge_answered,
            "select action_type, status from governance.actions where agent_id = ?",
            ["account_ads_agent"],
        )
    )
    assert statuses == {"adjust_campaign_budget": "executed", "launch_ad_creative": "rejected"}
    assert _query(surge_answered, "select count(*) from channel_sandbox.ad_creatives") == [(0,)]
    (boost,) = _query(surge_answered, "select amount from governance.budget_ledger")
    assert boost[0] == pytest.approx(475.0)  # 250 + 75 for each of the three engaged contacts
    executed = _query(
        surge_answered,
        "select reviewer, outcome from audit.audit_log where action_id = ? order by seq",
        [budget],
    )
    assert ("priya.natarajan", "approved") in executed
    assert executed[-1] == ("priya.natarajan", "executed"), "the execution entry names who approved it"


def test_an_approval_does_not_override_a_pause_at_execution(
    surge_answered: SurgewiseEnv, definitions: dg.Definitions, reviewers: Reviewers
) -> None:
    budget = _pending(surge_answered, "adjust_campaign_budget")
    with duckdb.connect(str(surge_answered.duckdb_path)) as connection:
        governor, now = _governor(connection), _now()
        approval = reviewers.approval(connection, budget, "priya.natarajan", "ok", now)
        governor.approve(budget, "priya.natarajan", "ok", now, signature=approval)
        pause = reviewers.switch(True, "account_ads_agent", "dana.reyes", "spend review", now)
        governor.pause("account_ads_agent", by="dana.reyes", reason="spend review", now=now, signature=pause)

    with dg.instance_for_test() as instance:
        run_approved_actions(definitions, instance)

    ((status, detail),) = _query(
        surge_answered, "select status, status_detail from governance.actions where action_id = ?", [budget]
    )
    assert status == "denied" and "kill_switch" in detail and "spend review" in detail
    assert _query(surge_answered, "select count(*) from governance.budget_ledger") == [(0,)]


def test_an_overdue_request_expires_and_never_runs(
    surge_answered: SurgewiseEnv, definitions: dg.Definitions, reviewers: Reviewers
) -> None:
    budget = _pending(surge_answered, "adjust_campaign_budget")
    with duckdb.connect(str(surge_answered.duckdb_path)) as connection:
        connection.execute(
            "update governance.actions set expires_at = ? where action_id = ?", [_now() - timedelta(minutes=1), budget]
        )

    with dg.instance_for_test() as instance:
        run_approved_actions(definitions, instance)

    assert _query(surge_answered, "select status from governance.actions where action_id = ?", [budget]) == [
        ("expired",)
    ]
    with duckdb.connect(str(surge_answered.duckdb_path)) as connection, pytest.raises(ValueError, match="expired"):
        late = reviewers.approval(connection, budget, "priya.natarajan", "late", _now())
        _governor(connection).approve(budget, "priya.natarajan", "late", _now(), signature=late)
    assert _query(surge_answered, "select count(*) from governance.budget_ledger") == [(0,)]


def test_the_launchpad_job_applies_a_signed_decision_and_refuses_an_agent_or_a_claimed_name(
    surge_answered: SurgewiseEnv, definitions: dg.Definitions, reviewers: Reviewers
) -> None:
    creative = _pending(surge_answered, "launch_ad_creative")
    job = definitions.resolve_job_def(DECISION_JOB)
    with duckdb.connect(str(surge_answered.duckdb_path), read_only=True) as connection:
        signed = reviewers.approval(connection, creative, "lee.martin", "on brand", _now())

    def decide(by: str, signature: str = signed) -> dg.ExecuteInProcessResult:
        config = {"decision": "approve", "target": creative, "by": by, "comment": "on brand", "signature": signature}
        with dg.instance_for_test() as instance:
            return job.execute_in_process(
                run_config={"ops": {"apply_governance_decision": {"config": config}}},
                instance=instance,
                raise_on_error=False,
            )

    refused = decide("account_ads_agent")
    assert not refused.success
    failure = next(event for event in refused.all_events if event.is_step_failure)
    assert "an agent can never approve" in str(failure.step_failure_data.error)
    claimed = decide("priya.natarajan")
    assert not claimed.success, "Lee's signature does not let anyone decide as Priya"
    failure = next(event for event in claimed.all_events if event.is_step_failure)
    assert "the signature is not priya.natarajan's" in str(failure.step_failure_data.error)
    assert not decide("lee.martin", signature="lee.martin").success
    assert decide("lee.martin").success
    assert _query(
        surge_answered, "select status, reviewed_by from governance.actions where action_id = ?", [creative]
    ) == [("approved", "lee.martin")]


def test_the_audit_chain_check_fails_on_a_tampered_entry(
    surge_answered: SurgewiseEnv, definitions: dg.Definitions
) -> None:
    check_job = dg.define_asset_job("chain_check", selection=dg.AssetSelection.assets("agent_governance"))
    resolved = dg.Definitions.merge(definitions, dg.Definitions(jobs=[check_job])).resolve_job_def("chain_check")

    def chain_check() -> bool:
        with dg.instance_for_test() as instance:
            result = resolved.execute_in_process(instance=instance, raise_on_error=False)
        (evaluation,) = result.get_asset_check_evaluations()
        return evaluation.passed

    assert chain_check()
    with duckdb.connect(str(surge_answered.duckdb_path)) as connection:
        connection.execute(
            "update audit.audit_log set reasoning = 'nothing to see' where seq = (select min(seq) from audit.audit_log)"
        )
    assert not chain_check()


def test_a_paused_agent_proposes_nothing_when_its_surge_fires(
    scenario_copy: SurgewiseEnv, definitions: dg.Definitions, reviewers: Reviewers
) -> None:
    with duckdb.connect(str(scenario_copy.duckdb_path)) as connection:
        now = _now()
        signature = reviewers.switch(True, "*", "dana.reyes", "incident review", now)
        _governor(connection).pause("*", by="dana.reyes", reason="incident review", now=now, signature=signature)

    result = _answer_the_surge(definitions)

    assert result.success
    assert _query(scenario_copy, "select count(*) from governance.actions") == [(0,)]
    ((reasoning,),) = _query(scenario_copy, "select reasoning from audit.audit_log where event = 'agent_run_blocked'")
    assert "all agents are paused by dana.reyes" in reasoning and "incident review" in reasoning
