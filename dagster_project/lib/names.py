"""Job, sensor and cross-domain asset names in one place: definitions, the run driver, the CLI and the tests
refer to them by these constants, never by string literals."""

BUILD_JOB = "surgewise_build_job"
TRAINING_JOB = "model_training_job"
AGENT_JOB = "account_surge_agent_job"
APPROVALS_JOB = "approved_actions_job"
DECISION_JOB = "governance_decision_job"

LANDING_SENSOR = "landing_zone_batches"
RETRAINING_SENSOR = "intent_model_retraining"
SURGE_SENSOR = "account_intent_surge"
APPROVALS_SENSOR = "approved_actions"

AGENT_GOVERNANCE_ASSET = "agent_governance"
"""The governance view; the agent jobs refresh it after acting."""
