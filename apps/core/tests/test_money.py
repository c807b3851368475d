from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.core.domain.money import is_multiple_of, round_to_step, to_decimal

steps = st.sampled_from([Decimal("0.01"), Decimal("0.1"), Decimal("0.5"), Decimal("0.00001"), Decimal("1"), Decimal("25")])
amounts = st.decimals(min_value=Decimal("-1000000"), max_value=Decimal("1000000"), allow_nan=False, allow_infinity=False, places=8)


@given(value=amounts, step=steps)
def test_rounding_always_lands_on_the_step_grid(value: Decimal, step: Decimal) -> None:
    for mode in ("down", "up", "nearest"):
        assert is_multiple_of(round_to_step(value, step, mode), step)


@given(value=amounts, step=steps)
def test_rounding_moves_at_most_one_step_in_the_asked_direction(value: Decimal, step: Decimal) -> None:
    down = round_to_step(value, step, "down")
    up = round_to_step(value, step, "up")
    nearest = round_to_step(value, step, "nearest")
    assert abs(down) <= abs(value) and abs(value - down) < step
    assert abs(up) >= abs(value) and abs(up - value) < step
    assert abs(nearest - value) <= step / 2


def test_rounding_keeps_the_steps_precision() -> None:
    assert str(round_to_step(Decimal("123.456789"), Decimal("0.01"), "down")) == "123.45"
    assert str(round_to_step(Decimal("7"), Decimal("0.001"))) == "7.000"


def test_to_decimal_is_exact_for_strings_and_uses_the_short_repr_of_floats() -> None:
    assert to_decimal("0.1") == Decimal("0.1")
    assert to_decimal(0.1) == Decimal("0.1")
    assert to_decimal(3) == Decimal(3)


@pytest.mark.parametrize("bad", ["abc", "NaN", "Infinity", None, True])
def test_to_decimal_refuses_what_is_not_a_finite_amount(bad: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        to_decimal(bad)


def test_a_step_must_be_positive() -> None:
    with pytest.raises(ValueError):
        round_to_step(Decimal("1"), Decimal("0"))
