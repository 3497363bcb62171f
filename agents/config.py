"""Versioned config files that humans own: the agent registry, the policies and the surge rules.

Loaded with pydantic so a bad file fails at load with a message naming the file, the entry and the
field, instead of an agent acting on a half-understood guardrail.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from dagster_project.core.config_files import StrictModel, load_config_file


class Reviewer(StrictModel):
    """A named human who may approve, reject, roll back and be escalated to. Agents are never reviewers."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_.-]*$")
    name: str = Field(min_length=1)
    role: str = Field(min_length=1)

    def describe(self) -> str:
        return f"{self.name} ({self.role})"


class AllowedAction(StrictModel):
    action_type: str
    channels: tuple[str, ...] = Field(min_length=1)
    handoff_to: tuple[str, ...] = ()
    """For `handoff_to_agent`: the agents this one may hand an account to."""
    inverse: str | None = None
    """The action type that undoes this one; rollback may execute it even if it is not declared."""


class BudgetScope(StrictModel):
    """Which budgets the agent may move money in, and how much one action may move."""

    campaigns: tuple[str, ...] = Field(min_length=1)
    max_change_per_action: float = Field(gt=0)


class ApprovalRoute(StrictModel):
    """Who reviews an agent's queued actions of these types, and for how long a request stays open."""

    action_types: tuple[str, ...] = Field(min_length=1)
    """Action types this route covers; `*` covers every type."""
    reviewers: tuple[str, ...] = Field(min_length=1)
    roles: tuple[str, ...] = ()
    """If set, a reviewer must also hold one of these roles."""
    always: bool = False
    """Every action of these types needs approval, whatever the rollout phase."""
    expires_after_hours: int = Field(default=72, gt=0)

    def covers(self, action_type: str) -> bool:
        return "*" in self.action_types or action_type in self.action_types


class RolloutPlan(StrictModel):
    """Phase 1: the first decisions all go to review; phase 2: handoffs need approval for a while;
    phase 3: approval only at the checkpoints. Phases advance on their own from the review count."""

    started_on: date
    review_first_decisions: int = Field(default=50, ge=0)
    handoff_approval_days: int = Field(default=30, ge=0)
    checkpoints: tuple[str, ...] = ()
    """Action types that still need approval in phase 3."""
    graduated_to_phase: int | None = Field(default=None, ge=2, le=3)
    """A phase the owner moved the agent to by hand, e.g. after a pilot reviewed outside Surgewise."""
    graduated_by: str | None = None
    graduated_on: date | None = None

    @model_validator(mode="after")
    def _graduation_is_signed(self) -> RolloutPlan:
        if self.graduated_to_phase is not None and (self.graduated_by is None or self.graduated_on is None):
            raise ValueError("graduated_to_phase needs graduated_by and graduated_on")
        return self


class AgentDefinition(StrictModel):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    owner: str = Field(min_length=1)
    """The reviewer id of the accountable human: escalations and anomaly pauses go to them."""
    purpose: str = Field(min_length=1)
    allowed_actions: tuple[AllowedAction, ...] = Field(min_length=1)
    budget_scope: BudgetScope | None = None
    approvals: tuple[ApprovalRoute, ...] = Field(min_length=1)
    rollout: RolloutPlan
    required_checks: tuple[str, ...] = ()
    """Data checks whose latest result must have passed before this agent may act."""

    def allowed(self, action_type: str) -> AllowedAction | None:
        return next((allowed for allowed in self.allowed_actions if allowed.action_type == action_type), None)

    def may_propose(self, action_type: str, channel: str) -> bool:
        allowed = self.allowed(action_type)
        return allowed is not None and channel in allowed.channels

    def inverse_of(self, action_type: str) -> str | None:
        allowed = self.allowed(action_type)
        return allowed.inverse if allowed else None

    def route(self, action_type: str) -> ApprovalRoute:
        """The first route covering the action type; validation guarantees one exists."""
        return next(route for route in self.approvals if route.covers(action_type))


