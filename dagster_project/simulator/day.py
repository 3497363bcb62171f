"""One simulated day: the clock that names its dates and times, and the rows of activity it produced.

The web, newsletter and CRM streams of `activity` and the landing-zone writer all speak in day indexes
and seconds into the UTC day, and hand each other `DayActivity` rows; these shared terms live here so
that none of those modules has to import another just to name a day.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dagster_project.connectors.sources import SOURCES

Row = dict[str, str | int | float]
"""One landing-zone record keyed by the contract's field names, plus any drifted extra fields."""

SECONDS_PER_DAY = 86_400
WEEKEND_ACTIVITY = 0.35
"""How active people are at the weekend, relative to a weekday: site visits and ad delivery both drop."""


class Clock:
    """Simulation time: day indexes counted from the start date, seconds into that UTC day."""

    def __init__(self, start_date: date) -> None:
        self.start_date = start_date
        self._dates: dict[int, str] = {}
        self._offsets: dict[tuple[str, int], int] = {}

    def date(self, day: int) -> str:
        text = self._dates.get(day)
        if text is None:
            text = self._dates[day] = (self.start_date + timedelta(days=day)).isoformat()
        return text

    def weekday(self, day: int) -> int:
        """Monday is 0, as `date.weekday`."""
        return (self.start_date + timedelta(days=day)).weekday()

    def activity_level(self, day: int) -> float:
        return WEEKEND_ACTIVITY if self.weekday(day) >= 5 else 1.0

    def timestamp(self, day: int, second: int) -> str:
        hours, rest = divmod(second, 3600)
        return f"{self.date(day)}T{hours:02d}:{rest // 60:02d}:{rest % 60:02d}Z"

    def utc_second(self, timezone: str, day: int, local_hour: float) -> int:
        """The second of UTC day `day` at which clocks in `timezone` show `local_hour` (DST-aware).

        Wrapping into the same UTC day keeps every event of day d on the UTC date of day d, so a row
        in a later batch file is unambiguously late.
        """
        key = (timezone, day)
        offset = self._offsets.get(key)
        if offset is None:
            noon = datetime.combine(self.start_date + timedelta(days=day), time(12))
            utc_offset = ZoneInfo(timezone).utcoffset(noon)
            offset = self._offsets[key] = int(utc_offset.total_seconds()) if utc_offset else 0
        return int(local_hour * 3600 - offset) % SECONDS_PER_DAY


@dataclass
class DayActivity:
    """What happened on one simulated day, as clean contract rows per source name."""

    day: int
    rows: dict[str, list[Row]] = field(default_factory=lambda: {spec.name: [] for spec in SOURCES})
    bot_events: int = 0
    distress_rows: list[Row] = field(default_factory=list)
    """`email_events` rows for spam complaints and repeated unsubscribe attempts. Kept apart from `rows`
    so the landing zone delivers them with a noise stream of their own: they were added to the market
    later, and every row that existed before must still be delivered exactly as it was."""
