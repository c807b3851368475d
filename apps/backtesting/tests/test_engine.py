"""Fill semantics and accounting of the backtest engine (through the orders domain's MatchingEngine)."""

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.backtesting.domain.engine import BacktestConfig, default_rules, run_backtest
from apps.exchanges.domain.types import MarketType
from apps.orders.domain.fill_model import FillModel
from apps.orders.domain.matching import MatchingEngine
from apps.orders.domain.model import Bar, FeeSchedule, Liquidity, OrderIntent, OrderSide, OrderStatus, OrderType, SymbolRules
from apps.portfolio.domain.balances import Balance, Balances
from apps.portfolio.domain.positions import Position
from apps.strategies.domain.base import Strategy, StrategyContext
from apps.strategies.tests.bars import bars, random_walk

D = Decimal
PERP = MarketType.LINEAR_PERPETUAL
BUY, SELL = OrderSide.BUY, OrderSide.SELL


class Scripted(Strategy):
    """Runs `script[t](ctx)` at the close of bar t; records every order update."""

    name = "scripted"
    description = "test double"

    def __init__(self, script: dict[int, Callable[[StrategyContext], object]]) -> None:
        super().__init__()
        self.script = script
        self.updates: list = []

    def on_bar(self, ctx, bar):
        action = self.script.get(bar.index)
        if action is not None:
            action(ctx)

    def on_order_update(self, ctx, update):
        self.updates.append((ctx.t, update))


def run(script, data, **config):
    strategy = Scripted(script)
    return run_backtest(strategy, data, BacktestConfig(**config)), strategy


def fills(result):
    return [(f.bar, f.fill.side, f.fill.price, f.fill.quantity, f.fill.liquidity) for f in result.fills]


# closes 100..105, opens = previous close + 0.5
CLOSES = [100, 101, 102, 103, 104, 105]
DATA = bars(CLOSES, [100] + [c + 0.5 for c in CLOSES[:-1]])


def test_a_market_order_decided_at_a_close_fills_at_the_next_open_with_slippage_and_the_taker_fee():
    result, _ = run({1: lambda ctx: ctx.buy(2)}, DATA, slippage_bps=D(10), taker_fee=D("0.001"))
    # open of bar 2 = 101.5; + 10 bps = 101.6015 -> rounded up to the tick: 101.61
    assert fills(result) == [(2, BUY, D("101.61"), D(2), Liquidity.TAKER)]
    assert result.fills[0].fill.fee == D("101.61") * 2 * D("0.001")
    assert result.fills[0].fill.timestamp == DATA.datetime_at(2)


def test_close_mode_fills_a_market_order_at_the_close_of_the_deciding_bar():
    result, _ = run({1: lambda ctx: ctx.buy(2)}, DATA, fill_at="close")
    assert fills(result) == [(1, BUY, D(101), D(2), Liquidity.TAKER)]
    # the equity at bar 1's close already holds the position (fee only)
    assert result.position[1] == 2.0 and result.position[0] == 0.0


def test_a_sell_stop_gapped_through_fills_at_the_open_and_one_reached_in_the_range_at_its_price():
    data = bars([100, 100, 100, 90, 100, 97], [100, 100, 100, 92, 99, 99], [101, 101, 101, 93, 101, 100], [99, 99, 99, 89, 98, 95])
    script = {
        0: lambda ctx: ctx.buy(2),
        1: lambda ctx: ctx.stop(SELL, 95, 1),  # bar 3 opens at 92 below it: filled at 92
        4: lambda ctx: ctx.stop(SELL, 96, 1),  # bar 5 trades 95-100 from an open of 99: filled at 96
    }
    result, _ = run(script, data)
    assert fills(result)[1:] == [(3, SELL, D(92), D(1), Liquidity.TAKER), (5, SELL, D(96), D(1), Liquidity.TAKER)]


def test_limits_fill_at_their_price_as_makers_only_when_traded_through_and_at_the_open_when_gapped():
    data = bars([100, 100, 99, 100, 96, 96], [100, 100, 100, 99, 96, 96], [101, 101, 101, 101, 97, 97], [99, 99, 98, 97.5, 95, 95])
    script = {
        0: lambda ctx: ctx.limit(BUY, 98, 1),  # bar 2 only touches 98, bar 3 trades through it
        3: lambda ctx: ctx.limit(BUY, 97, 1),  # bar 4 opens at 96, below it: taker at the open
    }
    result, _ = run(script, data, maker_fee=D("0.0002"), taker_fee=D("0.001"))
    assert fills(result) == [(3, BUY, D(98), D(1), Liquidity.MAKER), (4, BUY, D(96), D(1), Liquidity.TAKER)]
    assert result.fills[0].fill.fee == D(98) * D("0.0002")


def test_fill_on_touch_fills_a_limit_the_bar_only_touches():
    data = bars([100, 100, 99], [100, 100, 100], [101, 101, 101], [99, 99, 98])
    result, _ = run({0: lambda ctx: ctx.limit(BUY, 98, 1)}, data, fill_on_touch=True)
    assert fills(result) == [(2, BUY, D(98), D(1), Liquidity.MAKER)]


