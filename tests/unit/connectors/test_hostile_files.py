"""Hostile landing files cost their own line or file, never the load: issue 11, finding 8.

Each test is an attack that broke the load before (a RecursionError or ValueError failing the whole source,
a file read whole into memory, a link followed out of the landing zone); the rest of the file still loads.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pytest

from dagster_project.connectors.limits import LandingLimits
from dagster_project.connectors.loader import FILE_FIELD, FILE_LINE, PAYLOAD_PREVIEW_CHARS, load_source
from dagster_project.connectors.sources import SOURCES_BY_NAME
from tests.scenario import page_view, write_csv

WEB = SOURCES_BY_NAME["web_events"]
ADS = SOURCES_BY_NAME["ad_performance"]


def _ad_row(record_id: str, **overrides: str) -> dict:
    row = {
        "record_id": record_id,
        "report_date": "2026-10-01",
        "campaign_id": "cmp_1",
        "channel": "google",
        "spend": "10.5",
        "impressions": "100",
        "clicks": "5",
        "conversions": "1",
    }
    row.update(overrides)
    return row


def _write_lines(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))


@pytest.fixture
def connection(tmp_path: Path):
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as conn:
        yield conn


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    return tmp_path / "landing"


def _loaded_ids(connection: duckdb.DuckDBPyConnection, table: str = "raw.web_events") -> list[str]:
    key = "event_id" if table == "raw.web_events" else "record_id"
    return [row[0] for row in connection.execute(f"select {key} from {table} order by _source_line").fetchall()]


def _quarantine(connection: duckdb.DuckDBPyConnection) -> list[tuple]:
    return connection.execute(
        "select source_file, source_line, field, reason, raw_payload from raw.quarantine order by 1, 2"
    ).fetchall()


def test_json_nested_100k_deep_is_quarantined_and_the_rest_of_the_file_loads(connection, landing: Path) -> None:
    deep = '{"event_id": "deep", "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    lines = [json.dumps(page_view("e1")), deep, json.dumps(page_view("e3"))]
    _write_lines(landing / "web_events" / "b1.jsonl", lines)

    result = load_source(connection, WEB, landing, batch_id="run-1")

    assert (result.rows_loaded, result.rows_quarantined) == (2, 1)
    assert _loaded_ids(connection) == ["e1", "e3"]
    ((source_file, line, field, reason, payload),) = _quarantine(connection)
    assert (source_file, line, field) == ("web_events/b1.jsonl", 2, "<row>")
    assert reason.startswith("nested deeper than 32 levels")
    assert payload == deep


def test_nesting_within_the_limit_loads_and_brackets_inside_strings_do_not_count(connection, landing: Path) -> None:
    nested = json.dumps(page_view("e1", context={"a": [[{"b": [1]}]]}, note="[" * 100 + "{" * 100 + '\\"['))
    _write_lines(landing / "web_events" / "b1.jsonl", [nested])

    result = load_source(connection, WEB, landing, batch_id="run-1", limits=LandingLimits(max_nesting_depth=6))

    assert (result.rows_loaded, result.rows_quarantined) == (1, 0)


def test_a_5000_digit_integer_is_quarantined_and_the_rest_of_the_file_loads(connection, landing: Path) -> None:
    huge = json.dumps(page_view("huge")).replace('"session_id": "s1"', '"session_id": ' + "9" * 5000)
    _write_lines(landing / "web_events" / "b1.jsonl", [huge, json.dumps(page_view("e2"))])

    result = load_source(connection, WEB, landing, batch_id="run-1")

    assert (result.rows_loaded, result.rows_quarantined) == (1, 1)
    assert _loaded_ids(connection) == ["e2"]
    ((_, line, field, reason, _),) = _quarantine(connection)
    assert (line, field) == (1, "<row>")
    assert reason.startswith("unreadable JSON") and "4300 digits" in reason


def test_a_line_over_the_length_limit_is_quarantined_unparsed_with_a_preview(connection, landing: Path) -> None:
    long_line = json.dumps(page_view("long", url="https://example.com/" + "a" * 5000))
    _write_lines(landing / "web_events" / "b1.jsonl", [json.dumps(page_view("e1")), long_line])

    result = load_source(connection, WEB, landing, batch_id="run-1", limits=LandingLimits(max_line_bytes=2000))

    assert (result.rows_loaded, result.rows_quarantined) == (1, 1)
    ((_, line, _, reason, payload),) = _quarantine(connection)
    assert line == 2
    assert reason.startswith(f"line is {len(long_line):,} bytes, longer than the limit of 2,000")
    assert len(payload) == PAYLOAD_PREVIEW_CHARS + 1 and long_line.startswith(payload[:-1])


def test_a_csv_line_over_the_length_limit_is_quarantined_and_later_rows_load(connection, landing: Path) -> None:
    path = landing / "ad_performance" / "b1.csv"
    write_csv(path, "ad_performance", [_ad_row("r1"), _ad_row("r2", campaign_id="c" * 5000), _ad_row("r3")])

    result = load_source(connection, ADS, landing, batch_id="run-1", limits=LandingLimits(max_line_bytes=2000))

    assert (result.rows_loaded, result.rows_quarantined) == (2, 1)
    assert _loaded_ids(connection, "raw.ad_performance") == ["r1", "r3"]
    ((_, line, _, reason, _),) = _quarantine(connection)
    assert line == 3 and "longer than the limit of 2,000" in reason


def test_a_csv_field_over_the_csv_modules_limit_costs_its_row_only(connection, landing: Path) -> None:
    path = landing / "ad_performance" / "b1.csv"
    write_csv(path, "ad_performance", [_ad_row("r1"), _ad_row("r2", campaign_id="c" * 200_000), _ad_row("r3")])

    result = load_source(connection, ADS, landing, batch_id="run-1")

    assert (result.rows_loaded, result.rows_quarantined) == (2, 1)
    assert _loaded_ids(connection, "raw.ad_performance") == ["r1", "r3"]
    ((_, line, _, reason, _),) = _quarantine(connection)
    assert line == 3 and reason.startswith("unreadable CSV: field larger than field limit")


def test_an_oversize_file_is_quarantined_whole_unread_and_other_files_load(connection, landing: Path) -> None:
    huge = landing / "web_events" / "b1.jsonl"
    huge.parent.mkdir(parents=True)
    with huge.open("wb") as handle:  # sparse: 129 MiB on the default limit of 128 MiB, never read
        handle.truncate(129 * 2**20)
    _write_lines(landing / "web_events" / "b2.jsonl", [json.dumps(page_view("e1"))])

    first = load_source(connection, WEB, landing, batch_id="run-1")
    second = load_source(connection, WEB, landing, batch_id="run-2")

    assert (first.files_loaded, first.rows_loaded, first.rows_quarantined) == (2, 1, 1)
    assert (second.files_loaded, second.files_skipped) == (0, 2)  # refused once, not again every build
    ((source_file, line, field, reason, payload),) = _quarantine(connection)
    assert (source_file, line, field, payload) == ("web_events/b1.jsonl", FILE_LINE, FILE_FIELD, "")
    assert reason.startswith("refused: file is 135,266,304 bytes or more, larger than the limit of 134,217,728")


def test_a_file_just_over_a_configured_size_limit_is_refused(connection, landing: Path) -> None:
    _write_lines(landing / "web_events" / "b1.jsonl", [json.dumps(page_view("e1"))] * 10)

    result = load_source(connection, WEB, landing, batch_id="run-1", limits=LandingLimits(max_file_bytes=100))

    assert (result.rows_loaded, result.rows_quarantined) == (0, 1)
    assert "larger than the limit of 100 " in _quarantine(connection)[0][3]


def test_a_symlink_to_etc_passwd_is_refused_naming_the_path_never_the_contents(connection, landing: Path) -> None:
    (landing / "web_events").mkdir(parents=True)
    (landing / "web_events" / "b1.jsonl").symlink_to("/etc/passwd")
    _write_lines(landing / "web_events" / "b2.jsonl", [json.dumps(page_view("e1"))])

    result = load_source(connection, WEB, landing, batch_id="run-1")

    assert (result.rows_loaded, result.rows_quarantined) == (1, 1)
    ((source_file, line, field, reason, payload),) = _quarantine(connection)
    assert (source_file, line, field, payload) == ("web_events/b1.jsonl", 0, "<file>", "")
    assert reason.startswith("refused: the file is a symbolic link (to /etc/passwd)")
    assert "root:" not in str(connection.execute("select * from raw.quarantine").fetchall())


def test_a_symlink_to_a_valid_file_outside_the_zone_is_not_loaded(connection, landing: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere" / "planted.jsonl"
    _write_lines(outside, [json.dumps(page_view("planted"))])
    (landing / "web_events").mkdir(parents=True)
    (landing / "web_events" / "b1.jsonl").symlink_to(outside)

    result = load_source(connection, WEB, landing, batch_id="run-1")

    assert (result.rows_loaded, result.rows_quarantined) == (0, 1)
    assert f"symbolic link (to {outside})" in _quarantine(connection)[0][3]


def test_a_symlinked_source_folder_is_refused(connection, landing: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    _write_lines(outside / "b1.jsonl", [json.dumps(page_view("planted"))])
    landing.mkdir()
    (landing / "web_events").symlink_to(outside, target_is_directory=True)

    result = load_source(connection, WEB, landing, batch_id="run-1")

    assert (result.rows_loaded, result.rows_quarantined) == (0, 1)
    ((source_file, line, field, reason, payload),) = _quarantine(connection)
    assert (source_file, line, field, payload) == ("web_events", 0, "<file>", "")
    assert reason.startswith(f"refused: the source folder is a symbolic link (to {outside})")


def test_a_fifo_is_refused_without_blocking(connection, landing: Path) -> None:
    (landing / "web_events").mkdir(parents=True)
    os.mkfifo(landing / "web_events" / "b1.jsonl")

    result = load_source(connection, WEB, landing, batch_id="run-1")

    assert (result.rows_loaded, result.rows_quarantined) == (0, 1)
    assert _quarantine(connection)[0][3] == "refused: not a regular file"


def test_a_refused_link_replaced_by_a_real_file_loads_it(connection, landing: Path) -> None:
    link = landing / "web_events" / "b1.jsonl"
    link.parent.mkdir(parents=True)
    link.symlink_to("/etc/passwd")
    load_source(connection, WEB, landing, batch_id="run-1")

    link.unlink()
    _write_lines(link, [json.dumps(page_view("e1"))])
    result = load_source(connection, WEB, landing, batch_id="run-2")

    assert (result.files_loaded, result.rows_loaded, result.rows_quarantined) == (1, 1, 0)
    assert _quarantine(connection) == []


@pytest.mark.parametrize(
    "line",
    [
        '"session_id": "\\ud800"',  # half a surrogate pair in a contract field: Polars cannot store it
        '"session_id": "s1", "note": "\\udfff"',  # and in an unknown field: DuckDB's JSON refuses it
        '"session_id": "s1", "score": NaN',  # not JSON (RFC 8259 has no NaN)
        '"session_id": "s1", "score": 1e999',  # parses to infinity: not a JSON number either
    ],
)
def test_values_raw_cannot_store_cost_their_line_only(connection, landing: Path, line: str) -> None:
    hostile = json.dumps(page_view("bad")).replace('"session_id": "s1"', line)
    _write_lines(landing / "web_events" / "b1.jsonl", [json.dumps(page_view("e1")), hostile])

    result = load_source(connection, WEB, landing, batch_id="run-1")

    assert (result.rows_loaded, result.rows_quarantined) == (1, 1)
    ((_, line_number, field, reason, _),) = _quarantine(connection)
    assert (line_number, field) == (2, "<row>")
    assert "JSON" in reason


def test_one_hostile_file_does_not_stop_the_next(connection, landing: Path) -> None:
    _write_lines(landing / "web_events" / "b1.jsonl", ["[" * 100_000, "9" * 5000])
    _write_lines(landing / "web_events" / "b2.jsonl", [json.dumps(page_view("e1"))])

    result = load_source(connection, WEB, landing, batch_id="run-1")

    assert (result.files_loaded, result.rows_loaded, result.rows_quarantined) == (2, 1, 2)


def test_the_landing_sensor_sees_a_dangling_link_as_itself_and_never_follows_it(tmp_path: Path) -> None:
    from dagster_project.defs.ingest.sensors import landing_file_versions

    spec = SOURCES_BY_NAME["web_events"]
    folder = tmp_path / "landing" / spec.name
    folder.mkdir(parents=True)
    link = folder / f"batch_link.{spec.format.value}"
    link.symlink_to(tmp_path / "gone")

    versions = landing_file_versions(tmp_path / "landing")

    assert list(versions) == [link.relative_to(tmp_path / "landing").as_posix()]
