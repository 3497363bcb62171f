"""The landing-zone sensor: new or re-delivered connector files start a build run (micro-batches).

The cursor remembers every landing file by size and modification time, so each file triggers once,
and a file fixed in place (a quarantine replay) triggers again. Files that arrive together between two
ticks run together in one build: the loader picks up everything new in one pass anyway. A build whose
process died is failed first, so a crash does not hold back every later batch.

A micro-batch builds only what its files feed: the connectors that received files and everything downstream
of them (a batch of web events does not rebuild the CRM models). After a build that did not succeed, the next
one builds everything, so files a failed run never loaded are not left waiting for their connector's next
delivery; the nightly full build (`nightly_full_build`) covers the rest.
"""

import hashlib
import json
from pathlib import Path

import dagster as dg

from dagster_project.connectors.sources import SOURCES
from dagster_project.defs.ingest.jobs import surgewise_build_job
from dagster_project.lib.names import LANDING_SENSOR
from dagster_project.lib.resources import LandingZone
from dagster_project.lib.run_recovery import fail_dead_runs


def landing_file_versions(root: Path) -> dict[str, str]:
    """Every landing file under the connectors' folders, keyed by relative path, valued by size and mtime."""
    versions: dict[str, str] = {}
    for spec in SOURCES:
        folder = root / spec.name
        if not folder.is_dir():
            continue
        for path in folder.glob(f"*.{spec.format.value}"):
            stat = path.lstat()  # a link is seen as itself (the loader refuses it), never followed
            versions[path.relative_to(root).as_posix()] = f"{stat.st_size}:{stat.st_mtime_ns}"
    return versions


@dg.sensor(
    name=LANDING_SENSOR,
    job=surgewise_build_job,
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts surgewise_build_job when connectors drop new (or fixed) files in the landing zone.",
)
def landing_zone_batches(context: dg.SensorEvaluationContext, landing_zone: LandingZone) -> dg.SensorResult:
    for run_id in fail_dead_runs(context.instance):
        context.log.warning(f"failed run {run_id}: its process exited without finishing it")
    in_flight = context.instance.get_run_records(
        dg.RunsFilter(
            job_name=surgewise_build_job.name,
            statuses=[dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED],
        ),
        limit=1,
    )
    if in_flight:
        # Keep the cursor: files arriving meanwhile are built together by the next run.
        return dg.SensorResult(
            skip_reason=dg.SkipReason(f"build {in_flight[0].dagster_run.run_id} is queued or running"),
            cursor=context.cursor,
        )
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    current = landing_file_versions(landing_zone.root)
    arrived = sorted(path for path, version in current.items() if seen.get(path) != version)
    if not arrived:
        return dg.SensorResult(skip_reason=dg.SkipReason("no new landing files"), cursor=context.cursor)
    batches = sorted({Path(path).stem for path in arrived})
    selection = None if _last_build_failed(context.instance) else _fed_by(context, {Path(p).parts[0] for p in arrived})
    fingerprint = hashlib.sha256(json.dumps({path: current[path] for path in arrived}).encode()).hexdigest()[:16]
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"landing:{batches[-1]}:{fingerprint}",
                asset_selection=selection,
                tags={
                    "surgewise/trigger": "landing_zone_batches",
                    "surgewise/batches": ",".join(batches)[:200],
                    "surgewise/files": str(len(arrived)),
                    "surgewise/scope": "full" if selection is None else "micro-batch",
                },
            )
        ],
        cursor=json.dumps(current, sort_keys=True),
    )


def _last_build_failed(instance: dg.DagsterInstance) -> bool:
    finished = instance.get_run_records(
        dg.RunsFilter(
            job_name=surgewise_build_job.name,
            statuses=[dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED],
        ),
        limit=1,
    )
    return bool(finished) and finished[0].dagster_run.status != dg.DagsterRunStatus.SUCCESS


def _fed_by(context: dg.SensorEvaluationContext, sources: set[str]) -> list[dg.AssetKey]:
    """The build job's assets downstream of the connectors that received files (the connectors included)."""
    connectors = dg.AssetSelection.assets(*(dg.AssetKey(["raw", source]) for source in sorted(sources)))
    fed = connectors.downstream() & surgewise_build_job.selection
    return sorted(fed.resolve(context.repository_def.asset_graph))
