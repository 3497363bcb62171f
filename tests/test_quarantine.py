"""`surgewise quarantine list|replay` on the hand-built market with a few bad rows, through real Dagster and dbt.

`built_market` builds that market once per test session (one build and one agent run take about a
minute on two cores); tests/test_privacy.py reads the same one. Tests that change data work on a copy.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import typer
from typer.testing import CliRunner

from dagster_project.cli.quarantine_commands import quarantine_app
from dagster_project.core.settings import apply_environment_defaults
from tests.conftest import SurgewiseEnv, surgewise_environment
from tests.scenario import write_jsonl, write_scenario

BUILD_JOB = "surgewise_build_job"
AGENT_JOB = "account_surge_agent_job"
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
WIDE = {"COLUMNS": "400"}
"""Rich wraps table cells at the default 80 columns; a wide console keeps file names on one line."""

FIXABLE_FILE = "form_fills/batch_20261002.jsonl"
UNFIXED_FILE = "web_events/batch_20261002.jsonl"

GOOD_FORM_FILL = {
    "form_fill_id": "ff_kim",
    "anonymous_id": "anon_kim",
    "occurred_at": "2026-10-02T10:00:00Z",
    "email": "kim.lee@surge.example",
    "form_name": "webinar",
}
FORM_FILL_WITHOUT_EMAIL = {
    "form_fill_id": "ff_pat",
    "anonymous_id": "anon_pat",
    "occurred_at": "2026-10-02T11:00:00Z",
    "form_name": "webinar",
}
PAGE_VIEW_WITH_UNKNOWN_CATEGORY = {
    "event_id": "pv_unknown_category",
    "anonymous_id": "anon_jane",
    "occurred_at": "2026-10-02T12:00:00Z",
    "url": "https://surgewise.example/pricing",
    "content_category": "pricing-page",
    "user_agent": "Mozilla/5.0 (Macintosh) Safari/605.1",
    "session_id": "s_unknown",
}


FORWARDED_EMAIL_OPEN = {
    "event_id": "em_forwarded",
    "email": "omar.ali@surge.example",
    "campaign_id": "cmp_launch",
    "event_type": "open",
    "occurred_at": "2026-10-02T13:00:00Z",
    "forwarded_by": "Jane.Doe@surge.example",
}
"""Omar's row, with an unknown field (kept as JSON in raw) that names Jane."""

_MARKET: dict[str, Path] = {}


def write_bad_rows(landing_dir: Path) -> None:
    """A second batch: a form fill missing its e-mail (fixable), a page view of an unknown category and a
    line that is not JSON (left as they are), and an e-mail open carrying an unknown field."""
    write_jsonl(landing_dir / FIXABLE_FILE, [GOOD_FORM_FILL, FORM_FILL_WITHOUT_EMAIL])
    write_jsonl(landing_dir / UNFIXED_FILE, [PAGE_VIEW_WITH_UNKNOWN_CATEGORY])
    with (landing_dir / UNFIXED_FILE).open("a") as handle:
        handle.write('{"event_id": "pv_cut_off", "anonymous_id": \n')
    write_jsonl(landing_dir / "email_events" / "batch_20261002.jsonl", [FORWARDED_EMAIL_OPEN])


def built_market(tmp_path_factory: pytest.TempPathFactory, definitions: dg.Definitions) -> Path:
    """The hand-built market plus the bad batch, built once per session, with the SDR agent's run on its
    surge (so the audit log and channel state have actions). Returns its data directory: copy it to change it."""
    if "data_dir" not in _MARKET:
        data_dir = tmp_path_factory.mktemp("market") / "data"
        with surgewise_environment(data_dir) as env, dg.instance_for_test() as instance:
            write_scenario(env.landing_dir)
            write_bad_rows(env.landing_dir)
            build = definitions.resolve_job_def(BUILD_JOB).execute_in_process(instance=instance, run_config=QUIET)
            assert build.success
            sensor = definitions.resolve_sensor_def("account_intent_surge")
            surges = sensor(
                dg.build_sensor_context(
                    instance=instance,
                    definitions=definitions,
                    resources=definitions.get_repository_def().get_top_level_resources(),
                )
            )
            assert isinstance(surges, dg.SensorResult) and len(surges.run_requests) == 1
            for request in surges.run_requests:
                agent = definitions.resolve_job_def(AGENT_JOB).execute_in_process(
                    run_config={**request.run_config, **QUIET}, instance=instance, tags=request.tags
                )
                assert agent.success
        _MARKET["data_dir"] = data_dir
    return _MARKET["data_dir"]


