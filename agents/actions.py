"""What agents hand to governance: proposed actions, each carrying its reasoning, its inputs and its undo."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

MAX_EXACT_INT = 2**53
"""The largest integer a float holds exactly: an int beyond it is not an amount of money the ledger can book."""


def idempotency_key(*parts: str) -> str:
    """A stable key for one intended effect, so a retry or a re-run never sends it twice."""
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def is_amount(value: object) -> bool:
    """A real number money may be: a float (finite or not: the budget rules deny the non-finite) or an int a float
    holds exactly. Never a bool, a str, a Decimal or an int too large to convert."""
    if isinstance(value, bool):
        return False
    if isinstance(value, float):
        return True
    return isinstance(value, int) and abs(value) <= MAX_EXACT_INT


def committed_spend(amounts: Iterable[object]) -> float:
    """The money a set of proposals commits: the finite, positive amounts; anything else adds nothing."""
    return sum(
        (float(amount) for amount in amounts if is_amount(amount) and math.isfinite(amount) and amount > 0),  # type: ignore[arg-type]
        0.0,
    )


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
