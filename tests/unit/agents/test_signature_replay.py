"""Signatures after the adversarial review of issue 11: an approval is trusted only as far as its signature (a row
set to approved by SQL never executes, and `audit verify` shows state no signature accounts for), a signature is
used once (no replayed resume or window rollback), and only the right person decides (an escalation's addressee
or the agent's owner resolves it, the agent's owner or route reviewers roll it back, its owner graduates it)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest
import yaml

from agents.actions import ProposedAction
from agents.config import load_governance_config
from agents.governance.anomaly import AnomalyFinding
from agents.governance.audit import AuditEvent
from agents.governance.audit_reading import verify_chain
from agents.governance.audit_schema import AUDIT_TABLE
from agents.governance.execution import execute
from agents.governance.facts import pause_state
from agents.governance.governor import Governor
from agents.governance.interventions import pause_on_anomaly
from agents.governance.schema import ACTIONS_TABLE, GOVERNANCE_DDL, ActionStatus, ensure_governance_tables
from agents.governance.session import GovernanceError
from agents.governance.store import load_action, open_escalation
from dagster_project.core.config_files import ConfigError
from tests.signing import Reviewers, signed_config

NOW = datetime(2026, 11, 25, 9, 0)
ADS, SDR = "account_ads_agent", "sdr_sequence_agent"
PRIYA, DANA, LEE, SAM = "priya.natarajan", "dana.reyes", "lee.martin", "sam.okafor"
CHECKS = "required_checks: [dim_person_expectations, dim_person_freshness]"
NOT_SIGNED = "approval not signed by a listed reviewer"


@pytest.fixture
def reviewers(tmp_path: Path) -> Reviewers:
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
    yield Governor(connection, registry, policies, "test-signature-replay")
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


def _queued(governor: Governor, *accounts: int, now: datetime = NOW) -> list[str]:
    records = governor.submit([_boost(account) for account in accounts], now)
    assert [record.outcome for record in records] == ["pending_approval"] * len(accounts)
    return [record.action.action_id for record in records]


def _approve(governor: Governor, reviewers: Reviewers, action_id: str, now: datetime = NOW, comment: str = "ok"):
    signature = reviewers.approval(governor.connection, action_id, PRIYA, comment, now)
    return governor.approve(action_id, PRIYA, comment, now, signature=signature)


def _executed(governor: Governor, reviewers: Reviewers, account: int, now: datetime = NOW) -> str:
    (action_id,) = _queued(governor, account, now=now)
    _approve(governor, reviewers, action_id, now)
    governor.execute_approved(now)
    assert load_action(governor.connection, action_id).status is ActionStatus.EXECUTED
    return action_id


def _ledger(connection: duckdb.DuckDBPyConnection) -> list[str]:
    return [row[0] for row in connection.execute("select action_id from governance.budget_ledger").fetchall()]


def _sql_approve(connection: duckdb.DuckDBPyConnection, action_id: str, **extra: object) -> None:
    """A warehouse writer without any key marks a pending action approved in the reviewer's name."""
    columns = {"status": "approved", "reviewed_by": PRIYA, "reviewed_at": NOW, "review_comment": "ok", **extra}
    assignments = ", ".join(f"{name} = ?" for name in columns)
    connection.execute(f"update {ACTIONS_TABLE} set {assignments} where action_id = ?", [*columns.values(), action_id])


# --- B1: an approval is only as good as its signature -------------------------------------------------------


def test_an_approval_written_by_sql_without_a_signature_is_denied_at_execution(governor: Governor) -> None:
    (action_id,) = _queued(governor, 1)
    _sql_approve(governor.connection, action_id)

    (record,) = governor.execute_approved(NOW + timedelta(minutes=5))

    stored = load_action(governor.connection, action_id)
    assert record.outcome == "denied" and stored.status is ActionStatus.DENIED and stored.executed_at is None
    assert NOT_SIGNED in stored.status_detail and _ledger(governor.connection) == []
    (reasoning,) = governor.connection.execute(
        f"select reasoning from {AUDIT_TABLE} where event = ? and action_id = ? and outcome = 'denied'",
        [AuditEvent.DECIDED, action_id],
    ).fetchone()
    assert NOT_SIGNED in reasoning


