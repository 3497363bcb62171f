"""Config files fail loudly: a bad entry is refused at load with a message naming the file, the entry and
the field. The policy engine itself is tested in test_policy_engine.py."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from agents.actions import ProposedAction
from agents.config import load_agent_registry, load_policies, load_surge_rules
from dagster_project.core.config_files import ConfigError
from dagster_project.core.settings import REPO_ROOT

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


def _edited(tmp_path: Path, file_name: str, old: str, new: str) -> Path:
    """A copy of the shipped config dir with one exact edit to one file; returns the edited file."""
    shutil.copytree(CONFIG_DIR, tmp_path, dirs_exist_ok=True)
    path = tmp_path / file_name
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} must occur once in {file_name}"
    path.write_text(text.replace(old, new))
    return path


def _refused(loader, path: Path) -> str:
    with pytest.raises(ConfigError) as error:
        loader(path.parent)
    message = str(error.value)
    assert str(path) in message
    return message


def test_the_shipped_config_files_load() -> None:
    registry = load_agent_registry(CONFIG_DIR)
    policies = load_policies(CONFIG_DIR)

    sdr = registry.get("sdr_sequence_agent")
    assert sdr is not None
    assert registry.reviewer(sdr.owner) is not None
    assert registry.get("account_ads_agent") is not None
    assert all(registry.get(reviewer.id) is None for reviewer in registry.reviewers)
    assert policies.frequency_cap("sales_engagement") is not None
    assert policies.policy_version.startswith(f"v{policies.version}-")
    assert load_surge_rules(CONFIG_DIR).account_intent_surge.min_distinct_contacts == 3


def test_a_bad_agent_entry_names_the_file_the_agent_and_the_field(tmp_path: Path) -> None:
    agents_file = _edited(tmp_path, "agents.yaml", "    owner: dana.reyes\n", "")

    message = _refused(load_agent_registry, agents_file)

    assert "agents[sdr_sequence_agent].owner" in message


def test_a_bad_threshold_is_refused(tmp_path: Path) -> None:
    rules = _edited(tmp_path, "surge_rules.yaml", "min_distinct_contacts: 3", "min_distinct_contacts: zero")

    message = _refused(load_surge_rules, rules)

    assert "account_intent_surge.min_distinct_contacts" in message


def test_an_owner_who_is_not_a_listed_reviewer_is_refused(tmp_path: Path) -> None:
    agents_file = _edited(tmp_path, "agents.yaml", "    owner: dana.reyes\n", "    owner: Dana Reyes (RevOps)\n")

    message = _refused(load_agent_registry, agents_file)

    assert "agents[sdr_sequence_agent].owner: 'Dana Reyes (RevOps)' is not one of the listed reviewers" in message


def test_a_reviewer_with_an_agents_id_is_refused(tmp_path: Path) -> None:
    agents_file = _edited(tmp_path, "agents.yaml", "  - id: alex.kim\n", "  - id: account_ads_agent\n")

    message = _refused(load_agent_registry, agents_file)

    assert "reviewers[account_ads_agent]: an agent cannot be a reviewer" in message


def test_an_approval_route_naming_an_unknown_reviewer_is_refused(tmp_path: Path) -> None:
    agents_file = _edited(
        tmp_path, "agents.yaml", "reviewers: [sam.okafor, dana.reyes]", "reviewers: [sam.okafor, sdr_lead]"
    )

    message = _refused(load_agent_registry, agents_file)

    assert "agents[sdr_sequence_agent].approvals.reviewers: 'sdr_lead' is not one of the listed reviewers" in message


def test_a_handoff_to_an_agent_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    agents_file = _edited(tmp_path, "agents.yaml", "handoff_to: [account_ads_agent]", "handoff_to: [events_agent]")

    message = _refused(load_agent_registry, agents_file)

    assert "agents[sdr_sequence_agent].allowed_actions[handoff_to_agent].handoff_to: unknown agent 'events_agent'" in (
        message
    )


def test_an_unsigned_graduation_is_refused(tmp_path: Path) -> None:
    agents_file = _edited(tmp_path, "agents.yaml", "      graduated_by: dana.reyes\n", "")

    message = _refused(load_agent_registry, agents_file)

    assert "agents[sdr_sequence_agent].rollout" in message
    assert "graduated_by" in message


def test_an_unparseable_brand_safety_regex_is_refused(tmp_path: Path) -> None:
    policies_file = _edited(
        tmp_path,
        "policies.yaml",
        "    - '\\bguarantee[sd]?\\b'\n",
        "    - '\\bguarantee[sd]?\\b'\n    - '(best|fastest in class'\n",
    )

    message = _refused(load_policies, policies_file)

    assert "brand_safety" in message
    assert "'(best|fastest in class' does not compile" in message


def test_an_unparseable_personal_data_regex_is_refused(tmp_path: Path) -> None:
    policies_file = _edited(tmp_path, "policies.yaml", "    phone_number: '(?<![", "    phone_number: '[0-9' #'(?<![")

    message = _refused(load_policies, policies_file)

    assert "brand_safety" in message
    assert "'[0-9' does not compile" in message


def test_a_budget_cap_without_daily_or_monthly_is_refused(tmp_path: Path) -> None:
    policies_file = _edited(tmp_path, "policies.yaml", "      daily: 2000\n      monthly: 15000\n", "")

    message = _refused(load_policies, policies_file)

    assert "budgets.caps[cmp_linkedin_02]" in message
    assert "a budget cap needs daily, monthly or both" in message


def test_a_budget_cap_with_only_a_monthly_limit_loads(tmp_path: Path) -> None:
    _edited(tmp_path, "policies.yaml", "      daily: 2000\n      monthly: 15000\n", "      monthly: 15000\n")

    cap = next(cap for cap in load_policies(tmp_path).budgets.caps if cap.id == "cmp_linkedin_02")

    assert (cap.daily, cap.monthly) == (None, 15000)


def test_a_missing_config_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_policies(tmp_path)


def test_the_same_intended_effect_always_has_the_same_idempotency_key() -> None:
    assert _action().action_id == _action().action_id
    assert _action().action_id != _action(channel="email").action_id


def test_qualifying_days_become_one_surge_per_episode() -> None:
    from dagster_project.simulator.evaluation import DetectedSurge, surge_episodes

    days = [("acc_1", date(2026, 10, d)) for d in (1, 3, 9, 20)] + [("acc_2", date(2026, 10, 5))]

    assert surge_episodes(days, window_days=8) == [
        DetectedSurge("acc_1", date(2026, 10, 1)),
        DetectedSurge("acc_1", date(2026, 10, 20)),
        DetectedSurge("acc_2", date(2026, 10, 5)),
    ]
