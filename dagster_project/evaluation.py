"""Scoring what the system detected against the simulator's hidden ground truth (never read by the pipeline)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from agents.surge import AccountSurge


@dataclass(frozen=True)
class BuyingWindow:
    account_id: str
    tier: int
    window_start: date
    window_end: date


@dataclass(frozen=True)
class SurgeAccuracy:
    surges: int
    surges_in_true_window: int
    windows: int
    windows_detected: int

    @property
    def precision(self) -> float:
        return self.surges_in_true_window / self.surges if self.surges else 0.0

    @property
    def recall(self) -> float:
        return self.windows_detected / self.windows if self.windows else 0.0


def load_buying_windows(ground_truth_dir: Path) -> list[BuyingWindow]:
    document = json.loads((ground_truth_dir / "buying_windows.json").read_text())
    return [
        BuyingWindow(
            account_id=window["account_id"],
            tier=int(window["tier"]),
            window_start=date.fromisoformat(window["window_start"]),
            window_end=date.fromisoformat(window["window_end"]),
        )
        for window in document["buying_windows"]
    ]


def score_surges(
    surges: list[AccountSurge], windows: list[BuyingWindow], tiers: tuple[int, ...], grace_days: int = 3
) -> SurgeAccuracy:
    """A surge is right when its account really was in a buying window then (a few days' grace for
    late-arriving data); recall counts the true windows of the watched tiers that got a surge."""
    watched = [window for window in windows if window.tier in tiers]

    def matches(surge: AccountSurge, window: BuyingWindow) -> bool:
        return (
            surge.account_id == window.account_id
            and window.window_start <= surge.detected_on <= window.window_end + timedelta(days=grace_days)
        )

    return SurgeAccuracy(
        surges=len(surges),
        surges_in_true_window=sum(1 for surge in surges if any(matches(surge, w) for w in watched)),
        windows=len(watched),
        windows_detected=sum(1 for window in watched if any(matches(surge, window) for surge in surges)),
    )
