import random
from dataclasses import FrozenInstanceError, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.exchanges.domain.types import BookLevel, OrderBook
from apps.orders.domain.fill_model import FillModel
from apps.orders.domain.matching import (
    CancelRejected,
    EngineEvent,
    MatchingEngine,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderTriggered,
)
from apps.orders.domain.model import (
    Bar,
    FeeSchedule,
    Fill,
    Liquidity,
    OrderIntent,
    OrderSide,
    OrderStatus,
    OrderType,
    SymbolRules,
    TimeInForce,
    build_fill,
    build_market_intent,
)
from apps.orders.domain.state_machine import ALLOWED_TRANSITIONS

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL
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
SLIPPAGE = D("7")  # 100 -> 100.07 -> 100.1 for a buy, 99.93 -> 99.9 for a sell


def engine(**options) -> MatchingEngine:
    return MatchingEngine(RULES, FillModel(FEES, SLIPPAGE, RULES), **options)


def intent(side, order_type, quantity, price=None, stop=None, tif=TimeInForce.GTC, post_only=False, cid="c") -> OrderIntent:
    return OrderIntent(
        cid,
        RULES.symbol,
        side,
        order_type,
        D(quantity),
        price=None if price is None else D(price),
        stop_price=None if stop is None else D(stop),
        time_in_force=tif,
        post_only=post_only,
    )


def limit(side, quantity, price, **kw) -> OrderIntent:
    return intent(side, OrderType.LIMIT, quantity, price=price, **kw)


def market(side, quantity, **kw) -> OrderIntent:
    return intent(side, OrderType.MARKET, quantity, **kw)


def book(asks=(), bids=()) -> OrderBook:
    return OrderBook(RULES.symbol, tuple(BookLevel(D(p), D(q)) for p, q in bids), tuple(BookLevel(D(p), D(q)) for p, q in asks), NOW)


def bar(open_, high, low, close, minutes=0) -> Bar:
    return Bar(NOW + timedelta(minutes=minutes), D(open_), D(high), D(low), D(close), D("100"))


def fills(events: list[EngineEvent]) -> list[tuple[Decimal, Decimal, Liquidity]]:
    return [(e.fill.price, e.fill.quantity, e.fill.liquidity) for e in events if isinstance(e, OrderFilled)]


def kinds(events: list[EngineEvent]) -> list[str]:
    return [type(e).__name__ for e in events]


BOOK = book(asks=[("100.0", "1"), ("100.5", "2"), ("101.0", "5")], bids=[("99.9", "1"), ("99.5", "2"), ("99.0", "5")])


# -- submission: market orders ------------------------------------------------------------------


def test_a_market_order_walks_the_book_across_levels():
    events = engine().submit("o1", market(BUY, "2.5"), NOW, BOOK)
    assert kinds(events) == ["OrderAccepted", "OrderFilled", "OrderFilled"]
    assert fills(events) == [(D("100.0"), D("1"), Liquidity.TAKER), (D("100.5"), D("1.5"), Liquidity.TAKER)]
    # by hand: 1 x 100.0 + 1.5 x 100.5 = 250.75 -> average 100.3; taker fee 0.1 % of 250.75
    notional = sum(e.fill.notional for e in events if isinstance(e, OrderFilled))
    assert notional == D("250.75") and notional / D("2.5") == D("100.3")
    assert sum(e.fill.fee for e in events if isinstance(e, OrderFilled)) == D("0.25075")
    assert [(e.remaining, e.status) for e in events if isinstance(e, OrderFilled)] == [
        (D("1.5"), OrderStatus.PARTIALLY_FILLED),
        (D("0"), OrderStatus.FILLED),
    ]


def test_a_market_order_on_a_thin_book_fills_what_is_there_and_expires_the_rest():
    the_engine = engine()
    events = the_engine.submit("o1", market(SELL, "10"), NOW, BOOK)
    assert fills(events) == [(D("99.9"), D("1"), Liquidity.TAKER), (D("99.5"), D("2"), Liquidity.TAKER), (D("99.0"), D("5"), Liquidity.TAKER)]
    assert isinstance(events[-1], OrderExpired)
    assert the_engine.status("o1") is OrderStatus.EXPIRED


def test_a_market_order_without_a_book_fills_at_the_last_price_plus_slippage():
    assert fills(engine().submit("o1", market(BUY, "1"), NOW, None, D("100"))) == [(D("100.1"), D("1"), Liquidity.TAKER)]
    assert fills(engine().submit("o1", market(SELL, "1"), NOW, None, D("100"))) == [(D("99.9"), D("1"), Liquidity.TAKER)]


def test_a_market_order_without_any_price_waits_for_the_next_trade():
    the_engine = engine()
    assert kinds(the_engine.submit("o1", market(BUY, "1"), NOW)) == ["OrderAccepted"]
    assert fills(the_engine.on_trade(D("200"), D("0.01"), NOW)) == [(D("200.2"), D("1"), Liquidity.TAKER)]  # 200.14 -> 200.2


def test_a_fill_or_kill_market_order_expires_untouched_when_the_book_is_too_thin():
    events = engine().submit("o1", market(BUY, "9", tif=TimeInForce.FOK), NOW, BOOK)
    assert kinds(events) == ["OrderAccepted", "OrderExpired"]


# -- submission: limit orders -------------------------------------------------------------------


