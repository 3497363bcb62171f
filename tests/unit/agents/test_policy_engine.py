"""Example-based tests of the pure policy engine: each rule fires with the right verdict and a reason that
names the value it judged, against the shipped config files."""

from __future__ import annotations

import math
import shutil
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agents.actions import ProposedAction
from agents.config import AgentRegistry, PolicySet, QuietHours, load_agent_registry, load_policies
from agents.governance.policy import (
    SEVERITY,
    AccountFacts,
    ActionContext,
    AgentState,
    BudgetUsage,
    ContactFacts,
    PolicyDecision,
    RollbackFacts,
    Verdict,
    decide,
    local_hour,
)
from agents.specialists.sdr_sequence import FIXED_SEND_HOUR
from dagster_project.core.settings import REPO_ROOT

CONFIG_DIR = REPO_ROOT / "config"
NOW = datetime(2026, 11, 25, 10, 0)
"""10:00 UTC, 11:00 in Berlin (CET): outside quiet hours."""


@pytest.fixture(scope="module")
def registry() -> AgentRegistry:
    return load_agent_registry(CONFIG_DIR)


@pytest.fixture(scope="module")
def policies() -> PolicySet:
    return load_policies(CONFIG_DIR)


def enrol(**overrides: Any) -> ProposedAction:
    values: dict[str, Any] = {
        "agent_id": "sdr_sequence_agent",
        "action_type": "enrol_in_sequence",
        "channel": "sales_engagement",
        "person_id": "per_1",
        "account_id": "acc_1",
        "payload": {"sequence_id": "evaluation-guide", "send_at_local_hour": 10},
        "reasoning": "test",
        "inputs": {},
        "inverse": {"action_type": "remove_from_sequence"},
        "trigger_key": "surge:acc_1:2026-11-25",
    }
    values.update(overrides)
    return ProposedAction(**values)


def budget_change(spend: float, **overrides: Any) -> ProposedAction:
    values: dict[str, Any] = {
        "agent_id": "account_ads_agent",
        "action_type": "adjust_campaign_budget",
        "channel": "linkedin",
        "person_id": None,
        "account_id": "acc_1",
        "payload": {"daily_budget_change": spend},
        "reasoning": "test",
        "inputs": {},
        "inverse": {"action_type": "revert_campaign_budget"},
        "trigger_key": "handoff:h1",
        "campaign_id": "cmp_linkedin_01",
        "spend": spend,
    }
    values.update(overrides)
    return ProposedAction(**values)


def creative(**overrides: Any) -> ProposedAction:
    values: dict[str, Any] = {
        "action_type": "launch_ad_creative",
        "payload": {"format": "single_image"},
        "spend": 0.0,
        "content": {"headline": "Ship the integrations your customers ask for", "body": "See who is researching you."},
    }
    values.update(overrides)
    return budget_change(**values)


def handoff(to: str | None) -> ProposedAction:
    return enrol(
        action_type="handoff_to_agent",
        channel="internal",
        person_id=None,
        payload={"account_name": "Acme"},
        inverse={"action_type": "cancel_handoff"},
        handoff_to=to,
    )


def contact(**overrides: Any) -> ContactFacts:
    values: dict[str, Any] = {
        "consent_status": "opted_in",
        "has_unsubscribed": False,
        "has_bounced": False,
        "is_suppressed": False,
        "seniority": "manager",
        "job_title": "Marketing Operations Manager",
        "timezone": "Europe/Berlin",
    }
    values.update(overrides)
    return ContactFacts(**values)


def context(**overrides: Any) -> ActionContext:
    values: dict[str, Any] = {
        "now": NOW,
        "agent_state": AgentState(phase=3),
        "contact": contact(),
        "account": AccountFacts(account_id="acc_1", tier=2, industry="saas"),
    }
    values.update(overrides)
    return ActionContext(**values)


def rule(decision: PolicyDecision, rule_id: str):
    matches = [result for result in decision.rules if result.rule_id == rule_id]
    assert matches, f"{rule_id} not among {[result.rule_id for result in decision.rules]}"
    return matches[0]


def fired_ids(decision: PolicyDecision) -> list[str]:
    return [result.rule_id for result in decision.fired]


def usage(policies: PolicySet, scope: str, cap_id: str, period: str, spent: float, subject: str | None = None):
    cap = next(cap for cap in policies.budgets.caps if cap.scope == scope and cap.id == cap_id)
    return BudgetUsage(cap=cap, scope_id=subject or cap_id, period=period, spent=spent)


# --- verdicts and the baseline ------------------------------------------------------------------------


def test_verdicts_are_ordered_by_severity() -> None:
    order = sorted(Verdict, key=SEVERITY.__getitem__)
    assert order == [Verdict.ALLOWED, Verdict.NEEDS_APPROVAL, Verdict.DENIED, Verdict.ESCALATED]


def test_a_contactable_person_in_scope_under_every_cap_is_allowed(registry, policies) -> None:
    decision = decide(enrol(), context(), registry, policies)

    assert decision.verdict is Verdict.ALLOWED
    assert decision.fired == ()
    assert decision.summary() == "all policy rules passed"
    assert {"kill_switch", "scope.declared_actions", "suppression.list", "quiet_hours"} <= {
        result.rule_id for result in decision.rules
    }


