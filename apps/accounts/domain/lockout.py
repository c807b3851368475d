"""How long sign-in waits after repeated failures, and how that is said to a person."""

from __future__ import annotations

import math


def lockout_seconds(*, failures: int, limit: int, base_seconds: int, max_seconds: int) -> int:
    """No wait below `limit` failures; from there the wait doubles with each failure, up to `max_seconds`."""
    if failures < limit:
        return 0
    doublings = min(failures - limit, 32)
    return min(base_seconds * 2**doublings, max_seconds)


def remaining_seconds(*, locked_until: float, now: float) -> int:
    """Whole seconds left until `locked_until`, rounded up so that 0 means 'now'."""
    return max(0, math.ceil(locked_until - now))


def wait_phrase(seconds: int) -> str:
    """'45 seconds', '1 minute', '3 minutes': minutes rounded up so a person never retries too early."""
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
