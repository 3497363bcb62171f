"""Named step boundaries where the crash test kills the process, to prove a restart loses nothing.

`SURGEWISE_CRASH_AT=<boundary>:<n>` kills the process (SIGKILL, no clean-up, as `kill -9` would) the
n-th time it reaches that boundary; unset, `crash_point` does nothing. Boundaries: signal, proposal,
decision, channel, ledger, audit.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

CRASH_AT_ENV = "SURGEWISE_CRASH_AT"
BOUNDARIES = ("signal", "proposal", "decision", "channel", "ledger", "audit")

_reached: Counter[str] = Counter()


def crash_point(boundary: str) -> None:
    """Die here if the crash test asked for this boundary's n-th passage."""
    if boundary not in BOUNDARIES:
        raise ValueError(f"unknown crash boundary {boundary!r}; known: {', '.join(BOUNDARIES)}")
    spec = os.environ.get(CRASH_AT_ENV)
    if not spec:
        return
    name, _, nth = spec.partition(":")
    if name != boundary:
        return
    _reached[boundary] += 1
    if _reached[boundary] == int(nth or "1"):
        os.kill(os.getpid(), signal.SIGKILL)
