"""The SDR sequence specialist: turns an account surge into sequence enrolments for the people behind it."""

from __future__ import annotations

from collections import Counter

from agents.actions import ProposedAction
from agents.context import EngagedPerson
from agents.surge import AccountSurge

SEQUENCE_BY_SENIORITY = {
    "c_suite": "executive-briefing",
    "vp": "executive-briefing",
    "director": "evaluation-guide",
    "manager": "evaluation-guide",
    "individual_contributor": "technical-deep-dive",
}
"""Executives get a short business case, evaluators a comparison guide, practitioners the technical tour."""

DEFAULT_SEQUENCE = "evaluation-guide"


class SdrSequenceAgent:
    agent_id = "sdr_sequence_agent"

    def propose(self, surge: AccountSurge, people: list[EngagedPerson]) -> list[ProposedAction]:
        """One enrolment per engaged person, with the evidence that makes it worth a salesperson's time.

        Reasoning and inputs name no one: they reach the audit log, which must outlive a GDPR erasure."""
        return [self._enrolment(surge, person, len(people)) for person in people]

    def _enrolment(self, surge: AccountSurge, person: EngagedPerson, engaged_count: int) -> ProposedAction:
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
            "their seniority."
        )
        return ProposedAction(
            agent_id=self.agent_id,
            action_type="enrol_in_sequence",
            channel="sales_engagement",
            person_id=person.person_id,
            account_id=surge.account_id,
            payload={"sequence_id": sequence_id},
            reasoning=reasoning,
            inputs={
                "trigger": surge.run_key,
                "surge_window": [surge.window_start.isoformat(), surge.detected_on.isoformat()],
                "engaged_contacts": engaged_count,
                "seniority": person.seniority,
                "department": person.department,
                "signal_ids": [signal.signal_id for signal in person.signals],
                "quality_score_sum": round(quality, 4),
            },
            inverse={"action_type": "remove_from_sequence", "sequence_id": sequence_id},
            trigger_key=surge.run_key,
        )