def test_a_crossing_limit_takes_the_book_up_to_its_price_and_rests_the_rest():
    the_engine = engine()
    events = the_engine.submit("o1", limit(BUY, "4", "100.5"), NOW, BOOK)
    assert fills(events) == [(D("100.0"), D("1"), Liquidity.TAKER), (D("100.5"), D("2"), Liquidity.TAKER)]
    [order] = the_engine.open_orders()
    assert (order.status, order.remaining, order.filled_quantity) == (OrderStatus.PARTIALLY_FILLED, D("1"), D("3"))


def test_an_ioc_limit_fills_partly_then_expires():
    the_engine = engine()
    events = the_engine.submit("o1", limit(BUY, "3", "100.4", tif=TimeInForce.IOC), NOW, BOOK)
    assert kinds(events) == ["OrderAccepted", "OrderFilled", "OrderExpired"]
    assert fills(events) == [(D("100.0"), D("1"), Liquidity.TAKER)]
    assert the_engine.open_orders() == []
    assert the_engine.status("o1") is OrderStatus.EXPIRED


def test_a_fok_limit_is_all_or_nothing():
    nothing = engine().submit("o1", limit(BUY, "3.5", "100.5", tif=TimeInForce.FOK), NOW, BOOK)  # only 3 within the limit
    assert kinds(nothing) == ["OrderAccepted", "OrderExpired"]
    everything = engine().submit("o1", limit(BUY, "3", "100.5", tif=TimeInForce.FOK), NOW, BOOK)
    assert sum(q for _, q, _ in fills(everything)) == D("3")
    assert everything[-1].status is OrderStatus.FILLED


def test_a_post_only_limit_that_would_cross_is_rejected():
    the_engine = engine()
    events = the_engine.submit("o1", limit(BUY, "1", "100.0", post_only=True), NOW, BOOK)
    assert len(events) == 1 and isinstance(events[0], OrderRejected)
    assert "take liquidity" in events[0].reason
    assert the_engine.open_orders() == []
    assert kinds(the_engine.submit("o2", limit(BUY, "1", "99.9", post_only=True), NOW, BOOK)) == ["OrderAccepted"]


def test_a_non_crossing_ioc_limit_expires_without_a_fill():
    assert kinds(engine().submit("o1", limit(BUY, "1", "99.0", tif=TimeInForce.IOC), NOW, BOOK)) == ["OrderAccepted", "OrderExpired"]


def test_a_crossing_limit_without_a_book_takes_at_the_last_price_never_worse_than_its_limit():
    assert fills(engine().submit("o1", limit(BUY, "1", "100.05"), NOW, None, D("100"))) == []  # off tick: rejected
    assert fills(engine().submit("o1", limit(BUY, "1", "101.0"), NOW, None, D("100"))) == [(D("100.1"), D("1"), Liquidity.TAKER)]
    assert fills(engine().submit("o1", limit(BUY, "1", "100.1"), NOW, None, D("100.05"))) == [(D("100.1"), D("1"), Liquidity.TAKER)]


# -- paper trading: resting limits --------------------------------------------------------------


def test_a_resting_limit_fills_as_maker_only_when_the_market_trades_through_it():
    the_engine = engine()
    assert kinds(the_engine.submit("o1", limit(BUY, "1", "99.0"), NOW, BOOK)) == ["OrderAccepted"]
    assert the_engine.on_trade(D("99.0"), D("5"), NOW) == []  # touch: no fill by default
    events = the_engine.on_trade(D("98.9"), D("5"), NOW)
    assert fills(events) == [(D("99.0"), D("1"), Liquidity.MAKER)]
    assert events[0].fill.fee == D("0.0198")  # 99 x 0.0002
    assert the_engine.open_orders() == []


def test_fill_on_touch_fills_a_limit_at_the_exact_price():
    the_engine = engine(fill_on_touch=True)
    the_engine.submit("o1", limit(SELL, "1", "101.0"), NOW, BOOK)
    assert fills(the_engine.on_trade(D("101.0"), D("5"), NOW)) == [(D("101.0"), D("1"), Liquidity.MAKER)]


def test_limits_fill_partially_up_to_the_traded_quantity():
    the_engine = engine(respect_trade_volume=True)
    the_engine.submit("a", limit(BUY, "2", "99.0"), NOW, BOOK)
    the_engine.submit("b", limit(BUY, "1", "98.0"), NOW, BOOK)
    first = the_engine.on_trade(D("97.0"), D("0.5"), NOW)
    assert [(e.order_id, e.fill.quantity, e.remaining, e.status) for e in first] == [("a", D("0.5"), D("1.5"), OrderStatus.PARTIALLY_FILLED)]
    second = the_engine.on_trade(D("97.0"), D("2"), NOW)  # a's 1.5 first (better price), then 0.5 of b
    assert [(e.order_id, e.fill.price, e.fill.quantity) for e in second] == [("a", D("99.0"), D("1.5")), ("b", D("98.0"), D("0.5"))]
    [b] = the_engine.open_orders()
    assert (b.order_id, b.filled_quantity, b.status) == ("b", D("0.5"), OrderStatus.PARTIALLY_FILLED)


