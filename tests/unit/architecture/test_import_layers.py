"""The import-linter contracts in pyproject.toml hold, and they do fail on a wrong import (so `make lint`
guards the layering rather than passing whatever is written)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from dagster_project.core.settings import REPO_ROOT

PACKAGES = ("dagster_project", "agents", "models")


def _copy_of_the_code(target: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(REPO_ROOT / package, target / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO_ROOT / "pyproject.toml", target / "pyproject.toml")
    return target


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(lint_imports), "--no-cache"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_layers_are_kept(tmp_path: Path) -> None:
    result = _lint_imports(_copy_of_the_code(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_model_importing_an_agent_breaks_the_layers(tmp_path: Path) -> None:
    root = _copy_of_the_code(tmp_path)
    with (root / "models" / "drift.py").open("a") as module:
        module.write("\nfrom agents.gates import failing_gates  # noqa: E402, F401\n")
    result = _lint_imports(root)
    assert result.returncode != 0
    assert "Imports flow one way" in result.stdout and "BROKEN" in result.stdout
    assert "models.drift -> agents.gates" in result.stdout


def test_the_core_importing_dagster_breaks_the_no_dagster_contract(tmp_path: Path) -> None:
    root = _copy_of_the_code(tmp_path)
    with (root / "dagster_project" / "core" / "clock.py").open("a") as module:
        module.write("\nimport dagster  # noqa: E402, F401\n")
    result = _lint_imports(root)
    assert result.returncode != 0
    assert "The core, the models and the agents run without Dagster BROKEN" in result.stdout.replace("\n", " ")
