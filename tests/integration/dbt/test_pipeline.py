"""The hand-built market through real DuckDB, real dbt and real Dagster: identity, sensor, agent, gates."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg
import duckdb
import pytest

from agents.governance import audit_subjects
from dagster_project.core.clock import utc_now
from dagster_project.lib.jobs_in_process import sensor_run_requests
from dagster_project.lib.names import AGENT_JOB, BUILD_JOB, SURGE_SENSOR
from tests.environment import SurgewiseEnv
from tests.markets import Scenario
from tests.scenario import write_csv

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("scenario")]

SURGE_RUN_KEY = "account_intent_surge:acc_surge:2026-10-05"


def _query(env: SurgewiseEnv, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(env.duckdb_path), read_only=True) as connection:
        return connection.execute(sql, params or []).fetchall()


def _audit_subjects(env: SurgewiseEnv) -> dict[str, str]:
    """CRM contact id by audit subject reference: the log names people only by a keyed reference."""
    with duckdb.connect(str(env.duckdb_path), read_only=True) as connection:
        people = connection.execute("select person_id, crm_contact_id from marts.dim_person").fetchall()
        return {
            reference: contact
            for person_id, contact in people
            if (reference := audit_subjects.subject_ref(connection, person_id)) is not None
        }


def _run_agent(definitions: dg.Definitions, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    with dg.instance_for_test() as instance:
        return definitions.resolve_job_def(AGENT_JOB).execute_in_process(
            run_config=request.run_config, instance=instance, tags=request.tags
        )


def test_identity_chain_cookie_form_fill_email_contact_account(scenario: Scenario) -> None:
    (jane,) = _query(
        scenario.env,
        "select person_id, email, crm_contact_id, account_id, page_views, form_fills from marts.dim_person "
        "where crm_contact_id = 'con_jane'",
    )
    person_id, email, _, account_id, page_views, form_fills = jane
    assert (email, account_id, page_views, form_fills) == ("jane.doe@surge.example", "acc_surge", 2, 1)
    signals = _query(
        scenario.env,
        "select signal_type, account_id from marts.fct_signals where person_id = ? order by signal_type",
        [person_id],
    )
    assert signals == [("form_fill", "acc_surge"), ("page_view", "acc_surge"), ("page_view", "acc_surge")]


def test_a_cookie_carried_by_an_email_click_resolves_to_the_person(scenario: Scenario) -> None:
    rows = _query(
        scenario.env,
        "select p.crm_contact_id, count(*) from marts.fct_signals s join marts.dim_person p using (person_id) "
        "where s.signal_type = 'page_view' and p.crm_contact_id = 'con_omar' group by 1",
    )
    assert rows == [("con_omar", 1)]


def test_bots_and_duplicates_never_become_signals(scenario: Scenario) -> None:
    raw_views = _query(scenario.env, "select count(*) from raw.web_events")[0][0]
    clean_views = _query(scenario.env, "select count(*) from marts.fct_signals where signal_type = 'page_view'")[0][0]
    assert raw_views == 14  # 12 page views, one duplicate, one bot
    assert clean_views == 12


def test_the_surge_sensor_fires_only_for_the_real_surge(scenario: Scenario, definitions: dg.Definitions) -> None:
    requests = sensor_run_requests(definitions, scenario.instance, SURGE_SENSOR)

    assert [request.run_key for request in requests] == [SURGE_RUN_KEY]
    assert requests[0].tags["surgewise/account_id"] == "acc_surge"


def test_the_agent_enrols_contactable_people_and_never_sends_denied_actions(
    scenario_copy: SurgewiseEnv, definitions: dg.Definitions
) -> None:
    with dg.instance_for_test() as instance:
        (request,) = sensor_run_requests(definitions, instance, SURGE_SENSOR)
    result = _run_agent(definitions, request)

    assert result.success
    enrolled = _query(
        scenario_copy,
        "select p.crm_contact_id, e.sequence_id from channel_sandbox.sequence_enrolments e "
        "join marts.dim_person p using (person_id) order by 1",
    )
    assert enrolled == [("con_jane", "executive-briefing"), ("con_omar", "evaluation-guide")]
    contacts = _audit_subjects(scenario_copy)
    decisions = sorted(
        (contacts[subject], verdict, outcome, reasoning)
        for subject, verdict, outcome, reasoning in _query(
            scenario_copy,
            "select subject_ref, policy_verdict, outcome, reasoning from audit.audit_log "
            "where event = 'action_decided' and subject_ref is not null",
        )
    )
    assert [row[:3] for row in decisions] == [
        ("con_jane", "allowed", "executed"),
        ("con_li", "denied", "denied"),
        ("con_omar", "allowed", "executed"),
    ]
    assert "not contactable" in decisions[1][3]
    (jane,) = (subject for subject, contact in contacts.items() if contact == "con_jane")
    (proposal,) = _query(
        scenario_copy,
        "select reasoning, inputs ->> 'trigger' from audit.audit_log where event = 'action_proposed' "
        "and subject_ref = ?",
        [jane],
    )
    assert "Surge Corp (tier 1) is surging: 3 contacts" in proposal[0]
    assert proposal[1] == SURGE_RUN_KEY


def test_running_the_same_surge_twice_sends_nothing_twice(
    scenario_copy: SurgewiseEnv, definitions: dg.Definitions
) -> None:
    with dg.instance_for_test() as instance:
        (request,) = sensor_run_requests(definitions, instance, SURGE_SENSOR)
    _run_agent(definitions, request)
    _run_agent(definitions, request)

    assert _query(scenario_copy, "select count(*) from channel_sandbox.sequence_enrolments") == [(2,)]
    assert _query(scenario_copy, "select count(*) from channel_sandbox.agent_handoffs") == [(1,)]
    outcomes = _query(
        scenario_copy,
        "select action_type, outcome, count(*) from audit.audit_log where event = 'action_decided' "
        "group by all order by all",
    )
    # The first run enrols two people, denies the opted-out one and hands the account to the ads agent, whose
    # first decisions (phase 1) wait for a reviewer; the second run decides nothing again: the ads agent it wakes
    # again finds its proposals already decided.
    assert outcomes == [
        ("adjust_campaign_budget", "already_pending_approval", 1),
        ("adjust_campaign_budget", "pending_approval", 1),
        ("enrol_in_sequence", "already_denied", 1),
        ("enrol_in_sequence", "already_executed", 2),
        ("enrol_in_sequence", "denied", 1),
        ("enrol_in_sequence", "executed", 2),
        ("handoff_to_agent", "already_executed", 1),
        ("handoff_to_agent", "executed", 1),
        ("launch_ad_creative", "already_pending_approval", 1),
        ("launch_ad_creative", "pending_approval", 1),
    ]


def test_a_failed_data_check_stops_the_agent_and_says_why(
    scenario_copy: SurgewiseEnv, definitions: dg.Definitions
) -> None:
    write_csv(
        scenario_copy.landing_dir / "crm_contacts" / "batch_20261002.csv",
        "crm_contacts",
        [
            {
                "contact_id": "con_broken",
                "account_id": "acc_surge",
                "email": "broken.contact@localhost",
                "first_name": "Bad",
                "last_name": "Data",
                "job_title": "Analyst",
                "department": "it",
                "seniority": "manager",
                "timezone": "UTC",
                "consent_status": "opted_in",
                "updated_at": "2026-10-02T00:00:00Z",
            }
        ],
    )
    with dg.instance_for_test() as instance:
        build = definitions.resolve_job_def(BUILD_JOB).execute_in_process(instance=instance, raise_on_error=False)
        evaluations = {e.check_name: e.passed for e in build.get_asset_check_evaluations()}
        assert evaluations["dim_person_expectations"] is False
        (request,) = sensor_run_requests(definitions, instance, SURGE_SENSOR)
    result = _run_agent(definitions, request)

    assert result.success
    assert _query(scenario_copy, "select count(*) from channel_sandbox.sequence_enrolments") == [(0,)]
    events = _query(scenario_copy, "select event, outcome, reasoning from audit.audit_log")
    assert [event[:2] for event in events] == [("agent_run_blocked", "not_acted")]
    assert "dim_person_expectations failed" in events[0][2]
    assert "expect_column_values_to_match_regex on email" in events[0][2]
    ((owner, reason),) = _query(scenario_copy, "select escalated_to, reason from governance.escalations")
    assert owner == "dana.reyes" and "dim_person_expectations failed" in reason


def test_a_stale_profile_stops_the_agent_and_says_why(scenario_copy: SurgewiseEnv, definitions: dg.Definitions) -> None:
    with dg.instance_for_test() as instance:
        (request,) = sensor_run_requests(definitions, instance, SURGE_SENSOR)
    now = utc_now()
    with duckdb.connect(str(scenario_copy.duckdb_path)) as connection:
        # A batch was loaded after the profile's checks last ran, and dbt never built it into the profile.
        connection.execute(
            "insert into raw._loaded_files values ('web_events', 'web_events/batch_20261003.jsonl', 'abc', "
            "'stuck-run', ?, ?, 10, 0)",
            [now - timedelta(minutes=5), now],
        )
    result = _run_agent(definitions, request)

    assert result.success
    assert _query(scenario_copy, "select count(*) from channel_sandbox.sequence_enrolments") == [(0,)]
    ((event, reasoning),) = _query(scenario_copy, "select event, reasoning from audit.audit_log")
    assert event == "agent_run_blocked"
    assert "dim_person_freshness has not run since data was loaded" in reasoning
    assert "the profile may be stale" in reasoning


def test_the_freshness_check_reports_landed_to_profile_lag(scenario: Scenario) -> None:
    (row,) = _query(
        scenario.env,
        "select passed, failures from quality.check_results where check_name = 'dim_person_freshness'",
    )
    assert row == (True, "[]")
    metadata = scenario.check_metadata["dim_person_freshness"]
    assert 0 < metadata["landed_to_profile_seconds"].value < 30 * 60
    assert "web.web_events`: pass" in metadata["dbt_source_freshness"].value