def test_resting_limits_fill_in_price_then_time_priority():
    the_engine = engine(respect_trade_volume=True)
    the_engine.submit("first", limit(SELL, "1", "101.0"), NOW, BOOK)
    the_engine.submit("better", limit(SELL, "1", "100.8"), NOW, BOOK)
    the_engine.submit("second", limit(SELL, "1", "101.0"), NOW, BOOK)
    events = the_engine.on_trade(D("101.5"), D("2"), NOW)
    assert [e.order_id for e in events] == ["better", "first"]


# -- paper trading: stops and take-profits ------------------------------------------------------


def test_a_buy_stop_triggers_on_a_trade_and_fills_at_the_gapped_price():
    the_engine = engine()
    assert kinds(the_engine.submit("o1", intent(BUY, OrderType.STOP_MARKET, "1", stop="105"), NOW, None, D("100"))) == ["OrderAccepted"]
    assert the_engine.on_trade(D("104.9"), D("1"), NOW) == []
    events = the_engine.on_trade(D("107.0"), D("1"), NOW)  # jumped past the stop
    assert kinds(events) == ["OrderTriggered", "OrderFilled"]
    assert events[0] == OrderTriggered("o1", D("107.0"))
    assert fills(events) == [(D("107.1"), D("1"), Liquidity.TAKER)]  # 107 x 1.0007 = 107.0749 -> 107.1, not 105


def test_a_sell_stop_triggers_when_the_price_falls_to_it():
    the_engine = engine()
    the_engine.submit("o1", intent(SELL, OrderType.STOP_MARKET, "1", stop="95"), NOW, None, D("100"))
    assert the_engine.on_trade(D("95.1"), D("1"), NOW) == []
    assert fills(the_engine.on_trade(D("95.0"), D("1"), NOW)) == [(D("94.9"), D("1"), Liquidity.TAKER)]  # 94.9335 -> 94.9


def test_take_profits_trigger_in_the_profitable_direction():
    the_engine = engine()
    the_engine.submit("sell-tp", intent(SELL, OrderType.TAKE_PROFIT, "1", stop="110"), NOW, None, D("100"))
    the_engine.submit("buy-tp", intent(BUY, OrderType.TAKE_PROFIT, "1", stop="90"), NOW, None, D("100"))
    assert the_engine.on_trade(D("109.9"), D("1"), NOW) == []
    up = the_engine.on_trade(D("110.0"), D("1"), NOW)
    assert [(e.order_id, e.fill.price) for e in up if isinstance(e, OrderFilled)] == [("sell-tp", D("109.9"))]  # 109.923 -> 109.9
    down = the_engine.on_trade(D("89.0"), D("1"), NOW)
    assert [(e.order_id, e.fill.price) for e in down if isinstance(e, OrderFilled)] == [("buy-tp", D("89.1"))]  # 89.0623 -> 89.1


def test_a_stop_limit_takes_at_the_trigger_or_rests_when_the_market_gapped_past_its_limit():
    the_engine = engine()
    the_engine.submit("takes", intent(BUY, OrderType.STOP_LIMIT, "1", price="106", stop="105"), NOW, None, D("100"))
    events = the_engine.on_trade(D("105.5"), D("1"), NOW)
    assert fills(events) == [(D("105.6"), D("1"), Liquidity.TAKER)]  # 105.57385 -> 105.6, under the 106 limit

    the_engine.submit("rests", intent(BUY, OrderType.STOP_LIMIT, "1", price="106", stop="105"), NOW, None, D("100"))
    events = the_engine.on_trade(D("107.0"), D("1"), NOW)
    assert kinds(events) == ["OrderTriggered"]
    [order] = the_engine.open_orders()
    assert order.triggered and order.price == D("106")
    assert fills(the_engine.on_trade(D("105.9"), D("1"), NOW)) == [(D("106"), D("1"), Liquidity.MAKER)]


def test_a_stop_already_reached_at_submission_triggers_immediately_unless_configured_to_reject():
    events = engine().submit("o1", intent(BUY, OrderType.STOP_MARKET, "1", stop="99"), NOW, None, D("100"))
    assert kinds(events) == ["OrderAccepted", "OrderTriggered", "OrderFilled"]
    assert fills(events) == [(D("100.1"), D("1"), Liquidity.TAKER)]
    rejected = engine(reject_stops_that_would_trigger=True).submit("o1", intent(BUY, OrderType.STOP_MARKET, "1", stop="99"), NOW, None, D("100"))
    assert kinds(rejected) == ["OrderRejected"]


# -- cancel -------------------------------------------------------------------------------------


def test_canceling_a_resting_order_removes_it():
    the_engine = engine()
    the_engine.submit("o1", limit(BUY, "1", "99.0"), NOW, BOOK)
    assert the_engine.cancel("o1", NOW) == [OrderCanceled("o1")]
    assert the_engine.open_orders() == []
    assert the_engine.on_trade(D("90"), D("10"), NOW) == []
    again = the_engine.cancel("o1", NOW)
    assert isinstance(again[0], CancelRejected) and "CANCELED" in again[0].reason


def test_canceling_a_filled_or_unknown_order_is_refused_without_an_exception():
    the_engine = engine()
    the_engine.submit("o1", market(BUY, "1"), NOW, BOOK)
    [refused] = the_engine.cancel("o1", NOW)
    assert isinstance(refused, CancelRejected) and refused.reason == "order is already FILLED"
    [unknown] = the_engine.cancel("nope", NOW)
    assert isinstance(unknown, CancelRejected) and unknown.reason == "unknown order"