@pytest.mark.parametrize("tampering", ["another action's signature", "rewritten comment", "another reviewer"])
def test_an_approval_whose_kept_signature_does_not_verify_over_the_row_is_denied(
    governor: Governor, reviewers: Reviewers, tampering: str
) -> None:
    first, second = _queued(governor, 1, 2)
    _approve(governor, reviewers, first)
    signature, signed_at = governor.connection.execute(
        f"select review_signature, review_signed_at from {ACTIONS_TABLE} where action_id = ?", [first]
    ).fetchone()
    if tampering == "another action's signature":
        _sql_approve(governor.connection, second, review_signature=signature, review_signed_at=signed_at)
        target = second
    elif tampering == "rewritten comment":
        governor.connection.execute(
            f"update {ACTIONS_TABLE} set review_comment = 'ok, and double it' where action_id = ?", [first]
        )
        target = first
    else:
        governor.connection.execute(f"update {ACTIONS_TABLE} set reviewed_by = ? where action_id = ?", [DANA, first])
        target = first

    records = {record.action.action_id: record.outcome for record in governor.execute_approved(NOW)}

    assert records[target] == "denied" and NOT_SIGNED in load_action(governor.connection, target).status_detail
    assert target not in _ledger(governor.connection)


def test_a_signed_approval_executes_days_later_the_freshness_window_is_for_signing_only(
    governor: Governor, reviewers: Reviewers
) -> None:
    (action_id,) = _queued(governor, 1)
    _approve(governor, reviewers, action_id)

    (record,) = governor.execute_approved(NOW + timedelta(days=2))

    assert record.outcome == "executed" and _ledger(governor.connection) == [action_id]
    assert verify_chain(governor.connection, registry=governor.registry).ok


def test_an_older_warehouse_gets_the_signature_columns(tmp_path: Path) -> None:
    connection = duckdb.connect(str(tmp_path / "old.duckdb"))
    connection.execute("create schema governance")
    old_ddl = GOVERNANCE_DDL[0].replace("review_signature varchar,", "").replace("review_signed_at timestamp,", "")
    connection.execute(old_ddl)

    ensure_governance_tables(connection)
    ensure_governance_tables(connection)

    columns = {row[0] for row in connection.execute(f"describe {ACTIONS_TABLE}").fetchall()}
    assert {"review_signature", "review_signed_at"} <= columns


def test_audit_verify_shows_a_resume_written_by_sql(governor: Governor, reviewers: Reviewers) -> None:
    governor.pause(
        SDR, by=DANA, reason="bad import", now=NOW, signature=reviewers.switch(True, SDR, DANA, "bad import", NOW)
    )
    assert verify_chain(governor.connection, registry=governor.registry).ok

    governor.connection.execute("update governance.agent_controls set paused = false where agent_id = ?", [SDR])

    report = verify_chain(governor.connection, registry=governor.registry)
    assert not report.ok and any("agent_controls" in line and SDR in line for line in report.unrecorded)


def test_audit_verify_accepts_signed_switches_and_the_detectors_pause(governor: Governor, reviewers: Reviewers) -> None:
    governor.pause(SDR, by=DANA, reason="x", now=NOW, signature=reviewers.switch(True, SDR, DANA, "x", NOW))
    later = NOW + timedelta(minutes=1)
    governor.resume(SDR, by=DANA, reason="y", now=later, signature=reviewers.switch(False, SDR, DANA, "y", later))
    pause_on_anomaly(governor, ADS, [AnomalyFinding("volume", 50, 5, 0.0001, 0.01, 50, 20, "planted")], later)

    report = verify_chain(governor.connection, registry=governor.registry)
    assert report.ok and report.signatures_checked, report.describe()


