"""Binds the resources every asset, check and sensor asks for, from environment variables."""

import sys
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource

from dagster_project.core.settings import CONFIG_DIR_ENV, DUCKDB_PATH_ENV, LANDING_DIR_ENV, MODEL_REGISTRY_DIR_ENV
from dagster_project.defs.transform.project import surgewise_dbt_project
from dagster_project.lib.resources import DuckDBWarehouse, LandingZone, ModelStore, SurgewiseConfig


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(
        resources={
            "warehouse": DuckDBWarehouse(path=dg.EnvVar(DUCKDB_PATH_ENV)),
            "landing_zone": LandingZone(path=dg.EnvVar(LANDING_DIR_ENV)),
            "surgewise_config": SurgewiseConfig(config_dir=dg.EnvVar(CONFIG_DIR_ENV)),
            "model_store": ModelStore(path=dg.EnvVar(MODEL_REGISTRY_DIR_ENV)),
            # dbt installed beside this interpreter, so an un-activated venv still finds it.
            "dbt": DbtCliResource(
                project_dir=surgewise_dbt_project, dbt_executable=str(Path(sys.executable).with_name("dbt"))
            ),
        },
        # Every writing step shares one DuckDB file: run them one after another in one process.
        executor=dg.in_process_executor,
    )
