"""The agent job: one run per account intent surge, started by the account_intent_surge sensor."""

import dagster as dg

from dagster_project.defs.agents.assets import sdr_sequence_enrolments
from dagster_project.lib.names import AGENT_GOVERNANCE_ASSET, AGENT_JOB

account_surge_agent_job = dg.define_asset_job(
    name=AGENT_JOB,
    selection=dg.AssetSelection.assets(sdr_sequence_enrolments, dg.AssetKey(AGENT_GOVERNANCE_ASSET)),
    description=(
        "Answer one account intent surge: SDR agent (and the ads agent on a handoff) → governance → sandbox "
        "adapters → audit log; then refresh the governance view."
    ),
)
