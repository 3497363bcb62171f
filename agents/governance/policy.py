"""The policy engine: a pure function from a proposed action and its context to a decision.

No I/O happens here. The caller gathers the facts (consent, suppression, contact history, budget spent,
the agent's phase and pause state) into an `ActionContext`; the engine applies every rule from the
config files and returns the verdict with each rule's id and reason, so the audit log can say exactly
why an action was allowed, held for a human, denied or escalated. The same function runs when an
action is proposed and again, with fresh facts, at the moment it is executed.

Every rule fails closed: money that is not a finite, non-negative number, a cap or a total that is not finite,
and an inverse the governor did not build itself are denied, never waved through by a comparison that is
false for NaN.

Before any rule, the proposal's shape is checked (`proposal_shape.malformed`); a malformed proposal is denied as
`proposal.malformed`, naming the field and the value's type, and no other rule runs on it (they would have to
trust its types). The ids the channel acts on
must exist (`policies.catalogue`), and a budget change's payload must name exactly the money it was judged on.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agents.actions import ProposedAction
from agents.config import AgentDefinition, AgentRegistry, BudgetCap, PolicySet, unknown_id
from agents.governance.proposal_shape import (
    BUDGET_ACTION,
    BUDGET_FIELD,
    ENROL_ACTION,
    HANDOFF_ACTION,
    MALFORMED,
    SEQUENCE_FIELD,
    malformed,
)


class Verdict(StrEnum):
    ALLOWED = "allowed"
    NEEDS_APPROVAL = "needs_approval"
    DENIED = "denied"
    ESCALATED = "escalated"


SEVERITY = {Verdict.ALLOWED: 0, Verdict.NEEDS_APPROVAL: 1, Verdict.DENIED: 2, Verdict.ESCALATED: 3}
"""An escalation outranks a denial: both stop the action, but an escalation also calls the owner."""


@dataclass(frozen=True)
class RuleResult:
    rule_id: str
    verdict: Verdict
    reason: str


@dataclass(frozen=True)
class PolicyDecision:
    verdict: Verdict
    rules: tuple[RuleResult, ...]
    policy_version: str

    @property
    def fired(self) -> tuple[RuleResult, ...]:
        """The rules that stopped or held the action."""
        return tuple(rule for rule in self.rules if rule.verdict is not Verdict.ALLOWED)

    def summary(self) -> str:
        return "; ".join(f"{rule.rule_id}: {rule.reason}" for rule in self.fired) or "all policy rules passed"


@dataclass(frozen=True)
class ContactFacts:
    """What is true about the person an action touches, read at decision time."""

    consent_status: str
    has_unsubscribed: bool
    has_bounced: bool
    is_suppressed: bool
    unsubscribe_events: int = 0
    complaint_events: int = 0
    seniority: str | None = None
    job_title: str | None = None
    timezone: str | None = None
    actions_on_channel: int = 0
    """Executed actions on the action's channel within that channel's cap window."""
    actions_across_channels: int = 0
    """Executed contact actions on any channel within the cross-channel window."""
    prior_outreach: int = 0
    """Executed contact actions ever, so a first outreach can be told apart."""
    recommended_send_hour: int | None = None
    """The send-time model's hour for the contact (their own clock), read by the governor itself."""


@dataclass(frozen=True)
class AccountFacts:
    account_id: str
    tier: int | None
    industry: str | None


@dataclass(frozen=True)
class BudgetUsage:
    """Money already committed under one cap in its current day or month."""

    cap: BudgetCap
    scope_id: str
    period: str
    """`daily` or `monthly`."""
    spent: float

    @property
    def limit(self) -> float:
        return float(self.cap.daily if self.period == "daily" else self.cap.monthly)  # type: ignore[arg-type]


@dataclass(frozen=True)
class AgentState:
    paused: bool = False
    pause_reason: str = ""
    phase: int = 3
    reviewed_decisions: int = 0


@dataclass(frozen=True)
class RollbackFacts:
    """What the governor read from the store about the executed action its inverse undoes. Only the governor's
    rollback sets it: an action carrying `rollback_of` without it is a forged rollback."""

    action_id: str
    agent_id: str
    action_type: str
    channel: str
    person_id: str | None
    account_id: str
    campaign_id: str | None
    status: str
    rolled_back_by: str | None
    is_rollback: bool
    """The original is itself an inverse: an undo is never undone."""
    booked_spend: float
    """What the ledger booked for the original; the inverse releases exactly this."""


