"""A seeded synthetic B2B market: who the accounts and people are, and what they do each day.

The market holds the hidden ground truth the platform has to rediscover from the landing files alone:
which accounts are in a buying window, who their buying group is, and at what local hour each contact
likes to read email. `build_market` plans everything known up front from one seed; `MarketActivity`
then plays the plan out one day at a time, so a long simulation streams instead of holding every event
of every day in memory.

Everything is drawn from `random.Random` instances seeded with strings derived from the seed, one per
concern, so the same seed always yields the same market and the same behaviour.
"""

from __future__ import annotations

import math
import random
from bisect import bisect
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Generic, TypeVar
from zoneinfo import ZoneInfo

from dagster_project.connectors.sources import AD_CHANNELS, SOURCES

Row = dict[str, str | int | float]
"""One landing-zone record keyed by the contract's field names, plus any drifted extra fields."""

T = TypeVar("T")
Dated = TypeVar("Dated", "Promotion", "HeadcountChange")

SECONDS_PER_DAY = 86_400
SITE = "https://www.lumenstack.example"
"""The website of the vendor whose marketing team runs Surgewise; all page views land here."""


@dataclass(frozen=True)
class Mix(Generic[T]):
    """A weighted choice; cumulative weights are precomputed as some mixes are drawn millions of times."""

    values: tuple[T, ...]
    cum_weights: tuple[float, ...]

    @classmethod
    def of(cls, weights: dict[T, float]) -> Mix[T]:
        running, cumulative = 0.0, []
        for weight in weights.values():
            running += weight
            cumulative.append(running)
        return cls(tuple(weights), tuple(cumulative))

    def pick(self, rng: random.Random) -> T:
        return self.values[bisect(self.cum_weights, rng.random() * self.cum_weights[-1])]


# --- Catalogues: the vocabulary of the market -------------------------------------------------------

INDUSTRY_NOUNS: dict[str, tuple[str, ...]] = {
    "saas": ("Cloud", "Software", "Labs", "Systems", "Analytics"),
    "fintech": ("Pay", "Capital", "Financial", "Ledger", "Lending"),
    "healthcare": ("Health", "Medical", "Care", "Clinics", "Bio"),
    "manufacturing": ("Manufacturing", "Industries", "Works", "Components", "Fabrication"),
    "retail": ("Retail", "Goods", "Outfitters", "Market", "Stores"),
    "logistics": ("Logistics", "Freight", "Shipping", "Transport", "Supply"),
    "education": ("Learning", "Academy", "Education", "Schools", "Tutoring"),
    "public_sector": ("County Services", "Transit Authority", "Public Works", "Water District", "Housing"),
}
INDUSTRY_MIX = Mix.of(
    {
        "saas": 22,
        "fintech": 14,
        "healthcare": 13,
        "manufacturing": 14,
        "retail": 11,
        "logistics": 11,
        "education": 8,
        "public_sector": 7,
    }
)
NAME_PREFIXES = (
    "Northwind", "Bluefin", "Cedar", "Summit", "Harbor", "Ironwood", "Lakeshore", "Granite", "Silverline",
    "Redwood", "Brightpath", "Oakridge", "Pinnacle", "Riverbend", "Starling", "Keystone", "Meridian",
    "Evergreen", "Copperfield", "Highland", "Westbrook", "Clearwater", "Stonegate", "Falcon", "Horizon",
    "Maple", "Beacon", "Vantage", "Crescent", "Orchard", "Sapphire", "Trident", "Willow", "Aurora",
    "Bayview", "Canyon", "Driftwood", "Elmstead", "Foxglove", "Glacier", "Hawthorn", "Juniper", "Kestrel",
    "Lighthouse", "Monarch", "Nimbus", "Obsidian", "Prairie", "Quarry", "Ridgeline", "Sequoia",
    "Tidewater", "Upland", "Wildflower", "Amberly", "Brookfield", "Cobalt", "Dunmore", "Emberton",
    "Fairhaven",
)  # fmt: skip
COMMERCIAL_TLDS = ("com", "io", "co", "net")
NONPROFIT_INDUSTRIES = ("education", "public_sector")

COUNTRY_MIX = Mix.of({"US": 45, "GB": 10, "DE": 8, "CA": 7, "FR": 5, "NL": 5, "AU": 6, "IN": 6, "SG": 4, "BR": 4})
COUNTRY_TIMEZONES: dict[str, tuple[str, ...]] = {
    "US": ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"),
    "CA": ("America/Toronto", "America/Vancouver"),
    "GB": ("Europe/London",),
    "DE": ("Europe/Berlin",),
    "FR": ("Europe/Paris",),
    "NL": ("Europe/Amsterdam",),
    "AU": ("Australia/Sydney", "Australia/Melbourne"),
    "IN": ("Asia/Kolkata",),
    "SG": ("Asia/Singapore",),
    "BR": ("America/Sao_Paulo",),
}

TIER_MIX = Mix.of({1: 20, 2: 35, 3: 45})
EMPLOYEES_BY_TIER = {1: (1_000, 50_000), 2: (200, 3_000), 3: (20, 400)}
MIN_CONTACTS, MAX_CONTACTS = 4, 14

FIRST_NAMES = (
    "Aaron", "Abigail", "Adrian", "Aisha", "Alex", "Amara", "Andre", "Anna", "Ben", "Bianca", "Carlos",
    "Chloe", "Daniel", "Diana", "Elena", "Emeka", "Emma", "Farah", "Felix", "Grace", "Hana", "Hugo",
    "Isabel", "Ivan", "Jamal", "Jane", "Jonas", "Julia", "Kai", "Karin", "Leila", "Liam", "Lucia",
    "Marco", "Maya", "Mei", "Miguel", "Nadia", "Noah", "Olivia", "Omar", "Priya", "Rafael", "Ravi",
    "Rosa", "Sam", "Sara", "Sofia", "Tariq", "Thomas", "Uma", "Victor", "Wei", "Yara", "Yusuf", "Zoe",
)  # fmt: skip
LAST_NAMES = (
    "Adams", "Alvarez", "Bauer", "Becker", "Brown", "Chen", "Costa", "Dubois", "Eriksson", "Fischer",
    "Garcia", "Gupta", "Hansen", "Hoffmann", "Ibrahim", "Jansen", "Johnson", "Kapoor", "Kim", "Kowalski",
    "Larsen", "Lee", "Lopez", "Martin", "Meyer", "Moreau", "Murphy", "Nakamura", "Nguyen", "Novak",
    "Okafor", "Olsen", "Patel", "Perez", "Quinn", "Rossi", "Santos", "Schmidt", "Shah", "Silva", "Singh",
    "Smith", "Tanaka", "Taylor", "Thompson", "Torres", "Vargas", "Walker", "Weber", "Williams", "Wong",
    "Yilmaz", "Young", "Zhang",
)  # fmt: skip

