from __future__ import annotations

import pytest

from apps.accounts.domain.lockout import lockout_seconds, remaining_seconds, wait_phrase


@pytest.mark.parametrize(("failures", "expected"), [(0, 0), (4, 0), (5, 60), (6, 120), (7, 240), (8, 480), (9, 900), (50, 900), (10_000, 900)])
def test_the_wait_starts_at_the_limit_and_doubles_up_to_the_maximum(failures: int, expected: int) -> None:
    assert lockout_seconds(failures=failures, limit=5, base_seconds=60, max_seconds=900) == expected


@pytest.mark.parametrize(("locked_until", "now", "expected"), [(100.0, 40.0, 60), (100.0, 99.2, 1), (100.0, 100.0, 0), (100.0, 130.0, 0)])
def test_the_remaining_time_rounds_up_and_never_goes_below_zero(locked_until: float, now: float, expected: int) -> None:
    assert remaining_seconds(locked_until=locked_until, now=now) == expected


@pytest.mark.parametrize(("seconds", "phrase"), [(1, "1 second"), (35, "35 seconds"), (60, "1 minute"), (61, "2 minutes"), (900, "15 minutes")])
def test_the_wait_is_said_in_seconds_under_a_minute_and_in_whole_minutes_rounded_up_above(seconds: int, phrase: str) -> None:
    assert wait_phrase(seconds) == phrase
