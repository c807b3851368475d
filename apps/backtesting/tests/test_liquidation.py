"""Leveraged perpetual backtests liquidate on each bar, by the portfolio domain's rule, and say so in the result."""

from dataclasses import replace
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.backtesting.domain.accounting import LIQUIDATION_TRADE_ID
from apps.backtesting.domain.engine import BacktestConfig, run_backtest
from apps.exchanges.domain.types import MarketType
from apps.orders.domain.model import MarginMode, OrderSide
from apps.portfolio.domain.balances import position_margin
from apps.portfolio.domain.margin import isolated_liquidation_price
from apps.portfolio.domain.positions import Position
from apps.strategies.domain.base import Strategy
from apps.strategies.domain.builtin.sma_cross import SmaCross
from apps.strategies.domain.registry import create_strategy
from apps.strategies.tests.bars import bars, random_walk

D = Decimal
PERP = MarketType.LINEAR_PERPETUAL
MMR = D("0.005")
LIQ_FEE = D("0.005")
SELL = OrderSide.SELL


class Scripted(Strategy):
    name = "scripted"
    description = "test double"

    def __init__(self, script):
        super().__init__()
        self.script = script
        self.positions = []

    def on_bar(self, ctx, bar):
        action = self.script.get(bar.index)
        if action is not None:
            action(ctx)

    def on_position_update(self, ctx, position):
        self.positions.append((ctx.t, position.quantity))


def ten_x(**changes):
    return BacktestConfig(initial_capital=D(1000), taker_fee=D(0), market_type=PERP, leverage=10, liquidation_fee=LIQ_FEE, **changes)


def long_liquidation_price(quantity, entry, leverage=10):
    margin = position_margin(Position("BTC/USDT:USDT", quantity, entry), leverage)
    return isolated_liquidation_price(quantity=quantity, entry_price=entry, maintenance_margin_rate=MMR, isolated_margin=margin)


# bar 1 opens at 100 (the long fills there); bar 3 trades down to 89: through the liquidation price 90.45...
FALLING = bars([100, 100, 98, 91, 92, 93], [100, 100, 99, 97, 90, 92], [101, 101, 100, 97, 93, 94], [99, 99, 97, 89, 89.5, 91])


def test_a_10x_long_is_liquidated_at_its_liquidation_price_on_the_first_bar_whose_low_reaches_it():
    result = run_backtest(Scripted({0: lambda ctx: ctx.buy(90)}), FALLING, ten_x())
    price = long_liquidation_price(D(90), D(100))
    assert D(89) < price < D(97)  # bar 2's low (97) does not reach it, bar 3's (89) does
    (liquidation,) = result.liquidations
    assert (liquidation.bar, liquidation.side, liquidation.quantity, liquidation.price) == (3, "LONG", D(90), price)
    assert liquidation.fee == D(90) * price * LIQ_FEE
    margin = D(900)  # 90 x 100 / 10: isolated, the whole margin is lost
    assert liquidation.loss == margin
    last = result.fills[-1]
    assert (last.bar, last.fill.side, last.fill.price, last.fill.trade_id) == (3, SELL, price, LIQUIDATION_TRADE_ID)
    (trade,) = result.trades
    assert trade.liquidated and trade.exit_bar == 3 and trade.pnl == -margin
    assert result.position_final.quantity == 0
    assert result.equity[3:].tolist() == [100.0, 100.0, 100.0]  # what is left of the wallet
    assert result.metrics()["liquidations"] == 1 and result.metrics()["liquidation_losses"] == 900.0
    assert result.warning() == "Warning: 1 liquidation"
    assert any(line.message.startswith("liquidated: long 90 at") for line in result.log)


def test_a_bar_that_opens_beyond_the_liquidation_price_liquidates_at_the_open():
    gapped = bars([100, 100, 98, 85, 86], [100, 100, 99, 86, 85], [101, 101, 100, 87, 87], [99, 99, 97, 84, 84])
    result = run_backtest(Scripted({0: lambda ctx: ctx.buy(90)}), gapped, ten_x())
    (liquidation,) = result.liquidations
    assert (liquidation.bar, liquidation.price) == (3, D(86))
    # the gap beyond the price is the venue's loss, not the trader's: still the margin
    assert liquidation.loss == D(900)


def test_a_stop_before_the_liquidation_price_exits_first_and_one_beyond_it_is_too_late():
    before = run_backtest(Scripted({0: lambda ctx: ctx.buy(90), 1: lambda ctx: ctx.stop(SELL, 95, 90, reduce_only=True)}), FALLING, ten_x())
    assert before.liquidations == [] and before.fills[-1].fill.price == D(95) and not before.trades[0].liquidated

    beyond = Scripted({0: lambda ctx: ctx.buy(90), 1: lambda ctx: ctx.stop(SELL, 89.5, 90, reduce_only=True)})
    result = run_backtest(beyond, FALLING, ten_x())
    assert len(result.liquidations) == 1 and result.trades[0].liquidated
    assert result.open_orders == []  # the liquidation cancelled the stop
    assert (3, D(0)) in beyond.positions