@dataclass(frozen=True)
class ActionContext:
    now: datetime
    """UTC, naive."""
    agent_state: AgentState = field(default_factory=AgentState)
    contact: ContactFacts | None = None
    """None when the action touches no person, or the person is not in the profile (see person_known)."""
    person_known: bool = True
    account: AccountFacts | None = None
    budget_usage: tuple[BudgetUsage, ...] = ()
    approved_by: str | None = None
    """Set at execution once a reviewer approved: approval rules are then satisfied, not skipped."""
    rollback: RollbackFacts | None = None
    """Set only for an inverse the governor's rollback built, from the stored original."""
    failing_checks: tuple[str, ...] = ()
    """Why the agent's required data checks do not vouch for its data now (read when an approved action executes)."""


def decide(
    action: ProposedAction, context: ActionContext, registry: AgentRegistry, policies: PolicySet
) -> PolicyDecision:
    """Apply every rule; the most severe verdict wins and every rule's outcome is kept. A malformed proposal is
    denied on its shape alone."""
    refused = malformed_decision(action, policies)
    if refused is not None:
        return refused
    agent = registry.get(action.agent_id)
    results: list[RuleResult]
    if action.rollback_of is not None:
        results = _rollback(action, agent, context)
    else:
        results = [
            _kill_switch(context),
            *_scope(action, agent, registry),
            *_catalogue(action, policies),
            *_contact_rules(action, context, policies),
            *_budget(action, agent, context, policies),
            *_brand_safety(action, policies),
            *_sensitive_audience(action, context, policies),
            *_rollout(action, agent, context),
            *_data_checks(context),
        ]
    if context.approved_by is not None:
        results = [_approved(result, context.approved_by) for result in results]
    verdict = max((result.verdict for result in results), key=SEVERITY.__getitem__)
    return PolicyDecision(verdict=verdict, rules=tuple(results), policy_version=policies.policy_version)


def malformed_decision(action: ProposedAction, policies: PolicySet) -> PolicyDecision | None:
    """The denial of a malformed proposal, or None when its shape is sound."""
    problems = malformed(action)
    if not problems:
        return None
    result = RuleResult(MALFORMED, Verdict.DENIED, "; ".join(problems))
    return PolicyDecision(verdict=Verdict.DENIED, rules=(result,), policy_version=policies.policy_version)


def _catalogue(action: ProposedAction, policies: PolicySet) -> list[RuleResult]:
    """The campaign and sequence the channel would act on exist, and the campaign runs on the action's channel."""
    catalogue = policies.catalogue
    results = []
    if action.campaign_id is not None:
        campaign = next((campaign for campaign in catalogue.campaigns if campaign.id == action.campaign_id), None)
        if campaign is None:
            reason = unknown_id("campaign", action.campaign_id, catalogue.campaign_ids)
            results.append(RuleResult("catalogue.campaign", Verdict.DENIED, reason))
        elif campaign.channel != action.channel:
            reason = f"{campaign.id} runs on {campaign.channel}, not {action.channel}"
            results.append(RuleResult("catalogue.campaign", Verdict.DENIED, reason))
        else:
            results.append(RuleResult("catalogue.campaign", Verdict.ALLOWED, f"{campaign.id} is a known campaign"))
    if action.action_type == ENROL_ACTION:
        sequence = action.payload.get(SEQUENCE_FIELD)
        if sequence not in catalogue.sequences:
            reason = unknown_id("sequence", str(sequence), catalogue.sequences)
            results.append(RuleResult("catalogue.sequence", Verdict.DENIED, reason))
        else:
            results.append(RuleResult("catalogue.sequence", Verdict.ALLOWED, f"{sequence} is a known sequence"))
    return results


def _approved(result: RuleResult, reviewer: str) -> RuleResult:
    if result.verdict is not Verdict.NEEDS_APPROVAL:
        return result
    return RuleResult(result.rule_id, Verdict.ALLOWED, f"approved by {reviewer} ({result.reason})")