def cli() -> typer.Typer:
    """The commands registered as `surgewise` registers them."""
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        apply_environment_defaults()

    app.add_typer(quarantine_app, name="quarantine")
    return app


def invoke(*args: str) -> object:
    return CliRunner().invoke(cli(), list(args), env=WIDE)


def _query(env: SurgewiseEnv, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(env.duckdb_path), read_only=True) as connection:
        return connection.execute(sql, params or []).fetchall()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, definitions: dg.Definitions) -> Iterator[SurgewiseEnv]:
    """The built market, read only."""
    with surgewise_environment(built_market(tmp_path_factory, definitions)) as env:
        yield env


@pytest.fixture
def built_copy(built: SurgewiseEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SurgewiseEnv]:
    """A private copy for tests that rebuild; the CLI keeps its Dagster runs under the copy too."""
    shutil.copytree(built.data_dir, tmp_path / "data")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    with surgewise_environment(tmp_path / "data") as env:
        yield env


def test_list_shows_file_line_field_and_reason_with_counts_per_source(built: SurgewiseEnv) -> None:
    result = invoke("quarantine", "list")

    assert result.exit_code == 0, result.output
    totals, rows = result.output.split("Quarantined rows")
    counts = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in totals.splitlines() if "│" in line}
    lines = rows.splitlines()
    assert counts["form_fills"] == "1" and counts["web_events"] == "2"
    (missing_email,) = [line for line in lines if FIXABLE_FILE in line]
    assert " 2 " in missing_email and "email" in missing_email and "missing required field" in missing_email
    (bad_category, cut_off) = [line for line in lines if UNFIXED_FILE in line]
    assert (
        " 1 " in bad_category and "content_category" in bad_category and "'pricing-page' is not one of" in bad_category
    )
    assert " 2 " in cut_off and "<row>" in cut_off and "invalid JSON" in cut_off
    assert "ff_pat" in missing_email  # the (shortened) payload shows which row it is


def test_list_filters_by_source_file_and_limit(built: SurgewiseEnv) -> None:
    only_forms = invoke("quarantine", "list", "--source", "form_fills")
    by_file = invoke("quarantine", "list", "--file", "batch_20261002.jsonl", "--limit", "1")
    unknown = invoke("quarantine", "list", "--source", "fax_machine")

    assert only_forms.exit_code == 0 and FIXABLE_FILE in only_forms.output and UNFIXED_FILE not in only_forms.output
    assert by_file.exit_code == 0 and "Showing 1 of 3 rows" in by_file.output
    assert unknown.exit_code == 2 and "unknown source 'fax_machine'" in unknown.output


def test_replay_recovers_a_fixed_row_and_keeps_an_unfixed_file_quarantined(built_copy: SurgewiseEnv) -> None:
    write_jsonl(
        built_copy.landing_dir / FIXABLE_FILE,
        [GOOD_FORM_FILL, {**FORM_FILL_WITHOUT_EMAIL, "email": "pat.fixed@surge.example"}],
    )

    result = invoke("quarantine", "replay")

    assert result.exit_code == 0, result.output
    assert f"recovered {FIXABLE_FILE} line 2 into raw.form_fills" in result.output
    assert "1 row(s) recovered, 2 still quarantined" in result.output
    unfixed = [line for line in result.output.splitlines() if UNFIXED_FILE in line]
    assert len(unfixed) == 2 and all("unchanged since load: fix the file, then replay" in line for line in unfixed)
    # The row is in raw (once: the file's earlier rows were replaced), out of quarantine, and in the profile.
    assert _query(
        built_copy,
        "select form_fill_id, _source_file, _source_line from raw.form_fills where _source_file = ? order by 3",
        [FIXABLE_FILE],
    ) == [("ff_kim", FIXABLE_FILE, 1), ("ff_pat", FIXABLE_FILE, 2)]
    assert _query(built_copy, "select source_file, source_line from raw.quarantine order by 1, 2") == [
        (UNFIXED_FILE, 1),
        (UNFIXED_FILE, 2),
    ]
    assert _query(built_copy, "select count(*) from marts.dim_person where email = 'pat.fixed@surge.example'") == [(1,)]


def test_a_payload_is_kept_whole_in_quarantine(built: SurgewiseEnv) -> None:
    (payload,) = _query(built, "select raw_payload from raw.quarantine where source = 'form_fills'")[0]
    assert json.loads(payload) == FORM_FILL_WITHOUT_EMAIL
