"""A proposal of the wrong shape (money that is a str, a bool, a Decimal or an int no float can hold, a missing
campaign, a payload that is not JSON) is denied as `proposal.malformed` and audited; it never crashes `submit`,
and the rest of the batch is decided as usual."""

from __future__ import annotations

import json
import math
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from agents.actions import ProposedAction, committed_spend
from agents.config import AgentRegistry, load_agent_registry, load_policies
from agents.governance.governor import Governor
from agents.governance.policy import ActionContext, Verdict, decide
from agents.governance.proposal_shape import malformed
from dagster_project.core.check_results import CheckOutcome, record_check_result
from dagster_project.core.settings import REPO_ROOT

CONFIG_DIR = REPO_ROOT / "config"
NOW = datetime(2026, 11, 25, 10, 0)
ADS = "account_ads_agent"


def _circular() -> dict[str, Any]:
    loop: dict[str, Any] = {}
    loop["self"] = loop
    return loop


def boost(account: str, spend: Any = 100.0, **overrides: Any) -> ProposedAction:
    values: dict[str, Any] = {
        "agent_id": ADS,
        "action_type": "adjust_campaign_budget",
        "channel": "linkedin",
        "person_id": None,
        "account_id": account,
        "payload": {"daily_budget_change": spend},
        "reasoning": "malformed test",
        "inputs": {},
        "inverse": {"action_type": "revert_campaign_budget"},
        "trigger_key": f"handoff:{account}",
        "campaign_id": "cmp_linkedin_01",
        "spend": spend,
    }
    values.update(overrides)
    return ProposedAction(**values)


MALFORMED = {
    "huge int": ({"spend": 10**400}, "spend", "int of 1329 bits"),
    "str": ({"spend": "700"}, "spend", "str '700'"),
    "signalling NaN": ({"spend": Decimal("sNaN")}, "spend", "Decimal"),
    "bool": ({"spend": True}, "spend", "bool True"),
    "no campaign": ({"campaign_id": None}, "campaign_id", "got None"),
    "campaign not a str": ({"campaign_id": 7}, "campaign_id", "int 7"),
    "payload not a dict": ({"payload": ["daily_budget_change", 100.0]}, "payload", "list"),
    "payload money a str": ({"payload": {"daily_budget_change": "100"}}, "payload['daily_budget_change']", "str"),
    "payload field no rule reads": (
        {"payload": {"daily_budget_change": 100.0, "daily_budget": 1e6}},
        "payload['daily_budget']",
        "is not a field",
    ),
    "inputs not JSON": ({"inputs": {"when": object()}}, "inputs['when']", "object"),
    "inputs circular": ({"inputs": _circular()}, "inputs", "nested more than"),
    "inverse NaN": ({"inverse": {"daily_budget_change": math.nan}}, "inverse['daily_budget_change']", "float nan"),
    "content not str": ({"content": {"headline": 3}}, "content['headline']", "int 3"),
    "empty account": ({"account_id": ""}, "account_id", "str ''"),
}


def _graduated(registry: AgentRegistry) -> AgentRegistry:
    """Every agent past its rollout, so a well-formed boost executes without review."""
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


