"""Reviewers are authenticated (finding 5): every human decision is verified against the reviewer's public key,
a claimed reviewer id decides nothing, a signature cannot be replayed on another action, an old resume cannot
lift a newer pause, only the detector pauses as the detector, and an auditor verifies the log offline."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from agents.actions import ProposedAction
from agents.config import load_governance_config
from agents.governance.anomaly import AnomalyFinding
from agents.governance.audit import AuditEvent
from agents.governance.audit_schema import AUDIT_TABLE
from agents.governance.facts import pause_state
from agents.governance.governor import Governor
from agents.governance.interventions import ANOMALY_DETECTOR, pause_on_anomaly
from agents.governance.schema import ActionStatus
from agents.governance.session import GovernanceError
from agents.governance.signatures import (
    SignatureError,
    generate_private_key,
    public_key_text,
    read_private_key,
    sign_decision,
    verify_decision,
    verify_statement,
    write_private_key,
)
from agents.governance.store import load_action
from tests.signing import Reviewers, signed_config

NOW = datetime(2026, 11, 25, 9, 0)
ADS, SDR = "account_ads_agent", "sdr_sequence_agent"
PRIYA, DANA, LEE = "priya.natarajan", "dana.reyes", "lee.martin"
CHECKS = "required_checks: [dim_person_expectations, dim_person_freshness]"


@pytest.fixture
def reviewers(tmp_path: Path) -> Reviewers:
    """Test keys for every reviewer; the data-check gates are left out, as they are not what is tested here."""
    keys = signed_config(tmp_path / "config")
    agents_file = tmp_path / "config" / "agents.yaml"
    agents_file.write_text(agents_file.read_text().replace(CHECKS, "required_checks: []"))
    return keys


@pytest.fixture
def governor(tmp_path: Path, reviewers: Reviewers) -> Iterator[Governor]:
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    connection.execute("create schema marts")
    connection.execute(
        "create table marts.dim_person as select 'p' || i as person_id, 'p' || i || '@example.com' as email, "
        "'opted_in' as consent_status, false as has_unsubscribed, false as has_bounced, 0 as unsubscribe_events, "
        "0 as complaint_events, 'manager' as seniority, 'Manager' as job_title, 'Europe/Berlin' as timezone "
        "from range(5) t(i)"
    )
    connection.execute(
        "create table marts.dim_account as select 'a' || i as account_id, 1 as tier, 'saas' as industry "
        "from range(5) t(i)"
    )
    registry, policies = load_governance_config(tmp_path / "config")
    yield Governor(connection, registry, policies, "test-signatures")
    connection.close()


def _boost(account: int) -> ProposedAction:
    return ProposedAction(
        agent_id=ADS,
        action_type="adjust_campaign_budget",
        channel="linkedin",
        person_id=None,
        account_id=f"a{account}",
        payload={"daily_budget_change": 100.0},
        reasoning="test",
        inputs={},
        inverse={},
        trigger_key=f"t{account}",
        campaign_id="cmp_linkedin_01",
        spend=100.0,
    )


def _queued(governor: Governor, *accounts: int) -> list[str]:
    records = governor.submit([_boost(account) for account in accounts], NOW)
    assert [record.outcome for record in records] == ["pending_approval"] * len(accounts)
    return [record.action.action_id for record in records]


# --- the signature itself ---------------------------------------------------------------------------------


def test_a_signature_verifies_only_for_the_exact_decision_it_was_made_for() -> None:
    key, other = generate_private_key(), generate_private_key()
    public = (public_key_text(key),)
    token = sign_decision(key, "approve", "act-1", PRIYA, "ok", NOW, _boost(1))

    assert verify_decision(public, token, "approve", "act-1", PRIYA, "ok", _boost(1), now=NOW).signed_at == NOW
    for changed in (
        ("reject", "act-1", PRIYA, "ok", _boost(1)),
        ("approve", "act-2", PRIYA, "ok", _boost(1)),
        ("approve", "act-1", DANA, "ok", _boost(1)),
        ("approve", "act-1", PRIYA, "ok!", _boost(1)),
        ("approve", "act-1", PRIYA, "ok", _boost(2)),
    ):
        with pytest.raises(SignatureError, match="is not"):
            verify_decision(public, token, *changed, now=NOW)
    with pytest.raises(SignatureError, match="is not"):
        verify_decision((public_key_text(other),), token, "approve", "act-1", PRIYA, "ok", _boost(1), now=NOW)
    with pytest.raises(SignatureError, match="sign again"):
        verify_decision(public, token, "approve", "act-1", PRIYA, "ok", _boost(1), now=NOW + timedelta(hours=2))
    with pytest.raises(SignatureError, match="looks like"):
        verify_decision(public, "dana.reyes", "approve", "act-1", PRIYA, "ok", _boost(1), now=NOW)


def test_a_private_key_is_written_for_its_owner_only_and_never_overwritten(tmp_path: Path) -> None:
    key = generate_private_key()
    path = write_private_key(tmp_path / "keys", PRIYA, key)

    assert path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "keys").stat().st_mode & 0o777 == 0o700
    with pytest.raises(SignatureError, match="never overwritten"):
        write_private_key(tmp_path / "keys", PRIYA, generate_private_key())
    assert read_private_key(tmp_path / "keys", PRIYA).private_bytes_raw() == key.private_bytes_raw()
    path.chmod(0o644)
    with pytest.raises(SignatureError, match="readable by others"):
        read_private_key(tmp_path / "keys", PRIYA)
    with pytest.raises(SignatureError, match=r"reviewers keygen --reviewer dana\.reyes"):
        read_private_key(tmp_path / "keys", DANA)


# --- the governor refuses what is not signed --------------------------------------------------------------


def test_naming_a_reviewer_without_their_key_approves_nothing(governor: Governor, reviewers: Reviewers) -> None:
    (action_id,) = _queued(governor, 1)
    # Lee signs, claiming to be Priya: the reviewer id alone used to be enough.
    forged = reviewers.sign("approve", action_id, LEE, "ok", NOW, load_action(governor.connection, action_id).action)

    with pytest.raises(GovernanceError, match=r"approve .* by priya\.natarajan refused: the signature is not"):
        governor.approve(action_id, PRIYA, "ok", NOW, signature=forged)
    with pytest.raises(GovernanceError, match="looks like"):
        governor.approve(action_id, PRIYA, "ok", NOW, signature="")

    assert load_action(governor.connection, action_id).status is ActionStatus.PENDING_APPROVAL


def test_a_signature_cannot_be_replayed_on_another_action_or_verb(governor: Governor, reviewers: Reviewers) -> None:
    first, second = _queued(governor, 1, 2)
    signature = reviewers.approval(governor.connection, first, PRIYA, "ok", NOW)

    with pytest.raises(GovernanceError, match="refused"):
        governor.approve(second, PRIYA, "ok", NOW, signature=signature)
    with pytest.raises(GovernanceError, match="refused"):
        governor.reject(first, PRIYA, "ok", NOW, signature=signature)
    with pytest.raises(GovernanceError, match="sign again"):
        governor.approve(first, PRIYA, "ok", NOW + timedelta(hours=2), signature=signature)

    assert governor.approve(first, PRIYA, "ok", NOW, signature=signature).status is ActionStatus.APPROVED
    assert load_action(governor.connection, second).status is ActionStatus.PENDING_APPROVAL


def test_an_auditor_verifies_a_decision_offline_from_its_audit_entry(governor: Governor, reviewers: Reviewers) -> None:
    (action_id,) = _queued(governor, 1)
    governor.approve(
        action_id,
        PRIYA,
        "fits the plan",
        NOW,
        signature=reviewers.approval(governor.connection, action_id, PRIYA, "fits the plan", NOW),
    )

    reviewer, inputs, signature = governor.connection.execute(
        f"select reviewer, inputs, signature from {AUDIT_TABLE} where event = ? and action_id = ?",
        [AuditEvent.APPROVED, action_id],
    ).fetchone()
    said = json.loads(inputs)["signed"]
    public_keys = governor.registry.reviewer(reviewer).public_keys

    assert said["verb"] == "approve" and said["subject"] == action_id and said["comment"] == "fits the plan"
    assert verify_statement(public_keys, signature, said, reviewer).signed_at == NOW
    with pytest.raises(SignatureError):
        verify_statement(public_keys, signature, {**said, "comment": "rewritten"}, reviewer)


def test_pause_and_resume_need_a_signature_and_an_old_resume_cannot_lift_a_newer_pause(
    governor: Governor, reviewers: Reviewers
) -> None:
    early_resume = reviewers.switch(False, SDR, DANA, "all clear", NOW)
    later = NOW + timedelta(minutes=5)

    with pytest.raises(GovernanceError, match="refused"):
        governor.pause(SDR, by=DANA, reason="bad import", now=later, signature=early_resume)
    governor.pause(
        SDR, by=DANA, reason="bad import", now=later, signature=reviewers.switch(True, SDR, DANA, "bad import", later)
    )
    assert pause_state(governor.connection, SDR).paused

    with pytest.raises(GovernanceError, match="before the agent's last switch"):
        governor.resume(SDR, by=DANA, reason="all clear", now=later + timedelta(minutes=1), signature=early_resume)
    assert pause_state(governor.connection, SDR).paused

    fresh = later + timedelta(minutes=2)
    governor.resume(
        SDR, by=DANA, reason="all clear", now=fresh, signature=reviewers.switch(False, SDR, DANA, "all clear", fresh)
    )
    assert not pause_state(governor.connection, SDR).paused


def test_nobody_pauses_as_the_anomaly_detector_but_the_detector(governor: Governor, reviewers: Reviewers) -> None:
    with pytest.raises(GovernanceError, match="not a person"):
        governor.pause("*", by=ANOMALY_DETECTOR, reason="x", now=NOW, signature="v1.x.y")
    assert not pause_state(governor.connection, "*").paused

    finding = AnomalyFinding("volume", 50, 5, 0.0001, 0.01, 50, 20, "50 actions against a median of 5")
    reason = pause_on_anomaly(governor, ADS, [finding], NOW)

    state = pause_state(governor.connection, ADS)
    assert state.paused and state.changed_by == ANOMALY_DETECTOR and "50 actions" in reason
    with pytest.raises(GovernanceError):
        pause_on_anomaly(governor, ADS, [], NOW)


def test_a_rollback_needs_the_reviewers_signature_over_the_executed_action(
    governor: Governor, reviewers: Reviewers
) -> None:
    (action_id,) = _queued(governor, 1)
    governor.approve(
        action_id, PRIYA, "ok", NOW, signature=reviewers.approval(governor.connection, action_id, PRIYA, "ok", NOW)
    )
    governor.execute_approved(NOW)
    assert load_action(governor.connection, action_id).status is ActionStatus.EXECUTED

    with pytest.raises(GovernanceError, match="refused"):
        governor.rollback(
            action_id,
            by=PRIYA,
            reason="undo",
            now=NOW,
            signature=reviewers.rollback(governor.connection, action_id, LEE, "undo", NOW),
        )
    signature = reviewers.rollback(governor.connection, action_id, PRIYA, "undo", NOW)
    result = governor.rollback(action_id, by=PRIYA, reason="undo", now=NOW, signature=signature)

    assert result.restored
    (kept,) = governor.connection.execute(
        f"select signature from {AUDIT_TABLE} where event = ? and action_id = ?", [AuditEvent.ROLLED_BACK, action_id]
    ).fetchone()
    assert kept == signature