def test_the_policy_version_covers_both_config_files(registry, policies, tmp_path: Path) -> None:
    """A reviewed change to the rules or to the registry (a graduation, a reviewer, a key) shows in every
    decision's policy version."""
    decision = decide(enrol(), context(), registry, policies)
    assert decision.policy_version == policies.policy_version
    assert policies.policy_version.startswith(f"v{policies.version}-")

    for name in ("policies.yaml", "agents.yaml"):
        edited_dir = tmp_path / name
        shutil.copytree(CONFIG_DIR, edited_dir)
        edited = edited_dir / name
        edited.write_text(edited.read_text() + "# a reviewed comment changes the text, so the version\n")
        changed = decide(enrol(), context(), registry, load_policies(edited_dir))
        assert changed.policy_version != decision.policy_version, name
        assert changed.policy_version.startswith(f"v{policies.version}-")


# --- kill switch and scope ------------------------------------------------------------------------------


def test_a_paused_agent_is_denied_by_the_kill_switch_with_the_pause_reason(registry, policies) -> None:
    state = AgentState(paused=True, pause_reason="paused by dana.reyes at 2026-11-25 09:00: bad copy")

    decision = decide(enrol(), context(agent_state=state), registry, policies)

    assert decision.verdict is Verdict.DENIED
    assert fired_ids(decision) == ["kill_switch"]
    assert "bad copy" in rule(decision, "kill_switch").reason


def test_an_unregistered_agent_is_denied(registry, policies) -> None:
    decision = decide(enrol(agent_id="rogue_agent"), context(), registry, policies)

    assert decision.verdict is Verdict.DENIED
    assert "rogue_agent" in rule(decision, "scope.registered_agent").reason


def test_an_undeclared_channel_is_denied_naming_it(registry, policies) -> None:
    decision = decide(enrol(channel="paid_ads"), context(), registry, policies)

    assert decision.verdict is Verdict.DENIED
    assert fired_ids(decision) == ["scope.declared_actions"]
    assert "paid_ads" in rule(decision, "scope.declared_actions").reason


def test_an_undeclared_action_type_is_denied_naming_it(registry, policies) -> None:
    decision = decide(budget_change(100.0, agent_id="sdr_sequence_agent"), context(contact=None), registry, policies)

    assert decision.verdict is Verdict.DENIED
    assert "adjust_campaign_budget" in rule(decision, "scope.declared_actions").reason
    assert "no budget scope" in rule(decision, "budget.scope").reason


def test_a_handoff_to_a_declared_agent_is_allowed(registry, policies) -> None:
    decision = decide(handoff("account_ads_agent"), context(contact=None), registry, policies)

    assert decision.verdict is Verdict.ALLOWED
    assert "account_ads_agent" in rule(decision, "scope.handoff").reason


@pytest.mark.parametrize("target", ["rogue_agent", "sdr_sequence_agent", None])
def test_a_handoff_to_an_undeclared_agent_is_denied(registry, policies, target) -> None:
    decision = decide(handoff(target), context(contact=None), registry, policies)

    assert decision.verdict is Verdict.DENIED
    assert fired_ids(decision) == ["scope.handoff"]
    assert str(target) in rule(decision, "scope.handoff").reason


# --- contact rules --------------------------------------------------------------------------------------


def test_a_person_missing_from_the_profile_is_denied(registry, policies) -> None:
    decision = decide(enrol(), context(contact=None, person_known=False), registry, policies)

    assert decision.verdict is Verdict.DENIED
    assert "not found" in rule(decision, "consent.contactable").reason


def test_a_suppressed_person_is_denied(registry, policies) -> None:
    decision = decide(enrol(), context(contact=contact(is_suppressed=True)), registry, policies)

    assert decision.verdict is Verdict.DENIED
    assert fired_ids(decision) == ["suppression.list"]
    assert "suppression list" in rule(decision, "suppression.list").reason


def test_no_lawful_basis_is_denied(registry, policies) -> None:
    decision = decide(enrol(), context(contact=contact(consent_status="unknown")), registry, policies)

    assert decision.verdict is Verdict.DENIED
    assert fired_ids(decision) == ["consent.lawful_basis"]
    assert "consent unknown" in rule(decision, "consent.lawful_basis").reason


@pytest.mark.parametrize(
    ("facts", "named"),
    [
        ({"consent_status": "opted_out"}, "consent opted_out"),
        ({"has_unsubscribed": True}, "unsubscribed"),
        ({"has_bounced": True}, "bounced"),
        ({"consent_status": "opted_out", "has_bounced": True}, "consent opted_out, bounced"),
    ],
)
def test_an_uncontactable_person_is_denied_naming_why(registry, policies, facts, named) -> None:
    decision = decide(enrol(), context(contact=contact(**facts)), registry, policies)

    assert decision.verdict is Verdict.DENIED
    assert fired_ids(decision) == ["consent.contactable"]
    assert named in rule(decision, "consent.contactable").reason


def test_the_channel_frequency_cap_denies_at_the_cap_naming_the_count(registry, policies) -> None:
    under = decide(enrol(), context(contact=contact(actions_on_channel=0)), registry, policies)
    at_cap = decide(enrol(), context(contact=contact(actions_on_channel=1)), registry, policies)

    assert under.verdict is Verdict.ALLOWED
    assert at_cap.verdict is Verdict.DENIED
    assert fired_ids(at_cap) == ["frequency_cap.sales_engagement"]
    assert rule(at_cap, "frequency_cap.sales_engagement").reason == "1 of 1 sales_engagement actions used in 14 days"


def test_the_cross_channel_cap_denies_at_the_cap_naming_the_count(registry, policies) -> None:
    under = decide(enrol(), context(contact=contact(actions_across_channels=1)), registry, policies)
    at_cap = decide(enrol(), context(contact=contact(actions_across_channels=2)), registry, policies)

    assert under.verdict is Verdict.ALLOWED
    assert at_cap.verdict is Verdict.DENIED
    assert fired_ids(at_cap) == ["frequency_cap.cross_channel"]
    assert rule(at_cap, "frequency_cap.cross_channel").reason == "2 of 2 actions across channels in 7 days"


