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

import yaml
from pydantic import Field, field_validator, model_validator

from agents.governance.signatures import SignatureError, parse_public_key, verify_decision
from dagster_project.core.config_files import ConfigError, StrictModel, load_config_file

WEBHOOKS_FILE = "webhooks.yaml"
"""Beside agents.yaml and policies.yaml: which channels go to a real system's webhook instead of the sandbox."""

GRADUATE_VERB = "graduate"


class Reviewer(StrictModel):
    """A named human who may approve, reject, roll back and be escalated to. Agents are never reviewers."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_.-]*$")
    name: str = Field(min_length=1)
    role: str = Field(min_length=1)
    public_keys: tuple[str, ...] = ()
    """The reviewer's ed25519 public keys (`surgewise reviewers keygen`): the first verifies every decision; later
    ones are retired keys, kept only so graduations and audit entries signed before a rotation still verify.
    A reviewer without a key cannot decide anything."""

    @field_validator("public_keys")
    @classmethod
    def _keys_parse(cls, keys: tuple[str, ...]) -> tuple[str, ...]:
        for key in keys:
            try:
                parse_public_key(key)
            except SignatureError as error:
                raise ValueError(f"{key!r}: {error}") from None
        return keys

    @property
    def current_key(self) -> tuple[str, ...]:
        """The one key live decisions are verified against (none if the reviewer has no key)."""
        return self.public_keys[:1]

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
    graduation_signature: str | None = None
    """`graduated_by`'s signature of the graduation (`surgewise agents graduate`), verified at load; only the
    agent's owner may sign it."""

    @model_validator(mode="after")
    def _graduation_is_signed(self) -> RolloutPlan:
        if self.graduated_to_phase is not None and (
            self.graduated_by is None or self.graduated_on is None or self.graduation_signature is None
        ):
            raise ValueError("graduated_to_phase needs graduated_by, graduated_on and graduation_signature")
        return self


def graduation_statement(agent_id: str, phase: int, graduated_on: date) -> tuple[str, str]:
    """The subject and comment a graduation signature covers: the agent, the phase and the day."""
    return f"{agent_id}:phase-{phase}", f"graduated on {graduated_on.isoformat()}"


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
            problems += self._graduation_problems(agent)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _graduation_problems(self, agent: AgentDefinition) -> list[str]:
        rollout, where = agent.rollout, f"agents[{agent.id}].rollout"
        if rollout.graduated_to_phase is None or rollout.graduated_by is None or rollout.graduated_on is None:
            return []
        reviewer = self.reviewer(rollout.graduated_by)
        if reviewer is None:
            return [f"{where}.graduated_by: {rollout.graduated_by!r} is not one of the listed reviewers"]
        if reviewer.id != agent.owner:
            return [
                f"{where}.graduated_by: {reviewer.id!r} is not the agent's owner: only {agent.owner!r} may sign "
                f"{agent.id}'s graduation"
            ]
        subject, comment = graduation_statement(agent.id, rollout.graduated_to_phase, rollout.graduated_on)
        try:
            verify_decision(
                reviewer.public_keys, rollout.graduation_signature or "", GRADUATE_VERB, subject, reviewer.id, comment
            )
        except SignatureError as error:
            return [f"{where}.graduation_signature: {error}"]
        return []

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
    default_send_hour: int = Field(default=10, ge=0, le=23)
    """The governor's schedule for a contact the send-time model has no hour for (on their own clock)."""

    @model_validator(mode="after")
    def _a_real_window(self) -> QuietHours:
        if self.start_hour == self.end_hour:
            raise ValueError("start_hour equals end_hour: an empty quiet window would let anything land at any hour")
        if self.contains(self.default_send_hour):
            raise ValueError(f"default_send_hour {self.default_send_hour} is inside the quiet hours")
        return self

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
    caps: tuple[BudgetCap, ...] = Field(min_length=1)


class SensitiveAudiences(StrictModel):
    seniorities: tuple[str, ...] = ("c_suite",)
    board_title_words: tuple[str, ...] = ("board", "director of the board", "chair")
    high_value_tiers: tuple[int, ...] = (1,)
    regulated_industries: tuple[str, ...] = ()


class BrandSafety(StrictModel):
    """Every list is written out in the file, even empty: a missing one would silently let copy through."""

    banned_phrases: tuple[str, ...]
    unapproved_claims: tuple[str, ...]
    """Regular expressions of claims legal has not approved (superlatives, guarantees)."""
    competitors: tuple[str, ...]
    personal_data_patterns: dict[str, str] = Field(min_length=1)
    """Name → regular expression of personal data that must never appear in copy."""
    creative_action_types: tuple[str, ...]
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


