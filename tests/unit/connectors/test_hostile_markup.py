"""Landing text is printed as itself, never as rich markup: a category `[/red]` crashed `quarantine list`.

A real warehouse loaded from real landing files (no market build), listed through the real command.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import duckdb
import pytest
import typer
from typer.testing import CliRunner

from dagster_project.cli.console import DataSafeConsole, make_console, shorten
from dagster_project.cli.quarantine_commands import quarantine_app
from dagster_project.connectors.loader import load_source
from dagster_project.connectors.sources import SOURCES_BY_NAME
from dagster_project.core.settings import apply_environment_defaults
from tests.environment import surgewise_environment
from tests.scenario import write_jsonl

HOSTILE = ["[/red]", "[bold red]", "[link=file:///etc/passwd]click[/link]"]


def _page_view(event_id: str, category: str) -> dict:
    return {
        "event_id": event_id,
        "anonymous_id": "anon_1",
        "occurred_at": "2026-10-01T10:00:00Z",
        "url": "https://example.com/pricing",
        "content_category": category,
        "user_agent": "Mozilla/5.0",
        "session_id": "s1",
    }


def _cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        apply_environment_defaults()

    app.add_typer(quarantine_app, name="quarantine")
    return app


@pytest.fixture
def hostile_warehouse(tmp_path: Path):
    with surgewise_environment(tmp_path / "data") as env:
        rows = [_page_view(f"e{index}", category) for index, category in enumerate(HOSTILE)]
        write_jsonl(env.landing_dir / "web_events" / "batch_[red].jsonl", rows)
        (env.landing_dir / "web_events" / "batch_[bold red].jsonl").symlink_to("/etc/passwd")
        with duckdb.connect(str(env.duckdb_path)) as connection:
            load_source(connection, SOURCES_BY_NAME["web_events"], env.landing_dir, batch_id="run-1")
        yield env


def test_quarantine_list_prints_markup_in_landing_text_literally(hostile_warehouse) -> None:
    result = CliRunner().invoke(_cli(), ["quarantine", "list"], env={"COLUMNS": "400"})

    assert result.exit_code == 0, result.output
    assert result.exception is None
    for category in HOSTILE:
        assert f"{category!r} is not one of" in result.output
        assert json.dumps(category)[1:-1] in result.output  # in the payload column too
    assert "web_events/batch_[red].jsonl" in result.output
    (refused,) = [line for line in result.output.splitlines() if "batch_[bold red].jsonl" in line]
    assert " file " in refused and "symbolic link (to /etc/passwd)" in refused


def test_a_data_safe_console_prints_invalid_markup_as_itself() -> None:
    out = io.StringIO()
    console = DataSafeConsole(file=out, width=200)

    console.print("quarantined line 2: '[/red]' is not one of pricing", highlight=False)
    console.print("[bold]kept[/bold] styling for the command's own markup", highlight=False)

    assert out.getvalue().splitlines() == [
        "quarantined line 2: '[/red]' is not one of pricing",
        "kept styling for the command's own markup",
    ]
    assert isinstance(make_console(), DataSafeConsole)


def test_shortened_data_is_never_markup() -> None:
    out = io.StringIO()
    DataSafeConsole(file=out, width=200).print(shorten("[bold red]alert[/bold red] " + "x" * 100, 30))

    assert out.getvalue().rstrip("\n") == "[bold red]alert[/bold red] xx…"