def test_a_short_is_liquidated_when_the_high_reaches_its_price():
    rising = bars([100, 100, 104, 111, 110], [100, 100, 101, 105, 111], [101, 101, 105, 112, 112], [99, 99, 100, 104, 109])
    result = run_backtest(Scripted({0: lambda ctx: ctx.sell(90)}), rising, ten_x())
    (liquidation,) = result.liquidations
    price = isolated_liquidation_price(quantity=D(-90), entry_price=D(100), maintenance_margin_rate=MMR, isolated_margin=D(900))
    assert (liquidation.bar, liquidation.side, liquidation.price) == (3, "SHORT", price)


def test_cross_margin_loses_the_pnl_and_fee_from_the_whole_wallet_not_more():
    result = run_backtest(Scripted({0: lambda ctx: ctx.buy(90)}), FALLING, ten_x(margin_mode=MarginMode.CROSS))
    (liquidation,) = result.liquidations
    # cross: the whole wallet backs the position, so the price is lower: 100 - 1000/90 ... / (1 - mmr)
    expected = (D(100) * 90 - D(1000)) / (D(90) * (1 - MMR))
    assert liquidation.price == expected
    loss = (D(100) - expected) * 90 + D(90) * expected * LIQ_FEE
    assert liquidation.loss == min(loss, D(1000))
    assert result.equity[-1] == pytest.approx(float(D(1000) - liquidation.loss))


def test_spot_never_liquidates():
    result = run_backtest(Scripted({0: lambda ctx: ctx.buy(9)}), FALLING, BacktestConfig(initial_capital=D(1000), taker_fee=D(0)))
    assert result.liquidations == [] and result.position_final.quantity == 9


def _adverse(data, t, long):
    return D(repr(float(data.low[t] if long else data.high[t])))


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    leverage=st.integers(2, 50),
    fast=st.integers(2, 6),
    gap=st.integers(2, 12),
    mode=st.sampled_from(["fast", "slow"]),
)
def test_a_position_is_liquidated_exactly_when_a_bar_reaches_its_liquidation_price_and_never_before(seed, leverage, fast, gap, mode):
    data = random_walk(400, seed, sigma=0.02)
    params = {"fast": fast, "slow": fast + gap, "mode": "long_short", "fraction": min(leverage * 0.9, 10.0)}
    config = BacktestConfig(initial_capital=D(10_000), taker_fee=D("0.0005"), market_type=PERP, leverage=leverage, mode=mode)
    result = run_backtest(create_strategy("sma_cross", params), data, config)
    assert (result.equity > 0).all(), "isolated margin: the equity never goes below what the venue allows"
    entries = {}
    for record in result.fills:
        if record.fill.trade_id != LIQUIDATION_TRADE_ID:
            entries.setdefault(record.bar, record.fill)
    for trade in result.trades + ([result.open_trade] if result.open_trade else []):
        long = trade.side == "LONG"
        quantity = trade.quantity if long else -trade.quantity
        margin = position_margin(Position("BTC/USDT:USDT", quantity, trade.entry_price), leverage)
        price = isolated_liquidation_price(quantity=quantity, entry_price=trade.entry_price, maintenance_margin_rate=MMR, isolated_margin=margin)
        if price is None:
            continue
        last = trade.exit_bar if trade.exit_bar is not None else len(data)
        for t in range(trade.entry_bar, last):
            adverse = _adverse(data, t, long)
            assert (adverse > price) if long else (adverse < price), f"bar {t} reached {price} but was not liquidated"
        if trade.liquidated:
            adverse = _adverse(data, trade.exit_bar, long)
            assert (adverse <= price) if long else (adverse >= price)


class WatchedSmaCross(SmaCross):
    """sma_cross with an order hook: the fast path visits bars itself (the general visit) instead of executing targets."""

    name = "watched_sma_cross"

    def on_order_update(self, ctx, update):
        pass


@pytest.mark.parametrize("watched", [False, True])
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), leverage=st.integers(5, 50), cross=st.booleans())
def test_fast_and_slow_paths_liquidate_the_same_positions(watched, seed, leverage, cross):
    data = random_walk(500, seed, sigma=0.02)
    params = {"fast": 3, "slow": 9, "mode": "long_short", "fraction": float(min(leverage, 10))}
    config = BacktestConfig(
        initial_capital=D(10_000), taker_fee=D("0.0005"), market_type=PERP, leverage=leverage, margin_mode=MarginMode.CROSS if cross else MarginMode.ISOLATED
    )
    make = WatchedSmaCross if watched else SmaCross
    fast = run_backtest(make(params), data, replace(config, mode="fast"))
    slow = run_backtest(make(params), data, replace(config, mode="slow"))
    assert fast.liquidations == slow.liquidations
    assert fast.fills == slow.fills and fast.trades == slow.trades and fast.refusals == slow.refusals
    assert np.array_equal(fast.equity, slow.equity)


def test_a_leveraged_random_walk_is_liquidated_somewhere_so_the_properties_are_not_vacuous():
    data = random_walk(500, 1, sigma=0.02)
    params = {"fast": 3, "slow": 9, "mode": "long_short", "fraction": 10.0}
    result = run_backtest(create_strategy("sma_cross", params), data, BacktestConfig(initial_capital=D(10_000), market_type=PERP, leverage=20))
    assert result.liquidations
