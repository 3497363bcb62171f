"""The account intent surge: the trigger that wakes the SDR agent.

A surge starts on the first day on which at least `min_distinct_contacts` different people of an
account in a watched tier engaged with watched content (pricing, comparison) within `window_days`.
Later qualifying days belong to the same surge until a gap longer than the window, so one buying
episode triggers the agents once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import duckdb

from agents.config import AccountSurgeRule

_SURGE_SQL = """
with qualifying as (
    select
        signals.account_id,
        signals.person_id,
        cast(signals.occurred_at as date) as signal_date
    from marts.fct_signals as signals
    inner join marts.dim_account as accounts on signals.account_id = accounts.account_id
    where list_contains($tiers, accounts.tier)
      and list_contains($categories, signals.content_category)
      and signals.person_id is not null
),

rolling as (
    select
        days.account_id,
        days.signal_date,
        count(distinct qualifying.person_id) as engaged_contacts
    from (select distinct account_id, signal_date from qualifying) as days
    inner join qualifying
        on qualifying.account_id = days.account_id
        and qualifying.signal_date between days.signal_date - ($window_days - 1) and days.signal_date
    group by days.account_id, days.signal_date
),

surging_days as (
    select
        account_id,
        signal_date,
        lag(signal_date) over (partition by account_id order by signal_date) as previous_surging_day
    from rolling
    where engaged_contacts >= $min_contacts
),

surge_starts as (
    select account_id, signal_date as detected_on
    from surging_days
    where previous_surging_day is null or signal_date - previous_surging_day > $window_days
)

select
    surge_starts.account_id,
    accounts.account_name,
    accounts.tier,
    surge_starts.detected_on,
    list(distinct qualifying.person_id order by qualifying.person_id) as person_ids
from surge_starts
inner join marts.dim_account as accounts on surge_starts.account_id = accounts.account_id
inner join qualifying
    on qualifying.account_id = surge_starts.account_id
    and qualifying.signal_date
        between surge_starts.detected_on - ($window_days - 1) and surge_starts.detected_on
group by all
order by surge_starts.detected_on, surge_starts.account_id
"""


@dataclass(frozen=True)
class AccountSurge:
    account_id: str
    account_name: str
    tier: int
    window_start: date
    detected_on: date
    person_ids: tuple[str, ...]

    @property
    def run_key(self) -> str:
        """One agent run per account and surge episode, however often the sensor looks."""
        return f"account_intent_surge:{self.account_id}:{self.detected_on.isoformat()}"


def detect_account_surges(connection: duckdb.DuckDBPyConnection, rule: AccountSurgeRule) -> list[AccountSurge]:
    """Every surge episode in the marts, oldest first."""
    rows = connection.execute(
        _SURGE_SQL,
        {
            "tiers": list(rule.account_tiers),
            "categories": list(rule.content_categories),
            "window_days": rule.window_days,
            "min_contacts": rule.min_distinct_contacts,
        },
    ).fetchall()
    return [
        AccountSurge(
            account_id=account_id,
            account_name=account_name,
            tier=int(tier),
            window_start=detected_on - timedelta(days=rule.window_days - 1),
            detected_on=detected_on,
            person_ids=tuple(person_ids),
        )
        for account_id, account_name, tier, detected_on, person_ids in rows
    ]
