"""Model training: started by the intent_model_retraining sensor, never by the build."""

import dagster as dg

from dagster_project.lib.names import TRAINING_JOB

TRAINING_ASSETS = dg.AssetSelection.assets(dg.AssetKey("intent_model"), dg.AssetKey("send_time_model"))

model_training_job = dg.define_asset_job(
    name=TRAINING_JOB,
    selection=TRAINING_ASSETS.downstream() - dg.AssetSelection.groups("agents"),
    description="Retrain the intent and send-time models, let challengers compete, then re-score with the champions.",
)
