"""The main build (connectors, dbt, data checks, scoring) and model training; agents run from their sensors."""

import dagster as dg

TRAINING_ASSETS = dg.AssetSelection.assets(dg.AssetKey("intent_model"), dg.AssetKey("send_time_model"))

surgewise_build_job = dg.define_asset_job(
    name="surgewise_build_job",
    selection=dg.AssetSelection.all(include_sources=False) - dg.AssetSelection.groups("agents") - TRAINING_ASSETS,
    description=(
        "Load new landing files, build the dbt models (with their tests), run the data checks and score with "
        "the champion models; training runs from the intent_model_retraining sensor."
    ),
)

model_training_job = dg.define_asset_job(
    name="model_training_job",
    selection=TRAINING_ASSETS.downstream() - dg.AssetSelection.groups("agents"),
    description="Retrain the intent and send-time models, let challengers compete, then re-score with the champions.",
)
