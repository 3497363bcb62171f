"""ML models: purchase intent, best send-time and Agent-Qualified Leads, trained on the unified profile.

Plain, typed Python on the core layer (no Dagster): it reads its features and labels from the warehouse's
marts through a DuckDB connection, trains, scores and explains, and writes the scores back; the Dagster
assets in `dagster_project/defs/ml/` supply the connection, the registry and the settings.
"""