class AgentRegistry(StrictModel):
    version: int
    reviewers: tuple[Reviewer, ...] = Field(min_length=1)
    agents: tuple[AgentDefinition, ...]

    @model_validator(mode="after")
    def _consistent(self) -> AgentRegistry:
        ids = [agent.id for agent in self.agents]
        duplicated = sorted({agent_id for agent_id in ids if ids.count(agent_id) > 1})
        if duplicated:
            raise ValueError(f"agent ids must be unique, repeated: {', '.join(duplicated)}")
        reviewer_ids = {reviewer.id for reviewer in self.reviewers}
        problems = [f"reviewers[{r}]: an agent cannot be a reviewer" for r in sorted(reviewer_ids & set(ids))]
        for agent in self.agents:
            where = f"agents[{agent.id}]"
            if agent.owner not in reviewer_ids:
                problems.append(f"{where}.owner: {agent.owner!r} is not one of the listed reviewers")
            for route in agent.approvals:
                problems += [
                    f"{where}.approvals.reviewers: {name!r} is not one of the listed reviewers"
                    for name in route.reviewers
                    if name not in reviewer_ids
                ]
            for allowed in agent.allowed_actions:
                if not agent.approvals or not any(route.covers(allowed.action_type) for route in agent.approvals):
                    problems.append(f"{where}.approvals: no route names reviewers for {allowed.action_type}")
                problems += [
                    f"{where}.allowed_actions[{allowed.action_type}].handoff_to: unknown agent {target!r}"
                    for target in allowed.handoff_to
                    if target not in ids
                ]
            graduated_by = agent.rollout.graduated_by
            if graduated_by is not None and graduated_by not in reviewer_ids:
                problems.append(f"{where}.rollout.graduated_by: {graduated_by!r} is not one of the listed reviewers")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def get(self, agent_id: str) -> AgentDefinition | None:
        return next((agent for agent in self.agents if agent.id == agent_id), None)

    def reviewer(self, reviewer_id: str) -> Reviewer | None:
        return next((reviewer for reviewer in self.reviewers if reviewer.id == reviewer_id), None)


class ConsentPolicy(StrictModel):
    require_contactable: bool = True
    """Opted in, never unsubscribed, never bounced."""
    require_lawful_basis: bool = True
    """A recorded consent status (opted in) is the lawful basis; `unknown` means none is on file."""


class FrequencyCap(StrictModel):
    channel: str
    max_actions: int = Field(ge=0)
    window_days: int = Field(gt=0)


class CrossChannelCap(StrictModel):
    max_actions: int = Field(ge=0)
    window_days: int = Field(gt=0)


class QuietHours(StrictModel):
    """Hours of the contact's own clock when nothing may reach them; the window may wrap midnight."""

    start_hour: int = Field(ge=0, le=23)
    end_hour: int = Field(ge=0, le=23)
    channels: tuple[str, ...] = Field(min_length=1)

    def contains(self, local_hour: int) -> bool:
        if self.start_hour <= self.end_hour:
            return self.start_hour <= local_hour < self.end_hour
        return local_hour >= self.start_hour or local_hour < self.end_hour


class BudgetCap(StrictModel):
    scope: Literal["campaign", "channel", "account"]
    id: str = Field(min_length=1)
    """The campaign, channel or account; `*` caps each one separately."""
    daily: float | None = Field(default=None, ge=0)
    monthly: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _has_a_limit(self) -> BudgetCap:
        if self.daily is None and self.monthly is None:
            raise ValueError("a budget cap needs daily, monthly or both")
        return self


class BudgetPolicy(StrictModel):
    approval_threshold: float = Field(ge=0)
    """A single budget change larger than this waits for a human."""
    caps: tuple[BudgetCap, ...] = ()


class SensitiveAudiences(StrictModel):
    seniorities: tuple[str, ...] = ("c_suite",)
    board_title_words: tuple[str, ...] = ("board", "director of the board", "chair")
    high_value_tiers: tuple[int, ...] = (1,)
    regulated_industries: tuple[str, ...] = ()


class BrandSafety(StrictModel):
    banned_phrases: tuple[str, ...] = ()
    unapproved_claims: tuple[str, ...] = ()
    """Regular expressions of claims legal has not approved (superlatives, guarantees)."""
    competitors: tuple[str, ...] = ()
    personal_data_patterns: dict[str, str] = {}
    """Name → regular expression of personal data that must never appear in copy."""
    creative_action_types: tuple[str, ...] = ()
    """Action types that publish net-new creative; each one needs approval."""

    @model_validator(mode="after")
    def _patterns_compile(self) -> BrandSafety:
        for pattern in (*self.unapproved_claims, *self.personal_data_patterns.values()):
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"pattern {pattern!r} does not compile: {error}") from None
        return self


