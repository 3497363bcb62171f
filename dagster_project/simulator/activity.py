"""Playing the planned market out one day at a time: the rows each source would export that day.

`MarketActivity` keeps only the state that must carry over between days, so a long simulation streams
instead of holding every event of every day in memory. Each concern draws from a `random.Random` of its
own, seeded with a string derived from the seed (`<seed>:web`, `<seed>:email`, `<seed>:crm`, ...), so the
same seed always yields the same behaviour and one stream's draws never shift another's. The website
(`web_traffic`) and the newsletter (`newsletter`) are large enough to live in modules of their own; the
CRM, third-party intent and ad reports are played out here, where the state they share with those two
(consent, job titles) is owned.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from typing import TypeVar

from dagster_project.simulator.catalogue import Account, Contact, Mix
from dagster_project.simulator.day import Clock, DayActivity, Row
from dagster_project.simulator.newsletter import Newsletter
from dagster_project.simulator.plan import HeadcountChange, Market, Opportunity, Promotion, StageChange, business_second
from dagster_project.simulator.web_traffic import WebTraffic

Dated = TypeVar("Dated", Promotion, HeadcountChange)


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
INTENT_LEAD_DAYS = 3
"""Third-party intent starts rising a few days before the first-party research does."""


class MarketActivity:
    """Plays a `Market` out one day at a time; only state that must carry over between days is kept.

    Carried state here: consent and job changes (for CRM update rows); the website and the newsletter
    carry their own (see `WebTraffic` and `Newsletter`).
    """

    def __init__(self, market: Market) -> None:
        self.market = market
        self.clock = Clock(market.start_date)
        seed = market.seed
        self._crm = random.Random(f"{seed}:crm")
        self._intent = random.Random(f"{seed}:intent")
        self._ads = random.Random(f"{seed}:ads")
        self._accounts = {account.account_id: account for account in market.accounts}
        self._contacts = {contact.contact_id: contact for contact in market.contacts}
        self._window_by_account = {window.account_id: window for window in market.buying_windows}
        self._promotions = _by_day(market.promotions)
        self._headcount_changes = _by_day(market.headcount_changes)
        self._stage_changes: defaultdict[int, list[tuple[Opportunity, StageChange]]] = defaultdict(list)
        for opportunity in market.opportunities:
            for change in opportunity.stage_changes:
                self._stage_changes[change.day].append((opportunity, change))
        self._consent = {contact.contact_id: contact.consent_status for contact in market.contacts}
        self._titles = {contact.contact_id: (contact.job_title, contact.seniority) for contact in market.contacts}
        self._newsletter = Newsletter(market, self.clock, self._consent)
        self._web = WebTraffic(market, self.clock, self._titles)

    def simulate_day(self, day: int) -> DayActivity:
        activity = DayActivity(day=day)
        self._newsletter.play_day(day, activity)
        self._web.play_day(day, activity)
        self._record_crm(day, activity)
        self._observe_intent(day, activity)
        self._report_ads(day, activity)
        return activity

    def _record_crm(self, day: int, activity: DayActivity) -> None:
        """A full snapshot on day one (last modified some time in the past), then only changed rows."""
        rng = self._crm
        if day == 0:
            for account in self.market.accounts:
                updated = self.clock.timestamp(-rng.randint(1, 400), business_second(rng))
                activity.rows["crm_accounts"].append(_account_row(account, account.employee_count, updated))
            for contact in self.market.contacts:
                updated = self.clock.timestamp(-rng.randint(1, 400), business_second(rng))
                activity.rows["crm_contacts"].append(self._contact_row(contact, updated))
        for change in self._headcount_changes.get(day, []):
            updated = self.clock.timestamp(day, change.second)
            account = self._accounts[change.account_id]
            activity.rows["crm_accounts"].append(_account_row(account, change.employee_count, updated))
        for promotion in self._promotions.get(day, []):
            self._titles[promotion.contact_id] = (promotion.job_title, promotion.seniority)
            updated = self.clock.timestamp(day, promotion.second)
            activity.rows["crm_contacts"].append(self._contact_row(self._contacts[promotion.contact_id], updated))
        for contact_id in self._newsletter.opt_outs_to_sync(day):
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
        rng, level = self._ads, 0.6 + 0.4 * self.clock.activity_level(day)
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
