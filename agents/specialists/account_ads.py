"""The account ads specialist: paid air cover on LinkedIn for an account the SDR agent handed over."""

from __future__ import annotations

from dataclasses import dataclass

from agents.actions import ProposedAction

ABM_CAMPAIGN = "cmp_linkedin_01"
"""The account-based LinkedIn campaign whose budget is boosted per surging account."""

BASE_BOOST = 250.0
BOOST_PER_CONTACT = 75.0
MAX_BOOST = 1000.0

HEADLINES = {
    "saas": "Ship the integrations your customers keep asking for",
    "fintech": "Close the books faster with audit-ready data",
    "healthcare": "Give care teams one view of every patient touchpoint",
    "manufacturing": "See every line's output before the shift ends",
    "retail": "Know which shoppers are ready before they reach checkout",
    "logistics": "Track every shipment from dock to doorstep",
    "education": "Spend less time on reports and more on students",
    "public_sector": "Serve residents faster with one shared record",
}
DEFAULT_HEADLINE = "Turn buying signals into timely conversations"


@dataclass(frozen=True)
class HandoffBrief:
    """What the SDR agent passes on with an account: enough to act without re-reading the surge."""

    handoff_action_id: str
    account_id: str
    account_name: str
    industry: str | None
    tier: int | None
    engaged_contacts: int
    surge_window: tuple[str, str]
    account_intent: float | None

    @classmethod
    def from_handoff(cls, action: ProposedAction) -> HandoffBrief:
        payload = action.payload
        return cls(
            handoff_action_id=action.action_id,
            account_id=action.account_id,
            account_name=payload["account_name"],
            industry=payload.get("industry"),
            tier=payload.get("tier"),
            engaged_contacts=int(payload["engaged_contacts"]),
            surge_window=tuple(payload["surge_window"]),
            account_intent=payload.get("account_intent"),
        )


class AccountAdsAgent:
    agent_id = "account_ads_agent"

    def propose(self, brief: HandoffBrief) -> list[ProposedAction]:
        """A budget boost sized by how many people are engaged, and a creative written for the industry."""
        boost = min(BASE_BOOST + BOOST_PER_CONTACT * brief.engaged_contacts, MAX_BOOST)
        trigger = f"handoff:{brief.handoff_action_id}"
        evidence = (
            f"{brief.account_name} (tier {brief.tier}, {brief.industry or 'unknown industry'}) was handed over by "
            f"the SDR agent: {brief.engaged_contacts} contacts engaged with buying content between "
            f"{brief.surge_window[0]} and {brief.surge_window[1]}"
            + (f"; account intent {brief.account_intent:.2f}" if brief.account_intent is not None else "")
            + "."
        )
        inputs = {
            "handoff_action_id": brief.handoff_action_id,
            "engaged_contacts": brief.engaged_contacts,
            "surge_window": list(brief.surge_window),
            "account_intent": brief.account_intent,
            "industry": brief.industry,
            "tier": brief.tier,
        }
        headline = HEADLINES.get(brief.industry or "", DEFAULT_HEADLINE)
        return [
            ProposedAction(
                agent_id=self.agent_id,
                action_type="adjust_campaign_budget",
                channel="linkedin",
                person_id=None,
                account_id=brief.account_id,
                payload={"daily_budget_change": boost},
                reasoning=f"{evidence} Raise {ABM_CAMPAIGN}'s daily budget by {boost:,.0f} targeted at the account "
                f"({BASE_BOOST:,.0f} plus {BOOST_PER_CONTACT:,.0f} per engaged contact, at most {MAX_BOOST:,.0f}).",
                inputs=inputs,
                inverse={"action_type": "revert_campaign_budget", "daily_budget_change": -boost},
                trigger_key=trigger,
                campaign_id=ABM_CAMPAIGN,
                spend=boost,
            ),
            ProposedAction(
                agent_id=self.agent_id,
                action_type="launch_ad_creative",
                channel="linkedin",
                person_id=None,
                account_id=brief.account_id,
                payload={"format": "single_image", "targeting": "account_list"},
                reasoning=f"{evidence} Launch an ad written for {brief.industry or 'the account'}'s buyers in "
                f"{ABM_CAMPAIGN}, shown to the account's employees.",
                inputs=inputs,
                inverse={"action_type": "pause_ad_creative"},
                trigger_key=trigger,
                campaign_id=ABM_CAMPAIGN,
                content={
                    "headline": headline,
                    "body": "See which accounts are researching you this week, and reach them while they decide.",
                },
            ),
        ]
