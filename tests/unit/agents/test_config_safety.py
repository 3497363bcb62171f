"""Config that would turn safety off is refused at load (finding 9): missing safety sections, ids that match
nothing, non-finite numbers, unsigned graduations; and `policy_version` covers agents.yaml as well."""

from __future__ import annotations

import random
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest
import yaml

from agents.adapters.sandbox import sandbox_adapters
from agents.config import AnomalyPolicy, load_agent_registry, load_governance_config, load_policies, load_surge_rules
from agents.specialists.sdr_sequence import FIRST_STEP_COPY, SEQUENCE_BY_SENIORITY
from dagster_project.core.config_files import ConfigError
from dagster_project.core.settings import REPO_ROOT
from dagster_project.simulator.catalogue import build_ad_campaigns
from tests.signing import signed_config

CONFIG_DIR = REPO_ROOT / "config"
DEFAULT_MARKET_ACCOUNTS = 200


def _copy(tmp_path: Path) -> Path:
    config = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, config)
    return config


def _edit(config: Path, file_name: str, old: str, new: str) -> Path:
    path = config / file_name
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} must occur once in {file_name}"
    path.write_text(text.replace(old, new))
    return path


def _refusal(config: Path, path: Path) -> str:
    with pytest.raises(ConfigError) as error:
        load_governance_config(config)
    message = str(error.value)
    assert message.startswith(str(path)), message
    return message


def test_a_policies_file_of_only_a_version_is_refused_naming_every_missing_section(tmp_path: Path) -> None:
    config = _copy(tmp_path)
    (config / "policies.yaml").write_text("version: 2\n")

    message = _refusal(config, config / "policies.yaml")

    for section in ("catalogue", "frequency_caps", "cross_channel_cap", "quiet_hours", "budgets", "brand_safety"):
        assert f"{section}: Field required" in message
    for section in ("consent", "sensitive_audiences", "distress", "anomaly", "freshness"):
        assert f"{section}: Field required" in message


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("  caps:\n    - scope: campaign", "  caps: []\n  old_caps:\n    - scope: campaign", "budgets"),
        ("brand_safety:\n  banned_phrases:", "brand_safety:\n  banned:", "brand_safety.banned_phrases"),
    ],
)
def test_an_emptied_safety_section_is_refused(tmp_path: Path, old: str, new: str, field: str) -> None:
    config = _copy(tmp_path)
    path = _edit(config, "policies.yaml", old, new)

    assert field in _refusal(config, path)


def test_a_frequency_cap_on_a_misspelt_channel_is_refused_with_the_known_channels(tmp_path: Path) -> None:
    config = _copy(tmp_path)
    path = _edit(config, "policies.yaml", "  - channel: sales_engagement\n", "  - channel: sales-engagement\n")

    message = _refusal(config, path)

    assert "frequency_caps[sales-engagement].channel: 'sales-engagement' is not a known channel" in message
    assert "known channels: sales_engagement, email, linkedin, google, meta, internal" in message


def test_a_budget_cap_on_a_campaign_display_name_is_refused_with_the_known_campaigns(tmp_path: Path) -> None:
    config = _copy(tmp_path)
    path = _edit(config, "policies.yaml", "      id: cmp_linkedin_02\n", "      id: LinkedIn\n")

    message = _refusal(config, path)

    assert "budgets.caps[LinkedIn].id: 'LinkedIn' is not a known campaign" in message
    assert "known campaigns: cmp_linkedin_01, cmp_linkedin_02, cmp_google_01" in message


def test_a_channel_cap_and_quiet_hours_on_unknown_channels_are_refused(tmp_path: Path) -> None:
    config = _copy(tmp_path)
    _edit(config, "policies.yaml", "      id: linkedin\n", "      id: LinkedIn Ads\n")
    path = _edit(config, "policies.yaml", "channels: [sales_engagement, email]", "channels: [sales_engagement, mail]")

    message = _refusal(config, path)

    assert "budgets.caps[LinkedIn Ads].id: 'LinkedIn Ads' is not a known channel" in message
    assert "quiet_hours.channels: 'mail' is not a known channel" in message