def _kill_switch(context: ActionContext) -> RuleResult:
    if context.agent_state.paused:
        return RuleResult("kill_switch", Verdict.DENIED, f"agent is paused: {context.agent_state.pause_reason}")
    return RuleResult("kill_switch", Verdict.ALLOWED, "agent is running")


def _rollback(action: ProposedAction, agent: AgentDefinition | None, context: ActionContext) -> list[RuleResult]:
    """An inverse skips the contact, budget and rollout rules (undoing must work while the agent is paused or
    the contact gone), so it is allowed only as the governor built it: undoing an executed, not yet undone
    action of the same agent with its declared inverse, releasing exactly the money booked for it."""
    if agent is None:
        return [RuleResult("scope.registered_agent", Verdict.DENIED, f"{action.agent_id} is not registered")]
    original = context.rollback
    if original is None or original.action_id != action.rollback_of:
        return [
            RuleResult(
                "scope.rollback_forged",
                Verdict.DENIED,
                f"{action.action_type} names itself a rollback of {action.rollback_of}: only the governor's "
                "rollback builds an inverse",
            )
        ]
    problems = [
        problem
        for problem, present in (
            (f"{original.action_id} is {original.status}, not executed", original.status != "executed"),
            (
                f"{original.action_id} was already rolled back by {original.rolled_back_by}",
                original.rolled_back_by is not None,
            ),
            (f"{original.action_id} is itself a rollback", original.is_rollback),
            (f"{original.action_id} belongs to {original.agent_id}", original.agent_id != action.agent_id),
            (
                f"{action.action_type} is not {agent.id}'s declared inverse of {original.action_type}",
                agent.inverse_of(original.action_type) != action.action_type,
            ),
            (
                "the inverse touches another channel, person, account or campaign than the original",
                (action.channel, action.person_id, action.account_id, action.campaign_id)
                != (original.channel, original.person_id, original.account_id, original.campaign_id),
            ),
        )
        if present
    ]
    if problems:
        return [RuleResult("scope.rollback", Verdict.DENIED, "; ".join(problems))]
    results = [
        RuleResult("kill_switch", Verdict.ALLOWED, "a rollback runs even while the agent is paused"),
        RuleResult("scope.rollback", Verdict.ALLOWED, f"{action.action_type} undoes {action.rollback_of}"),
    ]
    exact = math.isfinite(original.booked_spend) and action.spend == -original.booked_spend
    if action.spend != 0 or original.booked_spend != 0 or not exact:
        text = f"releases {-action.spend:,.2f} of the {original.booked_spend:,.2f} booked for {original.action_id}"
        results.append(RuleResult("budget.rollback_amount", Verdict.ALLOWED if exact else Verdict.DENIED, text))
    return results


def _scope(action: ProposedAction, agent: AgentDefinition | None, registry: AgentRegistry) -> list[RuleResult]:
    if agent is None:
        return [RuleResult("scope.registered_agent", Verdict.DENIED, f"{action.agent_id} is not registered")]
    if not agent.may_propose(action.action_type, action.channel):
        return [
            RuleResult(
                "scope.declared_actions",
                Verdict.DENIED,
                f"{action.agent_id} may not {action.action_type} on {action.channel}",
            )
        ]
    results = [RuleResult("scope.declared_actions", Verdict.ALLOWED, "within the agent's declared scope")]
    if action.action_type == HANDOFF_ACTION:
        allowed = agent.allowed(HANDOFF_ACTION)
        targets = allowed.handoff_to if allowed else ()
        if action.handoff_to not in targets or registry.get(action.handoff_to or "") is None:
            results.append(
                RuleResult("scope.handoff", Verdict.DENIED, f"{agent.id} may not hand off to {action.handoff_to}")
            )
        else:
            results.append(RuleResult("scope.handoff", Verdict.ALLOWED, f"may hand off to {action.handoff_to}"))
    return results


def _contact_rules(action: ProposedAction, context: ActionContext, policies: PolicySet) -> list[RuleResult]:
    if action.person_id is None:
        return []
    contact = context.contact
    if not context.person_known or contact is None:
        return [RuleResult("consent.contactable", Verdict.DENIED, "person not found in the profile")]
    return [
        _distress(contact, policies),
        _suppression(contact),
        _consent(contact, policies),
        *_frequency(action, contact, policies),
        _quiet_hours(action, contact, context.now, policies),
    ]


