"""The dbt project, located once and cached; `prepare_if_dev` parses it only under `dagster dev`."""

import os
import shutil
import tempfile
from pathlib import Path

from dagster_dbt import DbtProject

from dagster_project.core.settings import DBT_PROJECT_DIR

PARTIAL_PARSE_FILE = "partial_parse.msgpack"

surgewise_dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
surgewise_dbt_project.prepare_if_dev()


def keep_partial_parse_warm(invocation_target: Path) -> None:
    """Make an invocation's partial-parse state the one the next invocation starts from.

    dagster-dbt gives each invocation its own target folder and seeds it with the project's
    `partial_parse.msgpack`; dbt throws that away whenever the profile differs from the one it was parsed
    with (the DuckDB path is part of it), so without this every build of a warehouse other than the one
    `make install` parsed for re-parses the whole project (~7 s). Written atomically: concurrent builds
    only ever read a whole file.
    """
    fresh = invocation_target / PARTIAL_PARSE_FILE
    if not fresh.is_file():
        return
    shared = surgewise_dbt_project.project_dir / surgewise_dbt_project.target_path / PARTIAL_PARSE_FILE
    handle, staging = tempfile.mkstemp(dir=shared.parent, prefix=".partial_parse.")
    os.close(handle)
    shutil.copyfile(fresh, staging)
    os.replace(staging, shared)
