"""dbt models as Dagster assets: raw sources → staging → intermediate → marts, dbt tests as asset checks."""

from collections.abc import Iterator
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from dagster_project.core.suppression import ensure_suppression_list
from dagster_project.defs.transform.project import keep_partial_parse_warm, surgewise_dbt_project
from dagster_project.lib.dbt_translator import SurgewiseDbtTranslator
from dagster_project.lib.resources import DuckDBWarehouse


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
    invocation = dbt.cli(["build"], context=context)
    yield from invocation.stream()
    keep_partial_parse_warm(invocation.target_path)
