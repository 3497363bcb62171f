"""Great Expectations suites as blocking asset checks: failed data stops the agents that read it."""

import dagster as dg

from dagster_project.core.check_results import CheckOutcome, record_check_result
from dagster_project.core.clock import utc_now
from dagster_project.core.settings import EXPECTATIONS_DIR
from dagster_project.quality import validate_dataframe
from dagster_project.resources import DuckDBWarehouse


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
    failures = tuple(outcome.describe(with_examples=False) for outcome in result.failures)
    with warehouse.connect() as connection:
        record_check_result(
            connection,
            CheckOutcome(
                check_name="dim_person_expectations",
                asset="dim_person",
                passed=result.success,
                evaluated_at=utc_now(),
                failures=failures,
                run_id=context.run.run_id,
            ),
        )
    return dg.AssetCheckResult(
        passed=result.success,
        metadata={
            "suite": result.suite_name,
            "rows_validated": len(profile),
            "expectations_evaluated": result.evaluated,
            "expectations_failed": len(failures),
            "failures": dg.MetadataValue.md(
                "\n".join(f"- {outcome.describe()}" for outcome in result.failures) or "none"
            ),
        },
    )
