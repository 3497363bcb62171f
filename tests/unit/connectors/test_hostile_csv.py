"""A broken CSV line costs that line only: issue 11, finding 8.

Our connectors never write a newline inside a CSV field, so the loader reads each physical line as one
record. Before, an unterminated quote made the CSV reader swallow every later line into one field: the
damage was reported past the end of the file with an empty payload, and the rows after it were lost.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from dagster_project.connectors.limits import LandingLimits
from dagster_project.connectors.loader import PAYLOAD_PREVIEW_CHARS, ROW_FIELD, load_source
from dagster_project.connectors.sources import SOURCES_BY_NAME

ACCOUNTS = SOURCES_BY_NAME["crm_accounts"]
HEADER = ",".join(field.name for field in ACCOUNTS.fields)


def _account(number: int, name: str = "Acme") -> str:
    return f"acc_{number},{name},acme{number}.com,saas,10,1,DE,2026-10-01T00:00:00"


@pytest.fixture
def connection(tmp_path: Path):
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as conn:
        yield conn


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    return tmp_path / "landing"


def _write(landing: Path, lines: list[str], *, newline: str = "\n") -> None:
    path = landing / "crm_accounts" / "b1.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes("".join(line + newline for line in lines).encode())


def _quarantine(connection: duckdb.DuckDBPyConnection) -> list[tuple]:
    return connection.execute(
        "select source_line, field, reason, raw_payload from raw.quarantine order by source_line"
    ).fetchall()


def _loaded(connection: duckdb.DuckDBPyConnection) -> list[tuple]:
    return connection.execute("select account_id, name, _source_line from raw.crm_accounts order by 3").fetchall()


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_an_unterminated_quote_costs_its_own_line_only(connection, landing: Path, newline: str) -> None:
    bad = _account(2, '"Acme')
    _write(landing, [HEADER, _account(1), bad, *(_account(number) for number in range(3, 102))], newline=newline)

    result = load_source(connection, ACCOUNTS, landing, batch_id="run-1")

    assert (result.rows_loaded, result.rows_quarantined) == (100, 1)
    ((line, field, reason, payload),) = _quarantine(connection)
    assert (line, field, payload) == (3, ROW_FIELD, bad)
    assert reason.startswith("unreadable CSV: a quoted field is not closed on its line")
    loaded = _loaded(connection)
    assert [row[0] for row in loaded] == ["acc_1", *(f"acc_{number}" for number in range(3, 102))]
    assert [row[2] for row in loaded] == [2, *range(4, 103)]


def test_an_unterminated_quote_on_the_last_line_without_a_newline(connection, landing: Path) -> None:
    path = landing / "crm_accounts" / "b1.csv"
    path.parent.mkdir(parents=True)
    path.write_text(f'{HEADER}\n{_account(1)}\nacc_2,"Acme')

    result = load_source(connection, ACCOUNTS, landing, batch_id="run-1")

    assert (result.rows_loaded, result.rows_quarantined) == (1, 1)
    ((line, _, reason, payload),) = _quarantine(connection)
    assert (line, payload) == (3, 'acc_2,"Acme')
    assert "not closed on its line" in reason


def test_an_escaped_quote_at_the_end_of_a_line_leaves_the_field_open(connection, landing: Path) -> None:
    bad = 'acc_2,"Acme "" Co,acme.com,saas,10,1,DE,2026-10-01T00:00:00""'
    _write(landing, [HEADER, _account(1), bad, _account(3)])

    result = load_source(connection, ACCOUNTS, landing, batch_id="run-1")

    assert (result.rows_loaded, result.rows_quarantined) == (2, 1)
    assert [(line, payload) for line, _, _, payload in _quarantine(connection)] == [(3, bad)]


def test_quoted_fields_with_commas_and_quotes_still_load(connection, landing: Path) -> None:
    _write(landing, [HEADER, _account(1, '"Acme, Inc."'), _account(2, '"The ""Best"" Co"'), _account(3)])

    result = load_source(connection, ACCOUNTS, landing, batch_id="run-1")

    assert (result.rows_loaded, result.rows_quarantined) == (3, 0)
    assert [row[1] for row in _loaded(connection)] == ["Acme, Inc.", 'The "Best" Co', "Acme"]


def test_a_field_broken_across_two_lines_costs_those_lines_only(connection, landing: Path) -> None:
    lines = [HEADER, _account(1), 'acc_2,"Acme', 'Inc",acme.com,saas,10,1,DE,2026-10-01T00:00:00', _account(3)]
    _write(landing, lines)

    result = load_source(connection, ACCOUNTS, landing, batch_id="run-1")

    assert (result.rows_loaded, result.rows_quarantined) == (2, 2)
    assert [row[0] for row in _loaded(connection)] == ["acc_1", "acc_3"]
    assert [(line, payload) for line, _, _, payload in _quarantine(connection)] == [(3, lines[2]), (4, lines[3])]


def test_an_open_quote_on_a_long_line_keeps_a_truncated_payload(connection, landing: Path) -> None:
    bad = _account(2, '"Acme' + "x" * 3000)
    _write(landing, [HEADER, bad, _account(3)])

    result = load_source(connection, ACCOUNTS, landing, batch_id="run-1")

    assert (result.rows_loaded, result.rows_quarantined) == (1, 1)
    ((line, _, reason, payload),) = _quarantine(connection)
    assert line == 2 and "not closed on its line" in reason
    assert len(payload) == PAYLOAD_PREVIEW_CHARS + 1 and bad.startswith(payload[:-1])


def test_an_open_quote_on_a_line_over_the_limit_is_reported_as_too_long(connection, landing: Path) -> None:
    bad = _account(2, '"Acme' + "x" * 3000)
    _write(landing, [HEADER, _account(1), bad, _account(3)])

    result = load_source(connection, ACCOUNTS, landing, batch_id="run-1", limits=LandingLimits(max_line_bytes=2000))

    assert (result.rows_loaded, result.rows_quarantined) == (2, 1)
    ((line, _, reason, _),) = _quarantine(connection)
    assert line == 3 and "longer than the limit of 2,000" in reason


def test_an_unterminated_quote_in_the_header_quarantines_the_file_at_line_one(connection, landing: Path) -> None:
    _write(landing, ['"' + HEADER, _account(1), _account(2)])

    result = load_source(connection, ACCOUNTS, landing, batch_id="run-1")

    assert (result.rows_loaded, result.rows_quarantined) == (0, 1)
    ((line, _, reason, payload),) = _quarantine(connection)
    assert (line, payload) == (1, '"' + HEADER)
    assert reason.startswith("header unreadable CSV: a quoted field is not closed")
