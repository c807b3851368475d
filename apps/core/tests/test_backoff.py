from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from apps.core.domain.backoff import Backoff, backoff_delay


@given(attempt=st.integers(min_value=0, max_value=60), base=st.floats(min_value=0.01, max_value=5), cap=st.floats(min_value=5, max_value=120))
def test_each_wait_lies_between_half_and_all_of_the_capped_exponential(attempt: int, base: float, cap: float) -> None:
    ceiling = min(cap, base * 2**attempt)

    delay = backoff_delay(attempt, base=base, cap=cap)

    assert ceiling / 2 <= delay <= ceiling


def test_a_wait_the_venue_asked_for_is_honoured_even_when_longer_than_the_backoff() -> None:
    assert backoff_delay(0, base=1.0, cap=60.0, at_least=42.0) == 42.0


def test_a_loop_waits_longer_after_each_failure_and_from_the_start_after_a_success() -> None:
    backoff = Backoff(base=1.0, cap=8.0)

    waits = [backoff.next_delay() for _ in range(5)]
    backoff.reset()
    after_success = backoff.next_delay()

    assert 1.0 <= waits[0] <= 2.0
    assert all(4.0 <= w <= 8.0 for w in waits[2:]), "capped at 8 s from the third failure on"
    assert 1.0 <= after_success <= 2.0
