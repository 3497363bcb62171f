"""The main build: every connector, dbt model and data check; agents run from their sensors."""

import dagster as dg

surgewise_build_job = dg.define_asset_job(
    name="surgewise_build_job",
    selection=dg.AssetSelection.all(include_sources=False) - dg.AssetSelection.groups("agents"),
    description="Load new landing files, build the dbt models (with their tests) and run the data checks.",
)