# --- quiet hours ----------------------------------------------------------------------------------------


def test_quiet_hours_deny_22_00_in_the_contacts_own_zone(registry, policies) -> None:
    # 21:00 UTC in November is 22:00 in Berlin (CET, UTC+1) but 16:00 in New York.
    late = datetime(2026, 11, 25, 21, 0)
    unscheduled = enrol(payload={"sequence_id": "evaluation-guide"})

    berlin = decide(unscheduled, context(now=late), registry, policies)
    new_york = decide(unscheduled, context(now=late, contact=contact(timezone="America/New_York")), registry, policies)

    assert berlin.verdict is Verdict.DENIED
    assert fired_ids(berlin) == ["quiet_hours"]
    assert rule(berlin, "quiet_hours").reason == "would land at 22:00 contact time, inside quiet hours 20:00-08:00"
    assert new_york.verdict is Verdict.ALLOWED
    assert "16:00" in rule(new_york, "quiet_hours").reason


def test_quiet_hours_follow_daylight_saving_time(registry, policies) -> None:
    # 18:30 UTC in July is 20:30 in Berlin (CEST, UTC+2): quiet; in November (CET) it is 19:30: not quiet.
    unscheduled = enrol(payload={"sequence_id": "evaluation-guide"})

    summer = decide(unscheduled, context(now=datetime(2026, 7, 1, 18, 30)), registry, policies)
    winter = decide(unscheduled, context(now=datetime(2026, 11, 25, 18, 30)), registry, policies)

    assert summer.verdict is Verdict.DENIED
    assert "20:00 contact time" in rule(summer, "quiet_hours").reason
    assert winter.verdict is Verdict.ALLOWED
    assert "19:00 contact time" in rule(winter, "quiet_hours").reason


def berlin(hour: int) -> datetime:
    """The UTC moment it is `hour`:00 in Berlin on 25 November (CET, UTC+1)."""
    return datetime(2026, 11, 25) + timedelta(hours=hour - 1)


UNSCHEDULED = {"sequence_id": "evaluation-guide"}
"""An enrolment whose first step lands when it executes."""


@pytest.mark.parametrize(
    ("hour", "verdict"),
    [(0, Verdict.DENIED), (7, Verdict.DENIED), (8, Verdict.ALLOWED), (19, Verdict.ALLOWED), (20, Verdict.DENIED)],
)
def test_a_quiet_window_that_wraps_midnight(registry, policies, hour, verdict) -> None:
    decision = decide(enrol(payload=UNSCHEDULED), context(now=berlin(hour)), registry, policies)

    assert decision.verdict is verdict
    assert f"would land at {hour:02d}:00 contact time" in rule(decision, "quiet_hours").reason


@pytest.mark.parametrize(("hour", "verdict"), [(11, Verdict.ALLOWED), (12, Verdict.DENIED), (14, Verdict.ALLOWED)])
def test_a_quiet_window_within_one_day(registry, policies, hour, verdict) -> None:
    lunch = policies.model_copy(
        update={"quiet_hours": QuietHours(start_hour=12, end_hour=14, channels=("sales_engagement",))}
    )

    decision = decide(enrol(payload=UNSCHEDULED), context(now=berlin(hour)), registry, lunch)

    assert decision.verdict is verdict
    assert "12:00-14:00" in rule(decision, "quiet_hours").reason


def test_a_scheduled_first_step_is_judged_at_the_governors_hour_not_when_it_executes(registry, policies) -> None:
    """Enrolled at 22:00 Berlin time, the sequence's first step goes out at the governor's hour for the contact:
    the send-time model's 09:00, or the policy's default 10:00 without one."""
    modelled = context(now=berlin(22), contact=contact(recommended_send_hour=9))

    with_model = decide(
        enrol(payload={"sequence_id": "evaluation-guide", "send_at_local_hour": 9}), modelled, registry, policies
    )
    by_default = decide(enrol(), context(now=berlin(22)), registry, policies)

    assert with_model.verdict is Verdict.ALLOWED
    assert rule(with_model, "quiet_hours").reason == (
        "scheduled for 09:00 contact time (the send-time model's hour), outside 20:00-08:00"
    )
    assert by_default.verdict is Verdict.ALLOWED
    assert "scheduled for 10:00 contact time (the default send hour)" in rule(by_default, "quiet_hours").reason


@pytest.mark.parametrize(("claimed", "recommended"), [(3, None), (14, None), ("10", None), (10.0, None), (10, 9)])
def test_quiet_hours_never_trust_the_agents_own_send_hour(registry, policies, claimed, recommended) -> None:
    """Finding 11: an agent naming any hour but the governor's (a 03:00 that lands in the night, an hour the
    send-time model does not give, a string) is denied."""
    decision = decide(
        enrol(payload={"sequence_id": "evaluation-guide", "send_at_local_hour": claimed}),
        context(contact=contact(recommended_send_hour=recommended)),
        registry,
        policies,
    )

    assert decision.verdict is Verdict.DENIED
    assert fired_ids(decision) == ["quiet_hours"]
    scheduled = 10 if recommended is None else recommended
    assert f"the agent scheduled {claimed!r}, but the governor's schedule for this contact is {scheduled:02d}:00" in (
        rule(decision, "quiet_hours").reason
    )


def test_a_send_time_model_hour_inside_quiet_hours_is_denied(registry, policies) -> None:
    decision = decide(
        enrol(payload={"sequence_id": "evaluation-guide", "send_at_local_hour": 22}),
        context(contact=contact(recommended_send_hour=22)),
        registry,
        policies,
    )

    assert decision.verdict is Verdict.DENIED
    assert rule(decision, "quiet_hours").reason == "scheduled for 22:00 contact time, inside 20:00-08:00"