# -- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("order", "words"),
    [
        (limit(BUY, "1", "99.05"), "not a multiple of the tick size"),
        (limit(BUY, "0.0004", "99.0"), "below the lot size"),
        (intent(BUY, OrderType.LIMIT, "1"), "needs a positive price"),
        (intent(BUY, OrderType.STOP_MARKET, "1"), "needs a positive stop price"),
        (limit(BUY, "1", "99.0", tif=TimeInForce.IOC, post_only=True), "post-only needs a GTC limit"),
        (OrderIntent("c", "ETH/USDT", BUY, OrderType.MARKET, D("1")), "is not traded by this engine"),
    ],
)
def test_invalid_orders_are_rejected_with_a_reason(order, words):
    the_engine = engine()
    [event] = the_engine.submit("o1", order, NOW, BOOK)
    assert isinstance(event, OrderRejected) and words in event.reason
    assert the_engine.status("o1") is OrderStatus.REJECTED
    assert the_engine.cancel("o1", NOW) == [CancelRejected("o1", "order is already REJECTED")]


def test_reduce_only_is_refused_on_spot_as_the_venue_refuses_it():
    spot = replace(RULES, is_perpetual=False)
    the_engine = MatchingEngine(spot, FillModel(FEES, SLIPPAGE, spot))
    order = OrderIntent("c", spot.symbol, SELL, OrderType.STOP_MARKET, D("1"), stop_price=D("95.0"), reduce_only=True)

    [event] = the_engine.submit("o1", order, NOW, BOOK)

    assert isinstance(event, OrderRejected) and "reduce-only is only for perpetual markets" in event.reason
    assert kinds(engine().submit("o1", order, NOW, BOOK)) == ["OrderAccepted"]  # on a perpetual it rests


def test_quantities_are_rounded_down_to_the_lot_and_ids_are_unique():
    the_engine = engine()
    the_engine.submit("o1", limit(BUY, "1.23456", "99.0"), NOW, BOOK)
    assert the_engine.open_orders()[0].quantity == D("1.234")
    [duplicate] = the_engine.submit("o1", limit(BUY, "1", "98.0"), NOW, BOOK)
    assert isinstance(duplicate, OrderRejected) and duplicate.reason == "duplicate order id"


def test_minimum_notional_is_enforced_when_a_price_is_known():
    rules = SymbolRules("BTC/USDT", "BTC", "USDT", D("0.1"), D("0.001"), D("0.001"), D("10"), 20, True)
    the_engine = MatchingEngine(rules, FillModel(FEES, SLIPPAGE, rules))
    [event] = the_engine.submit("o1", limit(BUY, "0.05", "100.0"), NOW)
    assert isinstance(event, OrderRejected) and "notional" in event.reason


# -- backtests: bars ----------------------------------------------------------------------------


def test_a_market_order_decided_after_a_bar_fills_at_the_next_bars_open():
    the_engine = engine()
    assert kinds(the_engine.submit("o1", market(BUY, "1"), NOW)) == ["OrderAccepted"]
    events = the_engine.on_bar(bar("101", "103", "99", "102"), NOW)
    assert fills(events) == [(D("101.1"), D("1"), Liquidity.TAKER)]  # 101.0707 -> 101.1


def test_a_bar_that_gaps_through_a_stop_fills_it_at_the_open():
    the_engine = engine()
    the_engine.submit("o1", intent(SELL, OrderType.STOP_MARKET, "1", stop="95"), NOW)
    the_engine.on_bar(bar("100", "101", "96", "97"), NOW)
    events = the_engine.on_bar(bar("93", "94", "90", "92", 1), NOW)
    assert kinds(events) == ["OrderTriggered", "OrderFilled"]
    assert fills(events) == [(D("92.9"), D("1"), Liquidity.TAKER)]  # 93 x 0.9993 = 92.9349 -> 92.9, not 95


def test_a_bar_whose_range_reaches_a_stop_fills_it_at_the_stop_plus_slippage():
    the_engine = engine()
    the_engine.submit("o1", intent(SELL, OrderType.STOP_MARKET, "1", stop="95"), NOW)
    assert fills(the_engine.on_bar(bar("98", "99", "95", "97"), NOW)) == [(D("94.9"), D("1"), Liquidity.TAKER)]  # a touch triggers


def test_a_limit_fills_at_its_price_as_maker_when_the_bar_trades_through_it():
    the_engine = engine()
    the_engine.submit("o1", limit(BUY, "1", "99.0"), NOW)
    assert fills(the_engine.on_bar(bar("100", "101", "98.5", "100"), NOW)) == [(D("99.0"), D("1"), Liquidity.MAKER)]


def test_a_bar_that_only_touches_a_limit_does_not_fill_it():
    the_engine = engine()
    the_engine.submit("o1", limit(BUY, "1", "99.0"), NOW)
    assert the_engine.on_bar(bar("100", "101", "99.0", "100"), NOW) == []
    assert len(the_engine.open_orders()) == 1
    touchy = engine(fill_on_touch=True)
    touchy.submit("o1", limit(BUY, "1", "99.0"), NOW)
    assert fills(touchy.on_bar(bar("100", "101", "99.0", "100"), NOW)) == [(D("99.0"), D("1"), Liquidity.MAKER)]


