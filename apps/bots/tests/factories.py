"""Bots for tests, and the market they trade in: stored candles and the live order book.

Bots made by `BotFactory` are rows (stopped); tests that exercise the lifecycle go through
the services. `candles` / `store_bars` write stored 1m candles the way `stream_market` does;
`set_book` puts a book in Redis as the stream would, so paper orders fill at a known price.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import factory
import numpy as np

from apps.accounts.tests.factories import UserFactory
from apps.bots.models import Bot
from apps.exchanges.domain.types import Candle
from apps.exchanges.models import Symbol
from apps.market.live import live_store
from apps.market.services.candles import candles_upsert
from apps.orders.tests.factories import TradingAccountFactory
from apps.strategies.domain.data import OHLCV


class BotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Bot

    owner = factory.SubFactory(UserFactory)
    account = factory.SubFactory(TradingAccountFactory, owner=factory.SelfAttribute("..owner"), balances={"USDT": "10000"})
    symbol = factory.LazyAttribute(lambda o: Symbol.objects.get(exchange=o.account.exchange, symbol="SOL/USDT"))
    name = factory.Sequence(lambda n: f"bot {n}")
    timeframe = "1m"
    strategy = "sma_cross"
    params = factory.LazyFunction(lambda: {"fast": 3, "slow": 8, "mode": "long_only", "sizing": "fraction", "fraction": 0.5, "quantity": 1.0})


def minute_times(n: int, *, end: datetime | None = None) -> list[datetime]:
    """n consecutive minute open times, the last one `end` (default: 30 minutes before now, aligned)."""
    end = end or (datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30))
    return [end - timedelta(minutes=n - 1 - i) for i in range(n)]


def walk(n: int, seed: int, *, start: float = 150.0, sigma: float = 0.004, end: datetime | None = None) -> OHLCV:
    """A seeded random walk of 1m bars on a 0.01 tick, with recent open times."""
    rng = np.random.default_rng(seed)
    close = np.round(start * np.exp(np.cumsum(rng.normal(0, sigma, n))), 2)
    previous = np.concatenate(([start], close[:-1]))
    open_ = np.round(previous * np.exp(rng.normal(0, sigma / 4, n)), 2)
    high = np.round(np.maximum(open_, close) * (1 + np.abs(rng.normal(0, sigma / 2, n))), 2)
    low = np.round(np.minimum(open_, close) * (1 - np.abs(rng.normal(0, sigma / 2, n))), 2)
    times = minute_times(n, end=end)
    return OHLCV.from_arrays(np.array(times, dtype=object), open_, high, low, close, rng.uniform(1, 10, n).round(4))


def _decimal(value: float) -> Decimal:
    return Decimal(repr(float(value)))


def candles_of(data: OHLCV, indices: Sequence[int] | range) -> list[Candle]:
    return [
        Candle(data.datetime_at(i), _decimal(data.open[i]), _decimal(data.high[i]), _decimal(data.low[i]), _decimal(data.close[i]), _decimal(data.volume[i]))
        for i in indices
    ]


def store_bars(symbol: Symbol, data: OHLCV, indices: Sequence[int] | range, timeframe: str = "1m") -> None:
    candles_upsert(symbol=symbol, timeframe=timeframe, candles=candles_of(data, indices))


def set_book(symbol: Symbol, price: Decimal | float, *, spread_ticks: int = 0, depth: Decimal = Decimal(1_000_000)) -> None:
    """A fresh book in Redis, as stream_market keeps it: best ask at `price`, best bid `spread_ticks` below."""
    price = price if isinstance(price, Decimal) else _decimal(price)
    bid = price - symbol.tick_size * spread_ticks
    tick = symbol.tick_size
    levels = 60  # placement reads 50 levels: a shallower stored book is refetched from the venue
    data: dict[str, Any] = {
        "symbol": symbol.symbol,
        "bids": [[str(bid - tick * i), str(depth)] for i in range(levels)],
        "asks": [[str(price + tick * i), str(depth)] for i in range(levels)],
        "timestamp": datetime.now(UTC).isoformat(),
    }
    live_store("book", symbol.exchange.code, symbol.slug, data)