DEPARTMENTS = ("marketing", "sales", "it", "finance", "operations", "engineering", "executive")
SENIORITY_LADDER = ("individual_contributor", "manager", "director", "vp", "c_suite")
"""The contract's seniorities, ordered from junior to senior so a promotion is one step up."""
JOB_TITLES: dict[str, dict[str, str]] = {
    "marketing": {
        "c_suite": "Chief Marketing Officer",
        "vp": "VP of Marketing",
        "director": "Director of Demand Generation",
        "manager": "Marketing Operations Manager",
        "individual_contributor": "Marketing Specialist",
    },
    "sales": {
        "c_suite": "Chief Revenue Officer",
        "vp": "VP of Sales",
        "director": "Director of Sales",
        "manager": "Sales Manager",
        "individual_contributor": "Account Executive",
    },
    "it": {
        "c_suite": "Chief Information Officer",
        "vp": "VP of IT",
        "director": "Director of IT",
        "manager": "IT Manager",
        "individual_contributor": "Systems Administrator",
    },
    "finance": {
        "c_suite": "Chief Financial Officer",
        "vp": "VP of Finance",
        "director": "Director of FP&A",
        "manager": "Finance Manager",
        "individual_contributor": "Financial Analyst",
    },
    "operations": {
        "c_suite": "Chief Operating Officer",
        "vp": "VP of Operations",
        "director": "Director of Operations",
        "manager": "Operations Manager",
        "individual_contributor": "Operations Analyst",
    },
    "engineering": {
        "c_suite": "Chief Technology Officer",
        "vp": "VP of Engineering",
        "director": "Director of Engineering",
        "manager": "Engineering Manager",
        "individual_contributor": "Software Engineer",
    },
    "executive": {
        "c_suite": "Chief Executive Officer",
        "vp": "SVP, Strategy",
        "director": "Chief of Staff",
        "manager": "Executive Office Manager",
        "individual_contributor": "Executive Assistant",
    },
}
NON_EXECUTIVE_SENIORITY_MIX = Mix.of({"vp": 12, "director": 20, "manager": 30, "individual_contributor": 38})
DEPARTMENT_MIX = Mix.of(
    {
        "marketing": 26,
        "sales": 20,
        "it": 14,
        "finance": 10,
        "operations": 12,
        "engineering": 14,
        "executive": 4,
    }
)
CONSENT_MIX = Mix.of({"opted_in": 85, "opted_out": 8, "unknown": 7})
PREFERRED_HOUR_MIX = Mix.of(
    {7: 6, 8: 12, 9: 14, 10: 10, 11: 7, 12: 8, 13: 6, 14: 6, 15: 5, 16: 4, 17: 5, 18: 4, 19: 5, 20: 5, 21: 3}
)
FREE_MAIL_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com")
ROLE_MAILBOXES = ("info", "sales", "marketing")

PAGES: dict[str, tuple[str, ...]] = {
    "homepage": ("/",),
    "product": ("/product", "/product/journeys", "/product/audiences", "/product/analytics", "/integrations"),
    "pricing": ("/pricing", "/pricing/enterprise", "/pricing/calculator"),
    "comparison": ("/compare/acme", "/compare/orbitly", "/compare/pipewise", "/alternatives"),
    "docs": (
        "/docs",
        "/docs/getting-started",
        "/docs/api",
        "/docs/integrations/salesforce",
        "/docs/security",
        "/docs/data-model",
    ),
    "blog": (
        "/blog/what-is-intent-data",
        "/blog/abm-playbook-2026",
        "/blog/lead-scoring-is-dead",
        "/blog/email-send-time-optimization",
        "/blog/building-a-buying-group-map",
        "/blog/warehouse-native-marketing",
        "/blog/attribution-without-cookies",
        "/blog/b2b-benchmarks-q3",
    ),
    "careers": ("/careers", "/careers/engineering", "/careers/sales"),
    "case_study": ("/customers", "/customers/harbor-freight-co", "/customers/meridian-health"),
}
CATEGORIES = tuple(PAGES)
PAGE_CATEGORY = {path: category for category, paths in PAGES.items() for path in paths}
BROWSING_MIX = Mix.of(
    {
        "blog": 34,
        "docs": 20,
        "homepage": 16,
        "product": 14,
        "careers": 8,
        "case_study": 7.7,
        "pricing": 0.2,
        "comparison": 0.1,
    }
)
"""Background browsing by known contacts: pricing and comparison views are rare but not absent, so a
naive "viewed pricing" rule flags some accounts that are not buying."""
ANONYMOUS_MIX = Mix.of(
    {
        "homepage": 24,
        "blog": 30,
        "careers": 12,
        "product": 14,
        "docs": 10,
        "case_study": 6,
        "pricing": 3,
        "comparison": 1,
    }
)
RESEARCH_MIX = Mix.of({"docs": 35, "case_study": 30, "product": 25, "blog": 10})
"""Supporting pages a buying-group member reads around the pricing and comparison pages."""
FORM_BY_CATEGORY = {
    "pricing": "demo_request",
    "comparison": "demo_request",
    "docs": "trial_signup",
    "product": "webinar_registration",
    "case_study": "case_study_download",
    "blog": "ebook_download",
    "homepage": "newsletter_signup",
    "careers": "newsletter_signup",
}
REFERRER_MIX = Mix.of(
    {
        "": 40,
        "https://www.google.com/": 35,
        "https://www.bing.com/": 5,
        "https://www.linkedin.com/": 12,
        "https://news.ycombinator.com/": 3,
        "https://www.g2.com/": 5,
    }
)
"""Entry referrers; the empty string stands for a direct visit and is written as a missing referrer."""
AD_REFERRERS = {
    "linkedin": "https://www.linkedin.com/",
    "google": "https://www.google.com/",
    "meta": "https://www.facebook.com/",
}
CHROME_ENGINE = "AppleWebKit/537.36 (KHTML, like Gecko)"
SAFARI_ENGINE = "AppleWebKit/605.1.15 (KHTML, like Gecko)"
HUMAN_USER_AGENTS = (
    f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {CHROME_ENGINE} Chrome/129.0.0.0 Safari/537.36",
    f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) {SAFARI_ENGINE} Version/17.6 Safari/605.1.15",
    f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) {CHROME_ENGINE} Chrome/129.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:131.0) Gecko/20100101 Firefox/131.0",
    f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {CHROME_ENGINE} Chrome/129.0.0.0 Safari/537.36 Edg/129.0.0.0",
    f"Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) {SAFARI_ENGINE} Mobile/15E148 Safari/604.1",
)
BOT_USER_AGENTS = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    f"Mozilla/5.0 (X11; Linux x86_64) {CHROME_ENGINE} HeadlessChrome/129.0.6668.58 Safari/537.36",
    "python-requests/2.32.3",
)