def test_audit_verify_shows_an_executed_action_whose_approval_no_reviewer_signed(governor: Governor) -> None:
    (action_id,) = _queued(governor, 1)
    _sql_approve(governor.connection, action_id)
    stored = load_action(governor.connection, action_id)
    # As an execution that trusted the row would have done (the governor before this check).
    with governor.transaction(stored.action):
        decision = governor.decide(stored.action, NOW, approved_by=PRIYA)
        execute(governor, stored.action, decision, NOW, PRIYA)

    report = verify_chain(governor.connection, registry=governor.registry)
    assert any("needed approval" in line and action_id in line for line in report.unrecorded), report.describe()


# --- B5/B6: a signature is used once ------------------------------------------------------------------------


def test_a_resume_from_a_fast_clock_cannot_be_replayed_to_lift_the_detectors_later_pause(
    governor: Governor, reviewers: Reviewers
) -> None:
    governor.pause(SDR, by=DANA, reason="x", now=NOW, signature=reviewers.switch(True, SDR, DANA, "x", NOW))
    skewed = reviewers.switch(False, SDR, DANA, "back", NOW + timedelta(minutes=4))  # the signer's clock is fast
    governor.resume(SDR, by=DANA, reason="back", now=NOW + timedelta(seconds=30), signature=skewed)
    pause_on_anomaly(
        governor, SDR, [AnomalyFinding("volume", 50, 5, 0.0001, 0.01, 50, 20, "planted")], NOW + timedelta(minutes=1)
    )

    with pytest.raises(GovernanceError, match="used already"):
        governor.resume(SDR, by=DANA, reason="back", now=NOW + timedelta(minutes=2), signature=skewed)
    assert pause_state(governor.connection, SDR).paused


def test_switches_are_ordered_on_the_governors_clock_not_the_signers(governor: Governor, reviewers: Reviewers) -> None:
    paused_at = NOW + timedelta(minutes=10)
    governor.pause(SDR, by=DANA, reason="x", now=paused_at, signature=reviewers.switch(True, SDR, DANA, "x", paused_at))
    # Signed (by a fast clock) after the pause, but it reaches the governor at a moment before it.
    early = reviewers.switch(False, SDR, DANA, "y", paused_at + timedelta(seconds=30))

    with pytest.raises(GovernanceError, match="governor's clock"):
        governor.resume(SDR, by=DANA, reason="y", now=NOW + timedelta(minutes=6), signature=early)
    assert pause_state(governor.connection, SDR).paused


def test_a_window_rollback_signature_cannot_be_replayed_later(governor: Governor, reviewers: Reviewers) -> None:
    first = _executed(governor, reviewers, 1)
    until = NOW + timedelta(hours=1)
    signature = reviewers.rollback_window(ADS, NOW, until, DANA, "w", NOW)
    (result,) = governor.rollback_window(ADS, NOW, until, by=DANA, reason="w", now=NOW, signature=signature)
    assert result.action_id == first and result.restored
    later = _executed(governor, reviewers, 2, now=NOW + timedelta(minutes=10))

    with pytest.raises(GovernanceError, match="used already"):
        governor.rollback_window(
            ADS, NOW, until, by=DANA, reason="w", now=NOW + timedelta(minutes=20), signature=signature
        )
    assert load_action(governor.connection, later).status is ActionStatus.EXECUTED


def test_a_signature_padded_differently_is_still_the_same_signature(governor: Governor, reviewers: Reviewers) -> None:
    governor.pause(SDR, by=DANA, reason="x", now=NOW, signature=reviewers.switch(True, SDR, DANA, "x", NOW))
    skewed = reviewers.switch(False, SDR, DANA, "back", NOW + timedelta(minutes=4))
    governor.resume(SDR, by=DANA, reason="back", now=NOW + timedelta(seconds=30), signature=skewed)
    pause_on_anomaly(
        governor, SDR, [AnomalyFinding("volume", 50, 5, 0.0001, 0.01, 50, 20, "planted")], NOW + timedelta(minutes=1)
    )

    with pytest.raises(GovernanceError, match="used already"):
        governor.resume(SDR, by=DANA, reason="back", now=NOW + timedelta(minutes=2), signature=skewed + "==")


