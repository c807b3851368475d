import math
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest

from apps.backtesting.domain.engine import BacktestConfig, Trade, run_backtest
from apps.backtesting.domain.metrics import compute, drawdown, monthly_returns, periods_per_year, sortino, trade_stats
from apps.strategies.domain.registry import create_strategy
from apps.strategies.tests.bars import random_walk

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def trade(pnl):
    return Trade("LONG", 0, T0, 1, T0, Decimal(1), Decimal(100), Decimal(101), Decimal(0), Decimal(0), Decimal(pnl))


def test_periods_per_year_use_365_days():
    assert periods_per_year(60) == 525_600
    assert periods_per_year(86_400) == 365


def test_returns_ratios_and_drawdown_by_hand():
    # daily bars; equity 110, 99, 104.5, 121 from 100: returns +10 %, -10 %, +5.5555 %, +15.789 %
    equity = np.array([110.0, 99.0, 104.5, 121.0])
    times = np.array(["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"], dtype="datetime64[ns]")
    out = compute(
        equity=equity,
        times=times,
        close=np.array([10.0, 9.0, 9.5, 12.0]),
        position=np.array([1.0, 1.0, 0.0, 1.0]),
        trades=[trade(5), trade(-2), trade(3)],
        initial=100.0,
        bar_seconds=86_400,
    )
    r = np.array([0.10, -0.10, 104.5 / 99 - 1, 121 / 104.5 - 1])
    assert out["total_return"] == pytest.approx(0.21)
    assert out["annualised_return"] == pytest.approx(1.21 ** (365 / 4) - 1)
    assert out["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(365))
    assert out["sortino"] == pytest.approx(r.mean() / math.sqrt(0.01 / 4) * math.sqrt(365))
    assert out["max_drawdown"] == pytest.approx(0.10)  # 110 -> 99
    assert (out["max_drawdown_duration_bars"], out["max_drawdown_start_bar"], out["max_drawdown_end_bar"]) == (2, 1, 2)
    assert out["max_drawdown_duration_days"] == 2
    assert out["calmar"] == pytest.approx(out["annualised_return"] / 0.10)
    assert out["exposure"] == 0.75
    assert out["buy_and_hold_return"] == pytest.approx(0.2)
    assert out["trades"] == 3 and out["win_rate"] == pytest.approx(2 / 3)
    assert out["profit_factor"] == pytest.approx(8 / 2)
    assert out["average_win"] == 4 and out["average_loss"] == -2
    assert out["annualisation"].startswith("365 days, 365 periods per year")
    assert out["monthly_returns"] == {"2024-01": pytest.approx(0.21)}


def test_drawdown_of_a_curve_that_never_recovers_lasts_to_the_end():
    assert drawdown(np.array([90.0, 95.0, 99.0]), 100.0) == (pytest.approx(0.1), 3, 0, 2)
    assert drawdown(np.array([100.0, 101.0]), 100.0) == (0.0, 0, None, None)


def test_trade_stats_without_losses_or_trades():
    assert trade_stats([trade(1), trade(2)])["profit_factor"] is None
    empty = trade_stats([])
    assert empty["trades"] == 0 and empty["win_rate"] is None


def test_sortino_without_downside_is_none():
    assert sortino(np.array([0.01, 0.02]), 365) is None


def test_monthly_returns_chain_month_ends():
    times = np.array(["2024-01-15", "2024-01-31", "2024-02-10", "2024-03-01"], dtype="datetime64[ns]")
    out = monthly_returns(times, np.array([105.0, 110.0, 99.0, 108.9]), 100.0)
    assert out == {"2024-01": pytest.approx(0.10), "2024-02": pytest.approx(-0.10), "2024-03": pytest.approx(0.10)}


def test_metrics_of_a_backtest_are_json_safe_and_consistent():
    import json

    result = run_backtest(create_strategy("sma_cross", {"fast": 5, "slow": 20}), random_walk(2000, 4), BacktestConfig())
    out = result.metrics()
    json.dumps(out)
    assert out["trades"] == len(result.trades)
    assert out["final_equity"] == pytest.approx(result.equity[-1])
    assert out["periods_per_year"] == 8760


def _hourly_with_nights_missing(days: int) -> np.ndarray:
    """Hourly bars from 08:00 to 23:00 UTC each day: 8 hours a day have no bar."""
    start = np.datetime64("2024-01-01T08:00", "ns")
    return np.array([start + np.timedelta64(d, "D") + np.timedelta64(h, "h") for d in range(days) for h in range(16)])


def test_annualisation_counts_calendar_time_not_bars_times_the_bar_length():
    times = _hourly_with_nights_missing(30)
    equity = np.linspace(10_100.0, 9_000.0, times.size)
    out = compute(equity=equity, times=times, close=equity, position=np.zeros(times.size), trades=[], initial=10_000.0, bar_seconds=3600)
    days = (29 * 24 + 15 + 1) / 24  # first open (day 1, 08:00) to the last close (day 30, 24:00)
    assert out["calendar_days"] == pytest.approx(days)
    assert out["annualised_return"] == pytest.approx(0.9 ** (365 / days) - 1)
    assert out["annualised_return"] != pytest.approx(0.9 ** (365 / (times.size / 24)) - 1)  # bars x 1 h: 20 days only
    assert out["gaps"] == 29 and out["largest_gap_seconds"] == 9 * 3600
    assert "returns over calendar time (" in out["annualisation"]


def test_sharpe_sortino_and_volatility_use_daily_returns_and_the_per_bar_ones_are_kept_labelled():
    rng = np.random.default_rng(3)
    times = np.datetime64("2024-03-01T00:00", "ns") + np.arange(10 * 1440) * np.timedelta64(1, "m")
    equity = 10_000.0 * np.exp(np.cumsum(rng.normal(0.00001, 0.0005, times.size)))
    out = compute(equity=equity, times=times, close=equity, position=np.zeros(times.size), trades=[], initial=10_000.0, bar_seconds=60)
    day_ends = equity[1439::1440]
    daily = np.diff(np.concatenate(([10_000.0], day_ends))) / np.concatenate(([10_000.0], day_ends[:-1]))
    assert out["sharpe"] == pytest.approx(daily.mean() / daily.std(ddof=1) * math.sqrt(365))
    assert out["sortino"] == pytest.approx(daily.mean() / math.sqrt(np.mean(np.minimum(daily, 0) ** 2)) * math.sqrt(365))
    assert out["volatility"] == pytest.approx(daily.std(ddof=1) * math.sqrt(365))
    per_bar = np.diff(np.concatenate(([10_000.0], equity))) / np.concatenate(([10_000.0], equity[:-1]))
    assert out["sharpe_per_bar"] == pytest.approx(per_bar.mean() / per_bar.std(ddof=1) * math.sqrt(525_600))
    assert out["volatility_per_bar"] == pytest.approx(per_bar.std(ddof=1) * math.sqrt(525_600))
    assert "Sharpe, Sortino and volatility on daily returns (UTC days)" in out["annualisation"]
    assert out["gaps"] == 0


def test_a_backtest_on_candles_with_gaps_warns_about_them():
    data = random_walk(600, 2)
    keep = np.ones(600, dtype=bool)
    keep[200:230] = False  # 30 hourly candles missing
    gapped = type(data).from_arrays(data.time[keep], data.open[keep], data.high[keep], data.low[keep], data.close[keep], data.volume[keep])
    out = run_backtest(create_strategy("sma_cross", {"fast": 5, "slow": 20}), gapped, BacktestConfig()).metrics()
    assert out["gaps"] == 1 and out["warning"] == "Warning: 1 gap in the candles (the largest 31 h): returns are annualised over calendar time"
    clean = run_backtest(create_strategy("sma_cross", {"fast": 5, "slow": 20}), data, BacktestConfig()).metrics()
    assert clean["gaps"] == 0 and clean["warning"] is None
