"""The fixed world of the simulated market: the vocabulary it is made of and who is in it.

Company and people names, job titles, countries, the vendor's site content and the browsers that visit
it are the catalogue every other module draws from; the companies, accounts, contacts and ad campaigns
built from it are the world the hidden plan (`plan`) and the daily activity (`activity`) play out on.
They live apart from both because they do not change once built: the plan decides what the world will
do, the activity decides what it did on each day.

`Mix` lives here because every module draws weighted choices from the catalogue.
"""

from __future__ import annotations

import math
import random
from bisect import bisect
from dataclasses import dataclass
from typing import Generic, TypeVar

from dagster_project.connectors.sources import AD_CHANNELS

T = TypeVar("T")


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


# --- Companies and accounts -------------------------------------------------------------------------

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

# --- People -----------------------------------------------------------------------------------------

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

# --- The vendor's website and the browsers that visit it --------------------------------------------

SITE = "https://www.lumenstack.example"
"""The website of the vendor whose marketing team runs Surgewise; all page views land here."""
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

# --- Advertising ------------------------------------------------------------------------------------

AD_ECONOMICS = {
    # channel: (daily budget range, cost per 1000 impressions, click-through rate, conversion rate)
    "linkedin": ((250.0, 900.0), 38.0, 0.006, 0.05),
    "google": ((150.0, 700.0), 14.0, 0.028, 0.035),
    "meta": ((100.0, 400.0), 9.0, 0.011, 0.02),
}


# --- The world built from the catalogue -------------------------------------------------------------


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
class AdCampaign:
    campaign_id: str
    channel: str
    daily_budget: float
    cpm: float
    ctr: float
    cvr: float


def hex_id(rng: random.Random, prefix: str) -> str:
    return f"{prefix}_{rng.getrandbits(64):016x}"


def build_company(rng: random.Random, taken_domains: set[str]) -> Company:
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


def build_account(rng: random.Random, index: int, taken_domains: set[str]) -> Account:
    tier = TIER_MIX.pick(rng)
    low, high = EMPLOYEES_BY_TIER[tier]
    return Account(
        account_id=f"acc_{index:05d}",
        company=build_company(rng, taken_domains),
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


def build_contacts(rng: random.Random, accounts: list[Account]) -> dict[str, list[Contact]]:
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
                Browser(hex_id(rng, "anon"), rng.choice(HUMAN_USER_AGENTS))
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


def build_ad_campaigns(rng: random.Random, accounts: int) -> tuple[AdCampaign, ...]:
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
