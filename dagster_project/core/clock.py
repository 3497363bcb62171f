"""One clock for the warehouse: naive UTC timestamps, as DuckDB's `timestamp` columns store them."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """Now in UTC without a time zone, so it compares with the `timestamp` columns it is written to."""
    return datetime.now(UTC).replace(tzinfo=None)
