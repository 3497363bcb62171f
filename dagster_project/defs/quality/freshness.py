"""Freshness as a gate: each source's freshness as dbt declares it, plus how long landed data took to reach
the profile.

The sources' `loaded_at_field` and `warn_after`/`error_after` come from the dbt manifest, as `dbt source
freshness` reads them, but the query runs here on the open warehouse: a second dbt process per batch cost
~14 s of start-up and parsing for eight `max()` queries (bench/results/latency.md).
"""

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb

from dagster_project.core.clock import utc_now
from dagster_project.defs.transform.project import surgewise_dbt_project
from dagster_project.lib.check_recording import record_gate
from dagster_project.lib.markdown import markdown_list
from dagster_project.lib.resources import DuckDBWarehouse, SurgewiseConfig

PROFILE = dg.AssetKey(["marts", "dim_person"])


PERIOD_HOURS = {"minute": 1 / 60, "hour": 1, "day": 24}


@dataclass(frozen=True)
class SourceFreshness:
    """One source's freshness, with dbt's statuses: pass, warn, error, or runtime error (no table or column)."""

    name: str
    status: str
    max_loaded_at: datetime | None


def _threshold(rule: dict | None) -> timedelta | None:
    if not rule or rule.get("count") is None or rule.get("period") is None:
        return None
    return timedelta(hours=rule["count"] * PERIOD_HOURS[rule["period"]])


def source_freshness(
    connection: duckdb.DuckDBPyConnection, manifest_path: Path, now: datetime
) -> list[SourceFreshness]:
    """dbt source freshness for every source that declares it: the newest `loaded_at_field` against
    `warn_after`/`error_after`, as `dbt source freshness` computes it."""
    sources = json.loads(manifest_path.read_text())["sources"]
    results = []
    for unique_id, source in sorted(sources.items()):
        freshness = source.get("freshness") or {}
        warn_after, error_after = _threshold(freshness.get("warn_after")), _threshold(freshness.get("error_after"))
        loaded_at_field = source.get("loaded_at_field")
        if not loaded_at_field or not (warn_after or error_after):
            continue
        name = unique_id.removeprefix("source.surgewise.")
        try:
            (max_loaded_at,) = connection.execute(
                f'select max("{loaded_at_field}") from "{source["schema"]}"."{source["identifier"]}"'
            ).fetchone()
        except (duckdb.CatalogException, duckdb.BinderException):
            results.append(SourceFreshness(name, "runtime error", None))
            continue
        age = now - max_loaded_at if max_loaded_at else None
        if age is None or (error_after and age > error_after):
            status = "error"
        elif warn_after and age > warn_after:
            status = "warn"
        else:
            status = "pass"
        results.append(SourceFreshness(name, status, max_loaded_at))
    return results


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
    surgewise_config: SurgewiseConfig,
) -> dg.AssetCheckResult:
    max_lag_minutes = surgewise_config.policies().freshness.max_profile_lag_minutes
    profile_event = context.instance.get_latest_materialization_event(PROFILE)
    profile_built_at = (
        datetime.fromtimestamp(profile_event.timestamp, UTC).replace(tzinfo=None) if profile_event else None
    )
    with warehouse.connect() as connection:
        sources = source_freshness(connection, surgewise_dbt_project.manifest_path, utc_now())
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
        f"dbt source freshness {source.name}: {source.status}"
        for source in sources
        if source.status in ("error", "runtime error") and source.name.split(".")[-1] in delivering
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
                markdown_list(
                    f"`{source.name}`: {source.status} (max loaded {source.max_loaded_at})" for source in sources
                )
            ),
            "problems": dg.MetadataValue.md(markdown_list(problems)),
        },
    )
