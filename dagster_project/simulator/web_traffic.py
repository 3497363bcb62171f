"""The vendor's website, day by day: known contacts, buying groups, prospects, anonymous visitors and bots.

Every page view and form fill is drawn from one stream (`<seed>:web`), in a fixed order each day, so the
web traffic depends only on the seed and the plan, never on what the newsletter or the CRM drew. How
people browse (which content, from which referrer, how often they fill a form) lives here with the
sessions it shapes; the site's pages themselves are part of the `catalogue`.
"""

from __future__ import annotations

import random
from collections import defaultdict

from dagster_project.simulator.catalogue import (
    BOT_USER_AGENTS,
    CATEGORIES,
    HUMAN_USER_AGENTS,
    PAGES,
    SITE,
    Browser,
    Contact,
    Mix,
    hex_id,
)
from dagster_project.simulator.day import SECONDS_PER_DAY, Clock, DayActivity, Row
from dagster_project.simulator.plan import Market, Prospect

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

CONTACT_SESSION_PROBABILITY = 0.1
"""Daily chance of a website visit for a contact of average engagement on a weekday."""
ANONYMOUS_SESSIONS_PER_ACCOUNT = 2.4
RETURNING_ANONYMOUS_SHARE = 0.3
FORM_PROBABILITY = {"browsing": 0.04, "research": 0.15}
MAX_FORMS_PER_CONTACT = 2
MIXED_CASE_EMAIL_SHARE = 0.05
"""People type their address as they like; identity resolution must match emails case-insensitively."""
AD_LANDING_SHARE = 0.2
BOT_SHARE = 0.05


class WebTraffic:
    """Site visits of one market; carries the forms each contact filled and a pool of returning cookies.

    `titles` is shared with the CRM, which updates it on a promotion: a form reports the current title.
    """

    def __init__(self, market: Market, clock: Clock, titles: dict[str, tuple[str, str]]) -> None:
        self.market = market
        self.clock = clock
        self._rng = random.Random(f"{market.seed}:web")
        self._titles = titles
        self._accounts = {account.account_id: account for account in market.accounts}
        contacts = {contact.contact_id: contact for contact in market.contacts}
        self._research_by_day: defaultdict[int, list[Contact]] = defaultdict(list)
        for window in market.buying_windows:
            for contact_id, research_days in window.research_days:
                for day in research_days:
                    self._research_by_day[day].append(contacts[contact_id])
        self._prospects_by_day: defaultdict[int, list[Prospect]] = defaultdict(list)
        for prospect in market.prospects:
            for day in prospect.visit_days:
                self._prospects_by_day[day].append(prospect)
        self._tag_upgrade_day = market.tag_upgrade_day
        self._forms_filled: defaultdict[str, int] = defaultdict(int)
        self._returning_cookies: list[Browser] = []

    def play_day(self, day: int, activity: DayActivity) -> None:
        """People visit first; bots then add a share of what the people produced, newsletter clicks included."""
        self._browse(day, activity)
        self._crawl(day, activity)

    def _browse(self, day: int, activity: DayActivity) -> None:
        """Known contacts, buying groups, prospects and anonymous visitors visiting the site."""
        rng, level = self._rng, self.clock.activity_level(day)
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
        rng = self._rng
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
        rng = self._rng
        if self._returning_cookies and rng.random() < RETURNING_ANONYMOUS_SHARE:
            browser = rng.choice(self._returning_cookies)
        else:
            browser = Browser(hex_id(rng, "anon"), rng.choice(HUMAN_USER_AGENTS))
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
        rng = self._rng
        session_id = hex_id(rng, "ses")
        rows = activity.rows["web_events"]
        query = "?" + "&".join(f"{key}={value}" for key, value in utm.items()) if utm else ""
        for position, category in enumerate(categories):
            url = f"{SITE}{rng.choice(PAGES[category])}"
            row: Row = {
                "event_id": hex_id(rng, "evt"),
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
        rng = self._rng
        human = len(activity.rows["web_events"])
        remaining = round(human * BOT_SHARE / (1 - BOT_SHARE) * rng.uniform(0.8, 1.2))
        activity.bot_events = remaining
        rows = activity.rows["web_events"]
        while remaining > 0:
            hits = min(remaining, rng.randint(15, 60))
            remaining -= hits
            anonymous_id, session_id = hex_id(rng, "anon"), hex_id(rng, "ses")
            user_agent = rng.choice(BOT_USER_AGENTS)
            second = rng.randrange(SECONDS_PER_DAY - 600)
            for _ in range(hits):
                category = rng.choice(CATEGORIES)
                rows.append(
                    {
                        "event_id": hex_id(rng, "evt"),
                        "anonymous_id": anonymous_id,
                        "occurred_at": self.clock.timestamp(day, second),
                        "url": f"{SITE}{rng.choice(PAGES[category])}",
                        "content_category": category,
                        "user_agent": user_agent,
                        "session_id": session_id,
                    }
                )
                second += rng.randint(0, 3)


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
        "form_fill_id": hex_id(rng, "ff"),
        "anonymous_id": browser.anonymous_id,
        "occurred_at": occurred_at,
        "email": email,
        "form_name": form_name,
    }
    optional = {"first_name": first_name, "last_name": last_name, "company": company, "job_title": job_title}
    row.update({key: value for key, value in optional.items() if value is not None})
    return row
