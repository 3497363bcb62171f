"""What every `surgewise` command shares: a console sized to its terminal, dbt's log kept out of the report,
the warehouse path and the Dagster instance the runs use."""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import typer
from rich.console import Console
from rich.errors import MarkupError
from rich.text import Text

from dagster_project.core.settings import DUCKDB_PATH_ENV, ensure_dagster_home, env_path
from dagster_project.core.warehouse import open_warehouse


class DataSafeConsole(Console):
    """A console on which a string that is not valid markup prints as itself instead of raising: text from
    landing files, agents or the warehouse (a category `[/red]`) can never crash a command. Such text is
    printed with `literal` or `markup=False`, so it is not styled either; this is the net under that."""

    def render_str(self, text: str, **options: Any) -> Text:
        try:
            return super().render_str(text, **options)
        except MarkupError:
            return super().render_str(text, **(options | {"markup": False}))


def make_console() -> Console:
    """A console per command, bound to the stdout it starts with (so `quiet_build` can hide dbt's log) and
    sized to the terminal (or $COLUMNS) it runs in."""
    return DataSafeConsole(file=sys.stdout)


def literal(value: object) -> Text:
    """Data for a table cell or a print, shown exactly as it is: never read as markup (`[bold red]`)."""
    return Text("" if value is None else str(value))


@contextmanager
def quiet_build() -> Iterator[io.StringIO]:
    """Keep dbt's line-by-line log (written to stdout) out of the report; show its tail if the build fails."""
    log = io.StringIO()
    with redirect_stdout(log):
        yield log


def log_tail(log: io.StringIO, lines: int = 30) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", log.getvalue())
    return "\n".join(text.splitlines()[-lines:])


def warehouse_path(console: Console) -> Path | None:
    """The DuckDB file, or None (and a message) if nothing was built yet."""
    path = env_path(DUCKDB_PATH_ENV)
    if not path.exists():
        console.print(f"[red]No warehouse at {path} yet.[/red] Run `surgewise run` first.", highlight=False)
        return None
    return path


@contextmanager
def command_warehouse(console: Console, *, read_only: bool) -> Iterator[duckdb.DuckDBPyConnection]:
    """The warehouse for a command, or a message and exit code 1 if nothing was built yet."""
    path = warehouse_path(console)
    if path is None:
        raise typer.Exit(code=1)
    with open_warehouse(path, read_only=read_only) as connection:
        yield connection


@contextmanager
def dagster_instance() -> Iterator[dg.DagsterInstance]:
    """The Dagster instance `surgewise run` uses (runs under `$DAGSTER_HOME`, default data/dagster_home)."""
    ensure_dagster_home()
    with dg.DagsterInstance.get() as instance:
        yield instance


def shorten(text: object, width: int = 60) -> Text:
    """Data cut to a table cell's width, shown literally (see `literal`)."""
    value = "" if text is None else str(text).replace("\n", " ")
    return literal(value if len(value) <= width else value[: width - 1] + "…")
