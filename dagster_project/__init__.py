"""Surgewise: Dagster definitions, connectors, simulator and CLI."""