def test_a_bar_opening_through_a_limit_fills_it_at_the_open_as_taker_never_worse_than_the_limit():
    the_engine = engine()
    the_engine.submit("o1", limit(BUY, "1", "99.0"), NOW)
    the_engine.on_bar(bar("100", "101", "99.5", "100"), NOW)
    assert fills(the_engine.on_bar(bar("97", "98", "96", "97", 1), NOW)) == [(D("97.1"), D("1"), Liquidity.TAKER)]  # 97.0679 -> 97.1


def test_a_limit_decided_between_bars_at_exactly_the_next_open_takes_there_as_a_one_price_book_would():
    in_backtest = engine()
    in_backtest.submit("o1", limit(BUY, "1", "100.0"), NOW)
    assert fills(in_backtest.on_bar(bar("100.0", "101", "99", "100"), NOW)) == [(D("100.0"), D("1"), Liquidity.TAKER)]

    in_paper = engine()  # the same market as a book quoting only the open
    events = in_paper.submit("o1", limit(BUY, "1", "100.0"), NOW, book(asks=[("100.0", "5")], bids=[("100.0", "5")]))
    assert fills(events) == [(D("100.0"), D("1"), Liquidity.TAKER)]

    post_only = engine()
    post_only.submit("o1", limit(BUY, "1", "100.0", post_only=True), NOW)
    assert kinds(post_only.on_bar(bar("100.0", "101", "99", "100"), NOW)) == ["OrderExpired"]


def test_a_restored_resting_limit_goes_back_on_the_book_as_a_maker_whatever_the_price_now():
    the_engine = engine()
    assert kinds(the_engine.submit("o1", limit(BUY, "1", "100.0", post_only=True), NOW, None, D("100.0"), resting=True)) == ["OrderAccepted"]
    assert the_engine.on_trade(D("100.0"), D("5"), NOW) == []  # touching a resting limit does not fill it
    assert fills(the_engine.on_trade(D("99.9"), D("5"), NOW)) == [(D("100.0"), D("1"), Liquidity.MAKER)]


def test_a_stop_limit_triggered_at_its_stop_takes_only_strictly_through_its_limit():
    the_engine = engine()
    the_engine.submit("o1", intent(BUY, OrderType.STOP_LIMIT, "1", price="105", stop="105"), NOW, None, D("100"))
    events = the_engine.on_trade(D("105"), D("1"), NOW)
    assert kinds(events) == ["OrderTriggered"]  # triggered at 105, rests at its limit 105 as a maker
    assert len(the_engine.open_orders()) == 1


def test_fill_at_close_fills_a_market_order_at_the_close_of_its_bar():
    the_engine = engine(fill_at="close")
    events = the_engine.submit("o1", market(SELL, "1"), NOW, bar_close=D("100"))
    assert fills(events) == [(D("99.9"), D("1"), Liquidity.TAKER)]
    [refused] = the_engine.submit("o2", market(SELL, "1"), NOW)
    assert isinstance(refused, OrderRejected) and "bar_close" in refused.reason
    with pytest.raises(ValueError, match="bar_close"):
        engine().submit("o1", market(SELL, "1"), NOW, bar_close=D("100"))


def test_in_one_bar_the_stop_loss_is_assumed_to_come_before_the_take_profit():
    # a long's bracket: sell stop at 95, sell limit at 105; the bar reaches both
    plain = engine()
    plain.submit("stop", intent(SELL, OrderType.STOP_MARKET, "1", stop="95"), NOW)
    plain.submit("tp", limit(SELL, "1", "105.0"), NOW)
    events = plain.on_bar(bar("100", "106", "94", "100"), NOW)
    assert [e.order_id for e in events if isinstance(e, OrderFilled)] == ["stop", "tp"]

    bracket = engine()
    bracket.submit("stop", intent(SELL, OrderType.STOP_MARKET, "1", stop="95"), NOW, oco_group="long-1")
    bracket.submit("tp", limit(SELL, "1", "105.0"), NOW, oco_group="long-1")
    events = bracket.on_bar(bar("100", "106", "94", "100"), NOW)
    assert kinds(events) == ["OrderTriggered", "OrderFilled", "OrderCanceled"]
    assert fills(events) == [(D("94.9"), D("1"), Liquidity.TAKER)]
    assert bracket.open_orders() == []


def test_a_stop_limit_triggered_inside_a_bar_rests_until_the_next_bar():
    the_engine = engine()
    the_engine.submit("o1", intent(BUY, OrderType.STOP_LIMIT, "1", price="105", stop="105"), NOW)
    events = the_engine.on_bar(bar("100", "110", "99", "100"), NOW)
    assert kinds(events) == ["OrderTriggered"]
    assert fills(the_engine.on_bar(bar("104", "106", "103", "104", 1), NOW)) == [(D("104.1"), D("1"), Liquidity.TAKER)]  # opened through 105


def test_a_bar_take_profit_fills_at_its_trigger_with_slippage():
    the_engine = engine()
    the_engine.submit("o1", intent(SELL, OrderType.TAKE_PROFIT, "1", stop="110"), NOW)
    assert fills(the_engine.on_bar(bar("100", "111", "99", "105"), NOW)) == [(D("109.9"), D("1"), Liquidity.TAKER)]


# -- properties ---------------------------------------------------------------------------------

TICK = RULES.tick_size


