"""Agent runs as assets downstream of the marts, so lineage shows which data every action came from."""

from datetime import date

import dagster as dg

from agents.orchestrator import execute_approved_actions, respond_to_surge
from agents.surge import detect_account_surges
from dagster_project.core.clock import utc_now
from dagster_project.core.crash_points import crash_point
from dagster_project.lib.resources import DuckDBWarehouse, ModelStore, SurgewiseConfig


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
        "SDR sequence enrolments proposed for the people behind an account intent surge, and the handoff to the "
        "ads agent, each decided by governance (executed, queued for approval, denied or escalated), executed "
        "through the sandbox adapters and written to the audit log."
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
        crash_point("signal")
        response = respond_to_surge(
            connection,
            surge,
            rule=rule,
            registry=surgewise_config.agent_registry(),
            policies=surgewise_config.policies(),
            run_id=context.run_id,
            now=utc_now(),
            model_registry=model_store.registry(),
            model_settings=surgewise_config.model_settings(),
        )
    for reason in response.blocked_reasons:
        context.log.warning(f"not acting on {surge.run_key}: {reason}")
    for record in response.actions:
        context.log.info(f"{record.action.agent_id} {record.action.action_type}: {record.outcome}")
    return dg.MaterializeResult(
        metadata={
            "account_id": surge.account_id,
            "account_name": surge.account_name,
            "surge_window": f"{surge.window_start} to {surge.detected_on}",
            "blocked": bool(response.blocked_reasons),
            "blocked_reasons": "; ".join(response.blocked_reasons) or "none",
            "proposed": len(response.actions),
            **{f"outcome_{outcome}": count for outcome, count in sorted(response.outcomes().items())},
        }
    )


@dg.asset(
    group_name="agents",
    kinds={"python", "duckdb"},
    deps=[sdr_sequence_enrolments],
    description=(
        "Approved actions executed after every rule was applied again with fresh facts (consent withdrawn, a cap "
        "reached or a pause since the approval still stops them); overdue approval requests expire and never run."
    ),
)
def approved_action_executions(
    context: dg.AssetExecutionContext, warehouse: DuckDBWarehouse, surgewise_config: SurgewiseConfig
) -> dg.MaterializeResult:
    with warehouse.connect() as connection:
        expired, records = execute_approved_actions(
            connection,
            registry=surgewise_config.agent_registry(),
            policies=surgewise_config.policies(),
            run_id=context.run_id,
            now=utc_now(),
        )
    outcomes: dict[str, int] = {}
    for record in records:
        outcomes[record.outcome] = outcomes.get(record.outcome, 0) + 1
        context.log.info(f"{record.action.action_id} {record.action.action_type}: {record.outcome}")
    return dg.MaterializeResult(
        metadata={"expired": len(expired), **{f"outcome_{outcome}": n for outcome, n in sorted(outcomes.items())}}
    )