@pytest.mark.parametrize(("start", "end", "default"), [(20, 20, 10), (20, 8, 22), (9, 17, 10)])
def test_a_quiet_window_that_is_empty_or_holds_the_default_send_hour_is_refused(start, end, default) -> None:
    with pytest.raises(ValueError, match=r"start_hour equals end_hour|inside the quiet hours"):
        QuietHours(start_hour=start, end_hour=end, channels=("email",), default_send_hour=default)


def test_the_sdr_agents_fixed_hour_is_the_governors_default(policies) -> None:
    assert policies.quiet_hours.default_send_hour == FIXED_SEND_HOUR


@pytest.mark.parametrize("timezone", [None, "", "Mars/Olympus_Mons"])
def test_an_unknown_time_zone_cannot_keep_quiet_hours(registry, policies, timezone) -> None:
    unscheduled = enrol(payload={"sequence_id": "evaluation-guide"})

    decision = decide(unscheduled, context(contact=contact(timezone=timezone)), registry, policies)

    assert decision.verdict is Verdict.DENIED
    assert "time zone is unknown" in rule(decision, "quiet_hours").reason
    assert local_hour(NOW, timezone) is None


def test_quiet_hours_skip_channels_they_do_not_cover(registry, policies) -> None:
    email_only = policies.model_copy(
        update={"quiet_hours": QuietHours(start_hour=0, end_hour=1, channels=("email",), default_send_hour=3)}
    )

    decision = decide(
        enrol(payload={"sequence_id": "evaluation-guide", "send_at_local_hour": 3}), context(), registry, email_only
    )

    assert decision.verdict is Verdict.ALLOWED
    assert rule(decision, "quiet_hours").reason == "no quiet hours on this channel"


# --- budgets --------------------------------------------------------------------------------------------


def test_a_campaign_outside_the_agents_budget_scope_is_denied(registry, policies) -> None:
    decision = decide(budget_change(100.0, campaign_id="cmp_brand_99"), context(contact=None), registry, policies)

    assert decision.verdict is Verdict.DENIED
    assert fired_ids(decision) == ["catalogue.campaign", "budget.scope"]
    assert "cmp_brand_99" in rule(decision, "budget.scope").reason
    assert "'cmp_brand_99' is not a known campaign" in rule(decision, "catalogue.campaign").reason


def _ads_scoped_to(registry: AgentRegistry, *campaigns: str) -> AgentRegistry:
    return registry.model_copy(
        update={
            "agents": tuple(
                agent.model_copy(
                    update={"budget_scope": agent.budget_scope.model_copy(update={"campaigns": campaigns})}
                )
                if agent.budget_scope
                else agent
                for agent in registry.agents
            )
        }
    )


@pytest.mark.parametrize("spend", [0.0, 0, 100.0])
def test_the_budget_scope_holds_whatever_the_amount(registry, policies, spend) -> None:
    """A budget change of nothing on a campaign outside the agent's scope used to pass every budget rule."""
    narrow = _ads_scoped_to(registry, "cmp_linkedin_01")

    decision = decide(budget_change(spend, campaign_id="cmp_linkedin_02"), context(contact=None), narrow, policies)
    inside = decide(budget_change(spend), context(contact=None), narrow, policies)

    assert decision.verdict is Verdict.DENIED
    assert fired_ids(decision) == ["budget.scope"]
    assert "account_ads_agent has no budget scope on cmp_linkedin_02" in rule(decision, "budget.scope").reason
    assert inside.verdict is Verdict.ALLOWED


def test_a_zero_budget_change_telling_the_channel_a_million_on_another_channels_campaign_is_denied(
    registry, policies
) -> None:
    """The reproduction: spend 0 on cmp_google_01 from the LinkedIn adapter, payload a million."""
    action = budget_change(0.0, campaign_id="cmp_google_01", payload={"daily_budget_change": 1_000_000})

    decision = decide(action, context(contact=None), registry, policies)

    assert decision.verdict is Verdict.DENIED
    assert fired_ids(decision) == ["catalogue.campaign", "budget.payload_amount", "budget.scope"]
    assert rule(decision, "catalogue.campaign").reason == "cmp_google_01 runs on google, not linkedin"


@pytest.mark.parametrize(("spend", "told"), [(1.0, 1_000_000), (100.0, 100.01), (0.0, 1), (100.0, -100.0)])
def test_a_budget_change_whose_payload_names_other_money_than_its_spend_is_denied(
    registry, policies, spend, told
) -> None:
    decision = decide(
        budget_change(spend, payload={"daily_budget_change": told}), context(contact=None), registry, policies
    )
    approved = decide(
        budget_change(spend, payload={"daily_budget_change": told}),
        context(contact=None, approved_by="priya.natarajan"),
        registry,
        policies,
    )

    assert decision.verdict is Verdict.DENIED and approved.verdict is Verdict.DENIED
    assert fired_ids(decision) == ["budget.payload_amount"]
    assert f"daily_budget_change {told!r} and the spend {spend!r} judged differ" in (
        rule(decision, "budget.payload_amount").reason
    )


def test_a_budget_change_whose_payload_names_its_spend_exactly_passes(registry, policies) -> None:
    decision = decide(
        budget_change(700.0, payload={"daily_budget_change": 700}), context(contact=None), registry, policies
    )

    assert decision.verdict is Verdict.ALLOWED
    assert rule(decision, "budget.payload_amount").verdict is Verdict.ALLOWED


