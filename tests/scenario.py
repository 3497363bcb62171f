"""Hand-built landing zones for tests: each account is one case the pipeline must get right.

| account        | tier | what happens                                                     | surge? |
| -------------- | ---- | ---------------------------------------------------------------- | ------ |
| acc_surge      | 1    | 3 contacts view pricing/comparison within 5 days (one opted out) | yes    |
| acc_two        | 1    | only 2 contacts view pricing within 8 days                        | no     |
| acc_nine       | 1    | 3 contacts, but spread over 9 days                               | no     |
| acc_tiertwo    | 2    | 3 contacts within 3 days, but tier 2                             | no     |

Jane (acc_surge) is the identity chain: cookie → form fill → email → CRM contact → account.
Omar (acc_surge) is linked by an email click that carries his cookie.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from dagster_project.connectors.sources import SOURCES_BY_NAME

START = datetime(2026, 10, 1, 9, 0, 0)


@dataclass(frozen=True)
class ScenarioContact:
    contact_id: str
    account_id: str
    email: str
    first_name: str
    seniority: str
    consent_status: str = "opted_in"


ACCOUNTS = [
    ("acc_surge", "Surge Corp", "surge.example", 1),
    ("acc_two", "Two Only Inc", "twoonly.example", 1),
    ("acc_nine", "Nine Days Ltd", "ninedays.example", 1),
    ("acc_tiertwo", "Tier Two GmbH", "tiertwo.example", 2),
]

CONTACTS = [
    ScenarioContact("con_jane", "acc_surge", "jane.doe@surge.example", "Jane", "vp"),
    ScenarioContact("con_omar", "acc_surge", "omar.ali@surge.example", "Omar", "director"),
    ScenarioContact("con_li", "acc_surge", "li.wei@surge.example", "Li", "individual_contributor", "opted_out"),
    ScenarioContact("con_two_a", "acc_two", "a@twoonly.example", "Ann", "manager"),
    ScenarioContact("con_two_b", "acc_two", "b@twoonly.example", "Ben", "manager"),
    ScenarioContact("con_nine_a", "acc_nine", "a@ninedays.example", "Cal", "manager"),
    ScenarioContact("con_nine_b", "acc_nine", "b@ninedays.example", "Dee", "manager"),
    ScenarioContact("con_nine_c", "acc_nine", "c@ninedays.example", "Eve", "manager"),
    ScenarioContact("con_t2_a", "acc_tiertwo", "a@tiertwo.example", "Fay", "manager"),
    ScenarioContact("con_t2_b", "acc_tiertwo", "b@tiertwo.example", "Gus", "manager"),
    ScenarioContact("con_t2_c", "acc_tiertwo", "c@tiertwo.example", "Hal", "manager"),
]

# (cookie, contact, day offsets of pricing/comparison views)
ENGAGEMENT = [
    ("anon_jane", "con_jane", [0, 1]),
    ("anon_omar", "con_omar", [2]),
    ("anon_li", "con_li", [4]),
    ("anon_two_a", "con_two_a", [0]),
    ("anon_two_b", "con_two_b", [3]),
    ("anon_nine_a", "con_nine_a", [0]),
    ("anon_nine_b", "con_nine_b", [4]),
    ("anon_nine_c", "con_nine_c", [8]),
    ("anon_t2_a", "con_t2_a", [0]),
    ("anon_t2_b", "con_t2_b", [1]),
    ("anon_t2_c", "con_t2_c", [2]),
]

LINKED_BY_EMAIL_CLICK = {"con_omar"}


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def page_view(event_id: str, **overrides: object) -> dict:
    """One valid web page view, for loader tests to spoil one field of."""
    row = {
        "event_id": event_id,
        "anonymous_id": "anon_1",
        "occurred_at": "2026-10-01T10:00:00Z",
        "url": "https://example.com/pricing",
        "content_category": "pricing",
        "user_agent": "Mozilla/5.0",
        "session_id": "s1",
    }
    row.update(overrides)
    return row


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def write_csv(path: Path, source: str, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[field.name for field in SOURCES_BY_NAME[source].fields])
        writer.writeheader()
        writer.writerows(rows)


def write_scenario(landing_dir: Path) -> None:
    """Write the whole hand-built market as one micro-batch per source."""
    contacts = {contact.contact_id: contact for contact in CONTACTS}
    write_csv(
        landing_dir / "crm_accounts" / "batch_20261001.csv",
        "crm_accounts",
        [
            {
                "account_id": account_id,
                "name": name,
                "domain": domain,
                "industry": "saas",
                "employee_count": 500,
                "tier": tier,
                "country": "US",
                "updated_at": _iso(START),
            }
            for account_id, name, domain, tier in ACCOUNTS
        ],
    )
    write_csv(
        landing_dir / "crm_contacts" / "batch_20261001.csv",
        "crm_contacts",
        [
            {
                "contact_id": contact.contact_id,
                "account_id": contact.account_id,
                "email": contact.email,
                "first_name": contact.first_name,
                "last_name": "Tester",
                "job_title": "Head of Things",
                "department": "marketing",
                "seniority": contact.seniority,
                "timezone": "America/New_York",
                "consent_status": contact.consent_status,
                "updated_at": _iso(START),
            }
            for contact in CONTACTS
        ],
    )
    page_views, form_fills, email_events = [], [], []
    for cookie, contact_id, days in ENGAGEMENT:
        contact = contacts[contact_id]
        first_view = START + timedelta(days=days[0])
        if contact_id in LINKED_BY_EMAIL_CLICK:
            email_events.append(
                {
                    "event_id": f"em_{contact_id}",
                    "email": contact.email,
                    "campaign_id": "cmp_launch",
                    "event_type": "click",
                    "occurred_at": _iso(first_view - timedelta(hours=1)),
                    "url": "https://surgewise.example/pricing",
                    "anonymous_id": cookie,
                }
            )
        else:
            form_fills.append(
                {
                    "form_fill_id": f"ff_{contact_id}",
                    "anonymous_id": cookie,
                    "occurred_at": _iso(first_view - timedelta(hours=1)),
                    "email": contact.email.upper() if contact_id == "con_jane" else contact.email,
                    "form_name": "webinar",
                }
            )
        for index, day in enumerate(days):
            page_views.append(
                {
                    "event_id": f"pv_{cookie}_{index}",
                    "anonymous_id": cookie,
                    "occurred_at": _iso(START + timedelta(days=day, hours=2)),
                    "url": "https://surgewise.example/pricing",
                    "content_category": "pricing" if index % 2 == 0 else "comparison",
                    "user_agent": "Mozilla/5.0 (Macintosh) Safari/605.1",
                    "session_id": f"s_{cookie}_{index}",
                }
            )
    # Noise the pipeline must see through: a duplicate event and a bot on the pricing page.
    page_views.append(dict(page_views[0]))
    page_views.append(
        {
            "event_id": "pv_bot",
            "anonymous_id": "anon_bot",
            "occurred_at": _iso(START),
            "url": "https://surgewise.example/pricing",
            "content_category": "pricing",
            "user_agent": "Googlebot/2.1",
            "session_id": "s_bot",
        }
    )
    write_jsonl(landing_dir / "web_events" / "batch_20261001.jsonl", page_views)
    write_jsonl(landing_dir / "form_fills" / "batch_20261001.jsonl", form_fills)
    write_jsonl(landing_dir / "email_events" / "batch_20261001.jsonl", email_events)


# A second batch with rows that fail their source contract, for the quarantine and privacy tests.

FIXABLE_FILE = "form_fills/batch_20261002.jsonl"
UNFIXED_FILE = "web_events/batch_20261002.jsonl"

GOOD_FORM_FILL = {
    "form_fill_id": "ff_kim",
    "anonymous_id": "anon_kim",
    "occurred_at": "2026-10-02T10:00:00Z",
    "email": "kim.lee@surge.example",
    "form_name": "webinar",
}
FORM_FILL_WITHOUT_EMAIL = {
    "form_fill_id": "ff_pat",
    "anonymous_id": "anon_pat",
    "occurred_at": "2026-10-02T11:00:00Z",
    "form_name": "webinar",
}
PAGE_VIEW_WITH_UNKNOWN_CATEGORY = {
    "event_id": "pv_unknown_category",
    "anonymous_id": "anon_jane",
    "occurred_at": "2026-10-02T12:00:00Z",
    "url": "https://surgewise.example/pricing",
    "content_category": "pricing-page",
    "user_agent": "Mozilla/5.0 (Macintosh) Safari/605.1",
    "session_id": "s_unknown",
}


FORWARDED_EMAIL_OPEN = {
    "event_id": "em_forwarded",
    "email": "omar.ali@surge.example",
    "campaign_id": "cmp_launch",
    "event_type": "open",
    "occurred_at": "2026-10-02T13:00:00Z",
    "forwarded_by": "Jane.Doe@surge.example",
}
"""Omar's row, with an unknown field (kept as JSON in raw) that names Jane."""


def write_bad_rows(landing_dir: Path) -> None:
    """A second batch: a form fill missing its e-mail (fixable), a page view of an unknown category and a
    line that is not JSON (left as they are), and an e-mail open carrying an unknown field."""
    write_jsonl(landing_dir / FIXABLE_FILE, [GOOD_FORM_FILL, FORM_FILL_WITHOUT_EMAIL])
    write_jsonl(landing_dir / UNFIXED_FILE, [PAGE_VIEW_WITH_UNKNOWN_CATEGORY])
    with (landing_dir / UNFIXED_FILE).open("a") as handle:
        handle.write('{"event_id": "pv_cut_off", "anonymous_id": \n')
    write_jsonl(landing_dir / "email_events" / "batch_20261002.jsonl", [FORWARDED_EMAIL_OPEN])
