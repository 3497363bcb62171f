"""The simulator's promises: byte-identical output per seed, clean rows that follow the connector
contract, noise that is present and exactly counted, and hidden buying windows that really show up in
the behaviour the platform will see."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dagster_project.connectors.sources import (
    SOURCES,
    SOURCES_BY_NAME,
    FieldSpec,
    FieldType,
    FileFormat,
    SourceSpec,
)
from dagster_project.simulator import SimulationSummary, newsletter, simulate
from dagster_project.simulator.catalogue import BOT_USER_AGENTS

# Its module fixtures simulate or train once: the module runs on one worker.
pytestmark = pytest.mark.xdist_group("simulator")

SMALL = {"accounts": 30, "days": 14, "start_date": date(2026, 10, 1)}
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

Record = dict[str, object] | None
"""A parsed landing row; None when the line is not even valid JSON."""


@pytest.fixture(scope="module")
def simulation(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, SimulationSummary]:
    root = tmp_path_factory.mktemp("simulation")
    summary = simulate(root / "landing", root / "ground_truth", seed=7, **SMALL)
    return root / "landing", root / "ground_truth", summary


def _valid_value(spec: FieldSpec, value: object) -> bool:
    if value is None or value == "":
        return not spec.required
    text = str(value)
    if spec.allowed and text not in spec.allowed:
        return False
    try:
        if spec.type is FieldType.TIMESTAMP:
            return bool(TIMESTAMP.fullmatch(text)) and datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ") is not None
        if spec.type is FieldType.DATE:
            return bool(ISO_DATE.fullmatch(text)) and date.fromisoformat(text) is not None
        if spec.type is FieldType.INTEGER:
            return not isinstance(value, float) and int(text) is not None
        if spec.type is FieldType.DECIMAL:
            return math.isfinite(float(text))
    except ValueError:
        return False
    return isinstance(value, str)


def _is_clean(spec: SourceSpec, record: Record) -> bool:
    return isinstance(record, dict) and all(_valid_value(field, record.get(field.name)) for field in spec.fields)


def _batches(landing: Path, spec: SourceSpec) -> Iterator[tuple[str, list[Record]]]:
    """(batch date, parsed rows) per file of a source, in arrival order."""
    for path in sorted((landing / spec.name).glob(f"batch_*.{spec.format.value}")):
        batch_date = date.fromisoformat(path.stem.removeprefix("batch_")).isoformat()
        text = path.read_text(encoding="utf-8")
        if spec.format is FileFormat.CSV:
            reader = csv.DictReader(text.splitlines())
            assert reader.fieldnames == [field.name for field in spec.fields], path
            yield batch_date, list(reader)
        else:
            yield batch_date, [_parse_json(line) for line in text.splitlines()]


def _parse_json(line: str) -> Record:
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        return None


def _clean_rows(landing: Path, source: str) -> Iterator[tuple[str, dict[str, object]]]:
    spec = SOURCES_BY_NAME[source]
    for batch_date, records in _batches(landing, spec):
        for record in records:
            if _is_clean(spec, record):
                assert isinstance(record, dict)
                yield batch_date, record


def _digests(directory: Path) -> dict[str, str]:
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def test_same_seed_gives_byte_identical_files_and_another_seed_does_not(tmp_path: Path) -> None:
    progress: list[tuple[int, int]] = []
    first = simulate(
        tmp_path / "a" / "landing",
        tmp_path / "a" / "truth",
        seed=3,
        on_day=lambda *p: progress.append(p),
        **SMALL,
    )
    simulate(tmp_path / "b" / "landing", tmp_path / "b" / "truth", seed=3, **SMALL)
    rerun = simulate(tmp_path / "a" / "landing", tmp_path / "a" / "truth", seed=3, **SMALL)
    other = simulate(tmp_path / "c" / "landing", tmp_path / "c" / "truth", seed=4, **SMALL)

    assert progress == [(day, SMALL["days"]) for day in range(SMALL["days"])]
    assert first == rerun
    assert first.files_written == len(SOURCES) * SMALL["days"]
    same = _digests(tmp_path / "a")
    assert len(same) == first.files_written + 2
    assert same == _digests(tmp_path / "b")
    assert other != first
    different = _digests(tmp_path / "c")
    assert same.keys() == different.keys()
    assert all(same[name] != different[name] for name in same if "web_events" in name)


def test_clean_rows_follow_the_contract_and_only_deliberately_malformed_rows_fail(
    simulation: tuple[Path, Path, SimulationSummary],
) -> None:
    landing, _, summary = simulation
    malformed: Counter[str] = Counter()
    for spec in SOURCES:
        written = 0
        for _, records in _batches(landing, spec):
            written += len(records)
            malformed[spec.name] += sum(not _is_clean(spec, record) for record in records)
        assert written == summary.rows_written[spec.name], spec.name
    assert sum(malformed.values()) == summary.malformed_rows
    assert all(malformed[spec.name] >= 1 for spec in SOURCES), malformed


def test_web_schema_drift_only_adds_utm_fields(simulation: tuple[Path, Path, SimulationSummary]) -> None:
    landing, _, _ = simulation
    extras: Counter[str] = Counter()
    for spec in SOURCES:
        if spec.format is FileFormat.JSONL:
            names = {field.name for field in spec.fields}
            for _, row in _clean_rows(landing, spec.name):
                extras.update(f"{spec.name}.{key}" for key in row.keys() - names)
    assert set(extras) == {"web_events.utm_source", "web_events.utm_medium", "web_events.utm_campaign"}


def test_ground_truth_lives_outside_the_landing_zone_and_matches_the_crm(
    simulation: tuple[Path, Path, SimulationSummary],
) -> None:
    landing, truth, summary = simulation
    windows = json.loads((truth / "buying_windows.json").read_text())
    contacts = json.loads((truth / "contacts.json").read_text())
    assert not truth.resolve().is_relative_to(landing.resolve())
    assert not list(landing.rglob("*.json"))
    assert (windows["seed"], windows["days"]) == (7, SMALL["days"])
    assert len(windows["buying_windows"]) == summary.buying_windows > 0
    assert len(contacts) == summary.contacts

    first_batch = date(2026, 10, 1).isoformat()
    snapshot = {row["account_id"]: row for batch, row in _clean_rows(landing, "crm_accounts") if batch == first_batch}
    crm_contacts = {row["contact_id"] for _, row in _clean_rows(landing, "crm_contacts")}
    for window in windows["buying_windows"]:
        assert snapshot[window["account_id"]]["domain"] == window["domain"]
        assert int(snapshot[window["account_id"]]["tier"]) == window["tier"]
        assert 3 <= len(window["buying_group_contact_ids"]) <= 6
        assert set(window["buying_group_contact_ids"]) <= crm_contacts


def test_ground_truth_inside_the_landing_zone_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must not be inside the landing zone"):
        simulate(tmp_path / "landing", tmp_path / "landing" / "truth", **SMALL)


def test_buying_groups_research_pricing_on_several_days_within_their_window(
    simulation: tuple[Path, Path, SimulationSummary],
) -> None:
    landing, truth, _ = simulation
    windows = json.loads((truth / "buying_windows.json").read_text())["buying_windows"]
    contact_by_cookie = {
        cookie: contact["contact_id"]
        for contact in json.loads((truth / "contacts.json").read_text())
        for cookie in contact["anonymous_ids"]
    }
    research: defaultdict[str, set[str]] = defaultdict(set)  # contact id -> days with pricing/comparison views
    for _, row in _clean_rows(landing, "web_events"):
        if row["content_category"] in ("pricing", "comparison") and row["anonymous_id"] in contact_by_cookie:
            research[contact_by_cookie[str(row["anonymous_id"])]].add(str(row["occurred_at"])[:10])
    assert any(window["tier"] == 1 for window in windows)
    for window in windows:
        in_window = {
            contact_id: {day for day in research[contact_id] if window["window_start"] <= day <= window["window_end"]}
            for contact_id in window["buying_group_contact_ids"]
        }
        researchers = [contact_id for contact_id, days in in_window.items() if days]
        assert len(researchers) >= 3, window
        assert len(set().union(*in_window.values())) >= 2, window


def test_noise_is_present_and_exactly_counted(simulation: tuple[Path, Path, SimulationSummary]) -> None:
    landing, _, summary = simulation
    duplicates = late = 0
    bots: set[str] = set()
    for source in ("web_events", "email_events"):
        seen: set[str] = set()
        for batch_date, row in _clean_rows(landing, source):
            occurred_on = str(row["occurred_at"])[:10]
            assert occurred_on <= batch_date, "an event arrived before it happened"
            late += occurred_on < batch_date
            duplicates += row["event_id"] in seen
            seen.add(str(row["event_id"]))
            if row.get("user_agent") in BOT_USER_AGENTS:
                bots.add(str(row["event_id"]))
    assert (duplicates, late, len(bots)) == (summary.duplicate_rows, summary.late_rows, summary.bot_events)
    assert min(summary.duplicate_rows, summary.late_rows, summary.bot_events, summary.malformed_rows) > 0
    assert 0.02 < summary.bot_events / summary.rows_written["web_events"] < 0.1


def test_unsubscribes_stop_sends_and_reach_the_crm_next_day(
    simulation: tuple[Path, Path, SimulationSummary],
) -> None:
    landing, _, _ = simulation
    unsubscribed: dict[str, str] = {}  # e-mail -> first unsubscribe (a repeated attempt comes later)
    sends: defaultdict[str, list[str]] = defaultdict(list)
    for _, row in _clean_rows(landing, "email_events"):
        if row["event_type"] == "unsubscribe":
            email = str(row["email"])
            unsubscribed[email] = min(unsubscribed.get(email, "~"), str(row["occurred_at"]))
        elif row["event_type"] == "send":
            sends[str(row["email"])].append(str(row["occurred_at"]))
    opt_out_updates = {
        str(row["email"]): (batch, str(row["updated_at"]))
        for batch, row in _clean_rows(landing, "crm_contacts")
        if row["consent_status"] == "opted_out" and batch > date(2026, 10, 1).isoformat()
    }
    last_day = date(2026, 10, SMALL["days"]).isoformat()
    assert unsubscribed
    for email, at in unsubscribed.items():
        assert all(sent < at for sent in sends[email])
        next_day = (date.fromisoformat(at[:10]) + timedelta(days=1)).isoformat()
        if next_day <= last_day:
            batch, updated_at = opt_out_updates[email]
            assert batch == next_day == updated_at[:10]


def test_email_opens_cluster_around_each_contacts_preferred_local_hour(
    simulation: tuple[Path, Path, SimulationSummary],
) -> None:
    landing, truth, _ = simulation
    contacts = {contact["email"]: contact for contact in json.loads((truth / "contacts.json").read_text())}
    near = total = 0
    for _, row in _clean_rows(landing, "email_events"):
        if row["event_type"] == "open":
            contact = contacts[str(row["email"])]
            utc = datetime.strptime(str(row["occurred_at"]), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=ZoneInfo("UTC"))
            local_hour = utc.astimezone(ZoneInfo(contact["timezone"])).hour
            near += (local_hour - contact["preferred_local_hour"]) % 24 in (0, 1, 23)
            total += 1
    assert total > 50
    assert near / total > 0.8


def test_ad_funnel_numbers_are_consistent(simulation: tuple[Path, Path, SimulationSummary]) -> None:
    landing, _, _ = simulation
    rows = [row for _, row in _clean_rows(landing, "ad_performance")]
    assert rows
    for row in rows:
        assert int(str(row["conversions"])) <= int(str(row["clicks"])) <= int(str(row["impressions"]))


# Distress signals: spam complaints and repeated unsubscribe attempts ---------------------------------

DISTRESS_PROBABILITIES = ("COMPLAINT_PER_DELIVERY", "COMPLAINT_PER_UNSUBSCRIBE", "REPEAT_UNSUBSCRIBE_PROBABILITY")
DEFAULT_MARKET = {"seed": 42, "accounts": 200, "days": 75, "start_date": date(2026, 9, 1)}


def _lines(directory: Path) -> dict[str, list[str]]:
    return {
        str(path.relative_to(directory)): path.read_text(encoding="utf-8").splitlines(keepends=True)
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def default_market(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SimulationSummary]:
    root = tmp_path_factory.mktemp("default_market")
    return root / "landing", simulate(root / "landing", root / "truth", **DEFAULT_MARKET)


def _email_events(landing: Path) -> list[dict[str, object]]:
    """Clean e-mail events, each once (re-delivered copies dropped), in time order."""
    events = {str(row["event_id"]): row for _, row in _clean_rows(landing, "email_events")}
    return sorted(events.values(), key=lambda row: (str(row["occurred_at"]), str(row["event_id"])))


def test_the_default_market_has_complaints_and_repeated_unsubscribe_attempts(
    default_market: tuple[Path, SimulationSummary],
) -> None:
    landing, _ = default_market
    events = _email_events(landing)
    types = Counter(str(row["event_type"]) for row in events)
    unsubscribes = Counter(str(row["email"]) for row in events if row["event_type"] == "unsubscribe")
    complainers = {str(row["email"]) for row in events if row["event_type"] == "complaint"}
    assert 5 <= types["complaint"] <= 40, types
    assert types["complaint"] / (types["send"] - types["bounce"]) < 0.003
    assert sum(count >= 2 for count in unsubscribes.values()) >= 3, unsubscribes
    assert max(unsubscribes.values()) <= 3
    # unsubscribers complain far more often than everyone else (who got a send)
    receivers = {str(row["email"]) for row in events if row["event_type"] == "send"}
    unsubscriber_rate = len(complainers & unsubscribes.keys()) / len(unsubscribes)
    others_rate = len(complainers - unsubscribes.keys()) / len(receivers - unsubscribes.keys())
    assert unsubscriber_rate > 10 * others_rate > 0


def test_complaints_and_repeated_unsubscribes_follow_a_delivered_email(
    default_market: tuple[Path, SimulationSummary],
) -> None:
    """A complaint is about an e-mail the contact received (no bounce) and is the last thing the contact does
    with it; a repeated unsubscribe uses an e-mail received before the first one, and nothing is sent after."""
    landing, _ = default_market
    delivered: dict[tuple[str, str], str] = {}  # (email, campaign) -> sent at
    bounced: set[tuple[str, str]] = set()
    complained: dict[tuple[str, str], str] = {}
    first_unsubscribe: dict[str, str] = {}
    repeats = 0
    for row in _email_events(landing):
        email, at, kind = str(row["email"]), str(row["occurred_at"]), row["event_type"]
        key = (email, str(row["campaign_id"]))
        if kind == "send":
            assert email not in first_unsubscribe, f"{email} got a send after unsubscribing"
            delivered[key] = at
        elif kind == "bounce":
            bounced.add(key)
        elif kind == "complaint":
            assert key in delivered and key not in bounced, f"complaint without a delivered e-mail: {row}"
            assert key not in complained, f"two complaints about one e-mail: {row}"
            complained[key] = at
        elif kind == "unsubscribe":
            assert key in delivered and key not in bounced, f"unsubscribe without a delivered e-mail: {row}"
            if email in first_unsubscribe:
                repeats += 1
                assert at > first_unsubscribe[email]
            else:
                first_unsubscribe[email] = at
        if kind in ("open", "click"):
            assert key not in complained, f"{kind} after the complaint about the same e-mail: {row}"
    assert complained and repeats


def test_adding_distress_signals_left_every_other_row_unchanged(
    default_market: tuple[Path, SimulationSummary], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same market with complaints and repeated unsubscribes switched off is the market as it was before
    they existed: every one of its lines is still there, in the same order, and only distress rows (or their
    malformed copies) were added, all in the e-mail stream."""
    landing, summary = default_market
    for name in DISTRESS_PROBABILITIES:
        monkeypatch.setattr(newsletter, name, 0.0)
    without = simulate(tmp_path / "landing", tmp_path / "truth", **DEFAULT_MARKET)
    old, new = _lines(tmp_path / "landing"), _lines(landing)
    assert old.keys() == new.keys()
    added: Counter[str] = Counter()
    for name, old_lines in old.items():
        if "email_events" not in name:
            assert new[name] == old_lines, name
            continue
        remaining = iter(new[name])
        assert all(line in remaining for line in old_lines), f"{name}: an old line changed or moved"
        for line in (Counter(new[name]) - Counter(old_lines)).elements():
            record = _parse_json(line)
            added[str(record.get("event_type")) if isinstance(record, dict) else "truncated"] += 1
    assert added["complaint"] > 0 and added["unsubscribe"] > 0
    assert set(added) <= {"complaint", "unsubscribe", "soft_bounce", "truncated", "None"}, added
    assert sum(without.rows_written.values()) + sum(added.values()) == sum(summary.rows_written.values())
    assert {source: count for source, count in without.rows_written.items() if source != "email_events"} == {
        source: count for source, count in summary.rows_written.items() if source != "email_events"
    }
    assert without.bot_events == summary.bot_events
