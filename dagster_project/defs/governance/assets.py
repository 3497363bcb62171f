"""The governance view in the Dagster UI: every agent's scope, phase, pause state and queue, and a check
that the audit log's hash chain is intact."""

import dagster as dg

from agents.governance import audit_reading
from agents.governance.overview import governance_overview
from dagster_project.core.clock import utc_now
from dagster_project.defs.agents.assets import approved_action_executions, sdr_sequence_enrolments
from dagster_project.lib.markdown import markdown_list, markdown_table
from dagster_project.lib.names import AGENT_GOVERNANCE_ASSET
from dagster_project.lib.resources import DuckDBWarehouse, SurgewiseConfig


def _overview_table(rows: list) -> str:
    return markdown_table(
        ("agent", "owner", "scope", "budget", "rollout", "paused", "pending approvals", "open escalations"),
        (
            (
                f"`{row.agent.id}`",
                row.owner,
                row.scope,
                row.budget,
                row.phase,
                row.pause.reason if row.pause.paused else "no",
                row.pending_approvals,
                row.open_escalations,
            )
            for row in rows
        ),
    )


@dg.asset(
    key=AGENT_GOVERNANCE_ASSET,
    group_name="governance",
    kinds={"python", "duckdb"},
    deps=[sdr_sequence_enrolments, approved_action_executions],
    description=(
        "Every agent's declared scope, budget scope, rollout phase (with its reviewed-decision count), pause state "
        "and the approvals and escalations waiting for a human, from config/agents.yaml and governance.*."
    ),
)
def agent_governance(
    context: dg.AssetExecutionContext, warehouse: DuckDBWarehouse, surgewise_config: SurgewiseConfig
) -> dg.MaterializeResult:
    registry = surgewise_config.agent_registry()
    with warehouse.connect() as connection:
        rows = governance_overview(connection, registry, utc_now())
    metadata: dict[str, object] = {"agents": dg.MetadataValue.md(_overview_table(rows))}
    for row in rows:
        metadata[f"{row.agent.id}/phase"] = row.rollout.phase
        metadata[f"{row.agent.id}/reviewed_decisions"] = row.rollout.reviewed_decisions
        metadata[f"{row.agent.id}/paused"] = row.pause.paused
        metadata[f"{row.agent.id}/pending_approvals"] = row.pending_approvals
    metadata["policy_version"] = surgewise_config.policies().policy_version
    return dg.MaterializeResult(metadata=metadata)


@dg.asset_check(
    asset=AGENT_GOVERNANCE_ASSET,
    description=(
        "Recompute every audit entry's hash and keyed MAC and compare the log with its signed checkpoints: an "
        "edited, deleted, reordered or cut-off entry, or an executed action with no entry, fails the check."
    ),
)
def audit_chain_intact(warehouse: DuckDBWarehouse, surgewise_config: SurgewiseConfig) -> dg.AssetCheckResult:
    registry = surgewise_config.agent_registry()
    with warehouse.connect(read_only=True) as connection:
        report = audit_reading.verify_chain(connection, registry=registry)
    return dg.AssetCheckResult(
        passed=report.ok,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "entries": report.entries,
            "problems": dg.MetadataValue.md(markdown_list(report.describe())),
        },
    )
