"""`surgewise explain person` and `surgewise forget` on the hand-built market, through real Dagster and dbt.

Jane (con_jane, cookie anon_jane) is the identity chain of tests/scenario.py; the SDR agent enrolled her.
The market also holds a quarantined page view of her cookie and an e-mail open of Omar's whose unknown
field names her: forget must find those too.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import dagster as dg
import duckdb
import pytest
import typer
from click.testing import Result
from typer.testing import CliRunner

from agents.governance import audit_reading, audit_subjects
from dagster_project.cli.explain_commands import explain_app
from dagster_project.cli.forget_command import forget
from dagster_project.core.settings import apply_environment_defaults
from dagster_project.core.suppression import email_fingerprint, is_suppressed
from dagster_project.lib.jobs_in_process import QUIET_CONSOLE
from dagster_project.lib.names import BUILD_JOB
from dagster_project.privacy.forget import tombstones
from tests.environment import SurgewiseEnv, surgewise_environment
from tests.markets import BuiltMarket
from tests.scenario import write_csv, write_jsonl

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("quarantine_market")]

WIDE = {"COLUMNS": "400"}
JANE_EMAIL = "jane.doe@surge.example"
JANE_TRACES = (JANE_EMAIL, "anon_jane", "con_jane")


def cli() -> typer.Typer:
    """The commands registered as `surgewise` registers them."""
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        apply_environment_defaults()

    app.add_typer(explain_app, name="explain")
    app.command("forget")(forget)
    return app


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli(), list(args), env=WIDE)


def _query(env: SurgewiseEnv, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(env.duckdb_path), read_only=True) as connection:
        return connection.execute(sql, params or []).fetchall()


def _jane_id(env: SurgewiseEnv) -> str:
    ((person_id,),) = _query(env, "select person_id from marts.dim_person where crm_contact_id = 'con_jane'")
    return person_id


def traces_everywhere(env: SurgewiseEnv, values: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """(relation, column, value) for every column of every table and view, of any type, that mentions a value."""
    hits = []
    with duckdb.connect(str(env.duckdb_path), read_only=True) as connection:
        columns = connection.execute(
            """
            select table_schema, table_name, column_name from information_schema.columns
            where table_catalog = current_database() and table_schema not in ('information_schema', 'pg_catalog')
            """
        ).fetchall()
        assert len({(schema, table) for schema, table, _ in columns}) > 20  # raw, dbt layers, agents, audit
        for schema, table, column in columns:
            for value in values:
                (count,) = connection.execute(
                    f'select count(*) from "{schema}"."{table}" where contains(lower(cast("{column}" as varchar)), ?)',
                    [value.lower()],
                ).fetchone()
                if count:
                    hits.append((f"{schema}.{table}", column, value))
    return hits


@pytest.fixture(scope="module")
def market(quarantine_market: BuiltMarket) -> Iterator[SurgewiseEnv]:
    with surgewise_environment(quarantine_market.data_dir) as env:
        yield env


@dataclass(frozen=True)
class Forgotten:
    env: SurgewiseEnv
    result: Result
    person_id: str
    subject_ref: str | None
    """Her audit subject reference before she was forgotten."""
    audit_before: list[tuple]


@pytest.fixture(scope="module")
def forgotten(market: SurgewiseEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Forgotten]:
    """A copy of the market after `surgewise forget Jane.Doe@surge.example --yes`."""
    copy = tmp_path_factory.mktemp("forgotten")
    shutil.copytree(market.data_dir, copy / "data")
    with pytest.MonkeyPatch.context() as patch, surgewise_environment(copy / "data") as env:
        patch.setenv("DAGSTER_HOME", str(copy / "dagster_home"))
        person_id = _jane_id(env)
        with duckdb.connect(str(env.duckdb_path), read_only=True) as connection:
            subject_ref = audit_subjects.subject_ref(connection, person_id)
        audit_before = _query(env, "select * from audit.audit_log order by entry_id")
        result = invoke("forget", "Jane.Doe@surge.example", "--yes")
        yield Forgotten(env, result, person_id, subject_ref, audit_before)


def test_explain_person_by_email_shows_identities_profile_signals_actions_and_channel_state(
    market: SurgewiseEnv,
) -> None:
    result = invoke("explain", "person", "  JANE.DOE@Surge.Example ")

    assert result.exit_code == 0, result.output
    output = result.output
    assert f"Person {_jane_id(market)}" in output
    identities = output[output.index("Identities") : output.index("Profile")]
    assert all(value in identities for value in JANE_TRACES)
    assert "vp" in output and "opted_in" in output  # profile
    signals = output[output.index("Signals") : output.index("Audit log")]
    assert "3 in all" in signals and signals.count("page_view") == 2 and "form_fill" in signals
    audit = output[output.index("Audit log") : output.index("Channel state")]
    assert "action_proposed" in audit and "action_decided" in audit and "executed" in audit
    assert "sdr_sequence_agent" in audit and "enrol_in_sequence" in audit
    assert "executive-briefing" in output[output.index("Channel state") :]
    assert "not suppressed" in output


def test_explain_person_by_person_contact_or_cookie_id_finds_the_same_person(market: SurgewiseEnv) -> None:
    person_id = _jane_id(market)

    for key in (person_id, "con_jane", "anon_jane"):
        result = invoke("explain", "person", key)
        assert result.exit_code == 0, result.output
        assert f"Person {person_id}" in result.output and JANE_EMAIL in result.output


def test_explain_an_unknown_person_says_so_and_fails(market: SurgewiseEnv) -> None:
    result = invoke("explain", "person", "nobody@nowhere.example")

    assert result.exit_code == 1
    assert "Unknown person" in result.output and "nobody@nowhere.example" in result.output


def test_forget_an_unknown_id_changes_nothing(market: SurgewiseEnv) -> None:
    before = _query(market, "select count(*) from audit.audit_log")

    result = invoke("forget", "per_does_not_exist", "--yes")

    assert result.exit_code == 1 and "Unknown person" in result.output
    assert _query(market, "select count(*) from audit.audit_log") == before


def test_forget_reports_what_it_erased_and_verifies(forgotten: Forgotten) -> None:
    output = forgotten.result.output

    assert forgotten.result.exit_code == 0, output
    for erased in ("raw.form_fills", "raw.web_events", "raw.crm_contacts", "raw.quarantine", "sequence_enrolments"):
        assert erased in output
    assert "raw.email_events._extra (mentions pseudonymised)" in output
    assert "Verified: no table or view in the warehouse mentions the person any more." in output


def test_after_forget_no_table_or_view_mentions_the_person(forgotten: Forgotten) -> None:
    # The audit log included: it names her only by subject reference, whose key is gone.
    assert traces_everywhere(forgotten.env, (*JANE_TRACES, forgotten.person_id)) == []
    # Nor does the landing zone, which would bring them back on the next reload of a file.
    for path in forgotten.env.landing_dir.rglob("*.*"):
        text = path.read_text().lower()
        assert not any(value in text for value in JANE_TRACES), path
    # Everyone else is still there: Omar's rows (the one naming her pseudonymised), the unrelated quarantined
    # line, the other people.
    assert _query(
        forgotten.env, "select _extra ->> 'forwarded_by' from raw.email_events where event_id = 'em_forwarded'"
    ) == [("[erased]",)]
    assert (
        '"forwarded_by": "[erased]"'
        in (forgotten.env.landing_dir / "email_events" / "batch_20261002.jsonl").read_text()
    )
    assert _query(forgotten.env, "select source_file, source_line from raw.quarantine order by 1, 2") == [
        ("form_fills/batch_20261002.jsonl", 2),
        ("web_events/batch_20261002.jsonl", 2),
    ]
    assert _query(forgotten.env, "select count(*) from marts.dim_person where crm_contact_id = 'con_omar'") == [(1,)]
    assert invoke("explain", "person", JANE_EMAIL).exit_code == 1


def test_the_forgotten_person_is_on_the_suppression_list(forgotten: Forgotten) -> None:
    with duckdb.connect(str(forgotten.env.duckdb_path)) as connection:
        assert is_suppressed(connection, "Jane.Doe@Surge.Example")
    assert _query(
        forgotten.env,
        "select reason from governance.suppression_list where email_sha256 = ?",
        [email_fingerprint(JANE_EMAIL)],
    ) == [("erasure request (GDPR art. 17)",)]


def test_the_audit_log_keeps_every_entry_and_gains_a_tombstone(forgotten: Forgotten) -> None:
    after = _query(forgotten.env, "select * from audit.audit_log order by entry_id")

    assert after[: len(forgotten.audit_before)] == forgotten.audit_before
    assert forgotten.subject_ref is not None
    ((her_actions,),) = _query(
        forgotten.env,
        "select count(*) from audit.audit_log where subject_ref = ? and action_id is not null",
        [forgotten.subject_ref],
    )
    assert her_actions > 0  # her actions are still auditable
    (tombstone,) = after[len(forgotten.audit_before) :]
    ((agent_id, event, subject_ref, person_id, outcome, reasoning),) = _query(
        forgotten.env,
        "select agent_id, event, subject_ref, inputs ->> 'person_id', outcome, reasoning from audit.audit_log "
        "where entry_id = ?",
        [tombstone[0]],
    )
    assert (agent_id, event, subject_ref, person_id, outcome) == (
        "privacy",
        "person_forgotten",
        forgotten.subject_ref,
        None,
        "erased",
    )
    assert "jane" not in reasoning.lower()
    with duckdb.connect(str(forgotten.env.duckdb_path), read_only=True) as connection:
        assert [row["subject_ref"] for row in tombstones(connection)] == [forgotten.subject_ref]
        # Her key is shredded: nothing ties the entries to her any more, and the chain is still intact.
        assert audit_subjects.subject_ref(connection, forgotten.person_id) is None
        assert audit_reading.entries_for_person(connection, forgotten.person_id) == []
        report = audit_reading.verify_chain(connection)
        assert report.ok and report.entries == len(after), report.describe()


def test_a_new_batch_with_a_forgotten_email_does_not_recreate_the_person(
    forgotten: Forgotten, definitions: dg.Definitions
) -> None:
    landing = forgotten.env.landing_dir
    write_jsonl(
        landing / "form_fills" / "batch_20261009.jsonl",
        [
            {
                "form_fill_id": "ff_jane_again",
                "anonymous_id": "anon_jane_laptop",
                "occurred_at": "2026-10-09T09:00:00Z",
                "email": "Jane.Doe@surge.example",
                "form_name": "pricing",
            }
        ],
    )
    write_jsonl(
        landing / "web_events" / "batch_20261009.jsonl",
        [
            {
                "event_id": "pv_jane_again",
                "anonymous_id": "anon_jane_laptop",
                "occurred_at": "2026-10-09T09:05:00Z",
                "url": "https://surgewise.example/pricing",
                "content_category": "pricing",
                "user_agent": "Mozilla/5.0 (Macintosh) Safari/605.1",
                "session_id": "s_jane_again",
            }
        ],
    )
    write_csv(
        landing / "crm_contacts" / "batch_20261009.csv",
        "crm_contacts",
        [
            {
                "contact_id": "con_jane_again",
                "account_id": "acc_surge",
                "email": JANE_EMAIL,
                "first_name": "Jane",
                "last_name": "Tester",
                "job_title": "VP",
                "department": "marketing",
                "seniority": "vp",
                "timezone": "UTC",
                "consent_status": "opted_in",
                "updated_at": "2026-10-09T00:00:00Z",
            }
        ],
    )
    with dg.instance_for_test() as instance:
        assert (
            definitions.resolve_job_def(BUILD_JOB)
            .execute_in_process(instance=instance, run_config=QUIET_CONSOLE)
            .success
        )

    assert _query(forgotten.env, "select count(*) from marts.dim_person where lower(email) = ?", [JANE_EMAIL]) == [(0,)]
    assert _query(
        forgotten.env, "select count(*) from marts.fct_signals where person_id = ?", [forgotten.person_id]
    ) == [(0,)]
    # The loader drops rows about her at the door: her email and the new CRM contact are stored nowhere,
    # and the page view of the new cookie stays anonymous.
    assert traces_everywhere(forgotten.env, (JANE_EMAIL, "con_jane_again")) == []
    assert _query(
        forgotten.env,
        "select identity_value, person_id from intermediate.int_identity__person_identities "
        "where identity_value = 'anon_jane_laptop'",
    ) == [("anon_jane_laptop", None)]