# --- B7: only the right person decides ----------------------------------------------------------------------


def test_only_the_addressee_or_the_agents_owner_resolves_an_escalation(
    governor: Governor, reviewers: Reviewers
) -> None:
    with governor.transaction(None):
        open_escalation(governor.connection, agent_id=ADS, escalated_to=DANA, reason="r1", action_id=None, now=NOW)
        open_escalation(governor.connection, agent_id=ADS, escalated_to=DANA, reason="r2", action_id=None, now=NOW)
    first, second = (
        row[0]
        for row in governor.connection.execute(
            "select escalation_id from governance.escalations order by escalation_id"
        ).fetchall()
    )

    with pytest.raises(GovernanceError, match=r"only dana\.reyes .* or priya\.natarajan"):
        governor.resolve_escalation(
            first, by=LEE, resolution="fine", now=NOW, signature=reviewers.resolution(first, LEE, "fine", NOW)
        )
    governor.resolve_escalation(
        first, by=DANA, resolution="fine", now=NOW, signature=reviewers.resolution(first, DANA, "fine", NOW)
    )
    governor.resolve_escalation(
        second, by=PRIYA, resolution="ok", now=NOW, signature=reviewers.resolution(second, PRIYA, "ok", NOW)
    )

    resolved = governor.connection.execute(
        "select resolved_by from governance.escalations order by escalation_id"
    ).fetchall()
    assert resolved == [(DANA,), (PRIYA,)]


def test_a_reviewer_of_another_agent_cannot_roll_this_agents_actions_back(
    governor: Governor, reviewers: Reviewers
) -> None:
    action_id = _executed(governor, reviewers, 1)

    with pytest.raises(
        GovernanceError, match=r"sam\.okafor may not roll back account_ads_agent's actions: only its owner"
    ):
        governor.rollback(
            action_id,
            by=SAM,
            reason="r",
            now=NOW,
            signature=reviewers.rollback(governor.connection, action_id, SAM, "r", NOW),
        )
    until = NOW + timedelta(hours=1)
    with pytest.raises(GovernanceError, match="may not roll back"):
        governor.rollback_window(
            ADS,
            NOW,
            until,
            by=SAM,
            reason="r",
            now=NOW,
            signature=reviewers.rollback_window(ADS, NOW, until, SAM, "r", NOW),
        )
    assert load_action(governor.connection, action_id).status is ActionStatus.EXECUTED

    result = governor.rollback(
        action_id,
        by=LEE,
        reason="r",
        now=NOW,
        signature=reviewers.rollback(governor.connection, action_id, LEE, "r", NOW),
    )
    assert result.restored


def test_only_the_agents_owner_may_sign_its_graduation(tmp_path: Path, reviewers: Reviewers) -> None:
    agents_file = tmp_path / "config" / "agents.yaml"
    document = yaml.safe_load(agents_file.read_text())
    graduated_on = (NOW - timedelta(days=30)).date()
    rollout = next(agent for agent in document["agents"] if agent["id"] == ADS)["rollout"]
    rollout.update(
        graduated_to_phase=3,
        graduated_by=DANA,  # a listed reviewer on the agent's route, but not its owner
        graduated_on=graduated_on,
        graduation_signature=reviewers.graduation(ADS, 3, DANA, graduated_on),
    )
    agents_file.write_text(yaml.safe_dump(document, sort_keys=False))

    with pytest.raises(ConfigError, match=r"only 'priya\.natarajan' may sign account_ads_agent's graduation"):
        load_governance_config(tmp_path / "config")

    rollout.update(graduated_by=PRIYA, graduation_signature=reviewers.graduation(ADS, 3, PRIYA, graduated_on))
    agents_file.write_text(yaml.safe_dump(document, sort_keys=False))
    registry, _ = load_governance_config(tmp_path / "config")
    assert registry.get(ADS).rollout.graduated_by == PRIYA
