"""The anomaly detector on the default market's real agent runs: the market's own run paused nobody, a week of
ordinary days (the market's runs, resampled day by day, each judged against the trailing runs as the governor
does) pauses nothing, and a planted runaway on the same history still pauses."""

from __future__ import annotations

import duckdb
import pytest

from agents.config import AnomalyPolicy
from agents.governance.anomaly import RunBehaviour, detect_anomalies
from agents.governance.audit import AuditEvent
from agents.governance.facts import run_history
from agents.governance.interventions import ANOMALY_DETECTOR
from agents.governance.schema import CONTROLS_TABLE
from tests.markets import DefaultMarket
from tests.unit.agents.test_anomaly_statistics import (
    DEFAULTS,
    STATISTICS_ONLY,
    week_of_findings,
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("default_market")]

AGENTS = ("sdr_sequence_agent", "account_ads_agent")


def _histories(market: DefaultMarket) -> dict[str, list[RunBehaviour]]:
    with duckdb.connect(str(market.env.duckdb_path), read_only=True) as connection:
        return {agent: run_history(connection, agent, current_run_id="") for agent in AGENTS}


def test_the_default_market_paused_no_agent(market: DefaultMarket) -> None:
    assert market.query(f"select agent_id from {CONTROLS_TABLE} where changed_by = ?", [ANOMALY_DETECTOR]) == []
    assert market.query("select count(*) from audit.audit_log where event = ?", [AuditEvent.ANOMALY]) == [(0,)]


@pytest.mark.parametrize("policy", [DEFAULTS, STATISTICS_ONLY], ids=["defaults", "statistics_only"])
@pytest.mark.parametrize("agent", AGENTS)
def test_a_week_of_ordinary_days_pauses_nothing(market: DefaultMarket, agent: str, policy: AnomalyPolicy) -> None:
    """Each day the agent runs as often as on the market's day, each run one of the market's own."""
    recorded = _histories(market)[agent]

    assert len(recorded) >= policy.min_baseline_runs, f"the default market has too few {agent} runs to judge"
    assert week_of_findings(recorded, policy) == []


def test_a_planted_runaway_on_the_market_history_still_pauses(market: DefaultMarket) -> None:
    sdr = _histories(market)["sdr_sequence_agent"]
    usual = max(run.actions for run in sdr)
    volume = RunBehaviour(10 * usual, 0.0, 0, {"sales_engagement": 9 * usual, "internal": usual})
    denials = RunBehaviour(60, 0.0, 48, {"sales_engagement": 48, "internal": 12})

    assert "action_volume" in {finding.metric for finding in detect_anomalies(volume, sdr, DEFAULTS)}
    assert "denial_rate" in {finding.metric for finding in detect_anomalies(denials, sdr, DEFAULTS)}