def _distress(contact: ContactFacts, policies: PolicySet) -> RuleResult:
    limits = policies.distress
    signs = []
    if contact.unsubscribe_events > limits.max_unsubscribe_events:
        signs.append(f"{contact.unsubscribe_events} unsubscribe attempts")
    if contact.complaint_events > limits.max_complaint_events:
        signs.append(f"{contact.complaint_events} spam complaints")
    if signs:
        return RuleResult(
            "distress.signals",
            Verdict.ESCALATED,
            f"contact shows distress ({', '.join(signs)}): suppress and escalate to the owner",
        )
    return RuleResult("distress.signals", Verdict.ALLOWED, "no distress signals")


def _suppression(contact: ContactFacts) -> RuleResult:
    if contact.is_suppressed:
        return RuleResult("suppression.list", Verdict.DENIED, "person is on the suppression list (do not contact)")
    return RuleResult("suppression.list", Verdict.ALLOWED, "not suppressed")


def _consent(contact: ContactFacts, policies: PolicySet) -> RuleResult:
    if policies.consent.require_lawful_basis and contact.consent_status == "unknown":
        return RuleResult("consent.lawful_basis", Verdict.DENIED, "no lawful basis on file (consent unknown)")
    if not policies.consent.require_contactable:
        return RuleResult("consent.contactable", Verdict.ALLOWED, "consent not required by policy")
    problems = [
        problem
        for problem, present in (
            (f"consent {contact.consent_status}", contact.consent_status != "opted_in"),
            ("unsubscribed", contact.has_unsubscribed),
            ("bounced", contact.has_bounced),
        )
        if present
    ]
    if problems:
        return RuleResult("consent.contactable", Verdict.DENIED, f"not contactable: {', '.join(problems)}")
    return RuleResult("consent.contactable", Verdict.ALLOWED, "opted in, not unsubscribed, not bounced")


def _frequency(action: ProposedAction, contact: ContactFacts, policies: PolicySet) -> list[RuleResult]:
    results = []
    cap = policies.frequency_cap(action.channel)
    if cap is not None:
        used = (
            f"{contact.actions_on_channel} of {cap.max_actions} {action.channel} actions used in {cap.window_days} days"
        )
        verdict = Verdict.DENIED if contact.actions_on_channel >= cap.max_actions else Verdict.ALLOWED
        results.append(RuleResult(f"frequency_cap.{action.channel}", verdict, used))
    across = policies.cross_channel_cap
    if across is not None:
        used = (
            f"{contact.actions_across_channels} of {across.max_actions} actions across channels "
            f"in {across.window_days} days"
        )
        verdict = Verdict.DENIED if contact.actions_across_channels >= across.max_actions else Verdict.ALLOWED
        results.append(RuleResult("frequency_cap.cross_channel", verdict, used))
    return results


def local_hour(now: datetime, timezone: str | None) -> int | None:
    """The hour on the contact's own clock, or None when their time zone is unknown or invalid."""
    if not timezone:
        return None
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return now.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone).hour


SEND_HOUR_FIELD = "send_at_local_hour"


def _quiet_hours(action: ProposedAction, contact: ContactFacts, now: datetime, policies: PolicySet) -> RuleResult:
    """Judged on the governor's own schedule, never on the agent's word. An action that schedules its first send
    (`send_at_local_hour`) must name the governor's hour for the contact: the send-time model's, read from the
    warehouse, else the policy's default; any other hour is denied. An action that lands when it executes is
    judged at `now` on the contact's own clock."""
    quiet = policies.quiet_hours
    if quiet is None or action.channel not in quiet.channels:
        return RuleResult("quiet_hours", Verdict.ALLOWED, "no quiet hours on this channel")
    window = f"{quiet.start_hour:02d}:00-{quiet.end_hour:02d}:00"
    if SEND_HOUR_FIELD in action.payload:
        scheduled = contact.recommended_send_hour
        source = "the send-time model's hour" if scheduled is not None else "the default send hour"
        scheduled = quiet.default_send_hour if scheduled is None else scheduled
        claimed = action.payload[SEND_HOUR_FIELD]
        if type(claimed) is not int or claimed != scheduled:
            return RuleResult(
                "quiet_hours",
                Verdict.DENIED,
                f"the agent scheduled {claimed!r}, but the governor's schedule for this contact is "
                f"{scheduled:02d}:00 ({source})",
            )
        if quiet.contains(scheduled):
            return RuleResult(
                "quiet_hours", Verdict.DENIED, f"scheduled for {scheduled:02d}:00 contact time, inside {window}"
            )
        return RuleResult(
            "quiet_hours",
            Verdict.ALLOWED,
            f"scheduled for {scheduled:02d}:00 contact time ({source}), outside {window}",
        )
    hour = local_hour(now, contact.timezone)
    if hour is None:
        return RuleResult("quiet_hours", Verdict.DENIED, "contact's time zone is unknown, quiet hours cannot be kept")
    if quiet.contains(hour):
        return RuleResult(
            "quiet_hours", Verdict.DENIED, f"would land at {hour:02d}:00 contact time, inside quiet hours {window}"
        )
    return RuleResult("quiet_hours", Verdict.ALLOWED, f"would land at {hour:02d}:00 contact time, outside {window}")


