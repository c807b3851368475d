"""The one candle reader: ranges, counts and the newest candle, as bots and backtests rely on them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from apps.exchanges.tests.factories import SymbolFactory
from apps.market.selectors import candle_arrays, candle_count, candle_newest_open_time
from apps.market.services.candles import candles_upsert
from apps.market.tests.factories import candle_run

pytestmark = pytest.mark.django_db

START = (datetime.now(UTC) - timedelta(days=2)).replace(hour=10, minute=0, second=0, microsecond=0)


@pytest.fixture
def stored():
    symbol = SymbolFactory()
    candles = candle_run(START, 10, price="100.25")
    candles_upsert(symbol=symbol, timeframe="1m", candles=candles)
    other = SymbolFactory(symbol="ETH/USDT")
    candles_upsert(symbol=other, timeframe="1m", candles=candle_run(START, 3))
    return symbol, candles


def test_a_range_includes_its_start_and_excludes_its_end_unless_asked(stored) -> None:
    symbol, candles = stored
    end = START + timedelta(minutes=5)

    half_open = candle_arrays(symbol_id=symbol.pk, timeframe="1m", start=START, end=end)
    closed = candle_arrays(symbol_id=symbol.pk, timeframe="1m", start=START, end=end, include_end=True)

    assert half_open.size == 5 and closed.size == 6
    assert half_open.open_time_ns[0] == int(START.timestamp()) * 1_000_000_000
    assert np.all(np.diff(closed.open_time_ns) == 60 * 1_000_000_000), "oldest first, one minute apart"
    assert closed.close[5] == float(candles[5].close) and closed.volume[0] == float(candles[0].volume)


def test_another_symbol_or_timeframe_is_never_mixed_in(stored) -> None:
    symbol, _ = stored

    assert candle_arrays(symbol_id=symbol.pk, timeframe="5m", start=START, end=START + timedelta(days=1)).size == 0
    assert candle_count(symbol_id=symbol.pk, timeframe="1m") == 10


def test_an_empty_range_gives_empty_columns_that_still_build_a_series(stored) -> None:
    from apps.strategies.domain.data import OHLCV

    symbol, _ = stored
    empty = candle_arrays(symbol_id=symbol.pk, timeframe="1m", start=START - timedelta(days=1), end=START)

    assert empty.size == 0
    assert len(OHLCV.from_arrays(*empty)) == 0


def test_counting_stops_at_the_limit_asked_for(stored) -> None:
    symbol, _ = stored

    assert candle_count(symbol_id=symbol.pk, timeframe="1m", at_most=4) == 4
    assert candle_count(symbol_id=symbol.pk, timeframe="1m", at_most=40) == 10


def test_the_newest_open_time_within_bounds(stored) -> None:
    symbol, _ = stored

    assert candle_newest_open_time(symbol_id=symbol.pk, timeframe="1m") == START + timedelta(minutes=9)
    assert candle_newest_open_time(symbol_id=symbol.pk, timeframe="1m", until=START + timedelta(minutes=3)) == START + timedelta(minutes=3)
    assert candle_newest_open_time(symbol_id=symbol.pk, timeframe="1m", since=START + timedelta(hours=1)) is None
