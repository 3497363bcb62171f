"""Markdown for asset and check metadata: what a RevOps reader sees at a glance in the Dagster UI."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A Markdown table; a `|` inside a cell is escaped so stored text cannot break the table."""

    def cell(value: object) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown_list(items: Iterable[object], empty: str = "none") -> str:
    """One bullet per item, or `empty` when there is none."""
    return "\n".join(f"- {item}" for item in items) or empty