class DistressPolicy(StrictModel):
    max_unsubscribe_events: int = Field(default=1, ge=0)
    """More unsubscribe attempts than this means the contact is trying hard to get away."""
    max_complaint_events: int = Field(default=0, ge=0)


class AnomalyPolicy(StrictModel):
    """An agent run is compared with the agent's trailing runs; a breach pauses the agent."""

    trailing_runs: int = Field(default=20, ge=1)
    min_baseline_runs: int = Field(default=5, ge=1)
    max_volume_ratio: float = Field(default=3.0, gt=1)
    min_volume: int = Field(default=10, ge=1)
    """A run smaller than this is never an anomaly by volume, however quiet the baseline."""
    max_spend_ratio: float = Field(default=3.0, gt=1)
    min_spend: float = Field(default=1000.0, ge=0)
    max_denial_rate_increase: float = Field(default=0.5, gt=0, le=1)
    max_channel_mix_shift: float = Field(default=0.5, gt=0, le=1)
    """Total variation distance between the run's channel shares and the baseline's."""


class ProfileFreshness(StrictModel):
    max_profile_lag_minutes: int = Field(gt=0)
    """How long landed data may wait before the profile agents read must include it."""


class PolicySet(StrictModel):
    version: int
    consent: ConsentPolicy = ConsentPolicy()
    frequency_caps: tuple[FrequencyCap, ...] = ()
    cross_channel_cap: CrossChannelCap | None = None
    quiet_hours: QuietHours | None = None
    budgets: BudgetPolicy = BudgetPolicy(approval_threshold=0)
    sensitive_audiences: SensitiveAudiences = SensitiveAudiences()
    brand_safety: BrandSafety = BrandSafety()
    distress: DistressPolicy = DistressPolicy()
    anomaly: AnomalyPolicy = AnomalyPolicy()
    freshness: ProfileFreshness = ProfileFreshness(max_profile_lag_minutes=30)
    fingerprint: str = ""
    """Set by the loader: the file's sha256, so every decision names the exact policy text it applied."""

    @model_validator(mode="after")
    def _one_cap_per_channel(self) -> PolicySet:
        channels = [cap.channel for cap in self.frequency_caps]
        repeated = sorted({channel for channel in channels if channels.count(channel) > 1})
        if repeated:
            raise ValueError(f"one frequency cap per channel, repeated: {', '.join(repeated)}")
        return self

    @property
    def policy_version(self) -> str:
        return f"v{self.version}-{self.fingerprint[:12]}" if self.fingerprint else f"v{self.version}"

    def frequency_cap(self, channel: str) -> FrequencyCap | None:
        return next((cap for cap in self.frequency_caps if cap.channel == channel), None)

    @property
    def longest_contact_window_days(self) -> int:
        """How far back contact history must reach for every frequency cap."""
        windows = [cap.window_days for cap in self.frequency_caps]
        if self.cross_channel_cap:
            windows.append(self.cross_channel_cap.window_days)
        return max(windows, default=1)


class AccountSurgeRule(StrictModel):
    description: str = ""
    account_tiers: tuple[int, ...] = Field(min_length=1)
    content_categories: tuple[str, ...] = Field(min_length=1)
    min_distinct_contacts: int = Field(ge=1)
    window_days: int = Field(ge=1)


class QualityWeightedSurgeRule(StrictModel):
    description: str = ""
    window_days: int = Field(ge=1)
    min_quality_score: float = Field(gt=0)
    min_departments: int = Field(ge=1)


class SurgeRules(StrictModel):
    version: int
    account_intent_surge: AccountSurgeRule
    quality_weighted_surge: QualityWeightedSurgeRule | None = None
    """Scored by `surgewise evaluate` beside the sensor's rule; no sensor acts on it."""


def load_agent_registry(config_dir: Path) -> AgentRegistry:
    return load_config_file(config_dir / "agents.yaml", AgentRegistry)


def load_policies(config_dir: Path) -> PolicySet:
    path = config_dir / "policies.yaml"
    policies = load_config_file(path, PolicySet)
    return policies.model_copy(update={"fingerprint": hashlib.sha256(path.read_bytes()).hexdigest()})


def load_surge_rules(config_dir: Path) -> SurgeRules:
    return load_config_file(config_dir / "surge_rules.yaml", SurgeRules)
