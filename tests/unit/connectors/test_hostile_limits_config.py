"""`config/landing.yaml`: the loader's limits load strictly; a limit that would turn itself off is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from dagster_project.connectors.limits import DEFAULT_LIMITS, LandingLimits, load_landing_limits
from dagster_project.core.config_files import ConfigError
from dagster_project.core.settings import REPO_ROOT


def _config(tmp_path: Path, text: str) -> Path:
    (tmp_path / "landing.yaml").write_text(text)
    return tmp_path


def test_the_shipped_file_loads_with_the_defaults() -> None:
    assert load_landing_limits(REPO_ROOT / "config") == DEFAULT_LIMITS == LandingLimits()


def test_a_limit_left_out_takes_its_default(tmp_path: Path) -> None:
    limits = load_landing_limits(_config(tmp_path, "version: 1\nlimits:\n  max_line_bytes: 4096\n"))

    assert (limits.max_line_bytes, limits.max_file_bytes) == (4096, DEFAULT_LIMITS.max_file_bytes)


@pytest.mark.parametrize("value", ["0", "-1", ".inf", ".nan", "1.5", "true", "'100'", "null"])
def test_a_limit_that_is_not_a_positive_whole_number_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match=r"landing\.yaml: limits\.max_file_bytes"):
        load_landing_limits(_config(tmp_path, f"version: 1\nlimits:\n  max_file_bytes: {value}\n"))


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("version: 1\n", "limits: Field required"),
        ("version: 1\nlimits:\n  max_nesting_depth: 100000\n", "limits.max_nesting_depth"),
        ("version: 1\nlimits:\n  max_line_length: 10\n", "limits.max_line_length: Extra inputs"),
    ],
)
def test_a_missing_section_unsafe_depth_or_misspelt_limit_is_refused(tmp_path: Path, text: str, where: str) -> None:
    with pytest.raises(ConfigError, match=where):
        load_landing_limits(_config(tmp_path, text))


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_landing_limits(tmp_path)
