"""Numbers for people: one module behind the template filters, commands and messages."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.core.domain.formatting import MISSING, decimal_number, money, percent, plain_number, rate_percent, whole_number


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("50000.000000000000000000"), "50000"),
        (Decimal("0.0100"), "0.01"),
        (Decimal("-0"), "0"),
        (Decimal("1E+3"), "1000"),
        (Decimal("0.00000001"), "0.00000001"),
        ("12.50", "12.5"),
        (None, ""),
        ("", ""),
        ("n/a", "n/a"),
        (Decimal("Infinity"), "Infinity"),
    ],
)
def test_plain_numbers_drop_trailing_zeros_and_never_use_e_notation(value, expected) -> None:
    assert plain_number(value) == expected


@given(st.decimals(allow_nan=False, allow_infinity=False, places=18, min_value=Decimal("-1e12"), max_value=Decimal("1e12")))
def test_a_plain_number_reads_back_as_the_same_amount(value: Decimal) -> None:
    text = plain_number(value)

    assert "E" not in text and "e" not in text
    assert Decimal(text) == value


@pytest.mark.parametrize(
    ("value", "places", "expected"),
    [(Decimal("1234.5"), 2, "1,234.50"), (Decimal("500"), 2, "500.00"), (Decimal("-0.004"), 2, "0.00"), ("7", 0, "7"), (None, 2, MISSING)],
)
def test_money_is_grouped_at_fixed_places(value, places, expected) -> None:
    assert money(value, places) == expected


@pytest.mark.parametrize(
    ("fraction", "expected"),
    [(0.1234, "12.34 %"), (-0.5, "-50.00 %"), (Decimal("0.001"), "0.10 %"), (1e30, "1e+32 %"), (float("nan"), MISSING), (None, MISSING), (True, MISSING)],
)
def test_percentages_from_fractions(fraction, expected) -> None:
    assert percent(fraction) == expected


def test_rates_are_exact_percentages() -> None:
    assert rate_percent(Decimal("0.0005")) == "0.05 %"
    assert rate_percent(Decimal("-0.0001")) == "-0.01 %"


def test_statistics_and_counts() -> None:
    assert decimal_number(1.23456) == "1.23"
    assert decimal_number(12345.6, places=4) == "12,345.6000"
    assert decimal_number(float("inf")) == MISSING
    assert whole_number(12345) == "12,345"
    assert whole_number(None) == MISSING
