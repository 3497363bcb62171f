"""The hidden plan of the simulated market: everything decided before day one.

`build_market` draws the whole market from one seed (`<seed>:market`): the world from `catalogue`, then
which accounts enter a buying window, who their buying group is and on which days each member researches,
which windows become opportunities and how those move through the stages, who gets promoted, which
companies grow, and when prospects who are not CRM contacts visit and fill a form. Planning it all up
front keeps the plan independent of the daily activity's random streams, so the ground truth is fixed
by the seed alone and a long simulation can stream day by day (`activity`) without holding the past.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from dagster_project.simulator.catalogue import (
    DEPARTMENT_MIX,
    FIRST_NAMES,
    FREE_MAIL_DOMAINS,
    HUMAN_USER_AGENTS,
    JOB_TITLES,
    LAST_NAMES,
    NON_EXECUTIVE_SENIORITY_MIX,
    ROLE_MAILBOXES,
    SENIORITY_LADDER,
    Account,
    AdCampaign,
    Browser,
    Company,
    Contact,
    build_account,
    build_ad_campaigns,
    build_company,
    build_contacts,
    hex_id,
)

WINDOW_PROBABILITY_BY_TIER = {1: 0.38, 2: 0.20, 3: 0.12}
WINDOW_DAYS = (10, 25)
BUYING_GROUP_SIZE = (3, 6)
RESEARCH_DAYS_PER_MEMBER = (2, 4)
OPPORTUNITY_AFTER_WINDOW_PROBABILITY = 0.70
OPPORTUNITY_WITHOUT_WINDOW_PROBABILITY = 0.025
PROMOTION_PROBABILITY_PER_45_DAYS = 0.015
HEADCOUNT_CHANGE_PROBABILITY = 0.03
TAG_UPGRADE_FRACTION = 1 / 3
"""From a third into the period the site tag also sends utm_* fields: schema drift the loader keeps."""


@dataclass(frozen=True, slots=True)
class BuyingWindow:
    """Hidden: an account actively evaluating a purchase, and the people doing the research."""

    account_id: str
    start_day: int
    end_day: int
    """Inclusive; clipped to the simulated period."""
    research_days: tuple[tuple[str, tuple[int, ...]], ...]
    """Buying-group contact id -> the days that contact researches pricing and comparison pages."""
    opportunity_day: int | None

    @property
    def buying_group(self) -> tuple[str, ...]:
        return tuple(contact_id for contact_id, _ in self.research_days)

    def covers(self, day: int, *, lead_days: int = 0) -> bool:
        return self.start_day - lead_days <= day <= self.end_day


@dataclass(frozen=True, slots=True)
class StageChange:
    day: int
    second: int
    stage: str


@dataclass(frozen=True, slots=True)
class Opportunity:
    opportunity_id: str
    account_id: str
    amount: float
    stage_changes: tuple[StageChange, ...]
    """The first change is the creation (stage discovery); only changes inside the period are kept."""


@dataclass(frozen=True, slots=True)
class Prospect:
    """Someone who fills a form without being recognisable as a CRM contact (free mail, role mailbox,
    or a company the CRM does not know): the cases identity resolution must not force-match."""

    kind: str
    browser: Browser
    email: str
    first_name: str | None
    last_name: str | None
    company: str | None
    job_title: str | None
    visit_days: tuple[int, ...]
    form_day: int


@dataclass(frozen=True, slots=True)
class Promotion:
    day: int
    second: int
    contact_id: str
    seniority: str
    job_title: str


@dataclass(frozen=True, slots=True)
class HeadcountChange:
    day: int
    second: int
    account_id: str
    employee_count: int


@dataclass(frozen=True)
class Market:
    """The planned market: entities, hidden buying windows and every change known before day one."""

    seed: int
    start_date: date
    days: int
    accounts: tuple[Account, ...]
    contacts: tuple[Contact, ...]
    buying_windows: tuple[BuyingWindow, ...]
    opportunities: tuple[Opportunity, ...]
    outside_companies: tuple[Company, ...]
    prospects: tuple[Prospect, ...]
    promotions: tuple[Promotion, ...]
    headcount_changes: tuple[HeadcountChange, ...]
    ad_campaigns: tuple[AdCampaign, ...]

    @property
    def tag_upgrade_day(self) -> int:
        return int(self.days * TAG_UPGRADE_FRACTION)

    def ground_truth(self) -> tuple[dict[str, object], list[dict[str, object]]]:
        """The buying windows document and the per-contact truth, as JSON-ready objects.

        `opportunity_created_on` is null when the window led to no opportunity inside the period.
        """
        accounts = {account.account_id: account for account in self.accounts}
        windows = [
            {
                "account_id": window.account_id,
                "domain": accounts[window.account_id].company.domain,
                "tier": accounts[window.account_id].tier,
                "window_start": (self.start_date + timedelta(days=window.start_day)).isoformat(),
                "window_end": (self.start_date + timedelta(days=window.end_day)).isoformat(),
                "buying_group_contact_ids": sorted(window.buying_group),
                "opportunity_created_on": None
                if window.opportunity_day is None
                else (self.start_date + timedelta(days=window.opportunity_day)).isoformat(),
            }
            for window in self.buying_windows
        ]
        document = {
            "seed": self.seed,
            "start_date": self.start_date.isoformat(),
            "days": self.days,
            "buying_windows": windows,
        }
        contacts = [
            {
                "contact_id": contact.contact_id,
                "account_id": contact.account_id,
                "email": contact.email,
                "preferred_local_hour": contact.preferred_local_hour,
                "timezone": contact.timezone,
                "anonymous_ids": [browser.anonymous_id for browser in contact.browsers],
            }
            for contact in self.contacts
        ]
        return document, contacts


def build_market(*, seed: int, accounts: int, days: int, start_date: date) -> Market:
    """Plan the whole market from the seed: same arguments, same market."""
    rng = random.Random(f"{seed}:market")
    domains: set[str] = set()
    account_list = [build_account(rng, index, domains) for index in range(1, accounts + 1)]
    contacts_by_account = build_contacts(rng, account_list)
    contacts = tuple(contact for account in account_list for contact in contacts_by_account[account.account_id])
    windows = _plan_buying_windows(rng, account_list, contacts_by_account, days)
    outside = tuple(build_company(rng, domains) for _ in range(max(5, accounts // 8)))
    return Market(
        seed=seed,
        start_date=start_date,
        days=days,
        accounts=tuple(account_list),
        contacts=contacts,
        buying_windows=windows,
        opportunities=_plan_opportunities(rng, account_list, windows, days),
        outside_companies=outside,
        prospects=_build_prospects(rng, account_list, outside, days),
        promotions=_plan_promotions(rng, contacts, days),
        headcount_changes=_plan_headcount_changes(rng, account_list, days),
        ad_campaigns=build_ad_campaigns(rng, accounts),
    )


def business_second(rng: random.Random) -> int:
    """A time during the CRM users' working day, expressed in UTC (Europe and the Americas overlap)."""
    return rng.randint(8 * 3600, 22 * 3600)


