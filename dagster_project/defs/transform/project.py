"""The dbt project, located once and cached; `prepare_if_dev` parses it only under `dagster dev`."""

from dagster_dbt import DbtProject

from dagster_project.core.settings import DBT_PROJECT_DIR

surgewise_dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
surgewise_dbt_project.prepare_if_dev()
