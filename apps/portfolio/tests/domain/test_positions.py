"""A position built from fills: netting, average entry, realised P&L, fees and funding."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from apps.orders.domain.model import Fill, Liquidity, OrderSide
from apps.portfolio.domain.positions import FeeCurrencyMismatch, Position, PositionSide, settlement_currency

D = Decimal
SYMBOL = "BTC/USDT:USDT"
BUY, SELL = OrderSide.BUY, OrderSide.SELL
NOON = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
TOLERANCE = D("1e-12")


def fill(side: OrderSide, quantity: str | Decimal, price: str | Decimal, fee: str | Decimal = "0", fee_currency: str = "USDT") -> Fill:
    return Fill(
        order_id="o-1",
        symbol=SYMBOL,
        side=side,
        price=D(price),
        quantity=D(quantity),
        fee=D(fee),
        fee_currency=fee_currency,
        liquidity=Liquidity.TAKER,
        timestamp=NOON,
    )


def run(fills: list[Fill], start: Position | None = None) -> Position:
    position = start or Position(SYMBOL)
    for each in fills:
        position = position.apply(each)
    return position


# Netting ----------------------------------------------------------------------------------

NETTING = [
    pytest.param([(BUY, "1", "100")], "1", "100", "0", id="open-long"),
    pytest.param([(SELL, "1", "100")], "-1", "100", "0", id="open-short"),
    pytest.param([(BUY, "1", "100"), (BUY, "3", "200")], "4", "175", "0", id="add-long-at-higher-price"),
    pytest.param([(SELL, "2", "100"), (SELL, "2", "80")], "-4", "90", "0", id="add-short-at-lower-price"),
    pytest.param([(BUY, "2", "100"), (SELL, "0.5", "120")], "1.5", "100", "10", id="partial-close-long-at-profit"),
    pytest.param([(SELL, "2", "100"), (BUY, "0.5", "120")], "-1.5", "100", "-10", id="partial-close-short-at-loss"),
    pytest.param([(BUY, "1", "100"), (SELL, "1", "90")], "0", "0", "-10", id="full-close-long-at-loss"),
    pytest.param([(SELL, "1", "100"), (BUY, "1", "90")], "0", "0", "10", id="full-close-short-at-profit"),
    pytest.param([(BUY, "1", "100"), (SELL, "3", "110")], "-2", "110", "10", id="flip-long-to-short"),
    pytest.param([(SELL, "1", "100"), (BUY, "3", "110")], "2", "110", "-10", id="flip-short-to-long"),
    pytest.param([(BUY, "1", "100"), (BUY, "1", "200"), (SELL, "1", "180")], "1", "150", "30", id="adds-then-partial-close-keeps-average"),
    pytest.param([(BUY, "1", "100"), (SELL, "1", "110"), (SELL, "1", "120")], "-1", "120", "10", id="close-then-reopen-other-side"),
    pytest.param([(BUY, "1", "100"), (SELL, "2", "110"), (BUY, "2", "100")], "1", "100", "20", id="flip-twice"),
]


@pytest.mark.parametrize(("fills", "quantity", "entry", "realized"), NETTING)
def test_netting(fills: list[tuple[OrderSide, str, str]], quantity: str, entry: str, realized: str) -> None:
    position = run([fill(*each) for each in fills])
    assert (position.quantity, position.entry_price, position.realized_pnl) == (D(quantity), D(entry), D(realized))
    assert position.fees_paid == 0


def test_applying_returns_a_new_value_and_leaves_the_old_one_alone() -> None:
    before = Position(SYMBOL)
    after = before.apply(fill(BUY, "1", "100"))
    assert before == Position(SYMBOL)
    assert after is not before
    with pytest.raises(AttributeError):
        after.quantity = D(2)  # type: ignore[misc]


# Fees -------------------------------------------------------------------------------------

FEES = [
    pytest.param([(BUY, "1", "100", "0.1"), (SELL, "1", "110", "0.11")], "0.21", "10", "9.79", id="taker-fees-in-quote"),
    pytest.param([(BUY, "1", "100", "-0.01"), (SELL, "1", "110", "0.11")], "0.10", "10", "9.90", id="maker-rebate-then-taker-fee"),
    pytest.param([(SELL, "2", "100", "0.2"), (BUY, "3", "90", "0.27")], "0.47", "20", "19.53", id="fees-across-a-flip"),
]


@pytest.mark.parametrize(("fills", "fees", "realized", "net"), FEES)
def test_fees_in_quote_accumulate_apart_from_realized_pnl(fills: list[tuple[OrderSide, str, str, str]], fees: str, realized: str, net: str) -> None:
    position = run([fill(*each) for each in fills])
    assert (position.fees_paid, position.realized_pnl, position.net_realized) == (D(fees), D(realized), D(net))


def test_a_fee_in_another_currency_needs_its_quote_value() -> None:
    bnb_fill = fill(BUY, "1", "100", fee="0.0002", fee_currency="BNB")
    with pytest.raises(FeeCurrencyMismatch):
        Position(SYMBOL).apply(bnb_fill)
    position = Position(SYMBOL).apply(bnb_fill, fee_in_quote=D("0.12"))
    assert (position.fees_paid, position.quantity, position.entry_price) == (D("0.12"), D(1), D(100))


def test_a_zero_fee_in_any_currency_is_fine() -> None:
    assert Position(SYMBOL).apply(fill(BUY, "1", "100", fee="0", fee_currency="BNB")).fees_paid == 0


@pytest.mark.parametrize(("symbol", "currency"), [("BTC/USDT", "USDT"), ("BTC/USDT:USDT", "USDT"), ("ETH/USDC:USDC", "USDC"), ("BTCUSDT", None)])
def test_settlement_currency_from_unified_symbols(symbol: str, currency: str | None) -> None:
    assert settlement_currency(symbol) == currency


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(Fill("o", "ETH/USDT:USDT", BUY, D(1), D(1), D(0), "USDT", Liquidity.TAKER, NOON), id="other-symbol"),
        pytest.param(fill(BUY, "0", "100"), id="zero-quantity"),
        pytest.param(fill(BUY, "-1", "100"), id="negative-quantity"),
        pytest.param(fill(BUY, "1", "0"), id="zero-price"),
    ],
)
def test_nonsense_fills_are_refused(bad: Fill) -> None:
    with pytest.raises(ValueError):
        Position(SYMBOL).apply(bad)


@pytest.mark.parametrize(("quantity", "entry"), [("0", "100"), ("1", "0"), ("-1", "-5")], ids=["flat-with-entry", "open-without-entry", "negative-entry"])
def test_inconsistent_positions_cannot_be_built(quantity: str, entry: str) -> None:
    with pytest.raises(ValueError):
        Position(SYMBOL, D(quantity), D(entry))


# Funding ----------------------------------------------------------------------------------

FUNDING = [
    pytest.param("2", "0.0001", "10", id="long-pays-positive-rate"),
    pytest.param("2", "-0.0001", "-10", id="long-receives-negative-rate"),
    pytest.param("-2", "0.0001", "-10", id="short-receives-positive-rate"),
    pytest.param("-2", "-0.0001", "10", id="short-pays-negative-rate"),
    pytest.param("0", "0.0001", "0", id="flat-pays-nothing"),
]


@pytest.mark.parametrize(("quantity", "rate", "payment"), FUNDING)
def test_funding_sign(quantity: str, rate: str, payment: str) -> None:
    entry = D(0) if D(quantity) == 0 else D(49000)
    position = Position(SYMBOL, D(quantity), entry)
    after, paid = position.apply_funding(D(rate), mark=D(50000))
    assert paid == D(payment)
    assert after.funding_paid == D(payment)
    assert after.net_realized == -D(payment)
    assert (after.quantity, after.entry_price, after.realized_pnl) == (position.quantity, position.entry_price, position.realized_pnl)


# Valuation --------------------------------------------------------------------------------

VALUATION = [
    pytest.param("2", "100", "110", "20", "220", "1", id="long-in-profit"),
    pytest.param("2", "100", "90", "-20", "180", "-1", id="long-in-loss"),
    pytest.param("-2", "100", "110", "-20", "220", "-1", id="short-in-loss"),
    pytest.param("-2", "100", "90", "20", "180", "1", id="short-in-profit"),
    pytest.param("0", "0", "90", "0", "0", "0", id="flat"),
]


@pytest.mark.parametrize(("quantity", "entry", "mark", "unrealized", "notional", "roi_10x"), VALUATION)
def test_unrealized_pnl_notional_and_roi(quantity: str, entry: str, mark: str, unrealized: str, notional: str, roi_10x: str) -> None:
    position = Position(SYMBOL, D(quantity), D(entry))
    assert position.unrealized_pnl(D(mark)) == D(unrealized)
    assert position.notional(D(mark)) == D(notional)
    assert position.roi(D(mark), leverage=10) == D(roi_10x)  # P&L 20 on 200 / 10 = 20 of margin: 100 %


SIDES = [
    pytest.param("1.5", PositionSide.LONG, (True, False, False), SELL, id="long"),
    pytest.param("-1.5", PositionSide.SHORT, (False, True, False), BUY, id="short"),
    pytest.param("0", PositionSide.FLAT, (False, False, True), None, id="flat"),
]


@pytest.mark.parametrize(("quantity", "side", "flags", "closing"), SIDES)
def test_side_helpers(quantity: str, side: PositionSide, flags: tuple[bool, bool, bool], closing: OrderSide | None) -> None:
    position = Position(SYMBOL, D(quantity), D(0) if D(quantity) == 0 else D(100))
    assert position.side is side
    assert (position.is_long, position.is_short, position.is_flat) == flags
    assert position.closing_side is closing


# Properties -------------------------------------------------------------------------------

sides = st.sampled_from([BUY, SELL])
quantities = st.decimals(min_value=D("0.001"), max_value=D("1000"), places=3)
prices = st.decimals(min_value=D("0.01"), max_value=D("100000"), places=2)
fees = st.decimals(min_value=D("0"), max_value=D("50"), places=4)
trades = st.lists(st.tuples(sides, quantities, prices), min_size=1, max_size=25)
trades_with_fees = st.lists(st.tuples(sides, quantities, prices, fees), min_size=1, max_size=25)


@given(trades, prices)
def test_realized_plus_unrealized_is_the_change_in_equity(trades: list[tuple[OrderSide, Decimal, Decimal]], mark: Decimal) -> None:
    position = Position(SYMBOL)
    cash = D(0)
    for side, quantity, price in trades:
        position = position.apply(fill(side, quantity, price))
        cash -= side.sign * quantity * price
    equity_change = cash + position.quantity * mark
    assert abs(position.realized_pnl + position.unrealized_pnl(mark) - equity_change) <= TOLERANCE


@given(trades_with_fees, prices)
def test_fees_never_create_money(trades: list[tuple[OrderSide, Decimal, Decimal, Decimal]], mark: Decimal) -> None:
    with_fees = Position(SYMBOL)
    without = Position(SYMBOL)
    cash = D(0)
    for side, quantity, price, fee in trades:
        with_fees = with_fees.apply(fill(side, quantity, price, fee))
        without = without.apply(fill(side, quantity, price))
        cash -= side.sign * quantity * price + fee
    equity_with_fees = with_fees.net_realized + with_fees.unrealized_pnl(mark)
    equity_without = without.net_realized + without.unrealized_pnl(mark)
    assert equity_with_fees <= equity_without
    assert abs(equity_with_fees - (cash + with_fees.quantity * mark)) <= TOLERANCE


@given(trades)
def test_quantity_is_the_signed_sum_of_fills(trades: list[tuple[OrderSide, Decimal, Decimal]]) -> None:
    position = run([fill(*each) for each in trades])
    assert position.quantity == sum((side.sign * quantity for side, quantity, _ in trades), D(0))
    assert position.is_flat == (position.entry_price == 0)


@given(trades, st.decimals(min_value=D("0.01"), max_value=D("1"), places=2))
def test_closing_at_the_entry_price_realizes_nothing(trades: list[tuple[OrderSide, Decimal, Decimal]], share: Decimal) -> None:
    position = run([fill(*each) for each in trades])
    assume(not position.is_flat)
    assert position.closing_side is not None
    closed = position.apply(fill(position.closing_side, abs(position.quantity) * share, position.entry_price))
    assert closed.realized_pnl == position.realized_pnl
    assert closed.is_flat == (share == 1)


def test_apply_builds_the_same_frozen_value_as_the_constructor() -> None:
    after = Position(SYMBOL).apply(fill(BUY, "2", "100"))
    assert after == Position(SYMBOL, D("2"), D("100"))
    assert hash(after) == hash(Position(SYMBOL, D("2"), D("100")))
    with pytest.raises(AttributeError):
        after.entry_price = D(1)  # type: ignore[misc]
