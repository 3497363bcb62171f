"""The whole code location loads, as `dg check defs` and `make ui` would load it."""

from __future__ import annotations

import dagster as dg


def _upstream(graph, key: dg.AssetKey) -> set[dg.AssetKey]:
    seen: set[dg.AssetKey] = set()
    frontier = [key]
    while frontier:
        for parent in graph.get(frontier.pop()).parent_keys:
            if parent not in seen:
                seen.add(parent)
                frontier.append(parent)
    return seen


def test_definitions_load_and_validate(definitions: dg.Definitions) -> None:
    dg.Definitions.validate_loadable(definitions)


def test_the_asset_graph_runs_from_connectors_through_dbt_to_the_agents(definitions: dg.Definitions) -> None:
    graph = definitions.get_repository_def().asset_graph
    agent = dg.AssetKey(["sdr_sequence_enrolments"])
    upstream = _upstream(graph, agent)

    assert {
        dg.AssetKey(["marts", "dim_person"]),
        dg.AssetKey(["marts", "fct_signals"]),
        dg.AssetKey(["staging", "stg_web__page_views"]),
    } <= upstream
    assert dg.AssetKey(["raw", "web_events"]) in upstream
    assert graph.get(dg.AssetKey(["raw", "web_events"])).group_name == "ingest"
    assert graph.get(dg.AssetKey(["marts", "dim_person"])).group_name == "marts"
    assert graph.get(agent).group_name == "agents"


def test_data_checks_gate_the_profile(definitions: dg.Definitions) -> None:
    graph = definitions.get_repository_def().asset_graph
    for name in ("dim_person_expectations", "dim_person_freshness"):
        check_key = dg.AssetCheckKey(dg.AssetKey(["marts", "dim_person"]), name)
        assert check_key in graph.asset_check_keys
        assert graph.get_check_spec(check_key).blocking
    dbt_tests = [key for key in graph.asset_check_keys if key.name.startswith(("unique_", "not_null_"))]
    assert dbt_tests, "dbt tests should appear as asset checks"


def test_sensor_and_jobs_are_defined(definitions: dg.Definitions) -> None:
    sensor = definitions.resolve_sensor_def("account_intent_surge")
    assert sensor.job_name == "account_surge_agent_job"
    assert sensor.default_status is dg.DefaultSensorStatus.RUNNING
    landing = definitions.resolve_sensor_def("landing_zone_batches")
    assert landing.job_name == "surgewise_build_job"
    build = definitions.resolve_job_def("surgewise_build_job")
    assert "sdr_sequence_enrolments" not in {node.name for node in build.graph.node_defs}


def test_the_models_sit_between_the_feature_marts_and_the_agents(definitions: dg.Definitions) -> None:
    """Lineage from raw signals to each score: the UI can show why a score exists."""
    graph = definitions.get_repository_def().asset_graph
    for name in ("intent_model", "intent_scores", "send_time_model", "send_time_recommendations", "aql_leads"):
        assert graph.get(dg.AssetKey(name)).group_name == "ml"
    assert dg.AssetKey(["raw", "web_events"]) in _upstream(graph, dg.AssetKey("aql_leads"))
    assert dg.AssetKey(["marts", "fct_person_features_daily"]) in _upstream(graph, dg.AssetKey("intent_scores"))
    assert {dg.AssetKey("intent_scores"), dg.AssetKey("send_time_recommendations")} <= _upstream(
        graph, dg.AssetKey("sdr_sequence_enrolments")
    )
    drift = dg.AssetCheckKey(dg.AssetKey("intent_scores"), "intent_feature_drift")
    assert drift in graph.asset_check_keys and graph.get_check_spec(drift).blocking


def test_training_runs_from_its_sensor_and_the_build_only_scores(definitions: dg.Definitions) -> None:
    retraining = definitions.resolve_sensor_def("intent_model_retraining")
    assert retraining.job_name == "model_training_job"
    assert retraining.default_status is dg.DefaultSensorStatus.RUNNING
    build = {node.name for node in definitions.resolve_job_def("surgewise_build_job").graph.node_defs}
    training = {node.name for node in definitions.resolve_job_def("model_training_job").graph.node_defs}
    assert {"intent_scores", "aql_leads", "send_time_recommendations"} <= build
    assert not {"intent_model", "send_time_model"} & build
    assert {"intent_model", "send_time_model", "intent_scores", "aql_leads"} <= training


def test_governance_is_visible_and_operable_from_the_ui(definitions: dg.Definitions) -> None:
    graph = definitions.resolve_asset_graph()
    governance = dg.AssetKey("agent_governance")
    assert graph.get(governance).group_name == "governance"
    assert {dg.AssetKey("sdr_sequence_enrolments"), dg.AssetKey("approved_action_executions")} <= set(
        graph.get(governance).parent_keys
    )
    assert dg.AssetCheckKey(governance, "audit_chain_intact") in graph.asset_check_keys
    approvals = definitions.resolve_sensor_def("approved_actions")
    assert approvals.job_name == "approved_actions_job"
    assert approvals.default_status is dg.DefaultSensorStatus.RUNNING
    decision_job = definitions.resolve_job_def("governance_decision_job")
    assert {node.name for node in decision_job.graph.node_defs} == {"apply_governance_decision"}
