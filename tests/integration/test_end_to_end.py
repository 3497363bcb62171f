"""`surgewise run` from an empty data directory, and again on the same landing zone."""

from __future__ import annotations

from datetime import date

import dagster as dg
import duckdb
import pytest
from typer.testing import CliRunner

from agents.config import load_surge_rules
from agents.governance import audit_reading
from dagster_project.cli import app
from dagster_project.run.driver import run_main_job
from dagster_project.simulator.evaluation import evaluate_surge_rules, load_buying_windows
from tests.environment import SurgewiseEnv

pytestmark = pytest.mark.slow


def _run(definitions: dg.Definitions, instance: dg.DagsterInstance, env: SurgewiseEnv):
    return run_main_job(
        definitions,
        instance,
        landing_dir=env.landing_dir,
        ground_truth_dir=env.ground_truth_dir,
        seed=7,
        accounts=60,
        days=21,
        start_date=date(2026, 10, 1),
    )


def test_the_main_job_runs_end_to_end_and_is_idempotent(
    surgewise_env: SurgewiseEnv, definitions: dg.Definitions, instance: dg.DagsterInstance
) -> None:
    assert not surgewise_env.data_dir.exists()

    first = _run(definitions, instance, surgewise_env)

    assert first.build_succeeded, first.failed_steps
    assert first.warehouse.checks == {
        "dim_person_expectations": True,
        "dim_person_freshness": True,
        "intent_feature_drift": True,
    }
    # Three weeks of history cannot hold out ten mature days: no model, and the run says why.
    assert first.training_runs == 1 and first.training_failed == 0
    intent_models = [status for status in first.models if status.name.endswith("_intent")]
    assert intent_models and all(status.champion is None for status in intent_models)
    assert all("too little history" in status.last_decision for status in intent_models)
    loaded = {load.source: load for load in first.warehouse.loads}
    assert set(loaded) == set(first.simulation.rows_written)
    assert sum(load.rows_quarantined for load in first.warehouse.loads) == first.simulation.malformed_rows
    assert first.warehouse.people > 0 and first.warehouse.accounts == 60 and first.warehouse.clean_signals > 0
    assert first.warehouse.surges, "the simulated market should contain at least one tier-1 surge"
    assert first.surge_accuracy.surges_in_true_window >= 1
    assert first.agent_runs_started == len(first.warehouse.surges) and first.agent_runs_failed == 0
    assert first.warehouse.actions_proposed >= 3 * len(first.warehouse.surges)
    assert first.warehouse.actions_by_verdict.get("allowed", 0) >= 1
    assert sum(first.warehouse.actions_by_outcome.values()) == first.warehouse.actions_proposed, (
        "one decision per proposal"
    )
    assert {row.agent.id for row in first.warehouse.agents} == {"sdr_sequence_agent", "account_ads_agent"}
    with duckdb.connect(str(surgewise_env.duckdb_path), read_only=True) as connection:
        assert audit_reading.verify_chain(connection).ok

    result = CliRunner().invoke(app, ["evaluate"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "naive_any_3_events" in result.output and "quality_weighted" in result.output
    with duckdb.connect(str(surgewise_env.duckdb_path), read_only=True) as connection:
        rules = load_surge_rules(surgewise_env.config_dir)
        evaluations = {
            evaluation.rule: evaluation.accuracy
            for evaluation in evaluate_surge_rules(
                connection,
                load_buying_windows(surgewise_env.ground_truth_dir),
                rules.account_intent_surge,
                rules.quality_weighted_surge,
            )
        }
    assert evaluations["naive_any_3_events"].surges > 0
    assert evaluations["quality_weighted"].precision > evaluations["naive_any_3_events"].precision
    assert evaluations["distinct_contacts"].precision > evaluations["naive_any_3_events"].precision

    second = _run(definitions, instance, surgewise_env)

    assert second.build_succeeded
    assert all(load.rows_loaded == 0 for load in second.warehouse.loads)
    assert second.agent_runs_started == 0
    assert second.agent_runs_already_done == len(first.warehouse.surges)
    assert second.warehouse.audit_rows == first.warehouse.audit_rows
