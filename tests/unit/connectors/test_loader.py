"""Connectors → raw: idempotent loads, quarantine with file/line/field/reason, re-delivered files."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

from dagster_project.connectors.loader import FieldError, coerce_value, load_source
from dagster_project.connectors.sources import SOURCES_BY_NAME, FieldSpec, FieldType
from tests.scenario import page_view, write_csv, write_jsonl

WEB = SOURCES_BY_NAME["web_events"]


@pytest.fixture
def connection(tmp_path: Path):
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as conn:
        yield conn


def test_loading_the_same_file_twice_loads_nothing_twice(connection, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    write_jsonl(landing / "web_events" / "batch_20261001.jsonl", [page_view("e1"), page_view("e2")])

    first = load_source(connection, WEB, landing, batch_id="run-1")
    second = load_source(connection, WEB, landing, batch_id="run-2")

    assert (first.files_loaded, first.rows_loaded) == (1, 2)
    assert (second.files_loaded, second.files_skipped, second.rows_loaded) == (0, 1, 0)
    assert connection.execute("select count(*) from raw.web_events").fetchone() == (2,)
    assert connection.execute("select distinct _batch_id from raw.web_events").fetchall() == [("run-1",)]


def test_new_files_are_picked_up_and_old_ones_skipped(connection, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    write_jsonl(landing / "web_events" / "batch_20261001.jsonl", [page_view("e1")])
    load_source(connection, WEB, landing, batch_id="run-1")
    write_jsonl(landing / "web_events" / "batch_20261002.jsonl", [page_view("e2"), page_view("e3")])

    result = load_source(connection, WEB, landing, batch_id="run-2")

    assert (result.files_loaded, result.files_skipped, result.rows_loaded) == (1, 1, 2)
    assert connection.execute("select count(*) from raw.web_events").fetchone() == (3,)


def test_bad_rows_are_quarantined_with_file_line_field_and_reason(connection, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    path = landing / "web_events" / "batch_20261001.jsonl"
    write_jsonl(
        path,
        [
            page_view("good", utm_source="newsletter"),
            page_view("no-time", occurred_at=None),
            page_view("bad-time", occurred_at="yesterday"),
            page_view("bad-category", content_category="podcast"),
        ],
    )
    with path.open("a") as handle:
        handle.write('{"event_id": "broken", \n')

    result = load_source(connection, WEB, landing, batch_id="run-1")

    assert (result.rows_loaded, result.rows_quarantined) == (1, 4)
    quarantined = connection.execute(
        "select source, source_file, source_line, field, reason, raw_payload from raw.quarantine order by source_line"
    ).fetchall()
    assert [(row[2], row[3]) for row in quarantined] == [
        (2, "occurred_at"),
        (3, "occurred_at"),
        (4, "content_category"),
        (5, "<row>"),
    ]
    assert all(row[0] == "web_events" and row[1] == "web_events/batch_20261001.jsonl" for row in quarantined)
    assert quarantined[0][4] == "occurred_at: missing required field"
    assert "'yesterday' is not a valid timestamp" in quarantined[1][4]
    assert "'podcast' is not one of" in quarantined[2][4]
    assert quarantined[3][4].startswith("invalid JSON")
    assert json.loads(quarantined[1][5])["event_id"] == "bad-time"
    # Unknown fields are kept, not dropped.
    assert connection.execute("select _extra ->> 'utm_source' from raw.web_events").fetchone() == ("newsletter",)


def test_a_redelivered_file_replaces_its_earlier_rows(connection, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    path = landing / "web_events" / "batch_20261001.jsonl"
    write_jsonl(path, [page_view("e1"), page_view("e2", occurred_at="nonsense")])
    load_source(connection, WEB, landing, batch_id="run-1")

    write_jsonl(path, [page_view("e1"), page_view("e2")])
    result = load_source(connection, WEB, landing, batch_id="run-2")

    assert (result.rows_loaded, result.rows_quarantined) == (2, 0)
    assert connection.execute("select count(*) from raw.web_events").fetchone() == (2,)
    assert connection.execute("select count(*) from raw.quarantine").fetchone() == (0,)


def test_csv_rows_with_wrong_types_or_columns_are_quarantined(connection, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    accounts = SOURCES_BY_NAME["crm_accounts"]
    good = {
        "account_id": "acc_1",
        "name": "Acme",
        "domain": "acme.example",
        "industry": "saas",
        "employee_count": "120",
        "tier": "1",
        "country": "US",
        "updated_at": "2026-10-01T00:00:00Z",
    }
    path = landing / "crm_accounts" / "batch_20261001.csv"
    write_csv(path, "crm_accounts", [good, {**good, "account_id": "acc_2", "employee_count": "n/a", "tier": "7"}])
    with path.open("a") as handle:
        handle.write("acc_3,too,few\n")

    result = load_source(connection, accounts, landing, batch_id="run-1")

    assert (result.rows_loaded, result.rows_quarantined) == (1, 2)
    rows = connection.execute("select source_line, field, reason from raw.quarantine order by source_line").fetchall()
    assert rows[0][:2] == (3, "employee_count,tier")
    assert rows[1] == (4, "<row>", "expected 8 columns, found 3")


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        (FieldSpec("n", FieldType.INTEGER), "42", 42),
        (FieldSpec("n", FieldType.INTEGER), 42.0, 42),
        (FieldSpec("x", FieldType.DECIMAL), "12.5", 12.5),
        (FieldSpec("t", FieldType.TIMESTAMP), "2026-10-01T12:00:00+02:00", datetime(2026, 10, 1, 10, 0)),
        (FieldSpec("d", FieldType.DATE), "2026-10-01", date(2026, 10, 1)),
        (FieldSpec("o", FieldType.TEXT, required=False), "", None),
    ],
)
def test_values_are_coerced_to_the_contract_type(field: FieldSpec, value: object, expected: object) -> None:
    assert coerce_value(field, value) == expected


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (FieldSpec("n", FieldType.INTEGER), "4.5"),
        (FieldSpec("n", FieldType.INTEGER), True),
        (FieldSpec("n", FieldType.INTEGER), 4.5),
        (FieldSpec("x", FieldType.DECIMAL), "n/a"),
        (FieldSpec("t", FieldType.TEXT), {"nested": 1}),
        (FieldSpec("t", FieldType.TEXT), "  "),
    ],
)
def test_values_that_do_not_fit_raise_a_field_error(field: FieldSpec, value: object) -> None:
    with pytest.raises(FieldError):
        coerce_value(field, value)


def test_hostile_values_are_quarantined_not_crashing_the_load(connection, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    path = landing / "web_events" / "batch_20261001.jsonl"
    rows = [
        page_view("huge-year", occurred_at="0001-01-01T00:00:00+14:00"),
        page_view("ok-separator", url="https://example.com/a\u2028b"),
    ]
    path.parent.mkdir(parents=True)
    path.write_bytes(
        b"\xef\xbb\xbf"  # a byte-order mark before the first row
        + b"\n".join(json.dumps(row, ensure_ascii=False).encode() for row in rows)
        + b'\n{"event_id": "\xff\xfe"}\n'
    )

    result = load_source(connection, WEB, landing, batch_id="run-1")

    assert (result.rows_loaded, result.rows_quarantined) == (1, 2)
    assert connection.execute("select event_id, _source_line from raw.web_events").fetchall() == [("ok-separator", 2)]
    reasons = dict(connection.execute("select source_line, reason from raw.quarantine").fetchall())
    assert "not a valid timestamp" in reasons[1]
    assert reasons[3].startswith("not valid UTF-8")


def test_csv_damage_is_quarantined_with_its_line(connection, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    ads = SOURCES_BY_NAME["ad_performance"]
    header = ",".join(field.name for field in ads.fields)
    path = landing / "ad_performance" / "batch_20261001.csv"
    path.parent.mkdir(parents=True)
    path.write_text(
        "\ufeff"
        + header
        + "\n"
        + "r1,2026-10-01,cmp_1,google,10.5,100,5,1\n"
        + "r2,2026-10-01,cmp_1,google,nan,100,5,1\n"
        + "r3,2026-10-01,cmp_1,google,1.0,99999999999999999999,5,1\n"
    )

    result = load_source(connection, ads, landing, batch_id="run-1")

    assert (result.rows_loaded, result.rows_quarantined) == (1, 2)
    rows = connection.execute("select source_line, field, raw_payload from raw.quarantine order by 1").fetchall()
    assert rows[0][:2] == (3, "spend")
    assert rows[1][:2] == (4, "impressions")
    assert rows[1][2] == "r3,2026-10-01,cmp_1,google,1.0,99999999999999999999,5,1"


def test_a_csv_with_duplicate_columns_is_quarantined_whole(connection, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    path = landing / "crm_accounts" / "batch_20261001.csv"
    path.parent.mkdir(parents=True)
    path.write_text("account_id,account_id,name\nacc_1,acc_2,Acme\n")

    result = load_source(connection, SOURCES_BY_NAME["crm_accounts"], landing, batch_id="run-1")

    assert (result.files_loaded, result.rows_loaded, result.rows_quarantined) == (1, 0, 1)
    (reason,) = connection.execute("select reason from raw.quarantine").fetchone()
    assert reason.startswith("duplicate column names")