@pytest.mark.parametrize("sequence", ["not-a-sequence", "Evaluation-Guide", ""])
def test_an_enrolment_in_a_sequence_not_in_the_catalogue_is_denied(registry, policies, sequence) -> None:
    decision = decide(enrol(payload={"sequence_id": sequence, "send_at_local_hour": 10}), context(), registry, policies)

    assert decision.verdict is Verdict.DENIED
    fired = "proposal.malformed" if sequence == "" else "catalogue.sequence"
    assert fired_ids(decision) == [fired]
    if sequence:
        assert f"{sequence!r} is not a known sequence" in rule(decision, "catalogue.sequence").reason


def test_an_enrolment_in_a_known_sequence_passes_the_catalogue(registry, policies) -> None:
    decision = decide(enrol(), context(), registry, policies)

    assert decision.verdict is Verdict.ALLOWED
    assert rule(decision, "catalogue.sequence").reason == "evaluation-guide is a known sequence"


def test_a_creative_on_a_campaign_not_in_the_catalogue_is_denied(registry, policies) -> None:
    decision = decide(creative(campaign_id="cmp_brand_99"), context(contact=None), registry, policies)

    assert decision.verdict is Verdict.DENIED
    assert "catalogue.campaign" in fired_ids(decision)


def test_a_change_above_the_agents_per_action_limit_is_denied(registry, policies) -> None:
    at_limit = decide(budget_change(1500.0), context(contact=None), registry, policies)
    over = decide(budget_change(1500.01), context(contact=None), registry, policies)

    assert "budget.max_change" not in {result.rule_id for result in at_limit.rules}
    assert over.verdict is Verdict.DENIED
    assert rule(over, "budget.max_change").reason == "1,500.01 exceeds the agent's 1,500.00 per action"


CAPS = [
    ("campaign", "cmp_linkedin_01", "cmp_linkedin_01", "daily", 2500.0),
    ("campaign", "cmp_linkedin_01", "cmp_linkedin_01", "monthly", 20000.0),
    ("channel", "linkedin", "linkedin", "daily", 4000.0),
    ("channel", "linkedin", "linkedin", "monthly", 30000.0),
    ("account", "*", "acc_1", "daily", 1200.0),
    ("account", "*", "acc_1", "monthly", 4000.0),
]


@pytest.mark.parametrize(("scope", "cap_id", "subject", "period", "limit"), CAPS)
def test_a_budget_cap_allows_exactly_the_cap_and_denies_a_cent_over(
    registry, policies, scope, cap_id, subject, period, limit
) -> None:
    rule_id = f"budget.{scope}.{period}"
    exactly = context(contact=None, budget_usage=(usage(policies, scope, cap_id, period, limit - 500.0, subject),))
    cent_over = context(contact=None, budget_usage=(usage(policies, scope, cap_id, period, limit - 499.99, subject),))

    allowed = decide(budget_change(500.0), exactly, registry, policies)
    denied = decide(budget_change(500.0), cent_over, registry, policies)

    assert allowed.verdict is Verdict.ALLOWED
    assert (
        rule(allowed, rule_id).reason == f"{scope} {subject}: {limit:,.2f} of {limit:,.2f} {period} after this change"
    )
    assert denied.verdict is Verdict.DENIED
    assert fired_ids(denied) == [rule_id]
    assert f"{limit + 0.01:,.2f} of {limit:,.2f} {period}" in rule(denied, rule_id).reason


@pytest.mark.parametrize("spend", [math.nan, math.inf, -math.inf, -400.0, -0.01, -50_000.0])
def test_money_that_is_not_a_finite_non_negative_amount_is_denied(registry, policies, spend) -> None:
    # NaN compares false with every cap, so it used to pass them all; a negative spend released budget.
    under = context(contact=None, budget_usage=(usage(policies, "campaign", "cmp_linkedin_01", "daily", 100.0),))

    decision = decide(budget_change(spend), under, registry, policies)
    approved = decide(budget_change(spend), replace(under, approved_by="priya.natarajan"), registry, policies)

    assert decision.verdict is Verdict.DENIED
    assert approved.verdict is Verdict.DENIED
    assert "budget.invalid_amount" in fired_ids(decision)
    assert repr(spend) in rule(decision, "budget.invalid_amount").reason


@pytest.mark.parametrize(("spent", "limit"), [(math.nan, 2500.0), (0.0, math.nan), (0.0, math.inf), (math.inf, 1e9)])
def test_a_cap_or_total_that_is_not_finite_fails_closed(registry, policies, spent, limit) -> None:
    cap = next(cap for cap in policies.budgets.caps if cap.id == "cmp_linkedin_01")
    broken = BudgetUsage(cap=cap.model_copy(update={"daily": limit}), scope_id=cap.id, period="daily", spent=spent)

    decision = decide(budget_change(100.0), context(contact=None, budget_usage=(broken,)), registry, policies)

    assert decision.verdict is Verdict.DENIED
    assert fired_ids(decision) == ["budget.campaign.daily"]
    assert "not a finite number" in rule(decision, "budget.campaign.daily").reason


def test_a_non_finite_approval_threshold_or_per_action_limit_fails_closed(registry, policies) -> None:
    no_threshold = policies.model_copy(
        update={"budgets": policies.budgets.model_copy(update={"approval_threshold": math.nan})}
    )
    ads = registry.get("account_ads_agent")
    unlimited = ads.model_copy(
        update={"budget_scope": ads.budget_scope.model_copy(update={"max_change_per_action": math.inf})}
    )
    loose = registry.model_copy(update={"agents": tuple(unlimited if a.id == ads.id else a for a in registry.agents)})

    by_threshold = decide(budget_change(100.0), context(contact=None), registry, no_threshold)
    by_limit = decide(budget_change(100.0), context(contact=None), loose, policies)

    assert fired_ids(by_threshold) == ["budget.approval_threshold"]
    assert by_threshold.verdict is Verdict.DENIED
    assert fired_ids(by_limit) == ["budget.max_change"]