def test_orders_and_fills_are_reported_to_the_strategy_at_the_close_of_the_bar_they_happen_in():
    _, strategy = run({1: lambda ctx: ctx.buy(1)}, DATA)
    assert [(t, u.kind, u.status) for t, u in strategy.updates] == [(1, "accepted", OrderStatus.OPEN), (2, "filled", OrderStatus.FILLED)]


def test_cancel_removes_a_resting_order_and_open_orders_show_it_until_then():
    seen = []
    script = {0: lambda ctx: ctx.limit(BUY, 50, 1), 1: lambda ctx: seen.append([o.price for o in ctx.open_orders]), 2: lambda ctx: ctx.cancel_all()}
    result, strategy = run(script, DATA)
    assert seen == [[D(50)]] and result.open_orders == []
    assert strategy.updates[-1][1].status is OrderStatus.CANCELED


def test_spot_refuses_to_sell_what_is_not_held_and_to_spend_more_than_the_cash_at_the_fill():
    result, strategy = run({0: lambda ctx: ctx.sell(1), 1: lambda ctx: ctx.buy(1000)}, DATA, initial_capital=D(1000))
    assert result.fills == []
    refused = [(t, u.reason) for t, u in strategy.updates if u.status is OrderStatus.REJECTED]
    # the sell is refused when placed; the buy is accepted, then refused when it meets bar 2's open
    assert refused == [(0, "spot: cannot sell more than is held"), (2, "spot: not enough cash at the fill price")]


def test_a_perpetual_refuses_a_fill_beyond_its_free_margin_and_reduce_only_that_would_not_reduce():
    script = {0: lambda ctx: ctx.sell(25), 1: lambda ctx: ctx.buy(1, reduce_only=True), 2: lambda ctx: ctx.sell(15)}
    result, strategy = run(script, DATA, market_type=PERP, initial_capital=D(1000), leverage=2)
    # margin 25 x 100.5 / 2 > 1000 at bar 1's open: refused; reduce-only with no position: refused;
    # 15 x 102.5 / 2 = 768.75 plus the fee <= 1000: done
    assert [u.reason for _, u in strategy.updates if u.kind == "rejected"] == [
        "perpetual: not enough free margin at the fill price",
        "reduce-only order would not reduce the position",
    ]
    assert fills(result) == [(3, SELL, D("102.5"), D(15), Liquidity.TAKER)]


def test_a_flip_closes_one_trade_and_opens_the_next_with_the_fee_split_by_quantity():
    script = {0: lambda ctx: ctx.buy(1), 2: lambda ctx: ctx.target_position(-3)}
    result, _ = run(script, DATA, market_type=PERP, taker_fee=D("0.01"))
    # buy 1 at 100.5 (bar 1), sell 4 at 102.5 (bar 3): 1 closes the long, 3 open the short
    (closed,) = result.trades
    assert (closed.side, closed.entry_price, closed.exit_price, closed.quantity) == ("LONG", D("100.5"), D("102.5"), D(1))
    assert closed.fees == D("1.005") + D("4.1") / 4
    assert closed.pnl == D(2) - closed.fees
    opened = result.open_trade
    assert (opened.side, opened.quantity, opened.entry_price, opened.fees) == ("SHORT", D(3), D("102.5"), D("4.1") * 3 / 4)


def test_funding_is_paid_every_8_hours_on_the_position_held_marked_at_the_open():
    n = 20  # hourly bars from 00:00: funding at bars 0, 8 and 16
    data = bars([100.0] * n, [100.0] * 8 + [110.0] * 12)
    result, _ = run({0: lambda ctx: ctx.buy(2)}, data, market_type=PERP, funding_rate=D("0.001"), maker_fee=D(0), taker_fee=D(0))
    # long from bar 1: pays 2 x 110 x 0.001 at bars 8 and 16 (nothing at bar 0: flat)
    assert result.funding_paid == D("0.44")
    assert result.position_final.funding_paid == D("0.44")
    assert result.equity[7] == pytest.approx(10_000 + 2 * (100 - 100))  # bought at bar 1's open (100), marked at 100
    assert result.equity[8] == pytest.approx(10_000 - 0.22)
    assert result.equity[-1] == pytest.approx(10_000 - 0.44)


def test_funding_follows_a_rate_series_and_shorts_receive_a_positive_rate():
    n = 10
    rates = np.zeros(n)
    rates[8] = 0.0005
    data = bars([100.0] * n)
    result, _ = run({0: lambda ctx: ctx.sell(4)}, data, market_type=PERP, funding_rate=rates, taker_fee=D(0))
    assert result.funding_paid == D("-0.2")


def test_the_equity_curve_is_marked_to_market_at_each_close():
    result, _ = run({0: lambda ctx: ctx.buy(10)}, DATA, taker_fee=D(0))
    # bought 10 at 100.5 at bar 1's open
    assert result.equity.tolist() == [10_000.0] + [10_000 + 10 * (c - 100.5) for c in CLOSES[1:]]


