"""The model registry: every trained model with its card, and which version is the champion.

A folder under the data directory, one sub-folder per model name:

    model_registry/<name>/<version>/model.joblib      the fitted model
    model_registry/<name>/<version>/model_card.json   what it was trained on and how good it is
    model_registry/<name>/champion.json               the promoted version agents read
    model_registry/<name>/promotions.jsonl            every champion/challenger decision, appended

A challenger replaces the champion only when it scores better on the same held-out rows.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import joblib

MODELS_PACKAGE = Path(__file__).resolve().parent


def code_version() -> str:
    """A hash of the modelling code, so a card says which code trained it even outside a git checkout."""
    digest = hashlib.sha256()
    for source in sorted(MODELS_PACKAGE.glob("*.py")):
        digest.update(source.name.encode())
        digest.update(source.read_bytes())
    return f"models-{digest.hexdigest()[:12]}"


@dataclass(frozen=True)
class ModelCard:
    name: str
    version: str
    trained_at: str
    code_version: str
    data_snapshot_hash: str
    features: list[str]
    parameters: dict[str, object]
    metrics: dict[str, object]
    """Held-out metrics of the model and of the rule baseline, and the training set's shape."""
    training: dict[str, object]
    """The time split, row and positive counts: enough to rebuild exactly the same training set."""
    explanation_method: str = ""
    drift_reference: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    """Per key feature, the training distribution's bin edges and shares (for the drift check)."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True, default=str)


def new_version(trained_at: datetime, data_snapshot_hash: str) -> str:
    return f"{trained_at:%Y%m%dT%H%M%S}-{data_snapshot_hash[:8]}"


class ModelRegistry:
    def __init__(self, root: Path) -> None:
        self.root = root

    def save(self, card: ModelCard, model: object) -> Path:
        folder = self.root / card.name / card.version
        folder.mkdir(parents=True, exist_ok=True)
        joblib.dump(model, folder / "model.joblib")
        (folder / "model_card.json").write_text(card.to_json())
        return folder

    def card_path(self, name: str, version: str) -> Path:
        return self.root / name / version / "model_card.json"

    def card(self, name: str, version: str) -> ModelCard:
        return ModelCard(**json.loads((self.root / name / version / "model_card.json").read_text()))

    def load(self, name: str, version: str) -> tuple[object, ModelCard]:
        return joblib.load(self.root / name / version / "model.joblib"), self.card(name, version)

    def versions(self, name: str) -> list[str]:
        folder = self.root / name
        return (
            sorted(path.name for path in folder.iterdir() if (path / "model_card.json").exists())
            if folder.exists()
            else []
        )

    def champion_version(self, name: str) -> str | None:
        pointer = self.root / name / "champion.json"
        return json.loads(pointer.read_text())["version"] if pointer.exists() else None

    def champion(self, name: str) -> tuple[object, ModelCard] | None:
        version = self.champion_version(name)
        return None if version is None else self.load(name, version)

    def record_decision(self, name: str, decision: PromotionDecision, decided_at: datetime) -> None:
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        entry = {**asdict(decision), "decided_at": decided_at.isoformat()}
        with (folder / "promotions.jsonl").open("a") as log:
            log.write(json.dumps(entry, sort_keys=True) + "\n")
        if decision.promoted:
            (folder / "champion.json").write_text(json.dumps(entry, indent=2, sort_keys=True))

    def log_attempt(self, name: str, attempted_at: datetime, outcome: str) -> None:
        """Every training attempt, trained or not, so "why is there no model?" always has an answer."""
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / "training_log.jsonl").open("a") as log:
            log.write(json.dumps({"attempted_at": attempted_at.isoformat(), "outcome": outcome}) + "\n")

    def last_attempt(self, name: str) -> str | None:
        log = self.root / name / "training_log.jsonl"
        lines = log.read_text().splitlines() if log.exists() else []
        return json.loads(lines[-1])["outcome"] if lines else None

    def decisions(self, name: str) -> list[dict[str, object]]:
        log = self.root / name / "promotions.jsonl"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@dataclass(frozen=True)
class PromotionDecision:
    model_name: str
    challenger_version: str
    champion_version: str | None
    metric: str
    challenger_score: float
    champion_score: float | None
    promoted: bool
    version: str | None
    """The champion after the decision: none when a first challenger is not promoted."""
    reason: str


def decide_promotion(
    model_name: str,
    metric: str,
    challenger_version: str,
    challenger_score: float,
    champion_version: str | None,
    champion_score: float | None,
    *,
    min_improvement: float = 0.0,
    rule_score: float | None = None,
) -> PromotionDecision:
    """Promote the challenger only if it beats the champion on the same held-out rows (higher is better),
    and never a model that does not beat the rule it replaces."""

    def decided(promoted: bool, reason: str) -> PromotionDecision:
        return PromotionDecision(
            model_name,
            challenger_version,
            champion_version,
            metric,
            round(challenger_score, 6),
            None if champion_score is None else round(champion_score, 6),
            promoted,
            challenger_version if promoted else champion_version,
            reason,
        )

    if rule_score is not None and not challenger_score > rule_score:
        return decided(False, f"{metric} {challenger_score:.4f} does not beat the rule baseline's {rule_score:.4f}")
    if champion_version is None:
        return decided(True, "no champion yet")
    if champion_score is None:
        return decided(True, f"the champion {champion_version} cannot score the new held-out rows")
    if challenger_score > champion_score + min_improvement:
        return decided(
            True, f"{metric} {challenger_score:.4f} beats the champion's {champion_score:.4f} on the same held-out rows"
        )
    return decided(
        False,
        f"{metric} {challenger_score:.4f} does not beat the champion's {champion_score:.4f}"
        f"{f' by more than {min_improvement}' if min_improvement else ''}; the champion stays",
    )


@dataclass(frozen=True)
class TrainingOutcome:
    """What one training attempt did: a registered challenger and its promotion decision, or why not."""

    model_name: str
    card: ModelCard | None
    decision: PromotionDecision | None
    skipped_reason: str | None = None


def unused_version(registry: ModelRegistry, name: str, version: str) -> str:
    """The version id, suffixed if a model trained in the same second on the same data already has it."""
    taken = set(registry.versions(name))
    candidate, suffix = version, 1
    while candidate in taken:
        suffix += 1
        candidate = f"{version}-{suffix}"
    return candidate
