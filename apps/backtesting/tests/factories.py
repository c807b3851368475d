"""Backtests as rows, and stored candles (or CSV files) that make a strategy trade.

`BacktestFactory` builds a finished backtest without running anything, for lists, isolation
and comparison; tests of the run itself go through `backtest_create` / `backtest_run`.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import factory

from apps.accounts.tests.factories import UserFactory
from apps.backtesting.models import Backtest, RunStatus
from apps.exchanges.domain.timeframes import timeframe_seconds
from apps.exchanges.domain.types import Candle
from apps.exchanges.models import Symbol
from apps.exchanges.tests.factories import SymbolFactory
from apps.market.services.candles import candles_upsert

START = datetime(2025, 1, 6, tzinfo=UTC)
CENT = Decimal("0.01")


def wave_candles(start: datetime = START, count: int = 600, timeframe: str = "1m", price: float = 100.0, seed: int = 7) -> list[Candle]:
    """Consecutive candles on a slow wave with noise: an SMA 10/30 cross trades a few times per 100 bars."""
    rng = random.Random(seed)
    step = timedelta(seconds=timeframe_seconds(timeframe))
    candles = []
    close = Decimal(str(price))
    for i in range(count):
        open_ = close
        target = price * (1 + 0.04 * math.sin(2 * math.pi * i / 90)) + rng.uniform(-0.3, 0.3)
        close = Decimal(str(target)).quantize(CENT)
        high = max(open_, close) + Decimal(str(rng.uniform(0, 0.2))).quantize(CENT)
        low = min(open_, close) - Decimal(str(rng.uniform(0, 0.2))).quantize(CENT)
        candles.append(Candle(open_time=start + step * i, open=open_, high=high, low=low, close=close, volume=Decimal(rng.randint(1, 50))))
    return candles


def seed_candles(symbol: Symbol, start: datetime = START, count: int = 600, timeframe: str = "1m", seed: int = 7) -> list[Candle]:
    candles = wave_candles(start, count, timeframe, seed=seed)
    candles_upsert(symbol=symbol, timeframe=timeframe, candles=candles)
    return candles


def write_csv(path: Path, candles: list[Candle], header: str = "timestamp,open,high,low,close,volume") -> Path:
    lines = [header] + [f"{c.open_time.isoformat()},{c.open},{c.high},{c.low},{c.close},{c.volume}" for c in candles]
    path.write_text("\n".join(lines) + "\n")
    return path


def _equity_curve(start: datetime, points: int, initial: float, drift: float) -> list[list[float]]:
    return [[int((start + timedelta(minutes=i)).timestamp() * 1000), round(initial * (1 + drift * i / points), 2)] for i in range(points)]


def _metrics(initial: float, final: float) -> dict[str, Any]:
    total = final / initial - 1
    return {
        "bars": 100,
        "initial_capital": initial,
        "final_equity": final,
        "total_return": total,
        "annualised_return": total * 50,
        "sharpe": 1.25,
        "sortino": 1.8,
        "calmar": 2.5,
        "max_drawdown": 0.031,
        "max_drawdown_duration_bars": 40,
        "max_drawdown_duration_days": 40 / 1440,
        "trades": 2,
        "win_rate": 0.5,
        "profit_factor": 1.6,
        "average_win": 80.0,
        "average_loss": -50.0,
        "exposure": 0.62,
        "buy_and_hold_return": 0.012,
        "monthly_returns": {"2025-01": total},
        "annualisation": "365 days, 525600 periods per year from 60-second bars, risk-free rate 0",
        "path": "fast",
    }


class BacktestFactory(factory.django.DjangoModelFactory):
    """A finished SMA-cross backtest on SIM BTC/USDT with plausible results (`final` sets the final equity)."""

    class Meta:
        model = Backtest
        exclude = ("final",)

    owner = factory.SubFactory(UserFactory)
    strategy = "sma_cross"
    params = factory.LazyFunction(lambda: {"fast": 10, "slow": 30, "mode": "long_short", "sizing": "fraction", "fraction": 0.95, "quantity": 1.0})
    symbol = factory.SubFactory(SymbolFactory)
    timeframe = "1m"
    start = START
    end = START + timedelta(minutes=100)
    initial_capital = Decimal("10000")
    status = RunStatus.DONE
    progress = 100
    bars = 100
    final = 10_400.0
    metrics = factory.LazyAttribute(lambda o: _metrics(float(o.initial_capital), o.final))
    equity_curve = factory.LazyAttribute(lambda o: _equity_curve(o.start, 100, float(o.initial_capital), o.final / float(o.initial_capital) - 1))
    trades = factory.LazyAttribute(
        lambda o: [
            {
                "side": "LONG",
                "entry_time": (o.start + timedelta(minutes=5)).isoformat(),
                "exit_time": (o.start + timedelta(minutes=30)).isoformat(),
                "quantity": "0.5",
                "entry_price": "100.5",
                "exit_price": "101.1",
                "fees": "0.1",
                "funding": "0",
                "pnl": "0.2",
            },
            {
                "side": "SHORT",
                "entry_time": (o.start + timedelta(minutes=30)).isoformat(),
                "exit_time": (o.start + timedelta(minutes=60)).isoformat(),
                "quantity": "0.5",
                "entry_price": "101.1",
                "exit_price": "101.4",
                "fees": "0.1",
                "funding": "0",
                "pnl": "-0.25",
            },
        ]
    )
    started_at = factory.LazyFunction(lambda: datetime.now(UTC))
    finished_at = factory.LazyFunction(lambda: datetime.now(UTC))
