"""Exponential backoff with jitter, for every retry loop outside the exchange gateway (which has its own, per HTTP call).

"Equal jitter": the n-th wait lies between half and all of min(cap, base x 2^n), so retries
spread out (many processes recovering from one outage do not retry in step) and never
come at once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


def backoff_delay(attempt: int, *, base: float, cap: float, at_least: float = 0.0) -> float:
    """Seconds to wait before retry number `attempt` (0 for the first), never less than `at_least` (say, a venue's Retry-After)."""
    ceiling = min(cap, base * 2 ** max(attempt, 0))
    return max(random.uniform(ceiling / 2, ceiling), at_least)


@dataclass
class Backoff:
    """The waits of one loop that retries until it succeeds, then starts again from the shortest wait."""

    base: float = 0.5
    cap: float = 30.0
    attempt: int = 0

    def next_delay(self) -> float:
        self.attempt += 1
        return backoff_delay(self.attempt, base=self.base, cap=self.cap)

    def reset(self) -> None:
        self.attempt = 0
