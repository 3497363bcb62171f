"""`surgewise models`: the model registry's champions and what the latest training did."""

from __future__ import annotations

from rich.table import Table

from dagster_project.cli.console import make_console
from dagster_project.core.settings import MODEL_REGISTRY_DIR_ENV, env_path


def models_command() -> None:
    """The model registry: each model's champion, its held-out figures against its baseline, and what the
    latest training attempt did."""
    from dagster_project.run.report import MODEL_NAMES, model_status
    from models.registry import ModelRegistry

    console = make_console()
    registry = ModelRegistry(env_path(MODEL_REGISTRY_DIR_ENV))
    table = Table("model", "champion", "held-out figures", "versions", "latest training", title=str(registry.root))
    for name in MODEL_NAMES:
        status = model_status(registry, name)
        table.add_row(
            name, status.champion or "none", status.headline, str(len(registry.versions(name))), status.last_decision
        )
    console.print(table)