@dataclass
class Ledger:
    """What the events say, kept independently of the engine."""

    orders: dict[str, OrderIntent] = field(default_factory=dict)
    filled: dict[str, Decimal] = field(default_factory=dict)
    fills: list[tuple[str, OrderFilled]] = field(default_factory=list)
    status: dict[str, OrderStatus] = field(default_factory=dict)

    def record(self, events: list[EngineEvent], where: str) -> None:
        for event in events:
            order_id = event.order_id
            if isinstance(event, OrderFilled):
                total = self.filled.get(order_id, D(0)) + event.fill.quantity
                self.filled[order_id] = total
                self.fills.append((where, event))
                quantity = FillModel(FEES, SLIPPAGE, RULES).round_quantity(self.orders[order_id].quantity)
                assert event.remaining == quantity - total
                assert (event.status is OrderStatus.FILLED) == (event.remaining == 0)
                self.move(order_id, event.status)
            elif isinstance(event, OrderAccepted):
                self.move(order_id, OrderStatus.OPEN)
            elif isinstance(event, OrderRejected):
                self.move(order_id, OrderStatus.REJECTED)
            elif isinstance(event, OrderCanceled):
                self.move(order_id, OrderStatus.CANCELED)
            elif isinstance(event, OrderExpired):
                self.move(order_id, OrderStatus.EXPIRED)
            elif isinstance(event, OrderTriggered):
                assert self.status[order_id] in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED)
            else:
                assert isinstance(event, CancelRejected)
                assert order_id not in self.status or self.status[order_id].is_terminal

    def move(self, order_id: str, target: OrderStatus) -> None:
        """Every status the engine reports is a step the order lifecycle allows."""
        current = self.status.get(order_id, OrderStatus.NEW)
        assert (current, target) in ALLOWED_TRANSITIONS, (order_id, current, target)
        self.status[order_id] = target


order_kinds = st.sampled_from([OrderType.MARKET, OrderType.LIMIT, OrderType.LIMIT, OrderType.STOP_MARKET, OrderType.STOP_LIMIT, OrderType.TAKE_PROFIT])
submissions = st.tuples(
    st.just("submit"),
    order_kinds,
    st.sampled_from([BUY, SELL]),
    st.integers(min_value=1, max_value=3000),  # lots
    st.integers(min_value=-10, max_value=10),  # limit offset from the last price, in ticks
    st.integers(min_value=-10, max_value=10),  # stop offset from the last price, in ticks
    st.sampled_from([TimeInForce.GTC, TimeInForce.GTC, TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK]),
    st.booleans(),  # with a book
    st.booleans(),  # post-only (for GTC limits)
)
trades = st.tuples(st.just("trade"), st.integers(min_value=-15, max_value=15), st.integers(min_value=1, max_value=3000))  # a move in ticks
cancels = st.tuples(st.just("cancel"), st.integers(min_value=0, max_value=30))


def make_intent(n, kind, side, lots, limit_offset, stop_offset, tif, post_only, reference) -> OrderIntent:
    price = reference + limit_offset * TICK if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None
    stop = reference + stop_offset * TICK if kind not in (OrderType.MARKET, OrderType.LIMIT) else None
    post_only = post_only and kind is OrderType.LIMIT and tif is TimeInForce.GTC
    return OrderIntent(f"c{n}", RULES.symbol, side, kind, D(lots) / 1000, price=price, stop_price=stop, time_in_force=tif, post_only=post_only)


def book_around(price: Decimal) -> OrderBook:
    return OrderBook(
        RULES.symbol,
        tuple(BookLevel(price - TICK * i, D("0.7")) for i in range(1, 6)),
        tuple(BookLevel(price + TICK * i, D("0.7")) for i in range(1, 6)),
        NOW,
    )


def check_common(the_engine: MatchingEngine, ledger: Ledger) -> None:
    for order_id, status in ledger.status.items():
        assert the_engine.status(order_id) is status
    for order_id, total in ledger.filled.items():
        original = ledger.orders[order_id]
        assert total <= original.quantity  # never more than asked
    for order in the_engine.open_orders():
        assert order.filled_quantity == ledger.filled.get(order.order_id, D(0))  # the sum of fills is the filled quantity
        assert order.filled_quantity < order.quantity
    for _, event in ledger.fills:
        fill, original = event.fill, ledger.orders[event.order_id]
        assert fill.fee >= 0 and fill.quantity > 0
        assert fill.fee == fill.price * fill.quantity * (FEES.maker_rate if fill.liquidity is Liquidity.MAKER else FEES.taker_rate)
        if original.price is not None and original.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
            assert fill.price <= original.price if fill.side is BUY else fill.price >= original.price
        if original.post_only:
            assert fill.liquidity is Liquidity.MAKER


@settings(max_examples=150, deadline=None)
@given(
    actions=st.lists(st.one_of(submissions, trades, trades, cancels), min_size=4, max_size=40),
    touch=st.booleans(),
    volume=st.booleans(),
)
def test_paper_trading_properties(actions, touch, volume):
    run_paper_session(actions, touch, volume)


