"""ML models: purchase intent, best send-time and Agent-Qualified Leads, trained on the unified profile.

Plain, typed Python that takes frames and returns models, scores and metrics; the Dagster assets in
`dagster_project/defs/ml/` read the warehouse, call these functions and write the results back.
"""
