"""The shape of a proposal, checked before any rule reads it: ids that are non-empty strings where required,
money that is a real int or float (never a bool, a str, a Decimal or an int a float cannot hold), a payload,
inputs and inverse of JSON-safe values, and every payload field the channel's adapter acts on present, of its
type and nothing else beside it. Agents are code the governor does not trust; a malformed proposal must be
denied by name, never crash the batch it came in.
"""

from __future__ import annotations

import math

from agents.actions import MAX_EXACT_INT, ProposedAction, is_amount

HANDOFF_ACTION = "handoff_to_agent"
ENROL_ACTION = "enrol_in_sequence"
BUDGET_ACTION = "adjust_campaign_budget"
CREATIVE_ACTION = "launch_ad_creative"
SEQUENCE_FIELD = "sequence_id"
BUDGET_FIELD = "daily_budget_change"
"""The money a budget change tells the channel: it must be exactly the `spend` the budget rules judged."""
MALFORMED = "proposal.malformed"

CHANNEL_PAYLOADS: dict[str, frozenset[str]] = {
    ENROL_ACTION: frozenset({SEQUENCE_FIELD, "send_at_local_hour"}),
    BUDGET_ACTION: frozenset({BUDGET_FIELD}),
    CREATIVE_ACTION: frozenset({"format", "targeting"}),
}
"""The payload fields each channel action's adapter (and a webhook's receiver) acts on, and nothing else: a field
no rule reads would reach the channel unchecked."""
REQUIRED_PAYLOAD: dict[str, str] = {ENROL_ACTION: SEQUENCE_FIELD, BUDGET_ACTION: BUDGET_FIELD}
PERSON_ACTIONS = frozenset({ENROL_ACTION})
"""Actions on a person: without one, no contact rule would run."""
CAMPAIGN_ACTIONS = frozenset({BUDGET_ACTION, CREATIVE_ACTION})
CREATIVE_CONTENT = ("headline", "body")
REQUIRED_IDS = ("agent_id", "action_type", "channel", "account_id", "trigger_key")
OPTIONAL_IDS = ("person_id", "campaign_id", "handoff_to", "rollback_of")
MAX_JSON_DEPTH = 32


def describe(value: object) -> str:
    """A value's type and a short, safe rendering of it (never the whole of a huge or hostile value)."""
    kind = type(value).__name__
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"{kind} of {value.bit_length()} bits"
    try:
        text = repr(value)
    except Exception:  # a hostile __repr__ must not crash the governor
        return f"{kind} (unprintable)"
    return f"{kind} {text if len(text) <= 60 else text[:57] + '...'}"


def malformed(action: ProposedAction) -> list[str]:
    """What is wrong with the proposal's shape: each problem names the field and the value's type."""
    problems = [
        f"{name} must be a non-empty str, got {describe(value)}"
        for name in REQUIRED_IDS
        if not _text(value := getattr(action, name, None))
    ]
    problems += [
        f"{name} must be a non-empty str or None, got {describe(value)}"
        for name in OPTIONAL_IDS
        if (value := getattr(action, name, None)) is not None and not _text(value)
    ]
    if not isinstance(action.reasoning, str):
        problems.append(f"reasoning must be a str, got {describe(action.reasoning)}")
    if not is_amount(action.spend):
        problems.append(
            f"spend must be an int or float (not a bool, and an int within +-2**53), got {describe(action.spend)}"
        )
    for name in ("inputs", "inverse"):
        problems += _json_problems(name, getattr(action, name, None))
    problems += _payload_problems(action)
    problems += _content_problems(action)
    action_type = action.action_type if isinstance(action.action_type, str) else ""
    if action_type in PERSON_ACTIONS and action.person_id is None:
        problems.append(f"person_id is required for {action_type}, got None")
    if action_type in CAMPAIGN_ACTIONS and action.campaign_id is None:
        problems.append(f"campaign_id is required for {action_type}, got None")
    return problems


def _text(value: object) -> bool:
    return isinstance(value, str) and value != ""


def _payload_problems(action: ProposedAction) -> list[str]:
    payload = action.payload
    if not isinstance(payload, dict):
        return [f"payload must be a dict, got {describe(payload)}"]
    action_type = action.action_type if isinstance(action.action_type, str) else ""
    fields = CHANNEL_PAYLOADS.get(action_type)
    problems = []
    for key, value in payload.items():
        if not isinstance(key, str):
            problems.append(f"payload keys must be str, got {describe(key)}")
        elif fields is not None and key not in fields:
            problems.append(f"payload[{key!r}] is not a field {action_type} takes (only {', '.join(sorted(fields))})")
        elif key == BUDGET_FIELD and (action_type == BUDGET_ACTION or action.rollback_of is not None):
            # Non-finite money is denied by the rule that judges it (budget.payload_amount, or the rollback rules,
            # which deny any inverse the governor did not build); here only its type.
            if not is_amount(value):
                problems.append(f"payload[{key!r}] must be an int or float, got {describe(value)}")
        elif fields is not None and key != "send_at_local_hour" and not _text(value):
            problems.append(f"payload[{key!r}] must be a non-empty str, got {describe(value)}")
        else:
            problems += _json_problems(f"payload[{key!r}]", value)
    required = REQUIRED_PAYLOAD.get(action_type)
    if required is not None and required not in payload:
        problems.append(f"payload[{required!r}] is required for {action_type}")
    return problems


def _content_problems(action: ProposedAction) -> list[str]:
    content = action.content
    if not isinstance(content, dict):
        return [f"content must be a dict of str, got {describe(content)}"]
    problems = [
        f"content[{key!r}] must be a str, got {describe(value)}"
        for key, value in content.items()
        if not isinstance(key, str) or not isinstance(value, str)
    ]
    if action.action_type == CREATIVE_ACTION:
        problems += [
            f"content[{name!r}] is required for {CREATIVE_ACTION}, got {describe(content.get(name))}"
            for name in CREATIVE_CONTENT
            if not _text(content.get(name))
        ]
    return problems


def _json_problems(where: str, value: object, depth: int = 0) -> list[str]:
    """The first value that is not JSON-safe (a str, bool, None, finite float, an int within +-2**53, or a list
    or str-keyed dict of them, nested at most MAX_JSON_DEPTH deep), or nothing."""
    if depth > MAX_JSON_DEPTH:
        return [f"{where} is nested more than {MAX_JSON_DEPTH} deep"]
    if value is None or isinstance(value, (str, bool)):
        return []
    if isinstance(value, float):
        return [] if math.isfinite(value) else [f"{where} must be a finite number, got {describe(value)}"]
    if isinstance(value, int):
        return [] if abs(value) <= MAX_EXACT_INT else [f"{where} is an int beyond +-2**53, got {describe(value)}"]
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            if problems := _json_problems(f"{where}[{index}]", item, depth + 1):
                return problems
        return []
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return [f"{where} keys must be str, got {describe(key)}"]
            if problems := _json_problems(f"{where}[{key!r}]", item, depth + 1):
                return problems
        return []
    if depth == 0 and where in ("inputs", "inverse"):
        return [f"{where} must be a dict, got {describe(value)}"]
    return [f"{where} is not a JSON value, got {describe(value)}"]
