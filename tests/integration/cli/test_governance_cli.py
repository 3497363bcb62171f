"""The governance commands as a reviewer types them: agents, approvals, actions and `explain action`, on a
real DuckDB file holding only the marts the governor reads."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from agents.actions import ProposedAction
from agents.adapters.sandbox import CAMPAIGNS_TABLE, ENROLMENTS_TABLE
from agents.config import load_agent_registry, load_policies
from agents.governance.governor import Governor
from agents.governance.interventions import ANOMALY_DETECTOR
from agents.governance.schema import ActionStatus
from agents.governance.session import ActionRecord
from agents.governance.store import load_action
from agents.specialists.account_ads import ABM_CAMPAIGN, AccountAdsAgent, HandoffBrief
from dagster_project.cli import app
from dagster_project.core.check_results import CheckOutcome, record_check_result
from dagster_project.core.clock import utc_now
from dagster_project.core.settings import CONFIG_DIR_ENV
from dagster_project.core.warehouse import open_warehouse
from tests.environment import SurgewiseEnv
from tests.signing import signed_config

WIDE = {"COLUMNS": "400"}
SDR = "sdr_sequence_agent"
ADS = "account_ads_agent"


def _cli(*args: str, **env: str) -> Result:
    return CliRunner().invoke(app, list(args), env={**WIDE, **env})


def _recently() -> datetime:
    """A moment just before the CLI's own clock, so approval requests are open and windows contain it."""
    return utc_now() - timedelta(minutes=1)