BUYING_TOPICS = (
    "marketing automation",
    "customer data platform",
    "account based marketing",
    "intent data",
    "lead scoring",
    "competitor: acme",
    "competitor: orbitly",
)
GENERAL_TOPICS = (
    *BUYING_TOPICS,
    "email deliverability",
    "marketing attribution",
    "sales engagement",
    "crm integration",
    "data warehouse",
    "b2b advertising",
)
INTENT_PROVIDER_MIX = Mix.of({"bombora-sim": 60, "g2-sim": 40})
AD_ECONOMICS = {
    # channel: (daily budget range, cost per 1000 impressions, click-through rate, conversion rate)
    "linkedin": ((250.0, 900.0), 38.0, 0.006, 0.05),
    "google": ((150.0, 700.0), 14.0, 0.028, 0.035),
    "meta": ((100.0, 400.0), 9.0, 0.011, 0.02),
}

# --- Behaviour parameters ---------------------------------------------------------------------------

WINDOW_PROBABILITY_BY_TIER = {1: 0.38, 2: 0.20, 3: 0.12}
WINDOW_DAYS = (10, 25)
BUYING_GROUP_SIZE = (3, 6)
RESEARCH_DAYS_PER_MEMBER = (2, 4)
OPPORTUNITY_AFTER_WINDOW_PROBABILITY = 0.70
OPPORTUNITY_WITHOUT_WINDOW_PROBABILITY = 0.025
INTENT_LEAD_DAYS = 3
"""Third-party intent starts rising a few days before the first-party research does."""
PROMOTION_PROBABILITY_PER_45_DAYS = 0.015
HEADCOUNT_CHANGE_PROBABILITY = 0.03

CONTACT_SESSION_PROBABILITY = 0.1
"""Daily chance of a website visit for a contact of average engagement on a weekday."""
ANONYMOUS_SESSIONS_PER_ACCOUNT = 2.4
RETURNING_ANONYMOUS_SHARE = 0.3
WEEKEND_ACTIVITY = 0.35
FORM_PROBABILITY = {"browsing": 0.04, "research": 0.15}
MAX_FORMS_PER_CONTACT = 2
MIXED_CASE_EMAIL_SHARE = 0.05
"""People type their address as they like; identity resolution must match emails case-insensitively."""
AD_LANDING_SHARE = 0.2
BOT_SHARE = 0.05
TAG_UPGRADE_FRACTION = 1 / 3
"""From a third into the period the site tag also sends utm_* fields: schema drift the loader keeps."""

CAMPAIGN_WEEKDAY = 1  # Tuesday
CAMPAIGN_SEND_SECOND = 14 * 3600
OPEN_PROBABILITY = {"baseline": 0.20, "in_window": 0.55}
CLICK_PROBABILITY = {"baseline": 0.25, "in_window": 0.50}
OPEN_DELAY_DAYS = Mix.of({0: 55, 1: 25, 2: 12, 3: 8})
REOPEN_PROBABILITY = 0.15
CLICK_CARRIES_COOKIE = 0.60
UNSUBSCRIBE_PER_OPEN = 0.01
BOUNCE_PER_SEND = 0.004

# Distress signals. They are drawn from a stream of their own (`<seed>:email:distress`) and delivered
# with one of their own, so adding them left every other row of every market byte-identical.
COMPLAINT_PER_DELIVERY = 0.0008
"""A recipient marks a delivered newsletter as spam without unsubscribing (bulk senders aim below 0.1%).
The simulated e-mail platform does not suppress complainers (its suppression list holds unsubscribes
and hard bounces only), so they keep receiving the newsletter: acting on a complaint is Surgewise's job."""
COMPLAINT_PER_UNSUBSCRIBE = 0.25
"""Share of unsubscribers who also mark the e-mail as spam ("report spam and unsubscribe")."""
COMPLAINT_DELAY_DAYS = Mix.of({0: 50, 1: 30, 2: 20})
"""Days after the send that a recipient who never opened the e-mail reports it from the inbox list."""
REPEAT_UNSUBSCRIBE_PROBABILITY = 0.3
"""Share of unsubscribers who click unsubscribe again on an older e-mail still in their inbox, once or
twice, a few days later (no new e-mail reaches them)."""
REPEAT_UNSUBSCRIBE_GAP_DAYS = (1, 8)


# --- The market model -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Company:
    """A company that researches the category; CRM accounts are companies the vendor already knows."""

    name: str
    domain: str
    industry: str


@dataclass(frozen=True, slots=True)
class Account:
    account_id: str
    company: Company
    employee_count: int
    tier: int
    country: str


@dataclass(frozen=True, slots=True)
class Browser:
    """One device/browser of a person: the anonymous cookie id the web tag sees, and its user agent."""

    anonymous_id: str
    user_agent: str


@dataclass(frozen=True, slots=True)
class Contact:
    contact_id: str
    account_id: str
    first_name: str
    last_name: str
    email: str
    job_title: str
    department: str
    seniority: str
    timezone: str
    consent_status: str
    preferred_local_hour: int
    """Hidden: the local hour this person usually reads email. Only ever written to ground truth."""
    engagement: float
    """Hidden: how often this person visits the site and opens email, relative to the average (1.0)."""
    browsers: tuple[Browser, ...]


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


