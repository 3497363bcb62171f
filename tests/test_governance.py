"""Config files fail loudly, and the policy engine decides from config alone."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agents.actions import ProposedAction
from agents.config import ConfigError, load_agent_registry, load_policies, load_surge_rules
from agents.governance.policy import ActionContext, Verdict, decide
from dagster_project.settings import REPO_ROOT

CONFIG_DIR = REPO_ROOT / "config"


def _action(agent_id: str = "sdr_sequence_agent", channel: str = "sales_engagement") -> ProposedAction:
    return ProposedAction(
        agent_id=agent_id,
        action_type="enrol_in_sequence",
        channel=channel,
        person_id="per_1",
        account_id="acc_1",
        payload={"sequence_id": "evaluation-guide"},
        reasoning="test",
        inputs={},
        inverse={"action_type": "remove_from_sequence"},
        trigger_key="surge:acc_1:2026-10-05",
    )


def _context(**overrides: object) -> ActionContext:
    values = {
        "person_known": True,
        "is_contactable": True,
        "consent_status": "opted_in",
        "is_suppressed": False,
        "recent_actions_on_channel": 0,
    }
    values.update(overrides)
    return ActionContext(**values)


@pytest.fixture(scope="module")
def registry():
    return load_agent_registry(CONFIG_DIR)


@pytest.fixture(scope="module")
def policies():
    return load_policies(CONFIG_DIR)


def test_the_shipped_config_files_load() -> None:
    assert load_agent_registry(CONFIG_DIR).get("sdr_sequence_agent") is not None
    assert load_policies(CONFIG_DIR).frequency_cap("sales_engagement") is not None
    assert load_surge_rules(CONFIG_DIR).account_intent_surge.min_distinct_contacts == 3


def test_a_bad_agent_entry_names_the_file_the_agent_and_the_field(tmp_path: Path) -> None:
    shutil.copytree(CONFIG_DIR, tmp_path, dirs_exist_ok=True)
    agents_file = tmp_path / "agents.yaml"
    agents_file.write_text(agents_file.read_text().replace("    owner: Dana Reyes (RevOps)\n", ""))

    with pytest.raises(ConfigError) as error:
        load_agent_registry(tmp_path)

    assert str(agents_file) in str(error.value)
    assert "agents[sdr_sequence_agent].owner" in str(error.value)


def test_a_bad_threshold_is_refused(tmp_path: Path) -> None:
    shutil.copytree(CONFIG_DIR, tmp_path, dirs_exist_ok=True)
    rules = tmp_path / "surge_rules.yaml"
    rules.write_text(rules.read_text().replace("min_distinct_contacts: 3", "min_distinct_contacts: zero"))

    with pytest.raises(ConfigError, match=r"account_intent_surge\.min_distinct_contacts"):
        load_surge_rules(tmp_path)


def test_a_contactable_person_within_scope_and_cap_is_allowed(registry, policies) -> None:
    decision = decide(_action(), _context(), registry, policies)
    assert decision.verdict is Verdict.ALLOWED
    assert decision.fired == ()


@pytest.mark.parametrize(
    ("action", "context", "rule_id"),
    [
        (_action(channel="paid_ads"), _context(), "scope.declared_actions"),
        (_action(agent_id="rogue_agent"), _context(), "scope.registered_agent"),
        (_action(), _context(is_suppressed=True), "suppression.list"),
        (_action(), _context(is_contactable=False, consent_status="opted_out"), "consent.contactable"),
        (_action(), _context(person_known=False), "consent.contactable"),
        (_action(), _context(recent_actions_on_channel=1), "frequency_cap.sales_engagement"),
    ],
)
def test_each_guardrail_denies_on_its_own(registry, policies, action, context, rule_id) -> None:
    decision = decide(action, context, registry, policies)
    assert decision.verdict is Verdict.DENIED
    assert [rule.rule_id for rule in decision.fired] == [rule_id]


def test_the_same_intended_effect_always_has_the_same_idempotency_key() -> None:
    assert _action().action_id == _action().action_id
    assert _action().action_id != _action(channel="email").action_id


def test_qualifying_days_become_one_surge_per_episode() -> None:
    from datetime import date

    from dagster_project.evaluation import DetectedSurge, surge_episodes

    days = [("acc_1", date(2026, 10, d)) for d in (1, 3, 9, 20)] + [("acc_2", date(2026, 10, 5))]

    assert surge_episodes(days, window_days=8) == [
        DetectedSurge("acc_1", date(2026, 10, 1)),
        DetectedSurge("acc_1", date(2026, 10, 20)),
        DetectedSurge("acc_2", date(2026, 10, 5)),
    ]
