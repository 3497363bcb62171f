"""How much of a landing file the loader will read: `config/landing.yaml`.

Landing files come from outside systems, so the loader measures before it parses: a file over the size
limit is quarantined unread, a line over the length limit or nested deeper than the depth limit is
quarantined unparsed. Each limit is a positive whole number; zero, negatives, fractions and `.inf` are
refused when the file loads, so a typo cannot turn a limit off.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from dagster_project.core.config_files import StrictModel, load_config_file

LANDING_CONFIG_FILE = "landing.yaml"
MAX_SAFE_NESTING_DEPTH = 500
"""Python's JSON parser recurses once per level (recursion limit 1,000); a higher limit would not be one."""

PositiveLimit = Annotated[int, Field(strict=True, gt=0)]


class LandingLimits(StrictModel):
    """The loader's limits; the defaults are far above what any connector sends and far below harm."""

    max_file_bytes: PositiveLimit = 128 * 2**20
    max_line_bytes: PositiveLimit = 2**20
    max_nesting_depth: Annotated[int, Field(strict=True, gt=0, le=MAX_SAFE_NESTING_DEPTH)] = 32


class LandingConfig(StrictModel):
    version: Literal[1]
    limits: LandingLimits


DEFAULT_LIMITS = LandingLimits()


def load_landing_limits(config_dir: Path) -> LandingLimits:
    """The limits in `<config_dir>/landing.yaml`, or ConfigError naming the file and the field."""
    return load_config_file(config_dir / LANDING_CONFIG_FILE, LandingConfig).limits
