"""`surgewise quarantine list|replay` on the hand-built market with a few bad rows, through real Dagster and dbt.

`quarantine_market` (tests/integration/conftest.py) builds that market once per test session (one build and
one agent run take about a minute on two cores); test_privacy.py reads the same one. Tests that change data
work on a copy.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import typer
from typer.testing import CliRunner

from dagster_project.cli.quarantine_commands import quarantine_app
from dagster_project.core.settings import apply_environment_defaults
from tests.environment import SurgewiseEnv, surgewise_environment
from tests.markets import BuiltMarket
from tests.scenario import FIXABLE_FILE, FORM_FILL_WITHOUT_EMAIL, GOOD_FORM_FILL, UNFIXED_FILE, write_jsonl

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("quarantine_market")]

WIDE = {"COLUMNS": "400"}
"""Rich wraps table cells at the default 80 columns; a wide console keeps file names on one line."""


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
def built(quarantine_market: BuiltMarket) -> Iterator[SurgewiseEnv]:
    """The built market, read only."""
    with surgewise_environment(quarantine_market.data_dir) as env:
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
    planted = built_copy.landing_dir / "form_fills" / "batch_[bold red].jsonl"
    planted.symlink_to("/etc/passwd")

    result = invoke("quarantine", "replay")

    assert result.exit_code == 0, result.output
    # A link is refused by name, newly quarantined as a whole file; its target is never read.
    (refused,) = [line for line in result.output.splitlines() if "batch_[bold red].jsonl" in line]
    assert " file " in refused and "symbolic link" in refused and "newly quarantined" in refused
    assert _query(built_copy, "select count(*) from raw.quarantine where raw_payload like '%root:%'") == [(0,)]
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
        ("form_fills/batch_[bold red].jsonl", 0),
        (UNFIXED_FILE, 1),
        (UNFIXED_FILE, 2),
    ]
    assert _query(built_copy, "select count(*) from marts.dim_person where email = 'pat.fixed@surge.example'") == [(1,)]


def test_a_payload_is_kept_whole_in_quarantine(built: SurgewiseEnv) -> None:
    (payload,) = _query(built, "select raw_payload from raw.quarantine where source = 'form_fills'")[0]
    assert json.loads(payload) == FORM_FILL_WITHOUT_EMAIL
