"""Agent runs as assets downstream of the marts, so lineage shows which data every action came from."""

from datetime import UTC, date, datetime

import dagster as dg

from agents.governance.policy import Verdict
from agents.orchestrator import respond_to_surge
from agents.surge import detect_account_surges
from dagster_project.resources import DuckDBWarehouse, ModelStore, SurgewiseConfig


class AccountSurgeConfig(dg.Config):
    """Which surge to answer: set by the `account_intent_surge` sensor."""

    account_id: str
    detected_on: str


@dg.asset(
    group_name="agents",
    kinds={"python", "duckdb"},
    deps=[
        dg.AssetKey(["marts", "dim_person"]),
        dg.AssetKey(["marts", "dim_account"]),
        dg.AssetKey(["marts", "fct_signals"]),
        dg.AssetKey("intent_scores"),
        dg.AssetKey("send_time_recommendations"),
    ],
    description=(
        "SDR sequence enrolments proposed for the people behind an account intent surge, each decided by "
        "governance, executed through the sandbox sales-engagement adapter and written to the audit log."
    ),
)
def sdr_sequence_enrolments(
    context: dg.AssetExecutionContext,
    config: AccountSurgeConfig,
    warehouse: DuckDBWarehouse,
    surgewise_config: SurgewiseConfig,
    model_store: ModelStore,
) -> dg.MaterializeResult:
    rule = surgewise_config.surge_rules().account_intent_surge
    detected_on = date.fromisoformat(config.detected_on)
    with warehouse.connect() as connection:
        surge = next(
            (
                candidate
                for candidate in detect_account_surges(connection, rule)
                if candidate.account_id == config.account_id and candidate.detected_on == detected_on
            ),
            None,
        )
        if surge is None:
            raise dg.Failure(
                f"no account intent surge for {config.account_id} detected on {config.detected_on} in the "
                "current marts; the data changed since the sensor fired"
            )
        response = respond_to_surge(
            connection,
            surge,
            rule=rule,
            registry=surgewise_config.agent_registry(),
            policies=surgewise_config.policies(),
            run_id=context.run_id,
            now=datetime.now(UTC).replace(tzinfo=None),
            model_registry=model_store.registry(),
            model_settings=surgewise_config.model_settings(),
        )
    for reason in response.blocked_reasons:
        context.log.warning(f"not acting on {surge.run_key}: {reason}")
    for record in response.actions:
        context.log.info(f"{record.action.person_id}: {record.decision.verdict.value} → {record.outcome}")
    return dg.MaterializeResult(
        metadata={
            "account_id": surge.account_id,
            "account_name": surge.account_name,
            "surge_window": f"{surge.window_start} to {surge.detected_on}",
            "blocked": bool(response.blocked_reasons),
            "blocked_reasons": "; ".join(response.blocked_reasons) or "none",
            "proposed": len(response.actions),
            "allowed": response.count(Verdict.ALLOWED),
            "denied": response.count(Verdict.DENIED),
            "executed": sum(1 for record in response.actions if record.outcome == "executed"),
        }
    )


account_surge_agent_job = dg.define_asset_job(
    name="account_surge_agent_job",
    selection=dg.AssetSelection.assets(sdr_sequence_enrolments),
    description="Answer one account intent surge: SDR agent → governance → sandbox adapter → audit log.",
)