@dataclass(frozen=True, slots=True)
class AdCampaign:
    campaign_id: str
    channel: str
    daily_budget: float
    cpm: float
    ctr: float
    cvr: float


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
    account_list = [_build_account(rng, index, domains) for index in range(1, accounts + 1)]
    contacts_by_account = _build_contacts(rng, account_list)
    contacts = tuple(contact for account in account_list for contact in contacts_by_account[account.account_id])
    windows = _plan_buying_windows(rng, account_list, contacts_by_account, days)
    outside = tuple(_build_company(rng, domains) for _ in range(max(5, accounts // 8)))
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
        ad_campaigns=_build_ad_campaigns(rng, accounts),
    )


def _hex_id(rng: random.Random, prefix: str) -> str:
    return f"{prefix}_{rng.getrandbits(64):016x}"


def _business_second(rng: random.Random) -> int:
    """A time during the CRM users' working day, expressed in UTC (Europe and the Americas overlap)."""
    return rng.randint(8 * 3600, 22 * 3600)


def _build_company(rng: random.Random, taken_domains: set[str]) -> Company:
    industry = INDUSTRY_MIX.pick(rng)
    tlds = ("org",) if industry in NONPROFIT_INDUSTRIES else COMMERCIAL_TLDS
    prefix = noun = domain = ""
    for _ in range(20):
        prefix, noun = rng.choice(NAME_PREFIXES), rng.choice(INDUSTRY_NOUNS[industry])
        domain = f"{prefix}-{noun.replace(' ', '')}.{rng.choice(tlds)}".lower()
        if domain not in taken_domains:
            break
    stem, tld = domain.rsplit(".", 1)
    suffix = 2
    while domain in taken_domains:
        domain = f"{stem}{suffix}.{tld}"
        suffix += 1
    taken_domains.add(domain)
    return Company(name=f"{prefix} {noun}", domain=domain, industry=industry)


def _build_account(rng: random.Random, index: int, taken_domains: set[str]) -> Account:
    tier = TIER_MIX.pick(rng)
    low, high = EMPLOYEES_BY_TIER[tier]
    return Account(
        account_id=f"acc_{index:05d}",
        company=_build_company(rng, taken_domains),
        employee_count=round(math.exp(rng.uniform(math.log(low), math.log(high)))),
        tier=tier,
        country=COUNTRY_MIX.pick(rng),
    )


def _contact_count(rng: random.Random, employee_count: int) -> int:
    """Bigger companies have more people the vendor knows: 4 contacts at 20 employees, 14 at 50,000."""
    low, high = math.log10(EMPLOYEES_BY_TIER[3][0]), math.log10(EMPLOYEES_BY_TIER[1][1])
    scaled = (math.log10(employee_count) - low) / (high - low) * (MAX_CONTACTS - MIN_CONTACTS)
    return min(MAX_CONTACTS, max(MIN_CONTACTS, MIN_CONTACTS + round(scaled) + rng.randint(-1, 1)))


def _email_address(local_part: str, domain: str, taken: set[str]) -> str:
    """`first.last@domain`, made unique with a digit when two people share a name."""
    email, suffix = f"{local_part}@{domain}", 2
    while email in taken:
        email = f"{local_part}{suffix}@{domain}"
        suffix += 1
    taken.add(email)
    return email


def _build_contacts(rng: random.Random, accounts: list[Account]) -> dict[str, list[Contact]]:
    contacts_by_account: dict[str, list[Contact]] = {}
    taken_emails: set[str] = set()
    next_id = 1
    for account in accounts:
        count = _contact_count(rng, account.employee_count)
        executives = 1 if count < 7 else 2 if count < 11 else 3
        headquarters = rng.choice(COUNTRY_TIMEZONES[account.country])
        contacts = []
        for position in range(count):
            if position == 0:
                department, seniority = "executive", "c_suite"
            elif position < executives:
                department, seniority = rng.choice(DEPARTMENTS[:-1]), "c_suite"
            else:
                department, seniority = DEPARTMENT_MIX.pick(rng), NON_EXECUTIVE_SENIORITY_MIX.pick(rng)
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            timezone = headquarters if rng.random() < 0.75 else rng.choice(COUNTRY_TIMEZONES[account.country])
            browsers = tuple(
                Browser(_hex_id(rng, "anon"), rng.choice(HUMAN_USER_AGENTS))
                for _ in range(1 if rng.random() < 0.65 else 2)
            )
            contacts.append(
                Contact(
                    contact_id=f"con_{next_id:06d}",
                    account_id=account.account_id,
                    first_name=first,
                    last_name=last,
                    email=_email_address(f"{first}.{last}".lower(), account.company.domain, taken_emails),
                    job_title=JOB_TITLES[department][seniority],
                    department=department,
                    seniority=seniority,
                    timezone=timezone,
                    consent_status=CONSENT_MIX.pick(rng),
                    preferred_local_hour=PREFERRED_HOUR_MIX.pick(rng),
                    engagement=rng.lognormvariate(0.0, 0.6),
                    browsers=browsers,
                )
            )
            next_id += 1
        contacts_by_account[account.account_id] = contacts
    return contacts_by_account


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
    changes = [StageChange(created_day, _business_second(rng), "discovery")]
    day = created_day
    for stage, probability, delay in (
        ("evaluation", 0.75, (4, 12)),
        ("proposal", 0.6, (5, 15)),
        ("closed_won" if rng.random() < 0.45 else "closed_lost", 0.7, (7, 20)),
    ):
        day += rng.randint(*delay)
        if rng.random() >= probability or day >= days:
            break
        changes.append(StageChange(day, _business_second(rng), stage))
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
                    browser=Browser(_hex_id(rng, "anon"), rng.choice(HUMAN_USER_AGENTS)),
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
                second=_business_second(rng),
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
            second=_business_second(rng),
            account_id=account.account_id,
            employee_count=round(account.employee_count * rng.uniform(1.02, 1.2)),
        )
        for account in accounts
        if rng.random() < HEADCOUNT_CHANGE_PROBABILITY
    )


