"""The vendor's weekly newsletter, day by day: sends, bounces, opens, clicks, unsubscribes and complaints.

An e-mail's events happen over several days (an open can come days after the send), so they are
scheduled for the day they happen and released into that day's activity. Ordinary e-mail behaviour is
drawn from `<seed>:email`; spam complaints and repeated unsubscribe attempts from `<seed>:email:distress`
alone, so either can change without shifting a single draw of the other, or of the web and CRM streams.
"""

from __future__ import annotations

import random
from collections import defaultdict

from dagster_project.simulator.catalogue import PAGE_CATEGORY, PAGES, SITE, Contact, Mix, hex_id
from dagster_project.simulator.day import SECONDS_PER_DAY, Clock, DayActivity, Row
from dagster_project.simulator.plan import Market

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


class Newsletter:
    """The e-mail platform of one market; carries what must outlive a day: events scheduled for later
    days, the suppression list, which campaigns reached each contact (a repeated unsubscribe uses an
    older e-mail) and the opt-outs the CRM has yet to sync.

    `consent` is the CRM's consent status per contact, read to decide who gets the newsletter.
    """

    def __init__(self, market: Market, clock: Clock, consent: dict[str, str]) -> None:
        self.market = market
        self.clock = clock
        self._rng = random.Random(f"{market.seed}:email")
        self._distress = random.Random(f"{market.seed}:email:distress")
        """Complaints and repeated unsubscribes only; no other stream sees a draw change because of them."""
        self._consent = consent
        self._window_by_contact = {
            contact_id: window for window in market.buying_windows for contact_id in window.buying_group
        }
        self._tag_upgrade_day = market.tag_upgrade_day
        self._scheduled: defaultdict[int, list[tuple[str, Row]]] = defaultdict(list)
        self._distress_scheduled: defaultdict[int, list[Row]] = defaultdict(list)
        self._consent_syncs: defaultdict[int, list[str]] = defaultdict(list)
        self._suppressed: set[str] = set()
        """The email platform's suppression list: unsubscribed and hard-bounced addresses. Complainers are
        not on it: suppressing them would change who receives later sends (see COMPLAINT_PER_DELIVERY)."""
        self._received: defaultdict[str, list[str]] = defaultdict(list)
        """Campaign ids delivered (sent and not bounced) to each contact, in send order."""

    def play_day(self, day: int, activity: DayActivity) -> None:
        """Send this week's newsletter on campaign day, then release the events that happen today."""
        if self.clock.weekday(day) == CAMPAIGN_WEEKDAY:
            self._send_campaign(day, activity)
        for source, row in self._scheduled.pop(day, []):
            activity.rows[source].append(row)
        activity.distress_rows.extend(self._distress_scheduled.pop(day, []))

    def opt_outs_to_sync(self, day: int) -> list[str]:
        """Contacts who unsubscribed the day before: the CRM picks up their opt-out today."""
        return self._consent_syncs.pop(day, [])

    def _send_campaign(self, day: int, activity: DayActivity) -> None:
        """This week's newsletter to every opted-in, reachable contact; opens and clicks are scheduled
        for the days they happen, around each contact's preferred local hour."""
        rng = self._rng
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
        return self.clock.utc_second(contact.timezone, day, contact.preferred_local_hour + self._rng.gauss(0.5, 0.6))

    def _open_time(self, contact: Contact, day: int, sent: int) -> tuple[int, int]:
        """Opens cluster around the contact's preferred local hour; never before the send."""
        delay = OPEN_DELAY_DAYS.pick(self._rng)
        second = self._local_second(contact, day + delay)
        if delay == 0 and second <= sent:
            delay = 1
            second = self._local_second(contact, day + delay)
        return day + delay, second

    def _unsubscribe(self, contact: Contact, campaign_id: str, day: int, opened: int) -> int:
        """Suppressed from further sends at once; the CRM picks up the opt-out in the next day's sync.
        Returns the second of `day` the unsubscribe happened."""
        second = min(SECONDS_PER_DAY - 1, opened + self._rng.randint(30, 300))
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
        rng = self._rng
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
            "event_id": hex_id(rng, "evt"),
            "anonymous_id": browser.anonymous_id,
            "occurred_at": self.clock.timestamp(day, min(SECONDS_PER_DAY - 1, second + rng.randint(1, 8))),
            "url": url,
            "content_category": PAGE_CATEGORY[path],
            "user_agent": browser.user_agent,
            "session_id": hex_id(rng, "ses"),
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
            "event_id": hex_id(self._rng if rng is None else rng, "eml"),
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
