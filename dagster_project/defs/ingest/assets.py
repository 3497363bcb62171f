"""One asset per marketing connector: new landing files into `raw.<source>`, bad rows into quarantine."""

import dagster as dg

from dagster_project.connectors.loader import QUARANTINE_TABLE, load_source
from dagster_project.connectors.sources import SOURCES, SourceSpec
from dagster_project.lib.resources import DuckDBWarehouse, LandingZone, SurgewiseConfig


def build_raw_source_asset(spec: SourceSpec) -> dg.AssetsDefinition:
    key = dg.AssetKey(["raw", spec.name])

    @dg.asset(
        key=key,
        group_name="ingest",
        kinds={"python", "duckdb"},
        description=spec.description,
        metadata={"source_system": spec.system, "file_format": spec.format.value, "table": spec.table},
        check_specs=[dg.AssetCheckSpec("no_quarantined_rows", asset=key)],
    )
    def raw_source(
        context: dg.AssetExecutionContext,
        warehouse: DuckDBWarehouse,
        landing_zone: LandingZone,
        surgewise_config: SurgewiseConfig,
    ) -> dg.MaterializeResult:
        limits = surgewise_config.landing_limits()
        with warehouse.connect() as connection:
            result = load_source(connection, spec, landing_zone.root, batch_id=context.run_id, limits=limits)
            (row_count,) = connection.execute(f"select count(*) from {spec.table}").fetchone()
            batch_quarantine = connection.execute(
                f"""
                select source_file, source_line, field, reason from {QUARANTINE_TABLE}
                where source = ? and batch_id = ? order by source_file, source_line limit 20
                """,
                [spec.name, context.run_id],
            ).fetchall()
        for source_file, line, field, reason in batch_quarantine:
            context.log.warning(f"quarantined {source_file} line {line} field {field}: {reason}")
        return dg.MaterializeResult(
            metadata={
                "files_loaded": result.files_loaded,
                "files_already_loaded": result.files_skipped,
                "rows_loaded": result.rows_loaded,
                "rows_quarantined": result.rows_quarantined,
                "rows_suppressed": result.rows_suppressed,
                "dagster/row_count": row_count,
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name="no_quarantined_rows",
                    passed=result.rows_quarantined == 0,
                    severity=dg.AssetCheckSeverity.WARN,
                    description="Rows that failed the source contract in this batch (kept in raw.quarantine).",
                    metadata={
                        "rows_quarantined": result.rows_quarantined,
                        "examples": dg.MetadataValue.md(
                            "\n".join(f"- `{f}` line {n}, field `{fl}`: {r}" for f, n, fl, r in batch_quarantine)
                            or "none"
                        ),
                    },
                )
            ],
        )

    return raw_source


@dg.definitions
def raw_sources() -> dg.Definitions:
    return dg.Definitions(assets=[build_raw_source_asset(spec) for spec in SOURCES])
