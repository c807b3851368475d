from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.exchanges.domain.types import BookLevel, OrderBook
from apps.orders.domain.fill_model import FillModel
from apps.orders.domain.model import FeeSchedule, Liquidity, OrderSide, SymbolRules

D = Decimal
NOW = datetime(2024, 1, 1, tzinfo=UTC)
RULES = SymbolRules(
    symbol="BTC/USDT",
    base="BTC",
    quote="USDT",
    tick_size=D("0.1"),
    lot_size=D("0.001"),
    min_quantity=D("0.001"),
    min_notional=D("0"),
    max_leverage=20,
    is_perpetual=True,
)
FEES = FeeSchedule(maker_rate=D("0.0002"), taker_rate=D("0.001"))


def model(slippage_bps: str = "7", fees: FeeSchedule = FEES) -> FillModel:
    return FillModel(fees, D(slippage_bps), RULES)


def book(asks: list[tuple[str, str]], bids: list[tuple[str, str]] | None = None) -> OrderBook:
    return OrderBook(
        RULES.symbol,
        tuple(BookLevel(D(p), D(q)) for p, q in bids or []),
        tuple(BookLevel(D(p), D(q)) for p, q in asks),
        NOW,
    )


def test_a_taker_buy_pays_the_slippage_rounded_up_to_the_tick():
    # 100 x 1.0007 = 100.07 -> 100.1 (up: against the buyer)
    assert model().taker_price(OrderSide.BUY, D("100")) == D("100.1")


def test_a_taker_sell_gets_the_slippage_rounded_down_to_the_tick():
    # 100 x 0.9993 = 99.93 -> 99.9 (down: against the seller)
    assert model().taker_price(OrderSide.SELL, D("100")) == D("99.9")


def test_without_slippage_an_off_tick_reference_still_rounds_against_the_taker():
    fm = model("0")
    assert fm.taker_price(OrderSide.BUY, D("100.04")) == D("100.1")
    assert fm.taker_price(OrderSide.SELL, D("100.06")) == D("100.0")
    assert fm.taker_price(OrderSide.BUY, D("100.0")) == D("100.0")


def test_a_capped_taker_price_is_never_worse_than_the_limit():
    fm = model("50")  # 100 -> 100.5 / 99.5
    assert fm.capped_taker_price(OrderSide.BUY, D("100"), D("100.2")) == D("100.2")
    assert fm.capped_taker_price(OrderSide.BUY, D("100"), D("101")) == D("100.5")
    assert fm.capped_taker_price(OrderSide.SELL, D("100"), D("99.8")) == D("99.8")


def test_a_sell_price_never_rounds_down_to_zero():
    assert model("9999").taker_price(OrderSide.SELL, D("0.5")) == D("0.1")


def test_a_maker_fills_at_its_limit_price():
    assert model().maker_price(D("123.4")) == D("123.4")


def test_the_fee_is_notional_times_the_rate_in_the_quote_currency():
    fm = model()
    assert fm.fee(D("100"), D("2"), Liquidity.TAKER) == D("0.2")
    assert fm.fee(D("100"), D("2"), Liquidity.MAKER) == D("0.04")
    fill = fm.make_fill(order_id="o1", side=OrderSide.BUY, price=D("100"), quantity=D("2"), liquidity=Liquidity.TAKER, timestamp=NOW)
    assert (fill.fee, fill.fee_currency, fill.symbol) == (D("0.2"), "USDT", "BTC/USDT")


def test_a_negative_maker_rate_is_a_rebate():
    fm = model(fees=FeeSchedule(maker_rate=D("-0.0001"), taker_rate=D("0.0005")))
    assert fm.fee(D("100"), D("1"), Liquidity.MAKER) == D("-0.01")


def test_quantities_are_rounded_down_to_the_lot():
    fm = model()
    assert fm.round_quantity(D("1.23456")) == D("1.234")
    assert fm.round_quantity(D("0.0009")) == 0
    assert fm.round_quantity(D("2")) == D("2")
    assert fm.round_quantity(D("-1")) == 0


def test_walking_the_book_takes_levels_best_first():
    executions = model().walk_book(OrderSide.BUY, D("2.5"), book([("100.0", "1"), ("100.5", "2"), ("101.0", "5")]))
    assert executions == [(D("100.0"), D("1")), (D("100.5"), D("1.5"))]
    assert FillModel.average_price(executions) == D("100.3")  # (100 + 150.75) / 2.5


def test_a_sell_walks_the_bids():
    executions = model().walk_book(OrderSide.SELL, D("1.5"), book([], bids=[("99.9", "1"), ("99.5", "1")]))
    assert executions == [(D("99.9"), D("1")), (D("99.5"), D("0.5"))]


def test_walking_a_thin_book_is_partial():
    executions = model().walk_book(OrderSide.BUY, D("10"), book([("100.0", "1"), ("100.5", "2")]))
    assert sum(q for _, q in executions) == D("3")


def test_walking_with_a_limit_stops_at_worse_levels():
    the_book = book([("100.0", "1"), ("100.5", "2"), ("101.0", "5")])
    fm = model()
    assert fm.walk_book(OrderSide.BUY, D("5"), the_book, limit=D("100.5")) == [(D("100.0"), D("1")), (D("100.5"), D("2"))]
    assert fm.book_depth(OrderSide.BUY, the_book, limit=D("100.5")) == D("3")
    assert fm.book_depth(OrderSide.BUY, the_book) == D("8")


def test_off_lot_book_quantities_are_rounded_down():
    executions = model().walk_book(OrderSide.BUY, D("1"), book([("100.0", "0.0005"), ("100.1", "0.2505")]))
    assert executions == [(D("100.1"), D("0.250"))]


@pytest.mark.parametrize("bps", ["-1", "10000"])
def test_slippage_out_of_range_is_refused(bps):
    with pytest.raises(ValueError, match="slippage_bps"):
        model(bps)


prices = st.integers(min_value=1, max_value=10_000_000).map(lambda n: D(n) / 100)
bps = st.integers(min_value=0, max_value=500).map(D)


@given(reference=prices, slippage=bps)
def test_taker_prices_are_on_the_tick_and_never_better_than_the_reference(reference, slippage):
    fm = model(str(slippage))
    buy, sell = fm.taker_price(OrderSide.BUY, reference), fm.taker_price(OrderSide.SELL, reference)
    assert buy % RULES.tick_size == 0 and sell % RULES.tick_size == 0
    assert buy >= reference
    assert sell <= reference or sell == RULES.tick_size
    assert buy - reference * (1 + slippage / 10_000) < RULES.tick_size


levels = st.lists(
    st.tuples(st.integers(min_value=1, max_value=50), st.integers(min_value=0, max_value=5_000)),
    min_size=0,
    max_size=8,
)


@given(levels=levels, quantity=st.integers(min_value=1, max_value=20_000))
def test_a_book_walk_never_takes_more_than_asked_or_offered(levels, quantity):
    # strictly increasing ask prices
    asks, price = [], D("100")
    for step, size in levels:
        price += RULES.tick_size * step
        asks.append(BookLevel(price, D(size) / 1000))
    the_book = OrderBook(RULES.symbol, (), tuple(asks), NOW)
    wanted = D(quantity) / 1000
    executions = model().walk_book(OrderSide.BUY, wanted, the_book)
    taken = sum((q for _, q in executions), D(0))
    assert taken <= wanted
    assert taken == min(wanted, sum((a.quantity for a in asks), D(0)))
    assert [p for p, _ in executions] == sorted(p for p, _ in executions)
    offered = {a.price: a.quantity for a in asks}
    assert all(0 < q <= offered[p] for p, q in executions)
