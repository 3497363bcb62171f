"""What agents hand to governance: proposed actions, each carrying its reasoning, its inputs and its undo."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any


def idempotency_key(*parts: str) -> str:
    """A stable key for one intended effect, so a retry or a re-run never sends it twice."""
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class ProposedAction:
    """One thing an agent wants to do to one person or account, and why."""

    agent_id: str
    action_type: str
    channel: str
    person_id: str | None
    account_id: str
    payload: dict[str, Any]
    reasoning: str
    inputs: dict[str, Any]
    inverse: dict[str, Any]
    trigger_key: str
    """The event that prompted the action (e.g. one account's surge); part of the idempotency key, which
    leaves out the payload so a changed detail (a new sequence after a seniority change) is not a new send."""
    campaign_id: str | None = None
    spend: float = 0.0
    """Money the action commits (a budget increase); negative when it releases money (a rollback)."""
    content: dict[str, str] = field(default_factory=dict)
    """Copy the action publishes or sends (subject, body, headline): what brand safety reads."""
    handoff_to: str | None = None
    """For a handoff: the agent that takes the account over."""
    rollback_of: str | None = None
    """For a rollback: the action it undoes."""
    action_id: str = field(init=False)

    def __post_init__(self) -> None:
        key = idempotency_key(
            self.agent_id,
            self.action_type,
            self.channel,
            self.person_id or "",
            self.account_id,
            self.trigger_key,
        )
        object.__setattr__(self, "action_id", key)
