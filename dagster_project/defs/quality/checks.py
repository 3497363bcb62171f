"""Great Expectations suites as blocking asset checks: failed data stops the agents that read it."""

import dagster as dg

from dagster_project.core.settings import EXPECTATIONS_DIR
from dagster_project.lib.check_recording import record_gate
from dagster_project.lib.expectations import validate_dataframe
from dagster_project.lib.markdown import markdown_list
from dagster_project.lib.resources import DuckDBWarehouse


@dg.asset_check(
    asset=dg.AssetKey(["marts", "dim_person"]),
    blocking=True,
    description=(
        "The unified profile passes the expectations/dim_person.json suite (keys, emails, consent values, "
        "engagement counts). Agents read only a profile whose latest check passed."
    ),
)
def dim_person_expectations(context: dg.AssetCheckExecutionContext, warehouse: DuckDBWarehouse) -> dg.AssetCheckResult:
    with warehouse.connect() as connection:
        profile = connection.sql("select * from marts.dim_person").df()
    result = validate_dataframe(EXPECTATIONS_DIR / "dim_person.json", profile)
    # Counts only: this metadata is kept in Dagster's event log, beyond the reach of `forget`.
    failures = tuple(outcome.describe() for outcome in result.failures)
    passed = record_gate(
        context, warehouse, check_name="dim_person_expectations", asset="dim_person", failures=failures
    )
    return dg.AssetCheckResult(
        passed=passed,
        metadata={
            "suite": result.suite_name,
            "rows_validated": len(profile),
            "expectations_evaluated": result.evaluated,
            "expectations_failed": len(failures),
            "failures": dg.MetadataValue.md(markdown_list(failures)),
        },
    )