MAX_ANOMALY_RATIO = 100.0
"""A volume or spend ratio above this would switch its rule off in all but name, so config may not set one."""


class AnomalyPolicy(StrictModel):
    """An agent run is compared with the agent's trailing runs; a breach pauses the agent."""

    trailing_runs: int = Field(default=20, ge=1)
    min_baseline_runs: int = Field(default=5, ge=1)
    max_volume_ratio: float = Field(default=3.0, gt=1, le=MAX_ANOMALY_RATIO)
    min_volume: int = Field(default=10, ge=1)
    """A run smaller than this is never an anomaly by volume, however quiet the baseline."""
    max_spend_ratio: float = Field(default=3.0, gt=1, le=MAX_ANOMALY_RATIO)
    min_spend: float = Field(default=1000.0, ge=0)
    max_denial_rate_increase: float = Field(default=0.5, gt=0, le=1)
    max_channel_mix_shift: float = Field(default=0.5, gt=0, le=1)
    """Total variation distance between the run's channel shares and the baseline's."""
    significance: float = Field(default=0.001, gt=0, lt=0.5)
    """The chance an ordinary run pauses the agent, shared equally by the four rules (each tests at a quarter)."""
    min_denial_actions: int = Field(default=20, ge=1)
    """A run with fewer actions is never an anomaly by denial rate: a few denials in a small run is noise."""
    min_channel_actions: int = Field(default=20, ge=1)
    """A run with fewer actions is never an anomaly by channel mix."""

    @model_validator(mode="after")
    def _baseline_fits_the_window(self) -> AnomalyPolicy:
        if self.min_baseline_runs > self.trailing_runs:
            raise ValueError("min_baseline_runs exceeds trailing_runs: no run would ever be judged")
        return self


class ProfileFreshness(StrictModel):
    max_profile_lag_minutes: int = Field(gt=0)
    """How long landed data may wait before the profile agents read must include it."""


class CatalogueCampaign(StrictModel):
    id: str = Field(min_length=1)
    channel: str = Field(min_length=1)


