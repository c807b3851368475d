from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection

from apps.core.partitions import partitions_of
from apps.exchanges.tests.factories import SymbolFactory
from apps.market.models import Candle
from apps.market.services.candles import candles_rollup_from_1m, candles_upsert, last_stored_open_time
from apps.market.tests.factories import candle_run

pytestmark = pytest.mark.django_db

START = (datetime.now(UTC) - timedelta(days=2)).replace(hour=10, minute=0, second=0, microsecond=0)


def test_candles_are_stored_once_with_exact_decimals() -> None:
    symbol = SymbolFactory()
    candles = candle_run(START, 5, price="64123.45")

    assert candles_upsert(symbol=symbol, timeframe="1m", candles=candles) == 5

    stored = list(Candle.objects.filter(symbol=symbol, timeframe="1m").order_by("open_time"))
    assert [c.open_time for c in stored] == [c.open_time for c in candles]
    assert stored[0].open == Decimal("64123.45")
    assert stored[2].close == candles[2].close


def test_ingesting_the_same_range_again_changes_nothing() -> None:
    symbol = SymbolFactory()
    candles = candle_run(START, 50)
    candles_upsert(symbol=symbol, timeframe="1m", candles=candles)

    assert candles_upsert(symbol=symbol, timeframe="1m", candles=candles) == 0
    assert Candle.objects.filter(symbol=symbol, timeframe="1m").count() == 50


def test_an_overlapping_range_adds_only_the_new_candles_and_updates_revised_ones() -> None:
    symbol = SymbolFactory()
    candles_upsert(symbol=symbol, timeframe="1m", candles=candle_run(START, 10))
    overlapping = candle_run(START + timedelta(minutes=5), 10, price=str(candle_run(START, 10)[5].open))
    revised = list(overlapping)

    written = candles_upsert(symbol=symbol, timeframe="1m", candles=revised)

    assert Candle.objects.filter(symbol=symbol, timeframe="1m").count() == 15
    assert written >= 5


def test_rows_land_in_the_daily_partition_of_their_timeframe() -> None:
    symbol = SymbolFactory()
    candles_upsert(symbol=symbol, timeframe="1m", candles=candle_run(START, 3))

    names = {p.name for p in partitions_of("market_candle_1m")}
    assert f"market_candle_1m_p{START:%Y%m%d}" in names
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT tableoid::regclass::text FROM market_candle WHERE symbol_id = %s", [symbol.pk])
        assert cursor.fetchall() == [(f"market_candle_1m_p{START:%Y%m%d}",)]


def test_a_candle_whose_high_is_below_its_low_is_refused_by_the_database() -> None:
    from django.db import IntegrityError

    from apps.exchanges.domain.types import Candle as CandleValue

    symbol = SymbolFactory()
    bad = CandleValue(open_time=START, open=Decimal(10), high=Decimal(9), low=Decimal(11), close=Decimal(10), volume=Decimal(1))
    with pytest.raises(IntegrityError):
        candles_upsert(symbol=symbol, timeframe="1m", candles=[bad])


def test_higher_timeframes_roll_up_only_complete_buckets() -> None:
    symbol = SymbolFactory()
    minutes = candle_run(START, 12)  # two full 5m buckets and two minutes of a third
    candles_upsert(symbol=symbol, timeframe="1m", candles=minutes)

    candles_rollup_from_1m(symbol=symbol, timeframe="5m", start=START, end=START + timedelta(minutes=15))

    five = list(Candle.objects.filter(symbol=symbol, timeframe="5m").order_by("open_time"))
    assert [c.open_time for c in five] == [START, START + timedelta(minutes=5)]
    first = minutes[:5]
    assert five[0].open == first[0].open
    assert five[0].close == first[-1].close
    assert five[0].high == max(c.high for c in first)
    assert five[0].low == min(c.low for c in first)
    assert five[0].volume == sum(c.volume for c in first)


def test_last_stored_open_time_is_the_resume_point() -> None:
    symbol = SymbolFactory()
    assert last_stored_open_time(symbol=symbol, timeframe="1m") is None
    candles_upsert(symbol=symbol, timeframe="1m", candles=candle_run(START, 7))
    assert last_stored_open_time(symbol=symbol, timeframe="1m") == START + timedelta(minutes=6)
