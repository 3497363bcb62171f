"""The policy engine: a pure function from a proposed action and its context to a decision.

No I/O happens here. The orchestrator gathers the facts (consent, suppression, recent actions) into an
`ActionContext`; the engine applies every rule from the config files and returns the verdict together
with each rule that fired, so the audit log can say exactly why an action was allowed or stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from agents.actions import ProposedAction
from agents.config import AgentRegistry, PolicySet


class Verdict(StrEnum):
    ALLOWED = "allowed"
    DENIED = "denied"


_SEVERITY = {Verdict.ALLOWED: 0, Verdict.DENIED: 1}


@dataclass(frozen=True)
class RuleResult:
    rule_id: str
    verdict: Verdict
    reason: str


@dataclass(frozen=True)
class PolicyDecision:
    verdict: Verdict
    rules: tuple[RuleResult, ...]

    @property
    def fired(self) -> tuple[RuleResult, ...]:
        """The rules that stopped or held the action."""
        return tuple(rule for rule in self.rules if rule.verdict is not Verdict.ALLOWED)


@dataclass(frozen=True)
class ActionContext:
    """What is true about the action's subject at decision time."""

    person_known: bool
    is_contactable: bool
    consent_status: str
    is_suppressed: bool
    recent_actions_on_channel: int


def decide(
    action: ProposedAction, context: ActionContext, registry: AgentRegistry, policies: PolicySet
) -> PolicyDecision:
    """Apply every rule; the most severe verdict wins and every rule's outcome is kept."""
    results = [
        _scope(action, registry),
        _suppression(context),
        _consent(context, policies),
        _frequency_cap(action, context, policies),
    ]
    verdict = max((result.verdict for result in results), key=_SEVERITY.__getitem__)
    return PolicyDecision(verdict=verdict, rules=tuple(results))


def _scope(action: ProposedAction, registry: AgentRegistry) -> RuleResult:
    agent = registry.get(action.agent_id)
    if agent is None:
        return RuleResult("scope.registered_agent", Verdict.DENIED, f"{action.agent_id} is not registered")
    if not agent.may_propose(action.action_type, action.channel):
        return RuleResult(
            "scope.declared_actions",
            Verdict.DENIED,
            f"{action.agent_id} may not {action.action_type} on {action.channel}",
        )
    return RuleResult("scope.declared_actions", Verdict.ALLOWED, "within the agent's declared scope")


def _suppression(context: ActionContext) -> RuleResult:
    if context.is_suppressed:
        return RuleResult("suppression.list", Verdict.DENIED, "person is on the suppression list")
    return RuleResult("suppression.list", Verdict.ALLOWED, "not suppressed")


def _consent(context: ActionContext, policies: PolicySet) -> RuleResult:
    if not policies.consent.require_contactable:
        return RuleResult("consent.contactable", Verdict.ALLOWED, "consent not required by policy")
    if not context.person_known:
        return RuleResult("consent.contactable", Verdict.DENIED, "person not found in the profile")
    if not context.is_contactable:
        return RuleResult(
            "consent.contactable",
            Verdict.DENIED,
            f"not contactable (consent {context.consent_status}, or unsubscribed or bounced)",
        )
    return RuleResult("consent.contactable", Verdict.ALLOWED, "opted in, not unsubscribed, not bounced")


def _frequency_cap(action: ProposedAction, context: ActionContext, policies: PolicySet) -> RuleResult:
    cap = policies.frequency_cap(action.channel)
    rule_id = f"frequency_cap.{action.channel}"
    if cap is None:
        return RuleResult(rule_id, Verdict.ALLOWED, "no frequency cap on this channel")
    if context.recent_actions_on_channel >= cap.max_actions:
        return RuleResult(
            rule_id,
            Verdict.DENIED,
            f"{context.recent_actions_on_channel} of {cap.max_actions} actions already used in {cap.window_days} days",
        )
    return RuleResult(
        rule_id,
        Verdict.ALLOWED,
        f"{context.recent_actions_on_channel} of {cap.max_actions} actions used in {cap.window_days} days",
    )
