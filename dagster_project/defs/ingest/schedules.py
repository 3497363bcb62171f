"""The nightly full build: every connector and model, whatever landed, so a micro-batch's selection never has the
last word (files a failed run did not load, models whose inputs changed outside the landing zone)."""

import dagster as dg

from dagster_project.defs.ingest.jobs import surgewise_build_job

nightly_full_build = dg.ScheduleDefinition(
    name="nightly_full_build",
    job=surgewise_build_job,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    tags={"surgewise/trigger": "nightly_full_build", "surgewise/scope": "full"},
    description=(
        "Builds every connector, model, check and score at 02:00 UTC; micro-batches build only what new files feed."
    ),
)
