"""Order validation against a market's rules: every violation named, explained, and nothing more."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal, localcontext
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.orders.domain.model import MarginMode, OrderIntent, OrderSide, OrderType, SymbolRules, TimeInForce
from apps.orders.domain.validation import (
    InvalidOrder,
    OrderRuleViolation,
    ViolationCode,
    decimal_places,
    ensure_valid_order,
    quantity_from_quote,
    validate_order,
)

D = Decimal
SPOT = SymbolRules(
    symbol="BTC/USDT",
    base="BTC",
    quote="USDT",
    tick_size=D("0.01"),
    lot_size=D("0.001"),
    min_quantity=D("0.001"),
    min_notional=D("10"),
    max_leverage=1,
    is_perpetual=False,
)
PERP = replace(SPOT, symbol="BTC/USDT:USDT", max_leverage=125, is_perpetual=True)
REFERENCE = D("50000")


def intent(rules: SymbolRules = SPOT, **overrides: Any) -> OrderIntent:
    values: dict[str, Any] = {
        "client_order_id": "c-1",
        "symbol": rules.symbol,
        "side": OrderSide.BUY,
        "order_type": OrderType.LIMIT,
        "quantity": D("0.010"),
        "price": D("50000.00"),
    }
    values.update(overrides)
    return OrderIntent(**values)


def problems(order: OrderIntent, rules: SymbolRules = SPOT, reference: Decimal | None = REFERENCE) -> set[tuple[str, ViolationCode]]:
    return {(violation.field, violation.code) for violation in validate_order(order, rules, reference)}


VALID = [
    pytest.param(intent(), SPOT, id="spot-limit"),
    pytest.param(intent(order_type=OrderType.MARKET, price=None), SPOT, id="spot-market"),
    pytest.param(intent(order_type=OrderType.MARKET, price=None, time_in_force=TimeInForce.IOC), SPOT, id="spot-market-ioc"),
    pytest.param(intent(order_type=OrderType.STOP_MARKET, price=None, stop_price=D("49000")), SPOT, id="spot-stop-market"),
    pytest.param(intent(order_type=OrderType.STOP_LIMIT, stop_price=D("49000"), price=D("48990.5")), SPOT, id="spot-stop-limit"),
    pytest.param(intent(order_type=OrderType.TAKE_PROFIT, price=None, stop_price=D("60000")), SPOT, id="spot-take-profit"),
    pytest.param(intent(post_only=True), SPOT, id="post-only-limit-gtc"),
    pytest.param(intent(PERP, leverage=125, margin_mode=MarginMode.CROSS), PERP, id="perp-max-leverage"),
    pytest.param(intent(PERP, side=OrderSide.SELL, reduce_only=True), PERP, id="perp-reduce-only"),
    pytest.param(intent(quantity=D("0.0100000")), SPOT, id="trailing-zeros-are-fine"),
    pytest.param(intent(quantity=D("0.001"), price=D("10000")), SPOT, id="exactly-min-notional"),
]


@pytest.mark.parametrize(("order", "rules"), VALID)
def test_orders_within_the_rules_have_no_violations(order: OrderIntent, rules: SymbolRules) -> None:
    assert validate_order(order, rules, REFERENCE) == []
    ensure_valid_order(order, rules, REFERENCE)


INVALID = [
    pytest.param(intent(symbol="ETH/USDT"), {("symbol", ViolationCode.SYMBOL_MISMATCH)}, id="other-symbol"),
    pytest.param(intent(quantity=D("0")), {("quantity", ViolationCode.NOT_POSITIVE)}, id="zero-quantity"),
    pytest.param(intent(quantity=D("-1")), {("quantity", ViolationCode.NOT_POSITIVE)}, id="negative-quantity"),
    pytest.param(intent(quantity=D("1.0005")), {("quantity", ViolationCode.NOT_A_MULTIPLE_OF_LOT)}, id="off-lot"),
    pytest.param(
        intent(quantity=D("0.0005"), price=D("100000")),
        {("quantity", ViolationCode.NOT_A_MULTIPLE_OF_LOT), ("quantity", ViolationCode.BELOW_MIN_QUANTITY)},
        id="below-min-quantity-and-off-lot",
    ),
    pytest.param(intent(quantity=D("0.001"), price=D("9999.99")), {("quantity", ViolationCode.BELOW_MIN_NOTIONAL)}, id="below-min-notional"),
    pytest.param(intent(quantity=D("NaN")), {("quantity", ViolationCode.NOT_FINITE)}, id="nan-quantity"),
    pytest.param(intent(quantity=D("Infinity")), {("quantity", ViolationCode.NOT_FINITE)}, id="infinite-quantity"),
    pytest.param(intent(quantity=D("1000000000001")), {("quantity", ViolationCode.TOO_LARGE)}, id="absurd-quantity"),
    pytest.param(intent(quantity=D("0.0010000000000000000001")), {("quantity", ViolationCode.TOO_MANY_DECIMALS)}, id="19-decimals"),
    pytest.param(intent(price=None), {("price", ViolationCode.REQUIRED)}, id="limit-without-price"),
    pytest.param(intent(order_type=OrderType.STOP_LIMIT, price=None, stop_price=D("1")), {("price", ViolationCode.REQUIRED)}, id="stop-limit-without-price"),
    pytest.param(intent(order_type=OrderType.MARKET), {("price", ViolationCode.NOT_ALLOWED)}, id="market-with-price"),
    pytest.param(intent(order_type=OrderType.STOP_MARKET, stop_price=D("49000")), {("price", ViolationCode.NOT_ALLOWED)}, id="stop-market-with-price"),
    pytest.param(intent(order_type=OrderType.TAKE_PROFIT, stop_price=D("60000")), {("price", ViolationCode.NOT_ALLOWED)}, id="take-profit-with-price"),
    pytest.param(intent(price=D("0")), {("price", ViolationCode.NOT_POSITIVE)}, id="zero-price"),
    pytest.param(intent(price=D("-5")), {("price", ViolationCode.NOT_POSITIVE)}, id="negative-price"),
    pytest.param(intent(price=D("50000.005")), {("price", ViolationCode.NOT_ON_TICK)}, id="off-tick-price"),
    pytest.param(intent(price=D("2e12")), {("price", ViolationCode.TOO_LARGE)}, id="absurd-price"),
    pytest.param(intent(price=D("sNaN")), {("price", ViolationCode.NOT_FINITE)}, id="signalling-nan-price"),
    pytest.param(intent(order_type=OrderType.STOP_MARKET, price=None), {("stop_price", ViolationCode.REQUIRED)}, id="stop-market-without-stop"),
    pytest.param(intent(order_type=OrderType.TAKE_PROFIT, price=None), {("stop_price", ViolationCode.REQUIRED)}, id="take-profit-without-stop"),
    pytest.param(intent(stop_price=D("49000")), {("stop_price", ViolationCode.NOT_ALLOWED)}, id="limit-with-stop"),
    pytest.param(
        intent(order_type=OrderType.STOP_MARKET, price=None, stop_price=D("49000.001")),
        {("stop_price", ViolationCode.NOT_ON_TICK)},
        id="off-tick-stop",
    ),
    pytest.param(intent(leverage=0), {("leverage", ViolationCode.LEVERAGE_OUT_OF_RANGE)}, id="zero-leverage"),
    pytest.param(intent(leverage=3), {("leverage", ViolationCode.PERPETUAL_ONLY)}, id="spot-leverage"),
    pytest.param(intent(PERP, leverage=126), {("leverage", ViolationCode.LEVERAGE_OUT_OF_RANGE)}, id="above-max-leverage"),
    pytest.param(intent(reduce_only=True), {("reduce_only", ViolationCode.PERPETUAL_ONLY)}, id="spot-reduce-only"),
    pytest.param(
        intent(order_type=OrderType.MARKET, price=None, post_only=True), {("post_only", ViolationCode.POST_ONLY_NEEDS_LIMIT_GTC)}, id="post-only-market"
    ),
    pytest.param(intent(post_only=True, time_in_force=TimeInForce.IOC), {("post_only", ViolationCode.POST_ONLY_NEEDS_LIMIT_GTC)}, id="post-only-ioc"),
    pytest.param(
        intent(quantity=D("0"), price=None, stop_price=D("1"), leverage=2, reduce_only=True, post_only=True, time_in_force=TimeInForce.FOK),
        {
            ("quantity", ViolationCode.NOT_POSITIVE),
            ("price", ViolationCode.REQUIRED),
            ("stop_price", ViolationCode.NOT_ALLOWED),
            ("leverage", ViolationCode.PERPETUAL_ONLY),
            ("reduce_only", ViolationCode.PERPETUAL_ONLY),
            ("post_only", ViolationCode.POST_ONLY_NEEDS_LIMIT_GTC),
        },
        id="everything-wrong-at-once",
    ),
]


@pytest.mark.parametrize(("order", "expected"), INVALID)
def test_each_broken_rule_is_reported_on_its_field(order: OrderIntent, expected: set[tuple[str, ViolationCode]]) -> None:
    assert problems(order, PERP if order.symbol == PERP.symbol else SPOT) == expected


def test_messages_explain_in_words() -> None:
    [violation] = validate_order(intent(price=D("100.005")), SPOT, REFERENCE)
    assert violation == OrderRuleViolation("price", "Price 100.005 is not a multiple of the tick size 0.01.", ViolationCode.NOT_ON_TICK)

    [notional] = validate_order(intent(quantity=D("0.001"), price=D("5000")), SPOT, REFERENCE)
    assert notional.message == "The order's value 5.000 USDT is below the minimum of 10 USDT."

    [lot] = validate_order(intent(quantity=D("1.0005")), SPOT, REFERENCE)
    assert lot.message == "Quantity 1.0005 is not a multiple of the lot size 0.001."


def test_a_market_order_is_priced_at_the_reference_for_the_minimum_notional() -> None:
    market = intent(order_type=OrderType.MARKET, price=None, quantity=D("0.001"))
    assert problems(market, reference=D("9000")) == {("quantity", ViolationCode.BELOW_MIN_NOTIONAL)}
    assert problems(market, reference=D("11000")) == set()
    assert problems(market, reference=None) == set()  # unknown price: nothing to check against


def test_a_stop_market_order_is_priced_at_its_trigger_for_the_minimum_notional() -> None:
    stop = intent(order_type=OrderType.STOP_MARKET, price=None, stop_price=D("5000"), quantity=D("0.001"))
    assert problems(stop, reference=D("50000")) == {("quantity", ViolationCode.BELOW_MIN_NOTIONAL)}


def test_an_invalid_price_does_not_also_report_a_notional() -> None:
    assert problems(intent(price=D("-1"))) == {("price", ViolationCode.NOT_POSITIVE)}


def test_huge_values_within_the_limits_are_checked_exactly() -> None:
    # 31 significant digits: the default 28-digit context would round these.
    quantity = D("999999999999.999999999999999999")
    order = intent(PERP, quantity=quantity, price=D("999999999999.99"))
    assert problems(order, PERP) == {("quantity", ViolationCode.NOT_A_MULTIPLE_OF_LOT)}
    assert problems(replace(order, quantity=D("999999999999.999")), PERP) == set()


def test_ensure_valid_order_raises_one_error_with_every_message_by_field() -> None:
    with pytest.raises(InvalidOrder) as raised:
        ensure_valid_order(intent(quantity=D("0.0005"), price=D("100.005")), SPOT, REFERENCE)
    fields = raised.value.extra["fields"]
    assert set(fields) == {"quantity", "price"}
    assert len(fields["quantity"]) == 2
    assert raised.value.code == "invalid_order"


@pytest.mark.parametrize(
    ("value", "places"),
    [("1.2500", 2), ("100", 0), ("1E+3", 0), ("0.000000000000000001", 18), ("1.0000000000000000000000", 0), ("0", 0), ("-0.5", 1)],
    ids=lambda value: str(value),
)
def test_decimal_places_ignore_trailing_zeros(value: str, places: int) -> None:
    assert decimal_places(D(value)) == places


# quantity_from_quote -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quote", "price", "expected"),
    [
        pytest.param("100", "30000", "0.003", id="rounds-down-to-lot"),
        pytest.param("90", "30000", "0.003", id="exact-multiple"),
        pytest.param("10", "30000", "0.000", id="too-little-for-a-lot"),
        pytest.param("0", "30000", "0.000", id="nothing"),
        pytest.param("1000000", "3", "333333.333", id="repeating-quotient"),
    ],
)
def test_quantity_from_quote(quote: str, price: str, expected: str) -> None:
    result = quantity_from_quote(D(quote), D(price), SPOT)
    assert result == D(expected)
    assert result.as_tuple().exponent == SPOT.lot_size.as_tuple().exponent


@pytest.mark.parametrize(("quote", "price"), [("-1", "100"), ("100", "0"), ("100", "-1"), ("NaN", "1")])
def test_quantity_from_quote_refuses_nonsense(quote: str, price: str) -> None:
    with pytest.raises(ValueError):
        quantity_from_quote(D(quote), D(price), SPOT)


amounts = st.decimals(min_value=D("0"), max_value=D("1e9"), places=8, allow_nan=False, allow_infinity=False)
prices = st.decimals(min_value=D("0.00000001"), max_value=D("1e7"), places=8, allow_nan=False, allow_infinity=False)
lots = st.sampled_from([D("1"), D("0.1"), D("0.001"), D("0.00001"), D("0.00000001")])


@given(amounts, prices, lots)
def test_quantity_from_quote_is_the_largest_lot_multiple_that_fits(quote: Decimal, price: Decimal, lot: Decimal) -> None:
    rules = replace(SPOT, lot_size=lot)
    quantity = quantity_from_quote(quote, price, rules)
    with localcontext() as exact:
        exact.prec = 100
        assert quantity % lot == 0
        assert quantity * price <= quote
        assert (quantity + lot) * price > quote
