"""Loading the versioned config files humans own, strictly.

Loaded with pydantic so a bad file fails at load with a message naming the file, the entry and the
field, instead of an agent or a model acting on a half-understood setting.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError


class ConfigError(ValueError):
    """A config file that cannot be trusted: missing, unreadable or invalid."""


class StrictModel(BaseModel):
    """A config entry: unknown keys are errors (a misspelt guardrail must not be ignored), numbers are finite
    (`.inf` or `.nan` would turn a comparison against a cap off) and it is frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


_Model = TypeVar("_Model", bound=BaseModel)


def _describe(location: tuple[int | str, ...], document: object) -> str:
    """Name the offending entry by its id where it has one: `agents[sdr_sequence_agent].owner`."""
    parts: list[str] = []
    node = document
    for key in location:
        if isinstance(key, int) and isinstance(node, list) and key < len(node):
            node = node[key]
            label = node.get("id") if isinstance(node, dict) else None
            parts[-1] = f"{parts[-1]}[{label if label else key}]" if parts else f"[{key}]"
        else:
            node = node.get(key) if isinstance(node, dict) else None
            parts.append(str(key))
    return ".".join(parts)


def load_config_file(path: Path, model: type[_Model]) -> _Model:
    """Parse one YAML config file into its model, or raise ConfigError naming file and field."""
    try:
        document = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    try:
        return model.model_validate(document)
    except ValidationError as error:
        problems = "; ".join(
            f"{_describe(tuple(issue['loc']), document) or '<file>'}: {issue['msg']}" for issue in error.errors()
        )
        raise ConfigError(f"{path}: {problems}") from None