def run_paper_session(actions, touch, volume) -> Ledger:
    the_engine = engine(fill_on_touch=touch, respect_trade_volume=volume)
    fm = the_engine.fill_model
    ledger = Ledger()
    last = D("100")
    for n, action in enumerate(actions):
        if action[0] == "submit":
            _, kind, side, lots, limit_offset, stop_offset, tif, with_book, post_only = action
            order = make_intent(n, kind, side, lots, limit_offset, stop_offset, tif, post_only, last)
            ledger.orders[f"o{n}"] = order
            the_book = book_around(last) if with_book else None
            events = the_engine.submit(f"o{n}", order, NOW, the_book, last)
            ledger.record(events, "submit")
            for event in events:
                if isinstance(event, OrderFilled):
                    if the_book is not None:  # takers walk the book (a stop reached at submission too): at one of its prices
                        assert event.fill.price in {level.price for level in the_book.asks + the_book.bids}
                    else:
                        assert fm.taker_price(SELL, last) <= event.fill.price <= fm.taker_price(BUY, last)
        elif action[0] == "trade":
            _, move, lots = action
            last = max(D("50"), last + move * TICK)
            events = the_engine.on_trade(last, D(lots) / 1000, NOW)
            ledger.record(events, "trade")
            for event in events:
                if not isinstance(event, OrderFilled):
                    continue
                fill = event.fill
                if fill.liquidity is Liquidity.TAKER:  # triggered at the trade price, plus slippage at most
                    assert fm.taker_price(SELL, last) <= fill.price <= fm.taker_price(BUY, last)
                else:  # a maker at its limit, which the trade went through (or touched, when allowed)
                    assert fill.price == ledger.orders[event.order_id].price
                    through = last < fill.price if fill.side is BUY else last > fill.price
                    assert through or (touch and last == fill.price)
        else:
            ids = list(ledger.orders)
            if ids:
                events = the_engine.cancel(ids[action[1] % len(ids)], NOW)
                assert len(events) == 1 and isinstance(events[0], OrderCanceled | CancelRejected)
                ledger.record(events, "cancel")
    check_common(the_engine, ledger)
    return ledger


bars = st.tuples(
    st.just("bar"),
    st.integers(min_value=-5, max_value=5),  # open, in ticks from the last close
    st.integers(min_value=0, max_value=15),  # up
    st.integers(min_value=0, max_value=15),  # down
    st.integers(min_value=0, max_value=100),  # close position within the range, percent
)


@settings(max_examples=150, deadline=None)
@given(actions=st.lists(st.one_of(submissions, bars, bars, cancels), min_size=4, max_size=40), touch=st.booleans(), oco=st.booleans())
def test_backtest_properties(actions, touch, oco):
    run_backtest_session(actions, touch, oco)


def run_backtest_session(actions, touch, oco) -> Ledger:
    the_engine = engine(fill_on_touch=touch)
    fm = the_engine.fill_model
    ledger = Ledger()
    last = D("100")
    first_group: set[str] = set()  # the orders of the group up to its first fill
    for n, action in enumerate(actions):
        if action[0] == "submit":
            _, kind, side, lots, limit_offset, stop_offset, tif, _, post_only = action
            if not ledger.fills:
                first_group.add(f"o{n}")
            order = make_intent(n, kind, side, lots, limit_offset, stop_offset, tif, post_only, last)
            ledger.orders[f"o{n}"] = order
            events = the_engine.submit(f"o{n}", order, NOW, oco_group="g" if oco else None)
            ledger.record(events, "submit")
            assert not any(isinstance(e, OrderFilled) for e in events)  # nothing fills before the next bar: no look-ahead
        elif action[0] == "bar":
            _, open_offset, up, down, close_at = action
            open_ = max(D("50"), last + open_offset * TICK)
            high, low = open_ + up * TICK, open_ - down * TICK
            close = low + ((high - low) * close_at / 100 / TICK).to_integral_value() * TICK
            events = the_engine.on_bar(Bar(NOW, open_, high, low, close, D("10")), NOW)
            ledger.record(events, "bar")
            for event in events:
                if not isinstance(event, OrderFilled):
                    continue
                price = event.fill.price
                if event.fill.liquidity is Liquidity.TAKER:  # within the bar's range, plus slippage at most
                    assert fm.taker_price(SELL, low) <= price <= fm.taker_price(BUY, high)
                elif (open_ < price) if event.fill.side is BUY else (open_ > price):
                    # a resting post-only limit the market gapped through since the last close: at its limit
                    assert ledger.orders[event.order_id].post_only
                    assert price == ledger.orders[event.order_id].price
                    assert min(last, open_) <= price <= max(last, open_)
                else:  # a maker at its limit, which the range went through (from the side it rested on)
                    assert price == ledger.orders[event.order_id].price
                    assert low <= price <= high
                    through = low < price if event.fill.side is BUY else price < high
                    assert through or touch
            last = close
        else:
            ids = list(ledger.orders)
            if ids:
                ledger.record(the_engine.cancel(ids[action[1] % len(ids)], NOW), "cancel")
    check_common(the_engine, ledger)
    if oco:  # one-cancels-other: at most one order of the group fills (the name is free again afterwards)
        assert len({event.order_id for _, event in ledger.fills} & first_group) <= 1
    return ledger


