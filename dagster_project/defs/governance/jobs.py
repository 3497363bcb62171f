"""The governance jobs: approved actions executed (from the approved_actions sensor), and governance from the
Dagster UI: a reviewer launches `governance_decision_job` from the Launchpad to
approve or reject a queued action, pause or resume an agent, or roll back an action — the same Governor
calls as the CLI, with the same identity, role and signature checks, recorded in the audit log. The Launchpad
cannot hold a reviewer's private key, so the reviewer signs first (`surgewise reviewers sign`) and pastes the
signature; a free-text `by` alone decides nothing."""

from typing import Literal

import dagster as dg

from agents.governance.governor import Governor
from agents.governance.overview import governance_overview
from agents.governance.session import GovernanceError
from dagster_project.core.clock import utc_now
from dagster_project.defs.agents.assets import approved_action_executions
from dagster_project.lib.names import AGENT_GOVERNANCE_ASSET, APPROVALS_JOB, DECISION_JOB
from dagster_project.lib.resources import DuckDBWarehouse, SurgewiseConfig


class GovernanceDecision(dg.Config):
    """What the reviewer decides; `by` is their reviewer id from config/agents.yaml, and `signature` what
    `surgewise reviewers sign <decision> <target> --reviewer <by> --comment <comment>` printed."""

    decision: Literal["approve", "reject", "pause", "resume", "rollback"]
    target: str
    """The full action id (approve, reject, rollback) or the agent id, `*` for every agent (pause, resume)."""
    by: str
    comment: str
    signature: str
    """The reviewer's signature of exactly this decision, target and comment, made within the last hour."""


@dg.op(description="Apply one reviewer decision through the governor; a refusal fails the run with the reason.")
def apply_governance_decision(
    context: dg.OpExecutionContext,
    config: GovernanceDecision,
    warehouse: DuckDBWarehouse,
    surgewise_config: SurgewiseConfig,
) -> None:
    now = utc_now()
    with warehouse.connect() as connection:
        governor = Governor(connection, surgewise_config.agent_registry(), surgewise_config.policies(), context.run_id)
        try:
            by, comment, signature = config.by, config.comment, config.signature
            if config.decision == "approve":
                outcome = governor.approve(config.target, by, comment, now, signature=signature).status.value
            elif config.decision == "reject":
                outcome = governor.reject(config.target, by, comment, now, signature=signature).status.value
            elif config.decision == "pause":
                governor.pause(config.target, by=by, reason=comment, now=now, signature=signature)
                outcome = "paused"
            elif config.decision == "resume":
                governor.resume(config.target, by=by, reason=comment, now=now, signature=signature)
                outcome = "resumed"
            else:
                result = governor.rollback(config.target, by=by, reason=comment, now=now, signature=signature)
                outcome = f"rolled back by {result.rollback_action_id}: {result.detail}"
        except GovernanceError as refusal:
            raise dg.Failure(f"governance refused: {refusal}") from refusal
        phases = {row.agent.id: row.phase for row in governance_overview(connection, governor.registry, now)}
    context.log.info(f"{config.decision} {config.target} by {config.by}: {outcome}")
    context.log.info("; ".join(f"{agent}: {phase}" for agent, phase in phases.items()))


@dg.job(
    name=DECISION_JOB,
    description=(
        "Approve or reject a queued action, pause or resume an agent, or roll back an action, from the Launchpad; "
        "approved actions then run from the approved_actions sensor."
    ),
    tags={"surgewise/kind": "governance"},
)
def governance_decision_job() -> None:
    apply_governance_decision()


approved_actions_job = dg.define_asset_job(
    name=APPROVALS_JOB,
    selection=dg.AssetSelection.assets(approved_action_executions, dg.AssetKey(AGENT_GOVERNANCE_ASSET)),
    description="Execute approved actions after re-checking them, expire overdue requests, refresh the view.",
)