@pytest.fixture
def env(surgewise_env: SurgewiseEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SurgewiseEnv:
    """A warehouse with the two marts the governor reads: three contactable people (p2 in distress); every
    reviewer has a test key pair, the private keys in `$SURGEWISE_REVIEWER_KEYS_DIR` as keygen leaves them."""
    config = tmp_path / "signed_config"
    signed_config(config, source=surgewise_env.config_dir, keys_dir=surgewise_env.reviewer_keys_dir)
    monkeypatch.setenv(CONFIG_DIR_ENV, str(config))
    surgewise_env = replace(surgewise_env, config_dir=config)
    surgewise_env.data_dir.mkdir(parents=True, exist_ok=True)
    with open_warehouse(surgewise_env.duckdb_path) as connection:
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
        connection.execute(
            """
            insert into marts.dim_person values
                ('p1', 'a@example.com', 'opted_in', false, false, 0, 0, 'manager', 'Manager', 'Europe/Berlin'),
                ('p2', 'b@example.com', 'opted_in', false, false, 2, 0, 'vp', 'VP', 'America/New_York'),
                ('p3', 'c@example.com', 'opted_in', false, false, 0, 0, 'director', 'Director', 'Europe/Paris')
            """
        )
        connection.execute("create table marts.dim_account (account_id varchar, tier integer, industry varchar)")
        connection.execute("insert into marts.dim_account values ('a1', 1, 'saas'), ('a2', 1, 'healthcare')")
        for check_name in ("dim_person_expectations", "dim_person_freshness"):
            outcome = CheckOutcome(check_name, "marts/dim_person", True, _recently() - timedelta(hours=1), (), "build")
            record_check_result(connection, outcome)
    return surgewise_env


@contextmanager
def _governor(env: SurgewiseEnv) -> Iterator[Governor]:
    """The governor as a run uses it; closed before the CLI opens the same file."""
    with open_warehouse(env.duckdb_path) as connection:
        yield Governor(connection, load_agent_registry(env.config_dir), load_policies(env.config_dir), "test-run")


def _submit(env: SurgewiseEnv, actions: list[ProposedAction]) -> list[ActionRecord]:
    with _governor(env) as governor:
        return governor.submit(actions, _recently())


def _enrolment(person_id: str, trigger: str = "surge:a1") -> ProposedAction:
    return ProposedAction(
        agent_id=SDR,
        action_type="enrol_in_sequence",
        channel="sales_engagement",
        person_id=person_id,
        account_id="a1",
        payload={"sequence_id": "evaluation-guide", "send_at_local_hour": 10},
        reasoning="a1 is surging and this contact read the pricing page",
        inputs={"person_intent": {"probability": 0.81, "model_version": "intent-person-v7"}},
        inverse={"action_type": "remove_from_sequence"},
        trigger_key=trigger,
        content={"subject": "Your evaluation", "body": "A short guide to evaluating us."},
    )


def _ads(handoff: str = "h1") -> tuple[ProposedAction, ProposedAction]:
    """The ads agent's budget boost (625, phase-1 review) and creative (always reviewed) for account a1."""
    budget, creative = AccountAdsAgent().propose(
        HandoffBrief(handoff, "a1", "Acme", "saas", 1, 5, ("2026-11-01", "2026-11-08"), 0.4)
    )
    return budget, creative


def _status(env: SurgewiseEnv, action_id: str) -> ActionStatus:
    with open_warehouse(env.duckdb_path, read_only=True) as connection:
        stored = load_action(connection, action_id)
    assert stored is not None
    return stored.status


def _query(env: SurgewiseEnv, sql: str) -> list[tuple]:
    with open_warehouse(env.duckdb_path, read_only=True) as connection:
        return connection.execute(sql).fetchall()


def test_agents_list_shows_each_agent_with_its_rollout_phase(env: SurgewiseEnv) -> None:
    result = _cli("agents", "list")

    assert result.exit_code == 0, result.output
    ads_starts = result.output.index("Priya Natarajan (demand_gen_lead)")
    sdr, ads = result.output[:ads_starts], result.output[ads_starts:]
    assert SDR in sdr and "Dana Reyes (revops_lead)" in sdr
    assert "phase 3: graduated to phase 3 by dana.reyes" in sdr
    assert "enrol_in_sequence on sales_engagement (undone by remove_from_sequence)" in sdr
    assert "phase 1:" in ads and "0 of 50" in ads
    assert "cmp_linkedin_01, cmp_linkedin_02; at most 1,500.00 per action" in ads
    assert "Global kill switch" not in result.output


def test_pausing_an_agent_stops_its_proposals_until_it_is_resumed(env: SurgewiseEnv) -> None:
    paused = _cli("agents", "pause", SDR, "--by", "dana.reyes", "--reason", "bad CRM import")
    assert paused.exit_code == 0, paused.output
    listed = _cli("agents", "list").output
    assert "yes: paused by dana.reyes" in listed and "bad CRM import" in listed

    (record,) = _submit(env, [_enrolment("p1")])
    assert record.outcome == ActionStatus.DENIED
    assert record.decision is not None
    assert [rule.rule_id for rule in record.decision.fired] == ["kill_switch"]

    resumed = _cli("agents", "resume", SDR, "--by", "dana.reyes", "--reason", "import fixed")
    assert resumed.exit_code == 0, resumed.output
    assert "Resumed" in resumed.output
    (record,) = _submit(env, [_enrolment("p1", trigger="surge:a1:again")])
    assert record.outcome == "executed"


def test_only_a_listed_human_may_pause_a_known_agent(env: SurgewiseEnv) -> None:
    unknown = _cli("agents", "pause", "rogue_agent", "--by", "dana.reyes", "--reason", "x")
    assert unknown.exit_code == 1
    assert "rogue_agent" in unknown.output and f"known agents: {SDR}, {ADS}" in unknown.output

    by_agent = _cli("agents", "pause", ADS, "--by", SDR, "--reason", "x")
    assert by_agent.exit_code == 1
    assert "is an agent" in by_agent.output

    neither = _cli("agents", "pause", "--by", "dana.reyes", "--reason", "x")
    assert neither.exit_code == 1


def test_nobody_pauses_as_the_anomaly_detector_from_the_command_line(env: SurgewiseEnv) -> None:
    claimed = _cli("agents", "pause", "--all", "--by", ANOMALY_DETECTOR, "--reason", "blame the detector")

    assert claimed.exit_code == 1
    assert "Global kill switch" not in _cli("agents", "list").output


def test_a_reviewer_id_without_the_reviewers_key_decides_nothing(env: SurgewiseEnv) -> None:
    budget, _ = _ads()
    _submit(env, [*_ads()])
    (env.reviewer_keys_dir / "priya.natarajan.pem").unlink()

    approved = _cli("approvals", "approve", budget.action_id, "--reviewer", "priya.natarajan", "--comment", "ok")
    paused = _cli("agents", "pause", ADS, "--by", "priya.natarajan", "--reason", "x")

    assert approved.exit_code == 1 and "No signing key" in approved.output
    assert "reviewers keygen --reviewer priya.natarajan" in approved.output
    assert paused.exit_code == 1
    assert _status(env, budget.action_id) is ActionStatus.PENDING_APPROVAL


def test_keygen_writes_a_private_key_for_its_owner_and_the_public_key_into_agents_yaml(env: SurgewiseEnv) -> None:
    (env.reviewer_keys_dir / "alex.kim.pem").unlink()
    agents_file = env.config_dir / "agents.yaml"

    made = _cli("reviewers", "keygen", "--reviewer", "alex.kim", "--agents-yaml", str(agents_file))
    again = _cli("reviewers", "keygen", "--reviewer", "alex.kim")
    stranger = _cli("reviewers", "keygen", "--reviewer", "mallory")

    assert made.exit_code == 0, made.output
    assert (env.reviewer_keys_dir / "alex.kim.pem").stat().st_mode & 0o777 == 0o600
    public = made.output.strip().splitlines()[-1]
    assert load_agent_registry(env.config_dir).reviewer("alex.kim").public_keys[0] == public
    assert again.exit_code == 1 and "never overwritten" in again.output
    assert stranger.exit_code == 1 and "not a reviewer" in stranger.output


def test_reviewers_sign_makes_a_signature_the_governor_accepts(env: SurgewiseEnv) -> None:
    budget, _ = _ads()
    _submit(env, [*_ads()])

    signed = _cli(
        "reviewers", "sign", "approve", budget.action_id[:12], "--reviewer", "priya.natarajan", "--comment", "ok"
    )

    assert signed.exit_code == 0, signed.output
    with _governor(env) as governor:
        stored = governor.approve(
            budget.action_id, "priya.natarajan", "ok", utc_now(), signature=signed.output.strip().splitlines()[-1]
        )
    assert stored.status is ActionStatus.APPROVED


def test_the_global_kill_switch_pauses_every_agent(env: SurgewiseEnv) -> None:
    paused = _cli("agents", "pause", "--all", "--by", "dana.reyes", "--reason", "incident 42")
    assert paused.exit_code == 0, paused.output
    listed = _cli("agents", "list").output
    assert "Global kill switch on" in listed and listed.count("all agents are paused by dana.reyes") == 3

    records = _submit(env, [_enrolment("p1"), *_ads()])
    assert [record.outcome for record in records] == ["denied"] * 3

    one = _cli("agents", "resume", ADS, "--by", "priya.natarajan", "--reason", "mine is fine")
    assert one.exit_code == 0 and "still paused" in one.output
    everyone = _cli("agents", "resume", "--all", "--by", "dana.reyes", "--reason", "incident closed")
    assert everyone.exit_code == 0, everyone.output
    assert [record.outcome for record in _submit(env, [*_ads("h2")])] == ["pending_approval"] * 2


def test_approvals_list_says_why_each_action_waits(env: SurgewiseEnv) -> None:
    budget, creative = _ads()
    _submit(env, [budget, creative, _enrolment("p2")])

    result = _cli("approvals", "list")

    assert result.exit_code == 0, result.output
    assert budget.action_id[:12] in result.output and creative.action_id[:12] in result.output
    assert "adjust_campaign_budget on linkedin" in result.output
    assert f"625.00 on {ABM_CAMPAIGN}" in result.output
    assert "priya.natarajan or dana.reyes" in result.output
    assert "rollout.phase_1: phase 1: decision 1 of the first 50 goes to human review" in result.output
    assert "brand_safety.new_creative" in result.output
    assert "Open escalations" in result.output and "distress.signals" in result.output
    assert "No approval request" in _cli("approvals", "list", "--agent", SDR).output


def test_only_a_listed_reviewer_may_approve(env: SurgewiseEnv) -> None:
    budget, _ = _ads()
    _submit(env, [*_ads()])

    stranger = _cli("approvals", "approve", budget.action_id, "--reviewer", "lee.martin", "--comment", "ok")
    assert stranger.exit_code == 1
    assert "Refused" in stranger.output and "not a reviewer" in stranger.output
    agent = _cli("approvals", "approve", budget.action_id, "--reviewer", ADS, "--comment", "ok")
    assert agent.exit_code == 1
    assert "an agent can never approve" in agent.output
    assert _status(env, budget.action_id) is ActionStatus.PENDING_APPROVAL

    approved = _cli(
        "approvals", "approve", budget.action_id[:8], "--comment", "in budget", SURGEWISE_REVIEWER="dana.reyes"
    )
    assert approved.exit_code == 0, approved.output
    assert "approved_actions sensor" in approved.output
    assert _status(env, budget.action_id) is ActionStatus.APPROVED
    decided = _cli("approvals", "list", "--all").output
    assert "dana.reyes" in decided and "in budget" in decided


def test_a_rejected_action_never_executes(env: SurgewiseEnv) -> None:
    _, creative = _ads()
    _submit(env, [*_ads()])

    rejected = _cli("approvals", "reject", creative.action_id, "--reviewer", "lee.martin", "--comment", "off brand")

    assert rejected.exit_code == 0, rejected.output
    assert _status(env, creative.action_id) is ActionStatus.REJECTED
    again = _cli("approvals", "approve", creative.action_id, "--reviewer", "lee.martin", "--comment", "changed my mind")
    assert again.exit_code == 1 and "not waiting for approval" in again.output


def test_rolling_back_an_executed_action_restores_the_channel_and_links_both(env: SurgewiseEnv) -> None:
    budget, _ = _ads()
    _submit(env, [*_ads()])
    assert (
        _cli("approvals", "approve", budget.action_id, "--reviewer", "priya.natarajan", "--comment", "go").exit_code
        == 0
    )
    with _governor(env) as governor:
        assert [record.outcome for record in governor.execute_approved(_recently())] == ["executed"]
    assert _query(env, f"select daily_budget from {CAMPAIGNS_TABLE}") == [(1125.0,)]

    rolled = _cli("actions", "rollback", budget.action_id, "--by", "dana.reyes", "--reason", "overspend")

    assert rolled.exit_code == 0, rolled.output
    assert _query(env, f"select daily_budget from {CAMPAIGNS_TABLE}") == [(500.0,)]
    assert _status(env, budget.action_id) is ActionStatus.ROLLED_BACK
    (inverse_id,) = _query(env, f"select action_id from governance.actions where rollback_of = '{budget.action_id}'")[0]
    assert inverse_id in rolled.output and "yes" in rolled.output

    story = _cli("explain", "action", budget.action_id)
    assert story.exit_code == 0, story.output
    for text in (
        "adjust_campaign_budget on linkedin",
        "needs_approval",
        "rollout.phase_1",
        "approved by priya.natarajan",
        '{"budget_change_active": true, "creative_live": false}',
        f"Rolled back by {inverse_id}",
        "action_approved",
        "action_rolled_back",
        "Audit chain verifies",
    ):
        assert text in story.output, text
    undo = _cli("explain", "action", inverse_id)
    assert undo.exit_code == 0 and f"Rollback of {budget.action_id}" in undo.output

    listed = _cli("actions", "list", "--agent", ADS).output
    assert f"rolled back by {inverse_id[:12]}" in listed and f"undoes {budget.action_id[:12]}" in listed
    twice = _cli("actions", "rollback", budget.action_id, "--by", "dana.reyes", "--reason", "again")
    assert twice.exit_code == 1 and "only executed actions roll back" in twice.output


def test_rolling_back_an_agents_window_undoes_each_of_its_actions(env: SurgewiseEnv) -> None:
    records = _submit(env, [_enrolment("p1"), _enrolment("p3")])
    assert [record.outcome for record in records] == ["executed", "executed"]
    since = (_recently() - timedelta(hours=1)).isoformat()

    by_agent = _cli("actions", "rollback", "--agent", SDR, "--since", since, "--by", SDR, "--reason", "x")
    assert by_agent.exit_code == 1 and "an agent can never approve, reject or intervene" in by_agent.output
    rolled = _cli(
        "actions", "rollback", "--agent", SDR, "--since", since, "--by", "dana.reyes", "--reason", "bad surge"
    )

    assert rolled.exit_code == 0, rolled.output
    assert all(record.action.action_id in rolled.output for record in records)
    assert _query(env, f"select status, count(*) from {ENROLMENTS_TABLE} group by status") == [("removed", 2)]
    empty = _cli("actions", "rollback", "--agent", SDR, "--since", since, "--by", "dana.reyes", "--reason", "again")
    assert empty.exit_code == 0 and "Nothing to roll back" in empty.output
    listed = _cli("actions", "list", "--status", "rolled_back").output
    assert all(record.action.action_id[:12] in listed for record in records)


def test_explain_action_tells_what_and_why_and_refuses_an_unknown_id(env: SurgewiseEnv) -> None:
    (record,) = _submit(env, [_enrolment("p1")])

    story = _cli("explain", "action", record.action.action_id[:10])
    assert story.exit_code == 0, story.output
    for text in ("p1", "a1 is surging", "person_intent.model_version", "intent-person-v7", "Your evaluation"):
        assert text in story.output, text

    unknown = _cli("explain", "action", "no-such-action")
    assert unknown.exit_code == 1
    assert "Unknown action" in unknown.output


def test_a_do_not_contact_request_stops_proposals_and_approved_actions(env: SurgewiseEnv) -> None:
    refused = _cli("contacts", "do-not-contact", "A@Example.com", "--by", SDR, "--reason", "asked by phone")
    assert refused.exit_code == 1 and "only a listed human" in refused.output
    done = _cli("contacts", "do-not-contact", " A@Example.com ", "--by", "sam.okafor", "--reason", "asked by phone")
    assert done.exit_code == 0, done.output
    assert "added to the suppression list" in done.output

    (after,) = _submit(env, [_enrolment("p1", trigger="surge:later")])
    assert after.outcome == "denied"
    assert "suppression.list" in {rule.rule_id for rule in after.decision.fired}
    ((reason, entries),) = _query(
        env,
        "select (select reason from governance.suppression_list), "
        "(select count(*) from audit.audit_log where event = 'do_not_contact' and reviewer = 'sam.okafor' "
        "and reasoning = 'asked by phone' and cast(inputs as varchar) not like '%example.com%')",
    )
    assert reason == "do_not_contact: asked by phone" and entries == 1
