"""Changing the future (bars t+1..end) cannot change what happened up to bar t, for every strategy and both paths."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.backtesting.domain import engine
from apps.backtesting.domain.engine import BacktestConfig, run_backtest
from apps.exchanges.domain.types import MarketType
from apps.strategies.domain.base import StrategyError
from apps.strategies.domain.builtin.sma_cross import SmaCross
from apps.strategies.domain.registry import create_strategy
from apps.strategies.tests.bars import random_walk, splice

CASES = {
    "sma_cross": ({"fast": 3, "slow": 8}, MarketType.LINEAR_PERPETUAL),
    "grid": ({"lower": 94, "upper": 106, "levels": 7, "quantity": 1}, MarketType.SPOT),
    "dca": ({"interval": 15, "max_safety_orders": 2, "step_percent": 1, "take_profit_percent": 1}, MarketType.SPOT),
    "dca_dip": ({"trigger": "dip", "lookback": 10, "dip_percent": 1, "take_profit_percent": 1}, MarketType.SPOT),
    "momentum": ({"lookback": 10, "atr_period": 5, "allow_short": True}, MarketType.LINEAR_PERPETUAL),
    "mean_reversion": ({"rsi_period": 5, "bb_period": 10, "bb_std": 1.0, "allow_short": True}, MarketType.LINEAR_PERPETUAL),
}


def observed_until(result, t):
    """Everything decided or executed at bars <= t."""
    return (
        [line for line in result.log if line.bar <= t],
        [f for f in result.fills if f.bar <= t],
        [trade for trade in result.trades if trade.exit_bar is not None and trade.exit_bar <= t],
        result.equity[: t + 1].tolist(),
        result.position[: t + 1].tolist(),
    )


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("fill_at", ["next_open", "close"])
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), other=st.integers(0, 10_000), cut=st.floats(0.05, 0.95))
def test_the_future_cannot_change_the_past(case, fill_at, seed, other, cut):
    params, market = CASES[case]
    name = case.removesuffix("_dip")
    n = 160
    t = int(cut * (n - 1))
    data = random_walk(n, seed)
    future = splice(data, random_walk(n, other, sigma=0.01), t)
    config = BacktestConfig(market_type=market, fill_at=fill_at)
    a = run_backtest(create_strategy(name, params), data, config)
    b = run_backtest(create_strategy(name, params), future, config)
    assert observed_until(a, t) == observed_until(b, t)


class Peeking(SmaCross):
    """A broken strategy: its 'fast average' is tomorrow's close."""

    name = "peeking"

    def prepare(self, data):
        prepared = super().prepare(data)
        prepared["fast"] = np.append(data.close[1:], np.nan)
        return prepared


def test_the_property_catches_a_strategy_that_peeks(monkeypatch):
    monkeypatch.setattr(engine, "_first_look_ahead", lambda *args: None)  # the engine's own check would refuse it first
    data = random_walk(300, 1)
    changed = 0
    for t in range(20, 280, 20):
        future = splice(data, random_walk(300, 2, sigma=0.02), t)
        a = run_backtest(Peeking({"fast": 2, "slow": 8}), data, BacktestConfig())
        b = run_backtest(Peeking({"fast": 2, "slow": 8}), future, BacktestConfig())
        changed += observed_until(a, t) != observed_until(b, t)
    assert changed > 0


@pytest.mark.parametrize("mode", ["fast", "slow"])
def test_the_engine_refuses_a_strategy_whose_indicators_look_ahead(mode):
    with pytest.raises(StrategyError) as refused:
        run_backtest(Peeking({"fast": 2, "slow": 8}), random_walk(300, 1), BacktestConfig(mode=mode))

    assert "prepare() value 'fast' changes when later bars are added: it looks ahead" in refused.value.message


class PeekingSignals(SmaCross):
    """Indicators fine, but its signal at bar t is the crossing decided at t + 1."""

    name = "peeking_signals"

    def signals(self, data, prepared):
        signals = super().signals(data, prepared)
        return None if signals is None else np.append(signals[1:], np.nan)


def test_the_engine_refuses_signals_that_look_ahead():
    with pytest.raises(StrategyError, match=r"its signals\(\) changes when later bars are added"):
        run_backtest(PeekingSignals({"fast": 2, "slow": 8}), random_walk(300, 1), BacktestConfig())
