"""Live mode: the simulated connectors deliver one micro-batch every few seconds.

The whole market is simulated into an outbox first (deterministic per seed); each day's files are
then moved into the landing zone with an atomic rename, one batch at a time, so the landing-zone
sensor sees the same stream a real connector would produce.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path


def pending_batches(outbox: Path) -> list[str]:
    """Batch names (`batch_YYYYMMDD`) still waiting in the outbox, oldest first."""
    return sorted({path.stem for path in outbox.glob("*/batch_*.*")})


def release_batch(outbox: Path, landing_dir: Path, batch: str) -> list[Path]:
    """Move every source's file of one batch into the landing zone; returns the delivered paths."""
    delivered = []
    for path in sorted(outbox.glob(f"*/{batch}.*")):
        target = landing_dir / path.relative_to(outbox)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        os.utime(target)  # it lands now, not when the simulator wrote the outbox
        delivered.append(target)
    return delivered


def deliver_live(
    outbox: Path,
    landing_dir: Path,
    *,
    interval_seconds: float,
    on_batch: Callable[[str, list[Path]], None] = lambda batch, files: None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Release the outbox batch by batch, waiting `interval_seconds` between batches."""
    batches = pending_batches(outbox)
    for index, batch in enumerate(batches):
        on_batch(batch, release_batch(outbox, landing_dir, batch))
        if index < len(batches) - 1:
            sleep(interval_seconds)
    return len(batches)
