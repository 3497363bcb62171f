"""Delivering the market's activity to the landing zone as daily micro-batch files, with realistic noise.

Each source gets one file per batch (arrival) day: `<landing_dir>/<source>/batch_<YYYYMMDD>.<jsonl|csv>`.
Column order, file format and what makes a value invalid all come from the connector contract, so the
simulator cannot drift from what the loader expects.

Delivery noise lives here rather than in the market because it is a property of the pipes, not of the
buyers: late and duplicated events, and malformed rows. A malformed row is a corrupted *copy* of a real
row (a half-written line, a dropped field, a bad value), so the clean data and the ground truth stay
exact while the loader still has something to quarantine. Every noisy row is counted in the summary.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from operator import itemgetter
from pathlib import Path

from dagster_project.connectors.sources import SOURCES, FieldSpec, FieldType, FileFormat, SourceSpec
from dagster_project.simulator.activity import MarketActivity
from dagster_project.simulator.day import Clock, DayActivity, Row
from dagster_project.simulator.plan import Market, build_market

DEFAULT_DAYS = 75
DEFAULT_START_DATE = date(2026, 9, 1)
"""Two and a half months ending mid-November: enough history to train and hold out the intent model."""

EVENT_SOURCES = frozenset({"web_events", "email_events"})
"""Streaming sources whose events can arrive late or twice; CRM, intent and ads exports do not."""
MALFORMED_RATE = 0.001
LATE_RATE = 0.03
MAX_LATE_DAYS = 3
DUPLICATE_RATE = 0.02
DUPLICATE_IN_NEXT_BATCH = 0.3

TIME_TYPES = (FieldType.TIMESTAMP, FieldType.DATE)
NUMBER_TYPES = (FieldType.INTEGER, FieldType.DECIMAL)
UNPARSEABLE_TIMES = {FieldType.TIMESTAMP: "yesterday", FieldType.DATE: "last week"}
NON_NUMERIC_VALUES = {FieldType.INTEGER: "1.2k", FieldType.DECIMAL: "n/a"}
UNLISTED_VALUES = {
    "content_category": "landing_page",
    "event_type": "soft_bounce",
    "tier": "4",
    "seniority": "senior",
    "consent_status": "pending",
    "stage": "negotiation",
    "channel": "tiktok",
}
"""Plausible values a source might send that the contract does not allow."""

SortKey = tuple[str, str]
JSON_LINE = json.JSONEncoder(separators=(",", ":"))
"""One shared encoder: `json.dumps` with custom separators builds a new encoder on every call."""


@dataclass(frozen=True)
class SimulationSummary:
    """What a simulation wrote, including how much deliberate noise, so tests and demos can check it."""

    seed: int
    accounts: int
    contacts: int
    days: int
    files_written: int
    """Landing batch files; the two ground-truth files are not counted."""
    rows_written: dict[str, int]
    """Lines per source across all batches, noise included."""
    buying_windows: int
    malformed_rows: int
    duplicate_rows: int
    """Extra copies of an event that was already delivered."""
    bot_events: int
    """Distinct bot page views (their duplicate copies are counted in duplicate_rows)."""
    late_rows: int
    """Rows delivered in a batch after the day they occurred, duplicate copies included."""


def simulate(
    landing_dir: Path,
    ground_truth_dir: Path,
    *,
    seed: int = 42,
    accounts: int = 200,
    days: int = DEFAULT_DAYS,
    start_date: date = DEFAULT_START_DATE,
    on_day: Callable[[int, int], None] | None = None,
) -> SimulationSummary:
    """Simulate the market and write one batch file per source and day, plus the hidden ground truth.

    `on_day(day_index, days)` is called after each day's batch is written (day_index counts from 0).
    The same arguments always produce byte-identical files; existing batches are overwritten.
    """
    landing_dir, ground_truth_dir = Path(landing_dir), Path(ground_truth_dir)
    if accounts < 1 or days < 1:
        raise ValueError(f"need at least one account and one day, got accounts={accounts}, days={days}")
    if ground_truth_dir.resolve().is_relative_to(landing_dir.resolve()):
        raise ValueError(f"ground truth {ground_truth_dir} must not be inside the landing zone {landing_dir}")
    market = build_market(seed=seed, accounts=accounts, days=days, start_date=start_date)
    write_ground_truth(market, ground_truth_dir)
    activity = MarketActivity(market)
    zone = LandingZoneWriter(landing_dir, activity.clock, seed=seed, days=days)
    bot_events = 0
    for day in range(days):
        today = activity.simulate_day(day)
        bot_events += today.bot_events
        zone.deliver(today)
        if on_day is not None:
            on_day(day, days)
    return SimulationSummary(
        seed=seed,
        accounts=accounts,
        contacts=len(market.contacts),
        days=days,
        files_written=zone.files_written,
        rows_written=dict(zone.rows_written),
        buying_windows=len(market.buying_windows),
        malformed_rows=zone.malformed_rows,
        duplicate_rows=zone.duplicate_rows,
        bot_events=bot_events,
        late_rows=zone.late_rows,
    )


def write_ground_truth(market: Market, directory: Path) -> None:
    """The answers the platform should find; kept apart from the landing zone and never loaded."""
    directory.mkdir(parents=True, exist_ok=True)
    windows, contacts = market.ground_truth()
    _write_atomically(directory / "buying_windows.json", json.dumps(windows, indent=2) + "\n")
    lines = ",\n".join(json.dumps(contact) for contact in contacts)
    _write_atomically(directory / "contacts.json", f"[\n{lines}\n]\n")


class LandingZoneWriter:
    """Writes each day's batch files, adding delivery noise and counting every noisy row."""

    def __init__(self, landing_dir: Path, clock: Clock, *, seed: int, days: int) -> None:
        self.landing_dir = landing_dir
        self.files_written = 0
        self.rows_written: defaultdict[str, int] = defaultdict(int)
        self.malformed_rows = self.duplicate_rows = self.late_rows = 0
        self._clock = clock
        self._days = days
        self._rng = random.Random(f"{seed}:delivery")
        self._distress_rng = random.Random(f"{seed}:delivery:distress")
        """Noise for `DayActivity.distress_rows`, so delivering them never shifts the noise of other rows."""
        self._pending: defaultdict[tuple[str, int], list[tuple[SortKey, str]]] = defaultdict(list)
        self._corrupted_sources: set[str] = set()
        self._csv_buffer = io.StringIO()
        self._csv_writer = csv.writer(self._csv_buffer, lineterminator="\n")

    def deliver(self, activity: DayActivity) -> None:
        """Queue the day's rows into their batches (today's, or a later one if late) and write today's."""
        day = activity.day
        for spec in SOURCES:
            rows = activity.rows[spec.name]
            order_field = _order_field(spec)
            # Every source gets at least one malformed row, in its first non-empty batch if chance did not.
            forced = -1 if spec.name in self._corrupted_sources or not rows else self._rng.randrange(len(rows))
            for index, row in enumerate(rows):
                sort_key = (str(row[order_field]), str(row[spec.key]))
                if index == forced or self._rng.random() < MALFORMED_RATE:
                    self._pending[spec.name, day].append((sort_key, self._corrupt(spec, row)))
                    self._corrupted_sources.add(spec.name)
                    self.malformed_rows += 1
                line = self._render(spec, row)
                if spec.name in EVENT_SOURCES:
                    self._deliver_event(spec.name, day, sort_key, line)
                else:
                    self._pending[spec.name, day].append((sort_key, line))
            if spec.name == "email_events":
                self._deliver_distress(spec, day, activity.distress_rows)
            self._write_batch(spec, day)

    def _deliver_distress(self, spec: SourceSpec, day: int, rows: list[Row]) -> None:
        """Complaints and repeated unsubscribes: the same kinds of noise, drawn from their own stream.
        They are sorted into the batch with the other rows, whose content and order stay as they were."""
        rng = self._distress_rng
        order_field = _order_field(spec)
        for row in rows:
            sort_key = (str(row[order_field]), str(row[spec.key]))
            if rng.random() < MALFORMED_RATE:
                self._pending[spec.name, day].append((sort_key, self._corrupt(spec, row, rng)))
                self.malformed_rows += 1
            self._deliver_event(spec.name, day, sort_key, self._render(spec, row), rng)

    def _deliver_event(
        self, source: str, day: int, sort_key: SortKey, line: str, rng: random.Random | None = None
    ) -> None:
        """Some events arrive 1-3 batches late (keeping their true occurred_at); some arrive twice."""
        rng = self._rng if rng is None else rng
        batch = day
        if rng.random() < LATE_RATE:
            later = day + rng.randint(1, MAX_LATE_DAYS)
            batch = later if later < self._days else day
        self._pending[source, batch].append((sort_key, line))
        self.late_rows += batch > day
        if rng.random() < DUPLICATE_RATE:
            copy_batch = batch + 1 if rng.random() < DUPLICATE_IN_NEXT_BATCH and batch + 1 < self._days else batch
            self._pending[source, copy_batch].append((sort_key, line))
            self.duplicate_rows += 1
            self.late_rows += copy_batch > day

    def _write_batch(self, spec: SourceSpec, day: int) -> None:
        lines = sorted(self._pending.pop((spec.name, day), []), key=itemgetter(0))
        header = self._csv_line([field.name for field in spec.fields]) if spec.format is FileFormat.CSV else ""
        path = self.landing_dir / spec.name / f"batch_{self._clock.date(day).replace('-', '')}.{spec.format.value}"
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(path, header + "".join(line for _, line in lines))
        self.files_written += 1
        self.rows_written[spec.name] += len(lines)

    def _render(self, spec: SourceSpec, row: Row) -> str:
        if spec.format is FileFormat.JSONL:
            return JSON_LINE.encode(row) + "\n"
        return self._csv_line([_csv_cell(row.get(field.name)) for field in spec.fields])

    def _csv_line(self, cells: list[str]) -> str:
        """One CSV line with the csv module's quoting (company names and titles may contain commas)."""
        self._csv_buffer.seek(0)
        self._csv_buffer.truncate()
        self._csv_writer.writerow(cells)
        return self._csv_buffer.getvalue()

    def _corrupt(self, spec: SourceSpec, row: Row, rng: random.Random | None = None) -> str:
        """A broken copy of `row`: the kinds of damage real exports and tags produce."""
        rng = self._rng if rng is None else rng
        damage = _possible_damage(spec)
        kind = rng.choice(sorted(damage))
        if kind == "truncated_line":
            line = self._render(spec, row)
            return line[: len(line) // 2] + "\n"
        target = rng.choice(damage[kind])
        broken = dict(row)
        if kind == "missing_field":
            if spec.format is FileFormat.JSONL:
                del broken[target.name]
            else:
                broken[target.name] = ""
        elif kind == "unparseable_time":
            broken[target.name] = UNPARSEABLE_TIMES[target.type]
        elif kind == "non_numeric":
            broken[target.name] = NON_NUMERIC_VALUES[target.type]
        else:
            broken[target.name] = UNLISTED_VALUES.get(target.name, "other")
        return self._render(spec, broken)


def _possible_damage(spec: SourceSpec) -> dict[str, list[FieldSpec]]:
    """Which kinds of damage can make a row of this source invalid, and to which fields."""
    damage = {
        "missing_field": [field for field in spec.fields if field.required],
        "unparseable_time": [field for field in spec.fields if field.type in TIME_TYPES],
        "non_numeric": [field for field in spec.fields if field.type in NUMBER_TYPES],
        "unlisted_value": [field for field in spec.fields if field.allowed],
    }
    if spec.format is FileFormat.JSONL:
        damage["truncated_line"] = []
    return {kind: fields for kind, fields in damage.items() if fields or kind == "truncated_line"}


def _order_field(spec: SourceSpec) -> str:
    """Rows in a file are ordered by the source's last time field (updated_at, occurred_at, ...)."""
    return [field.name for field in spec.fields if field.type in TIME_TYPES][-1]


def _csv_cell(value: str | int | float | None) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _write_atomically(path: Path, text: str) -> None:
    """Write next to the target and rename, so a sensor never picks up a half-written batch."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8", newline="")
    os.replace(temporary, path)
