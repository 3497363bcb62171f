"""Versioned config files that humans own: the agent registry, the policies and the surge rules.

Loaded with pydantic so a bad file fails at load with a message naming the file, the entry and the
field, instead of an agent acting on a half-understood guardrail.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ConfigError(ValueError):
    """A config file that cannot be trusted: missing, unreadable or invalid."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AllowedAction(_Strict):
    action_type: str
    channels: tuple[str, ...] = Field(min_length=1)


class AgentDefinition(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    owner: str = Field(min_length=1)
    purpose: str = Field(min_length=1)
    allowed_actions: tuple[AllowedAction, ...] = Field(min_length=1)
    required_checks: tuple[str, ...] = ()
    """Data checks whose latest result must have passed before this agent may act."""

    def may_propose(self, action_type: str, channel: str) -> bool:
        return any(
            allowed.action_type == action_type and channel in allowed.channels for allowed in self.allowed_actions
        )


class AgentRegistry(_Strict):
    version: int
    agents: tuple[AgentDefinition, ...]

    @model_validator(mode="after")
    def _unique_ids(self) -> AgentRegistry:
        ids = [agent.id for agent in self.agents]
        duplicated = sorted({agent_id for agent_id in ids if ids.count(agent_id) > 1})
        if duplicated:
            raise ValueError(f"agent ids must be unique, repeated: {', '.join(duplicated)}")
        return self

    def get(self, agent_id: str) -> AgentDefinition | None:
        return next((agent for agent in self.agents if agent.id == agent_id), None)


class ConsentPolicy(_Strict):
    require_contactable: bool = True


class FrequencyCap(_Strict):
    channel: str
    max_actions: int = Field(ge=0)
    window_days: int = Field(gt=0)


class ProfileFreshness(_Strict):
    max_profile_lag_minutes: int = Field(gt=0)
    """How long landed data may wait before the profile agents read must include it."""


class PolicySet(_Strict):
    version: int
    consent: ConsentPolicy = ConsentPolicy()
    frequency_caps: tuple[FrequencyCap, ...] = ()
    freshness: ProfileFreshness = ProfileFreshness(max_profile_lag_minutes=30)

    @model_validator(mode="after")
    def _one_cap_per_channel(self) -> PolicySet:
        channels = [cap.channel for cap in self.frequency_caps]
        repeated = sorted({channel for channel in channels if channels.count(channel) > 1})
        if repeated:
            raise ValueError(f"one frequency cap per channel, repeated: {', '.join(repeated)}")
        return self

    def frequency_cap(self, channel: str) -> FrequencyCap | None:
        return next((cap for cap in self.frequency_caps if cap.channel == channel), None)


class AccountSurgeRule(_Strict):
    description: str = ""
    account_tiers: tuple[int, ...] = Field(min_length=1)
    content_categories: tuple[str, ...] = Field(min_length=1)
    min_distinct_contacts: int = Field(ge=1)
    window_days: int = Field(ge=1)


class QualityWeightedSurgeRule(_Strict):
    description: str = ""
    window_days: int = Field(ge=1)
    min_quality_score: float = Field(gt=0)
    min_departments: int = Field(ge=1)


class SurgeRules(_Strict):
    version: int
    account_intent_surge: AccountSurgeRule
    quality_weighted_surge: QualityWeightedSurgeRule | None = None
    """Scored by `surgewise evaluate` beside the sensor's rule; no sensor acts on it."""


_Model = TypeVar("_Model", bound=BaseModel)


def _describe(location: tuple[int | str, ...], document: object) -> str:
    """Name the offending entry by its id where it has one: `agents[sdr_sequence_agent].owner`."""
    parts: list[str] = []
    node = document
    for key in location:
        if isinstance(key, int) and isinstance(node, list) and key < len(node):
            node = node[key]
            label = node.get("id") if isinstance(node, dict) else None
            parts[-1] = f"{parts[-1]}[{label if label else key}]" if parts else f"[{key}]"
        else:
            node = node.get(key) if isinstance(node, dict) else None
            parts.append(str(key))
    return ".".join(parts)


def load_config_file(path: Path, model: type[_Model]) -> _Model:
    """Parse one YAML config file into its model, or raise ConfigError naming file and field."""
    try:
        document = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    try:
        return model.model_validate(document)
    except ValidationError as error:
        problems = "; ".join(
            f"{_describe(tuple(issue['loc']), document) or '<file>'}: {issue['msg']}" for issue in error.errors()
        )
        raise ConfigError(f"{path}: {problems}") from None


def load_agent_registry(config_dir: Path) -> AgentRegistry:
    return load_config_file(config_dir / "agents.yaml", AgentRegistry)


def load_policies(config_dir: Path) -> PolicySet:
    return load_config_file(config_dir / "policies.yaml", PolicySet)


def load_surge_rules(config_dir: Path) -> SurgeRules:
    return load_config_file(config_dir / "surge_rules.yaml", SurgeRules)