def _build_ad_campaigns(rng: random.Random, accounts: int) -> tuple[AdCampaign, ...]:
    campaigns = []
    for index in range(6 + accounts // 1000):
        channel = AD_CHANNELS[index % len(AD_CHANNELS)]
        budget_range, cpm, ctr, cvr = AD_ECONOMICS[channel]
        campaigns.append(
            AdCampaign(
                campaign_id=f"cmp_{channel}_{index // len(AD_CHANNELS) + 1:02d}",
                channel=channel,
                daily_budget=round(rng.uniform(*budget_range), 2),
                cpm=cpm * rng.uniform(0.8, 1.25),
                ctr=ctr * rng.uniform(0.7, 1.3),
                cvr=cvr * rng.uniform(0.6, 1.4),
            )
        )
    return tuple(campaigns)


# --- Playing the market out, day by day -------------------------------------------------------------


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


class MarketActivity:
    """Plays a `Market` out one day at a time; only state that must carry over between days is kept.

    Carried state: events scheduled for later days (an open happens days after a send), the email
    suppression list, consent and job changes (for CRM update rows), a pool of returning anonymous
    cookies, and which campaigns reached each contact (a repeated unsubscribe uses an older e-mail).
    """

    def __init__(self, market: Market) -> None:
        self.market = market
        self.clock = Clock(market.start_date)
        seed = market.seed
        self._web = random.Random(f"{seed}:web")
        self._email = random.Random(f"{seed}:email")
        self._crm = random.Random(f"{seed}:crm")
        self._intent = random.Random(f"{seed}:intent")
        self._ads = random.Random(f"{seed}:ads")
        self._distress = random.Random(f"{seed}:email:distress")
        """Complaints and repeated unsubscribes only; no other stream sees a draw change because of them."""
        self._accounts = {account.account_id: account for account in market.accounts}
        self._contacts = {contact.contact_id: contact for contact in market.contacts}
        self._window_by_account = {window.account_id: window for window in market.buying_windows}
        self._window_by_contact = {
            contact_id: window for window in market.buying_windows for contact_id in window.buying_group
        }
        self._research_by_day: defaultdict[int, list[Contact]] = defaultdict(list)
        for window in market.buying_windows:
            for contact_id, research_days in window.research_days:
                for day in research_days:
                    self._research_by_day[day].append(self._contacts[contact_id])
        self._prospects_by_day: defaultdict[int, list[Prospect]] = defaultdict(list)
        for prospect in market.prospects:
            for day in prospect.visit_days:
                self._prospects_by_day[day].append(prospect)
        self._promotions = _by_day(market.promotions)
        self._headcount_changes = _by_day(market.headcount_changes)
        self._stage_changes: defaultdict[int, list[tuple[Opportunity, StageChange]]] = defaultdict(list)
        for opportunity in market.opportunities:
            for change in opportunity.stage_changes:
                self._stage_changes[change.day].append((opportunity, change))
        self._tag_upgrade_day = market.tag_upgrade_day
        self._scheduled: defaultdict[int, list[tuple[str, Row]]] = defaultdict(list)
        self._consent = {contact.contact_id: contact.consent_status for contact in market.contacts}
        self._titles = {contact.contact_id: (contact.job_title, contact.seniority) for contact in market.contacts}
        self._consent_syncs: defaultdict[int, list[str]] = defaultdict(list)
        self._suppressed: set[str] = set()
        """The email platform's suppression list: unsubscribed and hard-bounced addresses. Complainers are
        not on it: suppressing them would change who receives later sends (see COMPLAINT_PER_DELIVERY)."""
        self._distress_scheduled: defaultdict[int, list[Row]] = defaultdict(list)
        self._received: defaultdict[str, list[str]] = defaultdict(list)
        """Campaign ids delivered (sent and not bounced) to each contact, in send order."""
        self._forms_filled: defaultdict[str, int] = defaultdict(int)
        self._returning_cookies: list[Browser] = []

    def simulate_day(self, day: int) -> DayActivity:
        activity = DayActivity(day=day)
        if (self.market.start_date + timedelta(days=day)).weekday() == CAMPAIGN_WEEKDAY:
            self._send_campaign(day, activity)
        for source, row in self._scheduled.pop(day, []):
            activity.rows[source].append(row)
        activity.distress_rows.extend(self._distress_scheduled.pop(day, []))
        self._browse(day, activity)
        self._crawl(day, activity)
        self._record_crm(day, activity)
        self._observe_intent(day, activity)
        self._report_ads(day, activity)
        return activity

    # Web ---------------------------------------------------------------------------------------------

    def _activity_level(self, day: int) -> float:
        return WEEKEND_ACTIVITY if (self.market.start_date + timedelta(days=day)).weekday() >= 5 else 1.0

    def _browse(self, day: int, activity: DayActivity) -> None:
        """Known contacts, buying groups, prospects and anonymous visitors visiting the site."""
        rng, level = self._web, self._activity_level(day)
        for contact in self._research_by_day.get(day, []):
            pages = [rng.choice(("pricing", "comparison"))]
            pages += [RESEARCH_MIX.pick(rng) for _ in range(rng.randint(1, 3))]
            if rng.random() < 0.5:
                pages.append(rng.choice(("pricing", "comparison")))
            rng.shuffle(pages)
            self._contact_session(day, contact, pages, "research", activity)
        for contact in self.market.contacts:
            if rng.random() < CONTACT_SESSION_PROBABILITY * contact.engagement * level:
                pages = [BROWSING_MIX.pick(rng) for _ in range(_page_count(rng))]
                self._contact_session(day, contact, pages, "browsing", activity)
        for prospect in self._prospects_by_day.get(day, []):
            pages = [BROWSING_MIX.pick(rng) for _ in range(_page_count(rng))]
            if prospect.kind == "unlisted_company" and rng.random() < 0.3:
                pages.append("pricing")
            last = self._session(day, _visitor_second(rng), prospect.browser, pages, _entry_referrer(rng), activity)
            if day == prospect.form_day:
                activity.rows["form_fills"].append(
                    _form_fill(
                        rng,
                        self.clock.timestamp(day, last),
                        prospect.browser,
                        prospect.email,
                        FORM_BY_CATEGORY[pages[-1]],
                        prospect.first_name,
                        prospect.last_name,
                        prospect.company,
                        prospect.job_title,
                    )
                )
        visitors = round(len(self.market.accounts) * ANONYMOUS_SESSIONS_PER_ACCOUNT * level * rng.uniform(0.9, 1.1))
        for _ in range(visitors):
            self._anonymous_session(day, activity)

    def _contact_session(self, day: int, contact: Contact, pages: list[str], mode: str, activity: DayActivity) -> None:
        rng = self._web
        # Half the sessions cluster around the contact's preferred hour, the rest spread over the workday.
        near_preferred = rng.random() < 0.5
        local_hour = contact.preferred_local_hour + rng.gauss(0.5, 1.5) if near_preferred else rng.uniform(8, 18)
        browser = contact.browsers[0] if rng.random() < 0.7 else rng.choice(contact.browsers)
        second = self.clock.utc_second(contact.timezone, day, local_hour)
        last = self._session(day, second, browser, pages, _entry_referrer(rng), activity)
        if self._forms_filled[contact.contact_id] < MAX_FORMS_PER_CONTACT and rng.random() < FORM_PROBABILITY[mode]:
            self._forms_filled[contact.contact_id] += 1
            email = contact.email
            if rng.random() < MIXED_CASE_EMAIL_SHARE:
                local_part, domain = email.split("@")
                email = f"{'.'.join(part.capitalize() for part in local_part.split('.'))}@{domain}"
            job_title = self._titles[contact.contact_id][0] if rng.random() < 0.75 else None
            company = self._accounts[contact.account_id].company.name
            activity.rows["form_fills"].append(
                _form_fill(
                    rng,
                    self.clock.timestamp(day, last),
                    browser,
                    email,
                    FORM_BY_CATEGORY[pages[-1]],
                    contact.first_name,
                    contact.last_name,
                    company,
                    job_title,
                )
            )

    def _anonymous_session(self, day: int, activity: DayActivity) -> None:
        rng = self._web
        if self._returning_cookies and rng.random() < RETURNING_ANONYMOUS_SHARE:
            browser = rng.choice(self._returning_cookies)
        else:
            browser = Browser(_hex_id(rng, "anon"), rng.choice(HUMAN_USER_AGENTS))
            if len(self._returning_cookies) < 20 * len(self.market.accounts):
                self._returning_cookies.append(browser)
            else:
                self._returning_cookies[rng.randrange(len(self._returning_cookies))] = browser
        second = _visitor_second(rng)
        pages = [ANONYMOUS_MIX.pick(rng) for _ in range(_page_count(rng))]
        if rng.random() < AD_LANDING_SHARE:
            campaign = rng.choice(self.market.ad_campaigns)
            utm = {"utm_source": campaign.channel, "utm_medium": "paid", "utm_campaign": campaign.campaign_id}
            self._session(day, second, browser, pages, AD_REFERRERS[campaign.channel], activity, utm)
        else:
            self._session(day, second, browser, pages, _entry_referrer(rng), activity)

    def _session(
        self,
        day: int,
        second: int,
        browser: Browser,
        categories: list[str],
        referrer: str | None,
        activity: DayActivity,
        utm: dict[str, str] | None = None,
    ) -> int:
        """Write one visit's page views; returns a second just after the last view, when a form on
        that page would be submitted."""
        rng = self._web
        session_id = _hex_id(rng, "ses")
        rows = activity.rows["web_events"]
        query = "?" + "&".join(f"{key}={value}" for key, value in utm.items()) if utm else ""
        for position, category in enumerate(categories):
            url = f"{SITE}{rng.choice(PAGES[category])}"
            row: Row = {
                "event_id": _hex_id(rng, "evt"),
                "anonymous_id": browser.anonymous_id,
                "occurred_at": self.clock.timestamp(day, second),
                "url": url + query if position == 0 else url,
                "content_category": category,
                "user_agent": browser.user_agent,
                "session_id": session_id,
            }
            if referrer:
                row["referrer"] = referrer
            if utm and position == 0 and day >= self._tag_upgrade_day:
                row.update(utm)
            rows.append(row)
            referrer = url
            second = min(SECONDS_PER_DAY - 1, second + rng.randint(15, 240))
        return second

    def _crawl(self, day: int, activity: DayActivity) -> None:
        """Bots: bursts of many hits a minute from crawler user agents, never identified."""
        rng = self._web
        human = len(activity.rows["web_events"])
        remaining = round(human * BOT_SHARE / (1 - BOT_SHARE) * rng.uniform(0.8, 1.2))
        activity.bot_events = remaining
        rows = activity.rows["web_events"]
        while remaining > 0:
            hits = min(remaining, rng.randint(15, 60))
            remaining -= hits
            anonymous_id, session_id = _hex_id(rng, "anon"), _hex_id(rng, "ses")
            user_agent = rng.choice(BOT_USER_AGENTS)
            second = rng.randrange(SECONDS_PER_DAY - 600)
            for _ in range(hits):
                category = rng.choice(CATEGORIES)
                rows.append(
                    {
                        "event_id": _hex_id(rng, "evt"),
                        "anonymous_id": anonymous_id,
                        "occurred_at": self.clock.timestamp(day, second),
                        "url": f"{SITE}{rng.choice(PAGES[category])}",
                        "content_category": category,
                        "user_agent": user_agent,
                        "session_id": session_id,
                    }
                )
                second += rng.randint(0, 3)

    # Email -------------------------------------------------------------------------------------------

    def _send_campaign(self, day: int, activity: DayActivity) -> None:
        """This week's newsletter to every opted-in, reachable contact; opens and clicks are scheduled
        for the days they happen, around each contact's preferred local hour."""
        rng = self._email
        campaign_id = f"cmp_email_{self.clock.date(day).replace('-', '')}"
        featured = rng.choice(PAGES["blog"] + PAGES["case_study"] + PAGES["product"][1:])
        links = Mix.of({featured: 75, "/product": 22, "/pricing": 3})
        research_links = Mix.of({featured: 40, "/product": 20, "/pricing": 40})
        for contact in self.market.contacts:
            contact_id = contact.contact_id
            if self._consent[contact_id] != "opted_in" or contact_id in self._suppressed:
                continue
            sent = CAMPAIGN_SEND_SECOND + rng.randrange(1800)
            activity.rows["email_events"].append(self._email_row(contact, campaign_id, "send", day, sent))
            if rng.random() < BOUNCE_PER_SEND:
                self._suppressed.add(contact_id)
                bounced = sent + rng.randint(5, 120)
                activity.rows["email_events"].append(self._email_row(contact, campaign_id, "bounce", day, bounced))
                continue
            self._received[contact_id].append(campaign_id)
            window = self._window_by_contact.get(contact_id)
            mode = "in_window" if window is not None and window.covers(day) else "baseline"
            if rng.random() >= min(0.9, OPEN_PROBABILITY[mode] * contact.engagement):
                if self._distress.random() < COMPLAINT_PER_DELIVERY:
                    self._complain_unopened(contact, campaign_id, day, sent)
                continue
            open_day, opened = self._open_time(contact, day, sent)
            self._schedule_email(contact, campaign_id, "open", open_day, opened)
            last_seen = (open_day, opened)  # the last interaction with this e-mail; a complaint comes after it
            if rng.random() < REOPEN_PROBABILITY:
                reopen_day = open_day + rng.randint(1, 2)
                reopened = self._local_second(contact, reopen_day)
                self._schedule_email(contact, campaign_id, "open", reopen_day, reopened)
                last_seen = (reopen_day, reopened)
            if rng.random() < UNSUBSCRIBE_PER_OPEN:
                unsubscribed = self._unsubscribe(contact, campaign_id, open_day, opened)
                last_seen = max(last_seen, (open_day, unsubscribed))
                self._repeat_unsubscribes(contact, open_day)
                complaint_probability = COMPLAINT_PER_UNSUBSCRIBE
            else:
                complaint_probability = COMPLAINT_PER_DELIVERY
                if rng.random() < CLICK_PROBABILITY[mode]:
                    path = (research_links if mode == "in_window" else links).pick(rng)
                    clicked = self._click(contact, campaign_id, path, open_day, opened)
                    last_seen = max(last_seen, (open_day, clicked))
            if self._distress.random() < complaint_probability:
                seen_day, seen_second = last_seen
                complained = seen_second + self._distress.randint(20, 900)
                self._schedule_distress(contact, campaign_id, "complaint", seen_day, complained)

    def _local_second(self, contact: Contact, day: int) -> int:
        return self.clock.utc_second(contact.timezone, day, contact.preferred_local_hour + self._email.gauss(0.5, 0.6))

    def _open_time(self, contact: Contact, day: int, sent: int) -> tuple[int, int]:
        """Opens cluster around the contact's preferred local hour; never before the send."""
        delay = OPEN_DELAY_DAYS.pick(self._email)
        second = self._local_second(contact, day + delay)
        if delay == 0 and second <= sent:
            delay = 1
            second = self._local_second(contact, day + delay)
        return day + delay, second

    def _unsubscribe(self, contact: Contact, campaign_id: str, day: int, opened: int) -> int:
        """Suppressed from further sends at once; the CRM picks up the opt-out in the next day's sync.
        Returns the second of `day` the unsubscribe happened."""
        second = min(SECONDS_PER_DAY - 1, opened + self._email.randint(30, 300))
        self._schedule_email(contact, campaign_id, "unsubscribe", day, second)
        self._suppressed.add(contact.contact_id)
        self._consent_syncs[day + 1].append(contact.contact_id)
        return second

    # Distress signals: only `self._distress` draws here, and rows go to `DayActivity.distress_rows`.

    def _complain_unopened(self, contact: Contact, campaign_id: str, day: int, sent: int) -> None:
        """A spam report straight from the inbox list, around the hour the contact reads e-mail."""
        delay = COMPLAINT_DELAY_DAYS.pick(self._distress)
        second = self._distress_second(contact, day + delay)
        if delay == 0 and second <= sent:
            delay, second = 1, self._distress_second(contact, day + 1)
        self._schedule_distress(contact, campaign_id, "complaint", day + delay, second)

    def _repeat_unsubscribes(self, contact: Contact, day: int) -> None:
        """Some unsubscribers click unsubscribe again, on an older e-mail still in their inbox."""
        if self._distress.random() >= REPEAT_UNSUBSCRIBE_PROBABILITY:
            return
        received = self._received[contact.contact_id]
        for _ in range(self._distress.randint(1, 2)):
            day += self._distress.randint(*REPEAT_UNSUBSCRIBE_GAP_DAYS)
            second = self._distress_second(contact, day)
            self._schedule_distress(contact, self._distress.choice(received), "unsubscribe", day, second)

    def _distress_second(self, contact: Contact, day: int) -> int:
        local_hour = min(23.9, max(0.0, contact.preferred_local_hour + self._distress.gauss(0.5, 1.5)))
        return self.clock.utc_second(contact.timezone, day, local_hour)

    def _schedule_distress(self, contact: Contact, campaign_id: str, event_type: str, day: int, second: int) -> None:
        """Like `_schedule_email`, with its own event ids; a second past midnight rolls into the next day."""
        day, second = day + second // SECONDS_PER_DAY, second % SECONDS_PER_DAY
        if day < self.market.days:
            row = self._email_row(contact, campaign_id, event_type, day, second, rng=self._distress)
            self._distress_scheduled[day].append(row)

    def _click(self, contact: Contact, campaign_id: str, path: str, day: int, opened: int) -> int:
        """A click, and the landing-page view it causes; ~60% of clicks carry the landing-page cookie.
        Returns the second of `day` the click happened."""
        rng = self._email
        second = min(SECONDS_PER_DAY - 1, opened + rng.randint(5, 180))
        utm = {"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": campaign_id}
        url = f"{SITE}{path}?" + "&".join(f"{key}={value}" for key, value in utm.items())
        browser = contact.browsers[0]
        click = self._email_row(contact, campaign_id, "click", day, second)
        click["url"] = url
        if rng.random() < CLICK_CARRIES_COOKIE:
            click["anonymous_id"] = browser.anonymous_id
        self._schedule(day, "email_events", click)
        view: Row = {
            "event_id": _hex_id(rng, "evt"),
            "anonymous_id": browser.anonymous_id,
            "occurred_at": self.clock.timestamp(day, min(SECONDS_PER_DAY - 1, second + rng.randint(1, 8))),
            "url": url,
            "content_category": PAGE_CATEGORY[path],
            "user_agent": browser.user_agent,
            "session_id": _hex_id(rng, "ses"),
        }
        if day >= self._tag_upgrade_day:
            view.update(utm)
        self._schedule(day, "web_events", view)
        return second

    def _email_row(
        self,
        contact: Contact,
        campaign_id: str,
        event_type: str,
        day: int,
        second: int,
        *,
        rng: random.Random | None = None,
    ) -> Row:
        return {
            "event_id": _hex_id(self._email if rng is None else rng, "eml"),
            "email": contact.email,
            "campaign_id": campaign_id,
            "event_type": event_type,
            "occurred_at": self.clock.timestamp(day, second),
        }

    def _schedule_email(self, contact: Contact, campaign_id: str, event_type: str, day: int, second: int) -> None:
        self._schedule(day, "email_events", self._email_row(contact, campaign_id, event_type, day, second))

    def _schedule(self, day: int, source: str, row: Row) -> None:
        """Hold an event until the day it happens; events after the period are never observed."""
        if day < self.market.days:
            self._scheduled[day].append((source, row))

    # CRM, intent and ads -----------------------------------------------------------------------------

    def _record_crm(self, day: int, activity: DayActivity) -> None:
        """A full snapshot on day one (last modified some time in the past), then only changed rows."""
        rng = self._crm
        if day == 0:
            for account in self.market.accounts:
                updated = self.clock.timestamp(-rng.randint(1, 400), _business_second(rng))
                activity.rows["crm_accounts"].append(_account_row(account, account.employee_count, updated))
            for contact in self.market.contacts:
                updated = self.clock.timestamp(-rng.randint(1, 400), _business_second(rng))
                activity.rows["crm_contacts"].append(self._contact_row(contact, updated))
        for change in self._headcount_changes.get(day, []):
            updated = self.clock.timestamp(day, change.second)
            account = self._accounts[change.account_id]
            activity.rows["crm_accounts"].append(_account_row(account, change.employee_count, updated))
        for promotion in self._promotions.get(day, []):
            self._titles[promotion.contact_id] = (promotion.job_title, promotion.seniority)
            updated = self.clock.timestamp(day, promotion.second)
            activity.rows["crm_contacts"].append(self._contact_row(self._contacts[promotion.contact_id], updated))
        for contact_id in self._consent_syncs.pop(day, []):
            self._consent[contact_id] = "opted_out"
            updated = self.clock.timestamp(day, rng.randint(2 * 3600, 4 * 3600))
            activity.rows["crm_contacts"].append(self._contact_row(self._contacts[contact_id], updated))
        for opportunity, change in self._stage_changes.get(day, []):
            created = opportunity.stage_changes[0]
            activity.rows["crm_opportunities"].append(
                {
                    "opportunity_id": opportunity.opportunity_id,
                    "account_id": opportunity.account_id,
                    "stage": change.stage,
                    "amount": opportunity.amount,
                    "created_at": self.clock.timestamp(created.day, created.second),
                    "updated_at": self.clock.timestamp(change.day, change.second),
                }
            )

    def _contact_row(self, contact: Contact, updated_at: str) -> Row:
        job_title, seniority = self._titles[contact.contact_id]
        return {
            "contact_id": contact.contact_id,
            "account_id": contact.account_id,
            "email": contact.email,
            "first_name": contact.first_name,
            "last_name": contact.last_name,
            "job_title": job_title,
            "department": contact.department,
            "seniority": seniority,
            "timezone": contact.timezone,
            "consent_status": self._consent[contact.contact_id],
            "updated_at": updated_at,
        }

    def _observe_intent(self, day: int, activity: DayActivity) -> None:
        """Providers see research on topics by company domain; it rises ahead of and during a window."""
        rng = self._intent
        rows = activity.rows["intent_topics"]
        stamp = self.clock.date(day).replace("-", "")
        companies = [
            (account.company, self._window_by_account.get(account.account_id)) for account in self.market.accounts
        ]
        companies += [(company, None) for company in self.market.outside_companies]
        for company, window in companies:
            if window is not None and window.covers(day, lead_days=INTENT_LEAD_DAYS):
                if rng.random() >= 0.75:
                    continue
                span = window.end_day - window.start_day + INTENT_LEAD_DAYS + 1
                progress = (day - window.start_day + INTENT_LEAD_DAYS) / span
                topics = rng.sample(BUYING_TOPICS, rng.randint(1, 3))
                scores = [min(100, round(55 + 35 * progress + rng.randint(-8, 8))) for _ in topics]
            elif rng.random() < 0.08:
                topics = rng.sample(GENERAL_TOPICS, rng.randint(1, 2))
                scores = [rng.randint(5, 65) for _ in topics]
            else:
                continue
            for topic, score in zip(topics, scores, strict=True):
                rows.append(
                    {
                        "record_id": f"int_{stamp}_{len(rows) + 1:06d}",
                        "domain": company.domain,
                        "topic": topic,
                        "score": score,
                        "observed_on": self.clock.date(day),
                        "provider": INTENT_PROVIDER_MIX.pick(rng),
                    }
                )

    def _report_ads(self, day: int, activity: DayActivity) -> None:
        """Daily ad platform report: clicks never exceed impressions, conversions never exceed clicks."""
        rng, level = self._ads, 0.6 + 0.4 * self._activity_level(day)
        for campaign in self.market.ad_campaigns:
            spend = round(campaign.daily_budget * level * rng.uniform(0.75, 1.1), 2)
            impressions = round(spend / campaign.cpm * 1000 * rng.uniform(0.85, 1.15))
            clicks = min(impressions, round(impressions * campaign.ctr * rng.uniform(0.7, 1.3)))
            conversions = min(clicks, round(clicks * campaign.cvr * rng.uniform(0.5, 1.5)))
            activity.rows["ad_performance"].append(
                {
                    "record_id": f"ads_{self.clock.date(day).replace('-', '')}_{campaign.campaign_id}",
                    "report_date": self.clock.date(day),
                    "campaign_id": campaign.campaign_id,
                    "channel": campaign.channel,
                    "spend": spend,
                    "impressions": impressions,
                    "clicks": clicks,
                    "conversions": conversions,
                }
            )


def _by_day(changes: Iterable[Dated]) -> dict[int, list[Dated]]:
    grouped: defaultdict[int, list[Dated]] = defaultdict(list)
    for change in sorted(changes, key=lambda change: (change.day, change.second)):
        grouped[change.day].append(change)
    return grouped


def _page_count(rng: random.Random) -> int:
    """Most visits are one or two pages; a few go deep."""
    count = 1
    while count < 8 and rng.random() < 0.45:
        count += 1
    return count


def _visitor_second(rng: random.Random) -> int:
    """When an unknown visitor shows up: mostly during European and American office hours (UTC)."""
    return int(rng.gauss(15, 4) * 3600) % SECONDS_PER_DAY


def _entry_referrer(rng: random.Random) -> str | None:
    return REFERRER_MIX.pick(rng) or None


def _account_row(account: Account, employee_count: int, updated_at: str) -> Row:
    return {
        "account_id": account.account_id,
        "name": account.company.name,
        "domain": account.company.domain,
        "industry": account.company.industry,
        "employee_count": employee_count,
        "tier": account.tier,
        "country": account.country,
        "updated_at": updated_at,
    }


def _form_fill(
    rng: random.Random,
    occurred_at: str,
    browser: Browser,
    email: str,
    form_name: str,
    first_name: str | None,
    last_name: str | None,
    company: str | None,
    job_title: str | None,
) -> Row:
    row: Row = {
        "form_fill_id": _hex_id(rng, "ff"),
        "anonymous_id": browser.anonymous_id,
        "occurred_at": occurred_at,
        "email": email,
        "form_name": form_name,
    }
    optional = {"first_name": first_name, "last_name": last_name, "company": company, "job_title": job_title}
    row.update({key: value for key, value in optional.items() if value is not None})
    return row