def test_an_agent_scope_naming_an_unknown_campaign_or_channel_is_refused_in_agents_yaml(tmp_path: Path) -> None:
    config = _copy(tmp_path)
    _edit(
        config, "agents.yaml", "campaigns: [cmp_linkedin_01, cmp_linkedin_02]", "campaigns: [cmp_linkedin_01, LinkedIn]"
    )
    path = _edit(config, "agents.yaml", "channels: [sales_engagement]", "channels: [sales-engagement]")

    message = _refusal(config, path)

    assert "agents[account_ads_agent].budget_scope.campaigns: 'LinkedIn' is not a known campaign" in message
    assert "agents[sdr_sequence_agent].allowed_actions[enrol_in_sequence].channels: 'sales-engagement'" in message


def test_a_campaign_an_agent_may_spend_on_without_a_campaign_cap_is_refused(tmp_path: Path) -> None:
    config = _copy(tmp_path)
    _edit(config, "policies.yaml", "      id: cmp_linkedin_02\n", "      id: cmp_google_01\n")
    path = config / "agents.yaml"

    message = _refusal(config, path)

    assert "agents[account_ads_agent].budget_scope.campaigns: 'cmp_linkedin_02' has no campaign cap" in message


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("      daily: 2500\n", "      daily: .inf\n", "budgets.caps[cmp_linkedin_01].daily"),
        ("      monthly: 30000\n", "      monthly: .nan\n", "budgets.caps[linkedin].monthly"),
        ("  approval_threshold: 750\n", "  approval_threshold: .inf\n", "budgets.approval_threshold"),
        ("  max_volume_ratio: 3.0\n", "  max_volume_ratio: .nan\n", "anomaly.max_volume_ratio"),
        ("  min_spend: 1000\n", "  min_spend: -.inf\n", "anomaly.min_spend"),
    ],
)
def test_non_finite_numbers_are_refused(tmp_path: Path, old: str, new: str, field: str) -> None:
    config = _copy(tmp_path)
    path = _edit(config, "policies.yaml", old, new)

    message = _refusal(config, path)

    assert f"{field}: Input should be a finite number" in message


def test_a_non_finite_number_in_any_config_file_is_refused(tmp_path: Path) -> None:
    config = _copy(tmp_path)
    _edit(config, "surge_rules.yaml", "min_quality_score: ", "min_quality_score: .inf #")

    with pytest.raises(ConfigError, match="min_quality_score: Input should be a finite number"):
        load_surge_rules(config)


def test_policy_version_changes_when_only_agents_yaml_changes(tmp_path: Path) -> None:
    config = _copy(tmp_path)
    before = load_policies(config).policy_version

    _edit(
        config,
        "agents.yaml",
        "expires_after_hours: 48\n    rollout:\n      started_on: 2026-08-01",
        ("expires_after_hours: 24\n    rollout:\n      started_on: 2026-08-01"),
    )
    after = load_policies(config).policy_version

    assert before != after and after.startswith("v2-")
    assert load_policies(config).policy_version == after


def test_the_catalogue_matches_the_simulated_market_the_adapters_and_the_sdr_sequences() -> None:
    catalogue = load_policies(CONFIG_DIR).catalogue
    simulated = build_ad_campaigns(random.Random(0), DEFAULT_MARKET_ACCOUNTS)

    assert sorted(catalogue.campaign_ids) == sorted(campaign.campaign_id for campaign in simulated)
    assert {(c.id, c.channel) for c in catalogue.campaigns} == {(c.campaign_id, c.channel) for c in simulated}
    with duckdb.connect() as connection:
        assert set(sandbox_adapters(connection)) <= set(catalogue.channels)
    assert set(catalogue.sequences) == set(SEQUENCE_BY_SENIORITY.values()) == set(FIRST_STEP_COPY)


