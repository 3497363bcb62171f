"""A small Great Expectations 1.x runner (dagster-ge does not support GX 1.x).

Suites live as JSON in `expectations/`; each run builds an ephemeral GX context, validates a DataFrame
with a `ValidationDefinition` and returns a plain result the asset check turns into metadata.

A result holds counts, never values: GX's unexpected-value lists of a profile are e-mails and names, and
check metadata lands in Dagster's event log, which outlives any erasure of the person.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import great_expectations as gx
import pandas as pd
from great_expectations.core.expectation_suite import ExpectationSuite
from great_expectations.data_context.types.base import ProgressBarsConfig


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation: str
    column: str | None
    success: bool
    unexpected_count: int | None
    unexpected_percent: float | None

    def describe(self) -> str:
        """The expectation, its column and how many rows failed it: what the UI and the gate show."""
        where = f" on {self.column}" if self.column else ""
        share = f" ({self.unexpected_percent:.1f}%)" if self.unexpected_percent is not None else ""
        count = f": {self.unexpected_count} unexpected{share}" if self.unexpected_count else ""
        return f"{self.expectation}{where}{count}"


@dataclass(frozen=True)
class SuiteResult:
    suite_name: str
    success: bool
    evaluated: int
    outcomes: tuple[ExpectationOutcome, ...]

    @property
    def failures(self) -> tuple[ExpectationOutcome, ...]:
        return tuple(outcome for outcome in self.outcomes if not outcome.success)


def load_suite(path: Path) -> dict[str, Any]:
    """Read a suite file; `name` and `expectations` (each a `type` and `kwargs`) are required."""
    suite = json.loads(path.read_text())
    if "name" not in suite or not isinstance(suite.get("expectations"), list):
        raise ValueError(f"{path}: an expectation suite needs a name and a list of expectations")
    return suite


def validate_dataframe(suite_path: Path, dataframe: pd.DataFrame) -> SuiteResult:
    """Validate a DataFrame against a suite file in a throwaway GX context."""
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    suite_document = load_suite(suite_path)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch_definition = (
        context.data_sources.add_pandas("surgewise")
        .add_dataframe_asset(suite_document["name"])
        .add_batch_definition_whole_dataframe("whole_table")
    )
    suite = context.suites.add(ExpectationSuite(**suite_document))
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{suite.name}_validation", data=batch_definition, suite=suite)
    )
    # GX lists unexpected values in `item.result`; only the counts are read, so no value leaves this function.
    result = validation.run(batch_parameters={"dataframe": dataframe})
    outcomes = tuple(
        ExpectationOutcome(
            expectation=item.expectation_config.type,
            column=item.expectation_config.kwargs.get("column"),
            success=bool(item.success),
            unexpected_count=item.result.get("unexpected_count"),
            unexpected_percent=item.result.get("unexpected_percent"),
        )
        for item in result.results
    )
    return SuiteResult(suite_name=suite.name, success=bool(result.success), evaluated=len(outcomes), outcomes=outcomes)
