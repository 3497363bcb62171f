"""dbt models as Dagster assets: raw sources → staging → intermediate → marts, dbt tests as asset checks."""

from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from dagster_project.core.suppression import ensure_suppression_list
from dagster_project.defs.transform.project import surgewise_dbt_project
from dagster_project.resources import DuckDBWarehouse


class SurgewiseDbtTranslator(DagsterDbtTranslator):
    """dbt sources map onto the assets that write them (`raw/<table>` for the ingest assets,
    `governance/suppression_list`); models are grouped by dbt layer."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if len(fqn) > 2 else f"{dbt_resource_props['resource_type']}s"


@dbt_assets(
    manifest=surgewise_dbt_project.manifest_path,
    project=surgewise_dbt_project,
    # Source tests (keys of the raw tables) become checks on the ingest assets.
    dagster_dbt_translator=SurgewiseDbtTranslator(
        settings=DagsterDbtTranslatorSettings(enable_source_tests_as_checks=True)
    ),
)
def surgewise_dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: DuckDBWarehouse
) -> Iterator[Any]:
    # The identity graph reads the suppression list as a source: it exists (if empty) before any build.
    with warehouse.connect() as connection:
        ensure_suppression_list(connection)
    yield from dbt.cli(["build"], context=context).stream()
