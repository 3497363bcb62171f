"""How dbt's nodes become Dagster assets: sources keyed like the assets that write them, models grouped by
their dbt layer."""

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator


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
