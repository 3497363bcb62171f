"""`config/models.yaml`: the human-owned settings of the models, validated at load like every config."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from dagster_project.core.config_files import StrictModel, load_config_file


class GradientBoosting(StrictModel):
    learning_rate: float = Field(gt=0, le=1)
    max_iter: int = Field(gt=0)
    max_leaf_nodes: int = Field(ge=2)
    min_samples_leaf: int = Field(ge=1)
    l2_regularization: float = Field(ge=0)


class Explanation(StrictModel):
    permutations: int = Field(ge=2)
    top_features: int = Field(ge=1)


class IntentSettings(StrictModel):
    horizon_days: int = Field(gt=0)
    holdout_days: int = Field(gt=0)
    min_history_days: int = Field(ge=0)
    min_positive_accounts: int = Field(ge=1)
    seed: int
    calibration_folds: int = Field(ge=2)
    gradient_boosting: GradientBoosting
    explanation: Explanation
    min_improvement: float = Field(ge=0)


class DriftSettings(StrictModel):
    psi_threshold: float = Field(gt=0)
    bins: int = Field(ge=2)
    key_features: tuple[str, ...] = Field(min_length=1)


class RetrainingSettings(StrictModel):
    new_label_days: int = Field(gt=0)


class EngagementPoints(StrictModel):
    page_view: float = Field(ge=0)
    buying_content_view: float = Field(ge=0)
    form_fill: float = Field(ge=0)
    email_open: float = Field(ge=0)
    email_click: float = Field(ge=0)
    seniority: dict[str, float]
    mql_threshold: float = Field(gt=0)


class IdealCustomerProfile(StrictModel):
    tiers: tuple[int, ...] = Field(min_length=1)
    min_employees: int = Field(ge=0)
    excluded_industries: tuple[str, ...] = ()


class AqlSettings(StrictModel):
    min_intent_probability: float = Field(gt=0, lt=1)
    icp: IdealCustomerProfile


class SendTimeSettings(StrictModel):
    holdout_days: int = Field(gt=0)
    contact_prior_strength: float = Field(gt=0)
    segment_prior_strength: float = Field(gt=0)
    earliest_local_hour: int = Field(ge=0, le=23)
    latest_local_hour: int = Field(ge=0, le=23)
    fixed_baseline_local_hour: int = Field(ge=0, le=23)
    top_of_inbox_hours: int = Field(ge=0, le=12)
    exploration_rate: float = Field(ge=0, lt=1)
    seed: int

    @model_validator(mode="after")
    def _window(self) -> SendTimeSettings:
        if self.earliest_local_hour > self.latest_local_hour:
            raise ValueError("earliest_local_hour must not be after latest_local_hour")
        return self


class ModelSettings(StrictModel):
    version: int
    intent: IntentSettings
    drift: DriftSettings
    retraining: RetrainingSettings
    engagement_points: EngagementPoints
    aql: AqlSettings
    send_time: SendTimeSettings


def load_model_settings(config_dir: Path) -> ModelSettings:
    return load_config_file(config_dir / "models.yaml", ModelSettings)
