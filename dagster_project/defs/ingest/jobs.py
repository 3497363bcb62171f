"""The main build: connectors, dbt (with its tests), data checks and scoring; started by the landing sensor."""

import dagster as dg

from dagster_project.defs.ml.jobs import TRAINING_ASSETS
from dagster_project.lib.names import BUILD_JOB

surgewise_build_job = dg.define_asset_job(
    name=BUILD_JOB,
    selection=dg.AssetSelection.all(include_sources=False) - dg.AssetSelection.groups("agents") - TRAINING_ASSETS,
    description=(
        "Load new landing files, build the dbt models (with their tests), run the data checks and score with "
        "the champion models; training runs from the intent_model_retraining sensor."
    ),
)