def test_a_change_above_the_approval_threshold_needs_approval(registry, policies) -> None:
    at_threshold = decide(budget_change(750.0), context(contact=None), registry, policies)
    above = decide(budget_change(750.01), context(contact=None), registry, policies)

    assert at_threshold.verdict is Verdict.ALLOWED
    assert above.verdict is Verdict.NEEDS_APPROVAL
    assert fired_ids(above) == ["budget.approval_threshold"]
    assert rule(above, "budget.approval_threshold").reason == (
        "a change of 750.01 is above the 750.00 approval threshold"
    )


def test_an_action_that_moves_no_money_has_no_budget_rules(registry, policies) -> None:
    decision = decide(enrol(), context(), registry, policies)

    assert not [result for result in decision.rules if result.rule_id.startswith("budget.")]


# --- brand safety ---------------------------------------------------------------------------------------


def copy_decision(registry, policies, body: str) -> PolicyDecision:
    return decide(enrol(content={"subject": "A quick idea", "body": body}), context(), registry, policies)


@pytest.mark.parametrize(
    ("body", "rule_id", "named"),
    [
        ("Act NOW before the quarter ends.", "brand_safety.banned_phrase", "'act now'"),
        ("Risk-free for 30 days.", "brand_safety.banned_phrase", "'risk-free'"),
        ("The number one platform for RevOps.", "brand_safety.unapproved_claim", "'number one'"),
        ("Rated No. 1 by analysts.", "brand_safety.unapproved_claim", "'No. 1'"),
        ("The fastest in the market.", "brand_safety.unapproved_claim", "'fastest in the market'"),
        ("Teams book 40% more meetings.", "brand_safety.unapproved_claim", "'40% more'"),
        ("Pipeline is guaranteed.", "brand_safety.unapproved_claim", "'guaranteed'"),
        ("Unlike HubSpot, we read intent.", "brand_safety.competitor", "'HubSpot'"),
        ("Switching from 6sense takes a day.", "brand_safety.competitor", "'6sense'"),
        ("Call me on +1 (415) 555-0134.", "brand_safety.personal_data", "'phone_number'"),
        ("Write to jane.doe@acme-corp.com today.", "brand_safety.personal_data", "'email_address'"),
    ],
)
def test_each_brand_safety_rule_denies_naming_what_it_found(registry, policies, body, rule_id, named) -> None:
    decision = copy_decision(registry, policies, body)

    assert decision.verdict is Verdict.DENIED
    assert rule_id in fired_ids(decision)
    assert named in rule(decision, rule_id).reason


def test_a_hash_one_claim_is_caught(registry, policies) -> None:
    decision = copy_decision(registry, policies, "We are the #1 intent platform.")

    assert "brand_safety.unapproved_claim" in fired_ids(decision)


def test_clean_copy_and_lookalike_words_pass_brand_safety(registry, policies) -> None:
    decision = copy_decision(registry, policies, "Marketology tips for the best quarter yet, from our terminus team.")

    # `Terminus` is a competitor, and matches whole words case-insensitively.
    assert fired_ids(decision) == ["brand_safety.competitor"]
    assert "'Terminus'" in rule(decision, "brand_safety.competitor").reason
    clean = copy_decision(registry, policies, "Marketology tips for the best quarter yet.")
    assert clean.verdict is Verdict.ALLOWED
    assert {rule(clean, rule_id).reason for rule_id in ("brand_safety.banned_phrase", "brand_safety.competitor")} == {
        "copy is clean"
    }


def test_net_new_creative_needs_approval(registry, policies) -> None:
    decision = decide(creative(), context(contact=None), registry, policies)

    assert decision.verdict is Verdict.NEEDS_APPROVAL
    assert {"brand_safety.new_creative", "approval.route", "rollout.checkpoint"} <= set(fired_ids(decision))


def test_a_creative_with_a_competitor_is_denied_not_just_held(registry, policies) -> None:
    action = creative(content={"headline": "Better than Demandbase", "body": "See who is researching you."})

    decision = decide(action, context(contact=None), registry, policies)

    assert decision.verdict is Verdict.DENIED
    assert "'Demandbase'" in rule(decision, "brand_safety.competitor").reason


# --- sensitive audiences and distress ------------------------------------------------------------------


@pytest.mark.parametrize("industry", ["healthcare", "fintech"])
def test_a_regulated_industry_needs_approval_naming_it(registry, policies, industry) -> None:
    account = AccountFacts(account_id="acc_1", tier=3, industry=industry)

    decision = decide(enrol(), context(account=account), registry, policies)

    assert decision.verdict is Verdict.NEEDS_APPROVAL
    assert fired_ids(decision) == ["sensitive.regulated_industry"]
    assert f"({industry})" in rule(decision, "sensitive.regulated_industry").reason


@pytest.mark.parametrize(
    ("seniority", "title", "named"),
    [
        ("c_suite", "Chief Revenue Officer", "c_suite"),
        ("vp", "Chair of the Board", "vp"),
        (None, "Board Member", "board"),
    ],
)
def test_first_outreach_to_a_senior_contact_at_a_tier_1_account_needs_approval(
    registry, policies, seniority, title, named
) -> None:
    tier_1 = AccountFacts(account_id="acc_1", tier=1, industry="saas")
    senior = contact(seniority=seniority, job_title=title)

    first = decide(enrol(), context(account=tier_1, contact=senior), registry, policies)
    again = decide(enrol(), context(account=tier_1, contact=replace(senior, prior_outreach=1)), registry, policies)
    tier_2 = decide(enrol(), context(contact=senior), registry, policies)

    assert first.verdict is Verdict.NEEDS_APPROVAL
    assert fired_ids(first) == ["sensitive.senior_first_outreach"]
    assert rule(first, "sensitive.senior_first_outreach").reason == (
        f"first outreach to a {named} contact at a tier 1 account"
    )
    assert again.verdict is Verdict.ALLOWED
    assert tier_2.verdict is Verdict.ALLOWED