# --- graduations are signed -------------------------------------------------------------------------------


def test_the_shipped_graduation_verifies_and_a_tampered_one_is_refused(tmp_path: Path) -> None:
    assert load_agent_registry(CONFIG_DIR).get("sdr_sequence_agent").rollout.graduated_to_phase == 3
    config = _copy(tmp_path)
    path = _edit(config, "agents.yaml", "      graduated_on: 2026-09-01\n", "      graduated_on: 2026-08-01\n")

    message = _refusal(config, path)

    assert "agents[sdr_sequence_agent].rollout.graduation_signature" in message
    assert "not dana.reyes's signature of graduate sdr_sequence_agent:phase-3" in message


def test_a_graduation_signed_by_someone_else_is_refused_and_the_owners_own_signature_loads(tmp_path: Path) -> None:
    config = tmp_path / "config"
    reviewers = signed_config(config)
    agents_file = config / "agents.yaml"
    block = "      checkpoints: [launch_ad_creative]\n"
    on = date(2026, 12, 1)

    forged = reviewers.graduation("account_ads_agent", 3, "alex.kim", on)
    _edit(config, "agents.yaml", block, block + _graduation_lines("priya.natarajan", on, forged))
    message = _refusal(config, agents_file)
    assert "agents[account_ads_agent].rollout.graduation_signature" in message

    signed = reviewers.graduation("account_ads_agent", 3, "priya.natarajan", on)
    agents_file.write_text(agents_file.read_text().replace(forged, signed))
    assert load_agent_registry(config).get("account_ads_agent").rollout.graduated_to_phase == 3


def test_a_graduation_without_a_signature_is_refused(tmp_path: Path) -> None:
    config = _copy(tmp_path)
    text = (config / "agents.yaml").read_text()
    signature_line = next(line for line in text.splitlines(keepends=True) if "graduation_signature:" in line)
    path = _edit(config, "agents.yaml", signature_line, "")

    assert "graduated_to_phase needs graduated_by, graduated_on and graduation_signature" in _refusal(config, path)


def _graduation_lines(by: str, on: date, signature: str) -> str:
    return (
        f"      graduated_to_phase: 3\n      graduated_by: {by}\n      graduated_on: {on.isoformat()}\n"
        f"      graduation_signature: {signature}\n"
    )


# --- reviewer keys in agents.yaml --------------------------------------------------------------------------


def test_a_new_reviewer_key_goes_first_and_the_old_one_is_kept_as_retired(tmp_path: Path) -> None:
    config = tmp_path / "config"
    shipped = {r["id"]: r["public_keys"] for r in yaml.safe_load((CONFIG_DIR / "agents.yaml").read_text())["reviewers"]}

    signed_config(config)
    registry = load_agent_registry(config)

    for reviewer in registry.reviewers:
        assert reviewer.public_keys[1:] == tuple(shipped[reviewer.id])
        assert reviewer.current_key != tuple(shipped[reviewer.id][:1])
    assert (config / "agents.yaml").read_text().count("#") == (CONFIG_DIR / "agents.yaml").read_text().count("#")


def test_a_malformed_public_key_is_refused(tmp_path: Path) -> None:
    config = _copy(tmp_path)
    text = (config / "agents.yaml").read_text()
    key = yaml.safe_load(text)["reviewers"][0]["public_keys"][0]
    path = _edit(config, "agents.yaml", key, "ed25519-not-a-key")

    assert "reviewers[dana.reyes].public_keys" in _refusal(config, path)


@pytest.mark.parametrize("field", ["max_volume_ratio", "max_spend_ratio"])
def test_an_anomaly_ratio_that_switches_its_rule_off_is_refused(field: str) -> None:
    with pytest.raises(ValueError, match="less than or equal to 100"):
        AnomalyPolicy(**{field: 1e300})
