"""The whole code location as a snapshot (as dagster-open-platform's test_defs.py keeps one): every asset with
its group, kinds, upstream assets and checks, every job with its assets, every sensor with its job. An
unintended change to the graph fails here and shows in review as a diff of `__snapshots__/`; an intended
one is accepted with `pytest --snapshot-update`."""

from __future__ import annotations

import dagster as dg
from syrupy.assertion import SnapshotAssertion


def _code_location(definitions: dg.Definitions) -> dict[str, object]:
    repository = definitions.get_repository_def()
    graph = repository.asset_graph
    assets = {}
    for key in sorted(graph.get_all_asset_keys()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "executable": node.is_executable,
            "upstream": sorted(parent.to_user_string() for parent in node.parent_keys),
            "checks": sorted(check.name for check in node.check_keys),
        }
    jobs = {
        job.name: sorted(key.to_user_string() for key in graph.asset_keys_for_job(job.name))
        if job.name != "governance_decision_job"
        else sorted(node.name for node in job.graph.node_defs)
        for job in sorted(repository.get_all_jobs(), key=lambda job: job.name)
        if not job.name.startswith("__")
    }
    sensors = {sensor.name: sensor.job_name for sensor in sorted(repository.sensor_defs, key=lambda s: s.name)}
    schedules = sorted(schedule.name for schedule in repository.schedule_defs)
    return {"assets": assets, "jobs": jobs, "sensors": sensors, "schedules": schedules}


def test_the_code_location_matches_its_snapshot(definitions: dg.Definitions, snapshot: SnapshotAssertion) -> None:
    assert _code_location(definitions) == snapshot
