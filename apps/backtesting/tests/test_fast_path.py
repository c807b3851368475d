"""The fast path (only the bars where something can happen) trades exactly like the slow path (every bar)."""

from dataclasses import replace
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.backtesting.domain.engine import BacktestConfig, run_backtest
from apps.exchanges.domain.types import MarketType
from apps.strategies.domain.builtin.sma_cross import SmaCross
from apps.strategies.domain.registry import create_strategy
from apps.strategies.tests.bars import random_walk

D = Decimal
PERP = MarketType.LINEAR_PERPETUAL


class WatchedSmaCross(SmaCross):
    """sma_cross with an order hook: its signals cannot be executed without calling it, so the
    fast path visits the bars instead (the general visit, with on_signal called)."""

    name = "watched_sma_cross"

    def on_order_update(self, ctx, update):
        pass


def make(name, params):
    return WatchedSmaCross(params) if name == "watched_sma_cross" else create_strategy(name, params)


def both(name, params, data, config):
    fast = run_backtest(make(name, params), data, replace(config, mode="fast"))
    slow = run_backtest(make(name, params), data, replace(config, mode="slow"))
    assert (fast.path, slow.path) == ("fast", "slow")
    return fast, slow


def assert_same(fast, slow):
    assert fast.trades == slow.trades
    assert fast.open_trade == slow.open_trade
    assert fast.fills == slow.fills
    assert fast.log == slow.log
    assert fast.rejections == slow.rejections
    assert fast.position_final == slow.position_final
    assert np.array_equal(fast.equity, slow.equity)
    assert np.array_equal(fast.position, slow.position)
    assert fast.balances == slow.balances
    assert [o.order_id for o in fast.open_orders] == [o.order_id for o in slow.open_orders]


@pytest.mark.parametrize("name", ["sma_cross", "watched_sma_cross"])
@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 100_000),
    fast=st.integers(1, 8),
    gap=st.integers(1, 20),
    mode=st.sampled_from(["long_only", "long_short"]),
    sizing=st.sampled_from(["fraction", "quantity"]),
    fill_at=st.sampled_from(["next_open", "close"]),
    slippage=st.sampled_from([D(0), D(5)]),
)
def test_sma_cross_fast_path_equals_slow_path_on_random_walks(name, seed, fast, gap, mode, sizing, fill_at, slippage):
    data = random_walk(700, seed)
    market = PERP if mode == "long_short" else MarketType.SPOT
    config = BacktestConfig(market_type=market, fill_at=fill_at, slippage_bps=slippage, taker_fee=D("0.001"))
    params = {"fast": fast, "slow": fast + gap, "mode": mode, "sizing": sizing, "fraction": 0.9, "quantity": 3}
    fast_result, slow_result = both(name, params, data, config)
    assert_same(fast_result, slow_result)
    assert fast_result.bars_visited < slow_result.bars_visited


@pytest.mark.parametrize("name", ["sma_cross", "watched_sma_cross"])
@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 100_000), rate=st.sampled_from([D("0.0001"), D("-0.0003")]))
def test_fast_path_equals_slow_path_with_funding_and_leverage(name, seed, rate):
    data = random_walk(900, seed, minutes=15)  # 8-hour funding every 32 bars
    config = BacktestConfig(market_type=PERP, leverage=3, funding_rate=rate)
    fast_result, slow_result = both(name, {"fast": 4, "slow": 12, "fraction": 2.5}, data, config)
    assert fast_result.funding_paid != 0
    assert_same(fast_result, slow_result)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 100_000), levels=st.integers(3, 15), touch=st.booleans())
def test_grid_fast_path_finds_every_bar_that_reaches_a_resting_order(seed, levels, touch):
    data = random_walk(800, seed)
    config = BacktestConfig(fill_on_touch=touch)
    params = {"lower": 92, "upper": 108, "levels": levels, "quantity": 1}
    fast_result, slow_result = both("grid", params, data, config)
    assert_same(fast_result, slow_result)
    assert fast_result.bars_visited < slow_result.bars_visited


def test_fast_path_equals_slow_path_with_restarts_from_persisted_state():
    data = random_walk(1500, 5)
    config = BacktestConfig(market_type=PERP, restore_state_every=50)
    fast_result, slow_result = both("sma_cross", {"fast": 5, "slow": 15}, data, config)
    plain = run_backtest(create_strategy("sma_cross", {"fast": 5, "slow": 15}), data, BacktestConfig(market_type=PERP))
    assert_same(fast_result, slow_result)
    assert fast_result.trades == plain.trades


def test_auto_mode_picks_the_fast_path_when_the_strategy_has_signals():
    data = random_walk(300, 1)
    assert run_backtest(create_strategy("sma_cross"), data).path == "fast"
    assert run_backtest(create_strategy("momentum"), data).path == "slow"


@pytest.mark.parametrize("n", [1, 2, 31])
def test_tiny_histories_work_on_both_paths(n):
    fast_result, slow_result = both("sma_cross", {"fast": 2, "slow": 5}, random_walk(n, 3), BacktestConfig())
    assert_same(fast_result, slow_result)
    assert len(fast_result.equity) == n


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 100_000), leverage=st.sampled_from([10, 25, 50]))
def test_grid_fast_path_equals_slow_path_on_a_leveraged_perpetual_with_liquidations_and_refusals(seed, leverage):
    data = random_walk(800, seed, sigma=0.01)
    config = BacktestConfig(market_type=PERP, leverage=leverage, initial_capital=D(2_000))
    params = {"lower": 85, "upper": 115, "levels": 10, "quantity": 40}
    fast_result, slow_result = both("grid", params, data, config)
    assert_same(fast_result, slow_result)
    assert fast_result.liquidations == slow_result.liquidations and fast_result.refusals == slow_result.refusals