class Catalogue(StrictModel):
    """The channel, campaign and sequence ids that exist, so a cap or a scope naming anything else (a
    misspelt `sales-engagement`, a display name `LinkedIn`) is refused at load instead of never matching."""

    channels: tuple[str, ...] = Field(min_length=1)
    campaigns: tuple[CatalogueCampaign, ...] = Field(min_length=1)
    sequences: tuple[str, ...] = Field(min_length=1)

    @property
    def campaign_ids(self) -> tuple[str, ...]:
        return tuple(campaign.id for campaign in self.campaigns)

    @model_validator(mode="after")
    def _campaigns_on_known_channels(self) -> Catalogue:
        problems = [
            f"catalogue.campaigns[{campaign.id}].channel: {unknown_id('channel', campaign.channel, self.channels)}"
            for campaign in self.campaigns
            if campaign.channel not in self.channels
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return self


def unknown_id(kind: str, value: str, known: tuple[str, ...]) -> str:
    return f"{value!r} is not a known {kind}; known {kind}s: {', '.join(known)}"


class PolicySet(StrictModel):
    """Every safety section is required: a file that leaves one out must not load with that guardrail off."""

    version: int
    catalogue: Catalogue
    consent: ConsentPolicy
    frequency_caps: tuple[FrequencyCap, ...] = Field(min_length=1)
    cross_channel_cap: CrossChannelCap
    quiet_hours: QuietHours
    budgets: BudgetPolicy
    sensitive_audiences: SensitiveAudiences
    brand_safety: BrandSafety
    distress: DistressPolicy
    anomaly: AnomalyPolicy
    freshness: ProfileFreshness
    fingerprint: str = ""
    """Set by the loader: a sha256 of policies.yaml and agents.yaml (and webhooks.yaml, if any) together, so every
    decision names the exact policy, registry (reviewers, keys, graduations) and routing text it applied."""
    config_dir: Path | None = None
    """Set by the loader: where the files came from, so the governor reads the channel endpoints beside them."""

    @model_validator(mode="after")
    def _one_cap_per_channel(self) -> PolicySet:
        channels = [cap.channel for cap in self.frequency_caps]
        repeated = sorted({channel for channel in channels if channels.count(channel) > 1})
        if repeated:
            raise ValueError(f"one frequency cap per channel, repeated: {', '.join(repeated)}")
        return self

    @model_validator(mode="after")
    def _known_ids(self) -> PolicySet:
        channels, campaigns = self.catalogue.channels, self.catalogue.campaign_ids
        problems = [
            f"frequency_caps[{cap.channel}].channel: {unknown_id('channel', cap.channel, channels)}"
            for cap in self.frequency_caps
            if cap.channel not in channels
        ]
        problems += [
            f"quiet_hours.channels: {unknown_id('channel', channel, channels)}"
            for channel in self.quiet_hours.channels
            if channel not in channels
        ]
        known = {"channel": channels, "campaign": campaigns}
        problems += [
            f"budgets.caps[{cap.id}].id: {unknown_id(cap.scope, cap.id, known[cap.scope])}"
            for cap in self.budgets.caps
            if cap.scope in known and cap.id != "*" and cap.id not in known[cap.scope]
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def campaign_capped(self, campaign_id: str) -> bool:
        return any(cap.scope == "campaign" and cap.id in (campaign_id, "*") for cap in self.budgets.caps)

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


def _cross_file_problems(registry: AgentRegistry, policies: PolicySet) -> list[str]:
    """What agents.yaml names that policies.yaml must know: channels, campaigns, and a cap on every campaign."""
    channels, campaigns = policies.catalogue.channels, policies.catalogue.campaign_ids
    problems: list[str] = []
    for agent in registry.agents:
        where = f"agents[{agent.id}]"
        for allowed in agent.allowed_actions:
            problems += [
                f"{where}.allowed_actions[{allowed.action_type}].channels: {unknown_id('channel', channel, channels)}"
                for channel in allowed.channels
                if channel not in channels
            ]
        for campaign in agent.budget_scope.campaigns if agent.budget_scope else ():
            if campaign not in campaigns:
                problems.append(f"{where}.budget_scope.campaigns: {unknown_id('campaign', campaign, campaigns)}")
            elif not policies.campaign_capped(campaign):
                problems.append(f"{where}.budget_scope.campaigns: {campaign!r} has no campaign cap in policies.yaml")
    return problems


def load_governance_config(config_dir: Path) -> tuple[AgentRegistry, PolicySet]:
    """The agent registry and the policies, each valid on its own and against the other; the policies carry a
    fingerprint of both files, so a change to either (a graduation, a reviewer, a key) shows in policy_version."""
    agents_path, policies_path = config_dir / "agents.yaml", config_dir / "policies.yaml"
    registry = load_config_file(agents_path, AgentRegistry)
    policies = load_config_file(policies_path, PolicySet)
    problems = _cross_file_problems(registry, policies)
    if problems:
        raise ConfigError(f"{agents_path}: {'; '.join(problems)}")
    fingerprint = hashlib.sha256()
    webhooks_path = config_dir / WEBHOOKS_FILE
    for path in (policies_path, agents_path, *([webhooks_path] if webhooks_path.exists() else [])):
        fingerprint.update(f"{path.name}\0{hashlib.sha256(path.read_bytes()).hexdigest()}\0".encode())
    return registry, policies.model_copy(update={"fingerprint": fingerprint.hexdigest(), "config_dir": config_dir})


def with_reviewer_key(agents_yaml: str, reviewer_id: str, public_key: str) -> str:
    """agents.yaml's text with `public_key` first in the reviewer's `public_keys` and their earlier keys kept after
    it as retired (so what they signed before still verifies); comments and layout are left as they are."""
    document = yaml.safe_load(agents_yaml) or {}
    reviewer = next((r for r in document.get("reviewers") or () if r.get("id") == reviewer_id), None)
    if reviewer is None:
        raise ConfigError(f"agents.yaml: reviewers: no reviewer {reviewer_id!r} to give a key")
    old = [str(key) for key in reviewer.get("public_keys") or ()]
    line = f"public_keys: [{', '.join([public_key, *old])}]"
    if old:
        old_line = f"public_keys: [{', '.join(old)}]"
        if agents_yaml.count(old_line) != 1:
            raise ConfigError(f"agents.yaml: reviewers[{reviewer_id}].public_keys: write it as one line [key, ...]")
        return agents_yaml.replace(old_line, line)
    entry = re.search(rf"^(?P<indent> *)- id: {re.escape(reviewer_id)}[ \t]*\n", agents_yaml, flags=re.MULTILINE)
    if entry is None:
        raise ConfigError(f"agents.yaml: reviewers[{reviewer_id}]: write its entry as `- id: {reviewer_id}`")
    at = entry.end()
    return f"{agents_yaml[:at]}{entry['indent']}  {line}\n{agents_yaml[at:]}"


def load_agent_registry(config_dir: Path) -> AgentRegistry:
    return load_governance_config(config_dir)[0]


def load_policies(config_dir: Path) -> PolicySet:
    return load_governance_config(config_dir)[1]


def load_surge_rules(config_dir: Path) -> SurgeRules:
    return load_config_file(config_dir / "surge_rules.yaml", SurgeRules)
