"""The SDR sequence specialist: turns an account surge into sequence enrolments for the people behind it."""

from __future__ import annotations

from collections import Counter

from agents.actions import ProposedAction
from agents.context import EngagedPerson
from agents.surge import AccountSurge
from models.serving import IntentScore, ServedIntent

SEQUENCE_BY_SENIORITY = {
    "c_suite": "executive-briefing",
    "vp": "executive-briefing",
    "director": "evaluation-guide",
    "manager": "evaluation-guide",
    "individual_contributor": "technical-deep-dive",
}
"""Executives get a short business case, evaluators a comparison guide, practitioners the technical tour."""

DEFAULT_SEQUENCE = "evaluation-guide"

FIRST_STEP_COPY = {
    "executive-briefing": {
        "subject": "A two-page business case for your evaluation",
        "body": "Teams like yours use Surgewise to act on buying signals inside the guardrails they set. "
        "Here is a short business case with the numbers other revenue leaders asked for.",
    },
    "evaluation-guide": {
        "subject": "The evaluation guide your team was looking at",
        "body": "You were comparing options this week. This guide lists the questions to ask every vendor, "
        "with our answers next to them.",
    },
    "technical-deep-dive": {
        "subject": "How Surgewise runs on the data platform you already have",
        "body": "A walkthrough of the Dagster assets, dbt models and checks behind every agent decision.",
    },
}
"""The first e-mail of each sequence: the copy brand safety checks before anyone is enrolled."""

HANDOFF_TARGET = "account_ads_agent"

FIXED_SEND_HOUR = 10
"""The classic fixed send time, used when the send-time model has no hour for a contact: every step is
scheduled on the contact's own clock, so quiet hours are judged on the schedule, not on when the agent ran."""


class SdrSequenceAgent:
    agent_id = "sdr_sequence_agent"

    def propose(
        self,
        surge: AccountSurge,
        people: list[EngagedPerson],
        intent: ServedIntent | None = None,
        send_hours: dict[str, int] | None = None,
    ) -> list[ProposedAction]:
        """One enrolment per engaged person, with the evidence that makes it worth a salesperson's time:
        the surge, the person's signals and, when a trusted model scored them, the intent scores with
        the features that drove them, and the local hour to send the first step at.

        Reasoning and inputs name no one: they reach the audit log, which must outlive a GDPR erasure."""
        intent = intent or ServedIntent(unavailable=("no intent scores were read",))
        send_hours = send_hours or {}
        return [
            self._enrolment(surge, person, len(people), intent, send_hours.get(person.person_id)) for person in people
        ]

    def hand_off(
        self, surge: AccountSurge, engaged_count: int, industry: str | None, intent: ServedIntent
    ) -> ProposedAction:
        """Ask the ads agent for paid air cover on the account while sales works its people."""
        account_score = intent.accounts.get(surge.account_id)
        return ProposedAction(
            agent_id=self.agent_id,
            action_type="handoff_to_agent",
            channel="internal",
            person_id=None,
            account_id=surge.account_id,
            payload={
                "account_name": surge.account_name,
                "industry": industry,
                "tier": surge.tier,
                "engaged_contacts": engaged_count,
                "surge_window": [surge.window_start.isoformat(), surge.detected_on.isoformat()],
                "account_intent": round(account_score.probability, 4) if account_score else None,
            },
            reasoning=(
                f"{surge.account_name} (tier {surge.tier}) is surging with {engaged_count} engaged contacts; "
                f"hand it to {HANDOFF_TARGET} for paid air cover while the SDR sequences run."
            ),
            inputs={"trigger": surge.run_key, "engaged_contacts": engaged_count},
            inverse={"action_type": "cancel_handoff"},
            trigger_key=surge.run_key,
            handoff_to=HANDOFF_TARGET,
        )

    def _enrolment(
        self,
        surge: AccountSurge,
        person: EngagedPerson,
        engaged_count: int,
        intent: ServedIntent,
        send_hour: int | None,
    ) -> ProposedAction:
        sequence_id = SEQUENCE_BY_SENIORITY.get(person.seniority or "", DEFAULT_SEQUENCE)
        categories = Counter(signal.content_category for signal in person.signals)
        viewed = ", ".join(f"{count} {category}" for category, count in sorted(categories.items()))
        last_seen = max(signal.occurred_at for signal in person.signals)
        quality = sum(signal.quality_score for signal in person.signals)
        reasoning = (
            f"{surge.account_name} (tier {surge.tier}) is surging: {engaged_count} contacts engaged with "
            f"buying content between {surge.window_start} and {surge.detected_on}. "
            f"This contact ({person.seniority or 'unknown seniority'}, {person.department or 'unknown department'}) "
            f"viewed {viewed}, last on {last_seen:%Y-%m-%d}; enrol in the {sequence_id} sequence that fits "
            f"their seniority. {_intent_reasoning(intent, surge.account_id, person.person_id)}"
            + (
                f" First step at {send_hour:02d}:00 their local time (send-time model)."
                if send_hour is not None
                else f" First step at {FIXED_SEND_HOUR:02d}:00 their local time (no send-time recommendation)."
            )
        )
        send_hour = FIXED_SEND_HOUR if send_hour is None else send_hour
        account_score = intent.accounts.get(surge.account_id)
        person_score = intent.persons.get(person.person_id)
        return ProposedAction(
            agent_id=self.agent_id,
            action_type="enrol_in_sequence",
            channel="sales_engagement",
            person_id=person.person_id,
            account_id=surge.account_id,
            payload={"sequence_id": sequence_id, "send_at_local_hour": send_hour},
            reasoning=reasoning,
            inputs={
                "trigger": surge.run_key,
                "surge_window": [surge.window_start.isoformat(), surge.detected_on.isoformat()],
                "engaged_contacts": engaged_count,
                "seniority": person.seniority,
                "department": person.department,
                "signal_ids": [signal.signal_id for signal in person.signals],
                "quality_score_sum": round(quality, 4),
                "account_intent": _score_inputs(account_score),
                "person_intent": _score_inputs(person_score),
                "intent_unavailable": list(intent.unavailable),
                "send_at_local_hour": send_hour,
            },
            inverse={"action_type": "remove_from_sequence", "sequence_id": sequence_id},
            trigger_key=surge.run_key,
            content=FIRST_STEP_COPY[sequence_id],
        )


def _intent_reasoning(intent: ServedIntent, account_id: str, person_id: str) -> str:
    account, person = intent.accounts.get(account_id), intent.persons.get(person_id)
    parts = []
    if account:
        parts.append(f"Account intent (model {account.model_version}) {account.describe()}.")
    if person:
        parts.append(f"Contact intent (model {person.model_version}) {person.describe()}.")
    if not parts:
        parts.append("No intent score used: " + ("; ".join(intent.unavailable) or "none scored") + ".")
    return " ".join(parts)


def _score_inputs(score: IntentScore | None) -> dict[str, object] | None:
    if score is None:
        return None
    return {
        "probability": round(score.probability, 4),
        "reference_probability": round(score.reference_probability, 4),
        "model_version": score.model_version,
        "snapshot_date": score.snapshot_date.isoformat(),
        "top_features": list(score.top_features),
    }
