"""The Surgewise code location: everything under `defs/`, organised by domain."""

from pathlib import Path

import dagster as dg

from dagster_project.core.settings import apply_environment_defaults

apply_environment_defaults()


@dg.definitions
def defs() -> dg.Definitions:
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
