"""Freshness as a gate: dbt source freshness plus how long landed data took to reach the profile."""

from datetime import UTC, datetime

import dagster as dg
from dagster_dbt import DbtCliResource

from dagster_project.defs.transform.project import surgewise_dbt_project
from dagster_project.lib.check_recording import record_gate
from dagster_project.lib.markdown import markdown_list
from dagster_project.lib.resources import DuckDBWarehouse, SurgewiseConfig

PROFILE = dg.AssetKey(["marts", "dim_person"])


def _dbt_source_freshness(dbt: DbtCliResource) -> list[tuple[str, str, str | None]]:
    """(source, status, max loaded at) per raw table, from `dbt source freshness`'s sources.json."""
    invocation = dbt.cli(["source", "freshness"], raise_on_error=False, manifest=surgewise_dbt_project.manifest_path)
    invocation.wait()
    return [
        (result["unique_id"].removeprefix("source.surgewise."), result["status"], result.get("max_loaded_at"))
        for result in invocation.get_artifact("sources.json")["results"]
    ]


@dg.asset_check(
    asset=PROFILE,
    blocking=True,
    description=(
        "dbt source freshness passes for every source that has data, and the newest landed batch reached "
        "the profile within policies.yaml's freshness.max_profile_lag_minutes. Agents do not act otherwise."
    ),
)
def dim_person_freshness(
    context: dg.AssetCheckExecutionContext,
    warehouse: DuckDBWarehouse,
    dbt: DbtCliResource,
    surgewise_config: SurgewiseConfig,
) -> dg.AssetCheckResult:
    max_lag_minutes = surgewise_config.policies().freshness.max_profile_lag_minutes
    sources = _dbt_source_freshness(dbt)
    profile_event = context.instance.get_latest_materialization_event(PROFILE)
    profile_built_at = (
        datetime.fromtimestamp(profile_event.timestamp, UTC).replace(tzinfo=None) if profile_event else None
    )
    with warehouse.connect() as connection:
        newest_landed_at, newest_loaded_at = connection.execute(
            "select max(landed_at), max(loaded_at) from raw._loaded_files where rows_loaded > 0"
        ).fetchone()
        delivering = {
            source
            for (source,) in connection.execute(
                "select distinct source from raw._loaded_files where rows_loaded > 0"
            ).fetchall()
        }
    # A connector that never delivered has nothing to be stale about; one that stopped delivering has.
    problems = [
        f"dbt source freshness {name}: {status}"
        for name, status, _ in sources
        if status in ("error", "runtime error") and name.split(".")[-1] in delivering
    ]
    lag_seconds = None
    if newest_landed_at and profile_built_at:
        lag_seconds = (profile_built_at - newest_landed_at).total_seconds()
        if profile_built_at < newest_loaded_at:
            problems.append(f"profile built at {profile_built_at:%H:%M:%S} predates data loaded {newest_loaded_at}")
        elif lag_seconds > max_lag_minutes * 60:
            problems.append(f"landed → profile took {lag_seconds / 60:.0f} min (limit {max_lag_minutes} min)")
    elif newest_landed_at:
        problems.append("the profile has never been built")
    passed = record_gate(context, warehouse, check_name="dim_person_freshness", asset="dim_person", failures=problems)
    return dg.AssetCheckResult(
        passed=passed,
        metadata={
            "landed_to_profile_seconds": dg.MetadataValue.float(lag_seconds) if lag_seconds is not None else None,
            "newest_batch_landed_at": str(newest_landed_at),
            "profile_built_at": str(profile_built_at),
            "max_profile_lag_minutes": max_lag_minutes,
            "dbt_source_freshness": dg.MetadataValue.md(
                markdown_list(f"`{name}`: {status} (max loaded {loaded})" for name, status, loaded in sources)
            ),
            "problems": dg.MetadataValue.md(markdown_list(problems)),
        },
    )