def _pick_buying_group(rng: random.Random, contacts: list[Contact]) -> list[Contact]:
    """3-6 people from as many different departments as possible: buying is a committee sport."""
    size = min(len(contacts), rng.randint(*BUYING_GROUP_SIZE))
    shuffled = rng.sample(contacts, len(contacts))
    group: list[Contact] = []
    departments: set[str] = set()
    for contact in shuffled:
        if len(group) < size and contact.department not in departments:
            group.append(contact)
            departments.add(contact.department)
    group += [contact for contact in shuffled if contact not in group][: size - len(group)]
    return group


def _plan_buying_windows(
    rng: random.Random, accounts: list[Account], contacts_by_account: dict[str, list[Contact]], days: int
) -> tuple[BuyingWindow, ...]:
    windows = []
    for account in accounts:
        if rng.random() >= WINDOW_PROBABILITY_BY_TIER[account.tier]:
            continue
        start = rng.randint(0, max(0, days - WINDOW_DAYS[0]))
        end = min(days - 1, start + rng.randint(*WINDOW_DAYS) - 1)
        window_days = range(start, end + 1)
        research = tuple(
            (
                contact.contact_id,
                tuple(sorted(rng.sample(window_days, min(len(window_days), rng.randint(*RESEARCH_DAYS_PER_MEMBER))))),
            )
            for contact in _pick_buying_group(rng, contacts_by_account[account.account_id])
        )
        opportunity_day = None
        if rng.random() < OPPORTUNITY_AFTER_WINDOW_PROBABILITY:
            planned = max(start + 2, end + rng.randint(-3, 7))
            opportunity_day = planned if planned < days else None
        windows.append(BuyingWindow(account.account_id, start, end, research, opportunity_day))
    return tuple(windows)


def _plan_stage_changes(rng: random.Random, created_day: int, days: int) -> tuple[StageChange, ...]:
    """Discovery on creation, then (maybe) evaluation, proposal and a close, each some days later."""
    changes = [StageChange(created_day, business_second(rng), "discovery")]
    day = created_day
    for stage, probability, delay in (
        ("evaluation", 0.75, (4, 12)),
        ("proposal", 0.6, (5, 15)),
        ("closed_won" if rng.random() < 0.45 else "closed_lost", 0.7, (7, 20)),
    ):
        day += rng.randint(*delay)
        if rng.random() >= probability or day >= days:
            break
        changes.append(StageChange(day, business_second(rng), stage))
    return tuple(changes)


