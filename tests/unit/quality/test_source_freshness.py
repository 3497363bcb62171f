"""Source freshness computed on the warehouse from the dbt manifest's declarations, as `dbt source freshness`."""

from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from dagster_project.core.settings import DBT_PROJECT_DIR
from dagster_project.defs.quality.freshness import SourceFreshness, source_freshness

NOW = datetime(2026, 12, 2, 12, 0)
MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"


def _warehouse(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect(str(tmp_path / "surgewise.duckdb"))
    connection.execute("create schema raw")
    return connection


def _by_name(results: list[SourceFreshness]) -> dict[str, SourceFreshness]:
    return {result.name: result for result in results}


def test_each_declared_source_is_pass_warn_or_error_by_its_newest_load(tmp_path: Path) -> None:
    connection = _warehouse(tmp_path)
    ages = {"web_events": timedelta(hours=1), "form_fills": timedelta(hours=13), "email_events": timedelta(hours=49)}
    for table, age in ages.items():
        connection.execute(f"create table raw.{table} (_loaded_at timestamp)")
        connection.execute(f"insert into raw.{table} values (?), (?)", [NOW - age, NOW - age - timedelta(days=3)])

    results = _by_name(source_freshness(connection, MANIFEST, NOW))

    assert results["web.web_events"].status == "pass"
    assert results["web.web_events"].max_loaded_at == NOW - timedelta(hours=1)
    assert results["web.form_fills"].status == "warn"  # warn_after 12 hours
    assert results["email.email_events"].status == "error"  # error_after 48 hours


def test_a_missing_table_is_a_runtime_error_and_an_empty_one_an_error(tmp_path: Path) -> None:
    connection = _warehouse(tmp_path)
    connection.execute("create table raw.web_events (_loaded_at timestamp)")

    results = _by_name(source_freshness(connection, MANIFEST, NOW))

    assert results["web.web_events"].status == "error"
    assert results["crm.crm_accounts"].status == "runtime error"


def test_a_source_that_declares_no_freshness_is_not_checked(tmp_path: Path) -> None:
    connection = _warehouse(tmp_path)

    names = {result.name for result in source_freshness(connection, MANIFEST, NOW)}

    assert "governance.suppression_list" not in names
    assert {"web.web_events", "crm.crm_contacts", "ads.ad_performance"} <= names


def test_a_table_without_its_loaded_at_column_is_a_runtime_error(tmp_path: Path) -> None:
    connection = _warehouse(tmp_path)
    connection.execute("create table raw.web_events (event_id varchar)")

    results = _by_name(source_freshness(connection, MANIFEST, NOW))

    assert results["web.web_events"].status == "runtime error"