def applicable_caps(action: ProposedAction, policies: PolicySet) -> list[tuple[BudgetCap, str]]:
    """Each cap that governs the action's money, with the campaign, channel or account it applies to."""
    subjects = {"campaign": action.campaign_id, "channel": action.channel, "account": action.account_id}
    return [
        (cap, subjects[cap.scope])
        for cap in policies.budgets.caps
        if subjects[cap.scope] is not None and cap.id in ("*", subjects[cap.scope])
    ]


def _budget(
    action: ProposedAction, agent: AgentDefinition | None, context: ActionContext, policies: PolicySet
) -> list[RuleResult]:
    if not math.isfinite(action.spend) or action.spend < 0:
        return [
            RuleResult(
                "budget.invalid_amount",
                Verdict.DENIED,
                f"spend {action.spend!r} is not a finite, non-negative amount (only a rollback releases money)",
            )
        ]
    results = []
    if action.action_type == BUDGET_ACTION:
        told = action.payload.get(BUDGET_FIELD)
        exact = told == action.spend and math.isfinite(told)
        text = f"the payload's {BUDGET_FIELD} {told!r} and the spend {action.spend!r} judged"
        results.append(
            RuleResult(
                "budget.payload_amount",
                Verdict.ALLOWED if exact else Verdict.DENIED,
                f"{text} agree" if exact else f"{text} differ: the channel would be told another amount",
            )
        )
    if agent is None or (action.spend == 0 and action.action_type != BUDGET_ACTION):
        return results
    # A budget change is in the agent's scope or denied, whatever its amount (a zero one too).
    scope = agent.budget_scope
    if scope is None or action.campaign_id not in scope.campaigns:
        return [
            *results,
            RuleResult("budget.scope", Verdict.DENIED, f"{agent.id} has no budget scope on {action.campaign_id}"),
        ]
    results.append(RuleResult("budget.scope", Verdict.ALLOWED, f"{action.campaign_id} is in the agent's budget scope"))
    if not math.isfinite(scope.max_change_per_action) or action.spend > scope.max_change_per_action:
        results.append(
            RuleResult(
                "budget.max_change",
                Verdict.DENIED,
                f"{action.spend:,.2f} exceeds the agent's {scope.max_change_per_action:,.2f} per action",
            )
        )
    for usage in context.budget_usage:
        rule_id = f"budget.{usage.cap.scope}.{usage.period}"
        after = usage.spent + action.spend
        text = (
            f"{usage.cap.scope} {usage.scope_id}: {after:,.2f} of {usage.limit:,.2f} {usage.period} after this change"
        )
        if not (math.isfinite(usage.limit) and math.isfinite(usage.spent)):
            results.append(RuleResult(rule_id, Verdict.DENIED, f"{text}: cap or total is not a finite number"))
            continue
        verdict = Verdict.DENIED if after > usage.limit + 1e-9 else Verdict.ALLOWED
        results.append(RuleResult(rule_id, verdict, text))
    threshold = policies.budgets.approval_threshold
    if not math.isfinite(threshold):
        results.append(
            RuleResult("budget.approval_threshold", Verdict.DENIED, f"approval threshold {threshold!r} is not finite")
        )
    elif action.spend > threshold:
        results.append(
            RuleResult(
                "budget.approval_threshold",
                Verdict.NEEDS_APPROVAL,
                f"a change of {action.spend:,.2f} is above the {threshold:,.2f} approval threshold",
            )
        )
    return results