def random_actions(rng: random.Random, market_data: str, count: int) -> list[tuple]:
    """Long sessions in the formats above, for the seeded runs below (hypothesis keeps its examples short)."""
    actions: list[tuple] = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.45:
            kind = rng.choice(
                [OrderType.MARKET, OrderType.LIMIT, OrderType.LIMIT, OrderType.LIMIT, OrderType.STOP_MARKET, OrderType.STOP_LIMIT, OrderType.TAKE_PROFIT]
            )
            tif = rng.choice([TimeInForce.GTC, TimeInForce.GTC, TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK])
            actions.append(
                (
                    "submit",
                    kind,
                    rng.choice([BUY, SELL]),
                    rng.randint(1, 3000),
                    rng.randint(-10, 10),
                    rng.randint(-10, 10),
                    tif,
                    rng.random() < 0.5,
                    rng.random() < 0.2,
                )
            )
        elif roll < 0.9:
            if market_data == "trade":
                actions.append(("trade", rng.randint(-15, 15), rng.randint(1, 3000)))
            else:
                actions.append(("bar", rng.randint(-5, 5), rng.randint(0, 15), rng.randint(0, 15), rng.randint(0, 100)))
        else:
            actions.append(("cancel", rng.randint(0, 30)))
    return actions


@pytest.mark.parametrize("seed", range(6))
def test_long_random_sessions_keep_the_same_properties(seed):
    rng = random.Random(seed)
    paper = run_paper_session(random_actions(rng, "trade", 300), touch=seed % 2 == 0, volume=seed % 3 == 0)
    backtest = run_backtest_session(random_actions(rng, "bar", 300), touch=seed % 2 == 1, oco=False)
    # these sessions do reach every kind of fill
    liquidity = {(where, event.fill.liquidity) for where, event in paper.fills + backtest.fills}
    assert {("trade", Liquidity.MAKER), ("submit", Liquidity.TAKER), ("bar", Liquidity.MAKER), ("bar", Liquidity.TAKER)} <= liquidity


def test_a_post_only_limit_waiting_for_a_price_expires_when_the_first_price_crosses_it():
    the_engine = engine()
    assert kinds(the_engine.submit("o1", limit(BUY, "1", "99.0", post_only=True), NOW)) == ["OrderAccepted"]
    events = the_engine.on_bar(bar("98", "99", "97", "98"), NOW)
    assert kinds(events) == ["OrderExpired"] and "take liquidity" in events[0].reason


def test_a_resting_post_only_limit_gapped_through_fills_at_its_limit_as_maker():
    the_engine = engine()
    the_engine.submit("o1", limit(BUY, "1", "99.0", post_only=True), NOW)
    the_engine.on_bar(bar("100", "101", "99.5", "100"), NOW)
    assert fills(the_engine.on_bar(bar("97", "98", "96", "97", 1), NOW)) == [(D("99.0"), D("1"), Liquidity.MAKER)]


def test_a_take_profit_gapped_through_fills_at_the_open():
    the_engine = engine()
    the_engine.submit("o1", intent(SELL, OrderType.TAKE_PROFIT, "1", stop="110"), NOW)
    the_engine.on_bar(bar("100", "105", "99", "104"), NOW)
    events = the_engine.on_bar(bar("112", "113", "111", "112", 1), NOW)
    assert kinds(events) == ["OrderTriggered", "OrderFilled"]
    assert fills(events) == [(D("111.9"), D("1"), Liquidity.TAKER)]  # 112 x 0.9993 = 111.9216 -> 111.9


def test_without_a_last_price_stops_compare_with_the_books_mid():
    the_engine = engine()
    events = the_engine.submit("o1", intent(SELL, OrderType.STOP_MARKET, "1", stop="100.0"), NOW, BOOK)  # mid 99.95
    assert kinds(events) == ["OrderAccepted", "OrderTriggered", "OrderFilled"]
    assert fills(events) == [(D("99.9"), D("1"), Liquidity.TAKER)]  # walked the bids


def test_many_cancels_leave_the_remaining_orders_matched_correctly():
    the_engine = engine()
    for n in range(10_000):
        the_engine.submit(f"o{n}", limit(BUY, "0.001", str(D("90") + D(n % 50) / 10)), NOW, BOOK)
    for n in range(10_000):
        if n % 100:
            the_engine.cancel(f"o{n}", NOW)
    assert len(the_engine.open_orders()) == 100
    events = the_engine.on_trade(D("80"), D("1000"), NOW)
    assert sorted(e.order_id for e in events) == sorted(f"o{n}" for n in range(0, 10_000, 100))
    assert [e.fill.price for e in events] == sorted((e.fill.price for e in events), reverse=True)  # best bid first


def test_accepted_orders_are_reported_in_submission_order():
    the_engine = engine()
    for n in range(5):
        assert isinstance(the_engine.submit(f"o{n}", limit(BUY, "1", str(90 + n)), NOW, BOOK)[0], OrderAccepted)
    assert [o.order_id for o in the_engine.open_orders()] == [f"o{n}" for n in range(5)]


def test_the_hot_loop_builders_make_the_same_frozen_values_as_the_constructors() -> None:
    built = build_fill("o1", RULES.symbol, BUY, D("100"), D("1"), D("0.1"), "USDT", Liquidity.TAKER, NOW, "o1-1")
    assert built == Fill("o1", RULES.symbol, BUY, D("100"), D("1"), D("0.1"), "USDT", Liquidity.TAKER, NOW, "o1-1")
    assert hash(built) == hash(Fill("o1", RULES.symbol, BUY, D("100"), D("1"), D("0.1"), "USDT", Liquidity.TAKER, NOW, "o1-1"))
    assert build_market_intent("c1", RULES.symbol, SELL, D("2")) == OrderIntent("c1", RULES.symbol, SELL, OrderType.MARKET, D("2"))
    with pytest.raises(FrozenInstanceError):
        built.price = D("1")  # type: ignore[misc]
