"""A fee's worth in the quote currency, whatever asset the venue charged it in."""

from decimal import Decimal

import pytest

from apps.orders.domain.fees import fee_in_quote


@pytest.mark.parametrize(
    ("fee", "currency", "expected"),
    [
        ("0.25", "USDT", "0.25"),  # charged in the quote
        ("0.25", "", "0.25"),  # no currency named: the quote
        ("0.00001", "BTC", "0.6"),  # charged in the base: at the fill price
        ("0.002", "BNB", "0"),  # a third asset: taken from its own balance, worth nothing in quote here
    ],
)
def test_a_fee_is_valued_in_the_quote(fee, currency, expected) -> None:
    value = fee_in_quote(fee=Decimal(fee), fee_currency=currency, price=Decimal("60000"), base="BTC", quote="USDT")

    assert value == Decimal(expected)