@pytest.fixture
def governor(tmp_path: Path) -> Governor:
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    connection.execute("create schema marts")
    connection.execute(
        "create table marts.dim_person (person_id varchar, email varchar, consent_status varchar, "
        "has_unsubscribed boolean, has_bounced boolean, unsubscribe_events bigint, complaint_events bigint, "
        "seniority varchar, job_title varchar, timezone varchar)"
    )
    connection.execute("create table marts.dim_account (account_id varchar, tier integer, industry varchar)")
    connection.execute("insert into marts.dim_account select 'a' || i, 2, 'saas' from range(10) t(i)")
    for check_name in ("dim_person_expectations", "dim_person_freshness"):
        record_check_result(
            connection, CheckOutcome(check_name, "marts/dim_person", True, NOW - timedelta(hours=1), (), "build")
        )
    registry, policies = _graduated(load_agent_registry(CONFIG_DIR)), load_policies(CONFIG_DIR)
    yield Governor(connection, registry, policies, "run-malformed")
    connection.close()


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_proposal_is_denied_and_audited_and_the_batch_goes_on(governor: Governor, case: str) -> None:
    overrides, field, kind = MALFORMED[case]
    bad = boost("a1", **overrides)
    connection = governor.connection

    before, denied, after = governor.submit([boost("a0"), bad, boost("a2")], NOW)

    assert (before.outcome, denied.outcome, after.outcome) == ("executed", "denied", "executed")
    assert denied.decision is not None and denied.decision.verdict is Verdict.DENIED
    (fired,) = denied.decision.fired
    assert fired.rule_id == "proposal.malformed"
    assert field in fired.reason and kind in fired.reason, fired.reason
    events = connection.execute(
        "select event, policy_rules from audit.audit_log where action_id = ? order by seq", [bad.action_id]
    ).fetchall()
    assert [event for event, _ in events] == ["action_proposed", "action_decided"]
    assert json.loads(events[1][1])[0]["rule_id"] == "proposal.malformed"
    (status, verdict, spend) = connection.execute(
        "select status, verdict, spend from governance.actions where action_id = ?", [bad.action_id]
    ).fetchone()
    assert (status, verdict) == ("denied", "denied")
    assert spend == 100.0 or math.isnan(spend)
    booked = connection.execute("select action_id from governance.budget_ledger order by entry_id").fetchall()
    assert booked == [(before.action.action_id,), (after.action.action_id,)]


def test_a_malformed_proposal_proposed_again_is_reported_not_decided_twice(governor: Governor) -> None:
    bad = boost("a1", spend="700")

    governor.submit([bad], NOW)
    (again,) = governor.submit([bad], NOW + timedelta(minutes=1))

    assert again.decision is None and again.outcome == "already_denied"


def test_the_engine_names_every_malformed_field_and_runs_no_other_rule() -> None:
    registry, policies = load_agent_registry(CONFIG_DIR), load_policies(CONFIG_DIR)
    action = boost("a1", spend=True, campaign_id=None, payload={"daily_budget_change": Decimal(1)})

    decision = decide(action, ActionContext(now=NOW), registry, policies)

    assert [rule.rule_id for rule in decision.rules] == ["proposal.malformed"]
    assert decision.verdict is Verdict.DENIED
    problems = malformed(action)
    assert any(p.startswith("spend must be an int or float") and "bool True" in p for p in problems)
    assert any(p.startswith("campaign_id is required for adjust_campaign_budget") for p in problems)
    assert any(p.startswith("payload['daily_budget_change'] must be an int or float") for p in problems)


def test_well_formed_proposals_of_the_shipped_agents_are_not_malformed() -> None:
    enrolment = boost(
        "a1",
        spend=0.0,
        action_type="enrol_in_sequence",
        channel="sales_engagement",
        person_id="p1",
        campaign_id=None,
        payload={"sequence_id": "evaluation-guide", "send_at_local_hour": 10},
        inputs={"surge_window": ["2026-11-20", "2026-11-25"], "account_intent": {"p": 0.8}, "tier": 1, "x": None},
        content={"subject": "Hi", "body": "Hello"},
    )
    creative = boost(
        "a1",
        spend=0.0,
        action_type="launch_ad_creative",
        payload={"format": "single_image", "targeting": "account_list"},
        content={"headline": "See who is researching you", "body": "This week."},
    )

    assert malformed(boost("a1", spend=700)) == []
    assert malformed(enrolment) == []
    assert malformed(creative) == []
    assert malformed(boost("a1", spend=math.nan)) == []  # non-finite money is the budget rules' to deny
    assert malformed(boost("a1", action_type="launch_ad_creative", spend=0.0, payload={})) == [
        "content['headline'] is required for launch_ad_creative, got NoneType None",
        "content['body'] is required for launch_ad_creative, got NoneType None",
    ]
    assert malformed(enrolment.__class__(**{**_fields(enrolment), "person_id": None})) == [
        "person_id is required for enrol_in_sequence, got None"
    ]


def _fields(action: ProposedAction) -> dict[str, Any]:
    return {name: getattr(action, name) for name in action.__dataclass_fields__ if name != "action_id"}


def test_committed_spend_counts_only_real_positive_finite_money() -> None:
    amounts = [10**400, "700", Decimal("sNaN"), True, math.nan, math.inf, -5.0, None, 100.0, 50]

    assert committed_spend(amounts) == 150.0
