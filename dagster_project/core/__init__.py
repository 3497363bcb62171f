"""The bottom layer: settings, the warehouse and its transactions, config loading, check results,
suppression and the clock. No Dagster here, so `models/`, `agents/` and every application above them
share one copy of each helper (enforced by the import-linter contract in pyproject.toml)."""