def _brand_safety(action: ProposedAction, policies: PolicySet) -> list[RuleResult]:
    rules = policies.brand_safety
    results = []
    if action.content:
        text = "\n".join(action.content.values())
        lowered = text.lower()
        found = [
            ("brand_safety.banned_phrase", [phrase for phrase in rules.banned_phrases if phrase.lower() in lowered]),
            (
                "brand_safety.unapproved_claim",
                [match.group(0) for p in rules.unapproved_claims if (match := re.search(p, text, re.IGNORECASE))],
            ),
            (
                "brand_safety.competitor",
                [name for name in rules.competitors if re.search(rf"\b{re.escape(name)}\b", text, re.IGNORECASE)],
            ),
            (
                "brand_safety.personal_data",
                [name for name, pattern in rules.personal_data_patterns.items() if re.search(pattern, text)],
            ),
        ]
        for rule_id, hits in found:
            if hits:
                results.append(RuleResult(rule_id, Verdict.DENIED, f"copy contains {', '.join(map(repr, hits))}"))
            else:
                results.append(RuleResult(rule_id, Verdict.ALLOWED, "copy is clean"))
    if action.action_type in rules.creative_action_types:
        results.append(
            RuleResult("brand_safety.new_creative", Verdict.NEEDS_APPROVAL, "net-new ad creative needs approval")
        )
    return results


def _sensitive_audience(action: ProposedAction, context: ActionContext, policies: PolicySet) -> list[RuleResult]:
    audiences = policies.sensitive_audiences
    results = []
    account = context.account
    if account is not None and account.industry in audiences.regulated_industries:
        results.append(
            RuleResult(
                "sensitive.regulated_industry",
                Verdict.NEEDS_APPROVAL,
                f"account is in a regulated industry ({account.industry})",
            )
        )
    contact = context.contact
    if contact is not None and action.person_id is not None:
        title = (contact.job_title or "").lower()
        senior = contact.seniority in audiences.seniorities or any(
            re.search(rf"\b{re.escape(word.lower())}\b", title) for word in audiences.board_title_words
        )
        high_value = account is not None and account.tier in audiences.high_value_tiers
        if senior and high_value and contact.prior_outreach == 0:
            results.append(
                RuleResult(
                    "sensitive.senior_first_outreach",
                    Verdict.NEEDS_APPROVAL,
                    f"first outreach to a {contact.seniority or 'board'} contact at a tier {account.tier} account",
                )
            )
    return results


def _data_checks(context: ActionContext) -> list[RuleResult]:
    """A required data check that no longer vouches for the data stops the action and calls the owner."""
    if not context.failing_checks:
        return []
    return [RuleResult("data_checks.required", Verdict.ESCALATED, "; ".join(context.failing_checks))]


def _rollout(action: ProposedAction, agent: AgentDefinition | None, context: ActionContext) -> list[RuleResult]:
    if agent is None:
        return []
    state = context.agent_state
    plan = agent.rollout
    route = agent.route(action.action_type)
    results = []
    if route.always:
        results.append(
            RuleResult(
                "approval.route", Verdict.NEEDS_APPROVAL, f"{action.action_type} always needs a reviewer's approval"
            )
        )
    if state.phase == 1:
        results.append(
            RuleResult(
                "rollout.phase_1",
                Verdict.NEEDS_APPROVAL,
                f"phase 1: decision {state.reviewed_decisions + 1} of the first {plan.review_first_decisions} "
                "goes to human review",
            )
        )
    elif state.phase == 2 and action.action_type == HANDOFF_ACTION:
        results.append(
            RuleResult(
                "rollout.phase_2_handoff",
                Verdict.NEEDS_APPROVAL,
                f"phase 2: agent-to-agent handoffs need approval for {plan.handoff_approval_days} days",
            )
        )
    elif state.phase == 3 and action.action_type in plan.checkpoints:
        results.append(
            RuleResult(
                "rollout.checkpoint", Verdict.NEEDS_APPROVAL, f"phase 3: {action.action_type} is an approval checkpoint"
            )
        )
    else:
        results.append(RuleResult("rollout.phase", Verdict.ALLOWED, f"phase {state.phase}"))
    return results