@pytest.mark.parametrize("market", [MarketType.SPOT, PERP])
def test_the_accounts_cash_is_what_the_portfolio_domains_balances_give_for_the_same_fills(market):
    from apps.strategies.domain.registry import create_strategy

    data = random_walk(600, seed=11)
    config = BacktestConfig(
        market_type=market, initial_capital=D(100_000), maker_fee=D("0.0002"), taker_fee=D("0.0005"), leverage=1 if market is MarketType.SPOT else 3
    )
    params = {"fast": 5, "slow": 20, "mode": "long_only" if market is MarketType.SPOT else "long_short", "fraction": 0.5}
    result = run_backtest(create_strategy("sma_cross", params), data, config)
    assert len(result.fills) > 10
    rules = default_rules(market)
    balances = Balances([Balance("USDT", free=D(100_000))])
    position = Position(rules.symbol)
    for record in result.fills:
        fill = record.fill
        if market is MarketType.SPOT:
            if fill.side is BUY:
                balances = balances.lock("USDT", fill.notional + fill.fee)
            else:
                balances = balances.lock("BTC", fill.quantity)
            balances = balances.apply_spot_fill(fill, rules)
            position = position.apply(fill)
        else:
            balances, position = balances.apply_perpetual_fill(fill, position, rules, leverage=config.leverage)
    assert position == result.position_final
    assert balances.balance("USDT").total == result.balances.balance("USDT").total
    assert balances.balance("BTC").total == result.balances.balance("BTC").total
    mark = D(str(data.close[-1]))
    expected = balances.balance("USDT").total + (position.quantity * mark if market is MarketType.SPOT else position.unrealized_pnl(mark))
    assert result.equity[-1] == pytest.approx(float(expected))


def test_bars_can_be_given_as_a_list_of_domain_bars():
    listed = [DATA.bar(i) for i in range(len(DATA))]
    assert isinstance(listed[0], Bar)
    a, _ = run({1: lambda ctx: ctx.buy(1)}, DATA)
    b = run_backtest(Scripted({1: lambda ctx: ctx.buy(1)}), listed, BacktestConfig())
    assert a.fills == b.fills and a.equity.tolist() == b.equity.tolist()


def test_configuration_is_validated():
    with pytest.raises(ValueError):
        BacktestConfig(fill_at="tomorrow")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        BacktestConfig(leverage=3)  # spot
    with pytest.raises(ValueError):
        run_backtest(Scripted({}), DATA, BacktestConfig(mode="fast"))  # no signals(): no fast path


# -- the matching engine's bulk path for market orders --------------------------------------------

BULK_RULES = SymbolRules("BTC/USDT:USDT", "BTC", "USDT", D("0.1"), D("0.001"), D("0.002"), D("5"), 100, True)


def bulk_engine(slippage):
    return MatchingEngine(BULK_RULES, FillModel(FeeSchedule(D("0.0002"), D("0.0007")), slippage, BULK_RULES))


@settings(max_examples=200, deadline=None)
@given(
    side=st.sampled_from([BUY, SELL]),
    quantity=st.decimals(min_value=D("0"), max_value=D("3"), places=4),
    price=st.decimals(min_value=D("0.1"), max_value=D("50000"), places=2),
    slippage=st.sampled_from([D(0), D(3), D("12.5")]),
    symbol=st.sampled_from(["BTC/USDT:USDT", "ETH/USDT:USDT"]),
)
def test_execute_market_is_submit_at_a_price_for_market_orders(side, quantity, price, slippage, symbol):
    now = datetime(2024, 1, 1, tzinfo=UTC)
    intent = OrderIntent("c1", symbol, side, OrderType.MARKET, quantity)
    a, b = bulk_engine(slippage), bulk_engine(slippage)
    assert a.execute_market("o1", intent, price, now) == b.submit("o1", intent, now, last_price=price)
    assert a.status("o1") == b.status("o1")
    assert a.open_orders() == b.open_orders() == []
    assert a.execute_market("o1", intent, price, now) == b.submit("o1", intent, now, last_price=price)  # duplicate id


def test_execute_market_refuses_other_order_types():
    intent = OrderIntent("c1", BULK_RULES.symbol, BUY, OrderType.LIMIT, D(1), price=D(100))
    with pytest.raises(ValueError, match="market orders"):
        bulk_engine(D(0)).execute_market("o1", intent, D(100), datetime(2024, 1, 1, tzinfo=UTC))


def test_a_run_pauses_the_cyclic_garbage_collector_and_restores_it_even_after_a_failure():
    import gc

    from apps.strategies.domain.base import StrategyError

    seen = []
    assert gc.isenabled()
    run({0: lambda ctx: seen.append(gc.isenabled())}, DATA)
    assert seen == [False] and gc.isenabled()
    with pytest.raises(StrategyError):
        run({0: lambda ctx: 1 / 0}, DATA)
    assert gc.isenabled()
    gc.disable()
    try:
        run({}, DATA)
        assert not gc.isenabled()  # left as it was
    finally:
        gc.enable()