def _plan_opportunities(
    rng: random.Random, accounts: list[Account], windows: tuple[BuyingWindow, ...], days: int
) -> tuple[Opportunity, ...]:
    """Most opportunities follow a buying window; a few come out of nowhere (referrals, renewals)."""
    window_days = {window.account_id: window.opportunity_day for window in windows}
    planned: list[tuple[int, str, float, tuple[StageChange, ...]]] = []
    for account in accounts:
        if account.account_id in window_days:
            created_day = window_days[account.account_id]
        elif rng.random() < OPPORTUNITY_WITHOUT_WINDOW_PROBABILITY:
            created_day = rng.randint(0, days - 1)
        else:
            continue
        if created_day is None:
            continue
        low, high = {1: (60_000, 250_000), 2: (20_000, 90_000), 3: (5_000, 30_000)}[account.tier]
        amount = float(round(rng.uniform(low, high) / 500) * 500)
        planned.append((created_day, account.account_id, amount, _plan_stage_changes(rng, created_day, days)))
    planned.sort(key=lambda plan: (plan[0], plan[3][0].second, plan[1]))
    return tuple(
        Opportunity(f"opp_{index:05d}", account_id, amount, changes)
        for index, (_, account_id, amount, changes) in enumerate(planned, start=1)
    )


def _build_prospects(
    rng: random.Random, accounts: list[Account], outside: tuple[Company, ...], days: int
) -> tuple[Prospect, ...]:
    count = len(accounts)
    prospects = []
    plan = (
        ("free_mail", max(2, count // 25)),
        ("role_mailbox", max(2, count // 40)),
        ("unlisted_company", max(3, count // 12)),
    )
    for kind, how_many in plan:
        for _ in range(how_many):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            title: str | None = JOB_TITLES[DEPARTMENT_MIX.pick(rng)][NON_EXECUTIVE_SENIORITY_MIX.pick(rng)]
            if kind == "free_mail":
                domain = rng.choice(FREE_MAIL_DOMAINS)
                email = f"{first}.{last}{rng.randint(1, 99)}@{domain}".lower()
                company = rng.choice(accounts).company.name if rng.random() < 0.5 else None
            elif kind == "role_mailbox":
                account = rng.choice(accounts)
                email = f"{rng.choice(ROLE_MAILBOXES)}@{account.company.domain}"
                company, title = account.company.name, None
            else:
                target = rng.choice(outside)
                email, company = f"{first}.{last}@{target.domain}".lower(), target.name
            form_day = rng.randint(0, days - 1)
            visits = sorted({form_day, *(rng.randint(0, days - 1) for _ in range(rng.randint(1, 4)))})
            named = kind != "role_mailbox"
            prospects.append(
                Prospect(
                    kind=kind,
                    browser=Browser(hex_id(rng, "anon"), rng.choice(HUMAN_USER_AGENTS)),
                    email=email,
                    first_name=first if named else None,
                    last_name=last if named else None,
                    company=company,
                    job_title=title,
                    visit_days=tuple(visits),
                    form_day=form_day,
                )
            )
    return tuple(prospects)


def _plan_promotions(rng: random.Random, contacts: tuple[Contact, ...], days: int) -> tuple[Promotion, ...]:
    """A few people get promoted during the period: the CRM sends their contact row again."""
    if days < 2:
        return ()
    probability = PROMOTION_PROBABILITY_PER_45_DAYS * days / 45
    promotions = []
    for contact in contacts:
        rank = SENIORITY_LADDER.index(contact.seniority)
        if rank >= SENIORITY_LADDER.index("vp") or rng.random() >= probability:
            continue
        seniority = SENIORITY_LADDER[rank + 1]
        promotions.append(
            Promotion(
                day=rng.randint(1, days - 1),
                second=business_second(rng),
                contact_id=contact.contact_id,
                seniority=seniority,
                job_title=JOB_TITLES[contact.department][seniority],
            )
        )
    return tuple(promotions)


def _plan_headcount_changes(rng: random.Random, accounts: list[Account], days: int) -> tuple[HeadcountChange, ...]:
    if days < 2:
        return ()
    return tuple(
        HeadcountChange(
            day=rng.randint(1, days - 1),
            second=business_second(rng),
            account_id=account.account_id,
            employee_count=round(account.employee_count * rng.uniform(1.02, 1.2)),
        )
        for account in accounts
        if rng.random() < HEADCOUNT_CHANGE_PROBABILITY
    )