def test_a_board_word_inside_another_word_is_not_a_board_title(registry, policies) -> None:
    tier_1 = AccountFacts(account_id="acc_1", tier=1, industry="saas")

    decision = decide(
        enrol(), context(account=tier_1, contact=contact(job_title="Keyboard Firmware Lead")), registry, policies
    )

    assert decision.verdict is Verdict.ALLOWED


@pytest.mark.parametrize(
    ("facts", "named"),
    [({"unsubscribe_events": 2}, "2 unsubscribe attempts"), ({"complaint_events": 1}, "1 spam complaints")],
)
def test_distress_escalates_naming_the_signal(registry, policies, facts, named) -> None:
    decision = decide(enrol(), context(contact=contact(**facts)), registry, policies)

    assert decision.verdict is Verdict.ESCALATED
    assert fired_ids(decision) == ["distress.signals"]
    assert named in rule(decision, "distress.signals").reason


def test_one_unsubscribe_attempt_is_not_distress(registry, policies) -> None:
    decision = decide(enrol(), context(contact=contact(unsubscribe_events=1)), registry, policies)

    assert rule(decision, "distress.signals").verdict is Verdict.ALLOWED


def test_distress_outranks_a_denial(registry, policies) -> None:
    distressed = contact(unsubscribe_events=3, has_unsubscribed=True, is_suppressed=True)

    decision = decide(enrol(), context(contact=distressed), registry, policies)

    assert decision.verdict is Verdict.ESCALATED
    assert set(fired_ids(decision)) == {"distress.signals", "suppression.list", "consent.contactable"}


# --- rollout and approval -------------------------------------------------------------------------------


def test_phase_1_sends_every_decision_to_review_counting_them(registry, policies) -> None:
    decision = decide(enrol(), context(agent_state=AgentState(phase=1, reviewed_decisions=3)), registry, policies)

    assert decision.verdict is Verdict.NEEDS_APPROVAL
    assert fired_ids(decision) == ["rollout.phase_1"]
    assert "decision 4 of the first 50" in rule(decision, "rollout.phase_1").reason


def test_phase_2_holds_handoffs_but_not_enrolments(registry, policies) -> None:
    phase_2 = AgentState(phase=2, reviewed_decisions=50)

    held = decide(handoff("account_ads_agent"), context(contact=None, agent_state=phase_2), registry, policies)
    enrolled = decide(enrol(), context(agent_state=phase_2), registry, policies)

    assert held.verdict is Verdict.NEEDS_APPROVAL
    assert fired_ids(held) == ["rollout.phase_2_handoff"]
    assert "30 days" in rule(held, "rollout.phase_2_handoff").reason
    assert enrolled.verdict is Verdict.ALLOWED


def test_approval_turns_held_rules_into_allowed_naming_the_reviewer(registry, policies) -> None:
    held = context(
        agent_state=AgentState(phase=1),
        account=AccountFacts(account_id="acc_1", tier=1, industry="healthcare"),
        approved_by="sam.okafor",
    )

    decision = decide(enrol(), held, registry, policies)

    assert decision.verdict is Verdict.ALLOWED
    for rule_id in ("rollout.phase_1", "sensitive.regulated_industry"):
        assert rule(decision, rule_id).reason.startswith("approved by sam.okafor (")


@pytest.mark.parametrize(
    "facts",
    [
        {"contact": contact(is_suppressed=True)},
        {"contact": contact(actions_on_channel=1)},
        {"agent_state": AgentState(paused=True, pause_reason="paused")},
        {"contact": contact(unsubscribe_events=2)},
    ],
)
def test_approval_never_overrides_a_denial_or_an_escalation(registry, policies, facts) -> None:
    unapproved = decide(enrol(), context(**facts), registry, policies)
    approved = decide(enrol(), context(approved_by="dana.reyes", **facts), registry, policies)

    assert approved.verdict is unapproved.verdict
    assert approved.verdict in (Verdict.DENIED, Verdict.ESCALATED)


def test_approval_does_not_lift_a_budget_cap(registry, policies) -> None:
    full = (usage(policies, "account", "*", "daily", 1000.0, "acc_1"),)

    decision = decide(
        budget_change(900.0),
        context(contact=None, budget_usage=full, approved_by="priya.natarajan"),
        registry,
        policies,
    )

    assert decision.verdict is Verdict.DENIED
    assert rule(decision, "budget.approval_threshold").verdict is Verdict.ALLOWED
    assert rule(decision, "budget.account.daily").verdict is Verdict.DENIED


# --- rollback -------------------------------------------------------------------------------------------


ORIGINAL = "a" * 32


def rollback_of(action_type: str, **overrides: Any) -> ProposedAction:
    return enrol(action_type=action_type, rollback_of=ORIGINAL, trigger_key="rollback:" + ORIGINAL, **overrides)


def stored_original(**overrides: Any) -> RollbackFacts:
    """What the governor's rollback reads from the store: an executed enrolment of the SDR agent, not undone."""
    values: dict[str, Any] = {
        "action_id": ORIGINAL,
        "agent_id": "sdr_sequence_agent",
        "action_type": "enrol_in_sequence",
        "channel": "sales_engagement",
        "person_id": "per_1",
        "account_id": "acc_1",
        "campaign_id": None,
        "status": "executed",
        "rolled_back_by": None,
        "is_rollback": False,
        "booked_spend": 0.0,
    }
    values.update(overrides)
    return RollbackFacts(**values)


def boost_original(booked: float = 1400.0) -> RollbackFacts:
    return stored_original(
        agent_id="account_ads_agent",
        action_type="adjust_campaign_budget",
        channel="linkedin",
        person_id=None,
        campaign_id="cmp_linkedin_01",
        booked_spend=booked,
    )


def revert(spend: float) -> ProposedAction:
    """The inverse of a boost as `rollbacks._inverse` builds it: its payload names what it undoes."""
    return budget_change(
        spend, action_type="revert_campaign_budget", rollback_of=ORIGINAL, payload={"undoes": "adjust_campaign_budget"}
    )


def test_a_proposal_that_names_itself_a_rollback_is_denied_as_forged(registry, policies) -> None:
    # The attack: a paused agent proposes a "rollback" releasing 50,000 it never booked, to lift its caps.
    paused = AgentState(paused=True, pause_reason="all agents are paused")
    forged = revert(-50_000.0)

    decision = decide(forged, context(contact=None, agent_state=paused), registry, policies)
    approved = decide(forged, context(contact=None, approved_by="priya.natarajan"), registry, policies)

    assert decision.verdict is Verdict.DENIED
    assert approved.verdict is Verdict.DENIED
    assert fired_ids(decision) == ["scope.rollback_forged"]
    assert "only the governor's rollback builds an inverse" in rule(decision, "scope.rollback_forged").reason


def test_a_governor_built_rollback_runs_while_the_agent_is_paused(registry, policies) -> None:
    paused = AgentState(paused=True, pause_reason="all agents are paused")

    decision = decide(
        rollback_of("remove_from_sequence"),
        context(agent_state=paused, rollback=stored_original()),
        registry,
        policies,
    )

    assert decision.verdict is Verdict.ALLOWED
    assert "while the agent is paused" in rule(decision, "kill_switch").reason
    assert "undoes" in rule(decision, "scope.rollback").reason


def test_a_governor_built_rollback_skips_contact_and_budget_rules(registry, policies) -> None:
    gone = contact(is_suppressed=True, has_unsubscribed=True, unsubscribe_events=4)
    full = (usage(policies, "campaign", "cmp_linkedin_01", "daily", 1e6),)

    undo_enrolment = decide(
        rollback_of("remove_from_sequence"), context(contact=gone, rollback=stored_original()), registry, policies
    )
    undo_budget = decide(
        revert(-1400.0), context(contact=None, budget_usage=full, rollback=boost_original()), registry, policies
    )

    assert undo_enrolment.verdict is Verdict.ALLOWED
    assert undo_budget.verdict is Verdict.ALLOWED
    assert [result.rule_id for result in undo_enrolment.rules] == ["kill_switch", "scope.rollback"]
    assert rule(undo_budget, "budget.rollback_amount").reason.startswith("releases 1,400.00 of the 1,400.00 booked")


@pytest.mark.parametrize("spend", [-1400.01, -1399.99, -50_000.0, 0.0, 1400.0, math.nan, -math.inf])
def test_a_rollback_releases_exactly_the_money_booked(registry, policies, spend) -> None:
    decision = decide(revert(spend), context(contact=None, rollback=boost_original(1400.0)), registry, policies)

    assert decision.verdict is Verdict.DENIED
    assert fired_ids(decision) == ["budget.rollback_amount"]


@pytest.mark.parametrize(
    ("original", "reason"),
    [
        (stored_original(status="pending_approval"), "is pending_approval, not executed"),
        (stored_original(status="rolled_back", rolled_back_by="b" * 32), "already rolled back"),
        (stored_original(is_rollback=True), "is itself a rollback"),
        (stored_original(agent_id="account_ads_agent"), "belongs to account_ads_agent"),
        (stored_original(action_type="handoff_to_agent"), "not sdr_sequence_agent's declared inverse"),
        (stored_original(person_id="per_2"), "another channel, person, account or campaign"),
        (stored_original(action_id="c" * 32), None),
    ],
)
def test_a_rollback_must_undo_an_executed_action_of_the_same_agent(registry, policies, original, reason) -> None:
    decision = decide(rollback_of("remove_from_sequence"), context(rollback=original), registry, policies)

    assert decision.verdict is Verdict.DENIED
    if reason is None:
        assert fired_ids(decision) == ["scope.rollback_forged"]
    else:
        assert fired_ids(decision) == ["scope.rollback"]
        assert reason in rule(decision, "scope.rollback").reason


@pytest.mark.parametrize("action_type", ["enrol_in_sequence", "revert_campaign_budget", "delete_contact"])
def test_a_rollback_is_scoped_to_the_agents_declared_inverses(registry, policies, action_type) -> None:
    decision = decide(rollback_of(action_type), context(rollback=stored_original()), registry, policies)

    assert decision.verdict is Verdict.DENIED
    assert fired_ids(decision) == ["scope.rollback"]
    assert action_type in rule(decision, "scope.rollback").reason


def test_a_required_data_check_failing_at_execution_escalates(registry, policies) -> None:
    failing = ("data check dim_person_expectations failed at 2026-11-25 09:00:00: email not unique",)

    decision = decide(enrol(), context(approved_by="sam.okafor", failing_checks=failing), registry, policies)

    assert decision.verdict is Verdict.ESCALATED
    assert fired_ids(decision) == ["data_checks.required"]
    assert "dim_person_expectations failed" in rule(decision, "data_checks.required").reason
