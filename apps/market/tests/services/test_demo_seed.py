"""The offline demo: SIM's symbols watched and a day of history generated, then only topped up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apps.audit.models import AuditEvent
from apps.exchanges.domain.timeframes import align_open_time
from apps.exchanges.models import Symbol
from apps.market.models import Candle
from apps.market.services.demo import sim_history_seed, sim_symbols_prepare

pytestmark = pytest.mark.django_db

MINUTE = timedelta(minutes=1)


def _count(timeframe: str) -> dict[str, int]:
    return {
        symbol.symbol: Candle.objects.filter(symbol=symbol, timeframe=timeframe).count()
        for symbol in Symbol.objects.filter(exchange__code="SIM").order_by("symbol")
    }


def test_preparing_sim_watches_every_symbol() -> None:
    symbols = sim_symbols_prepare()

    assert [s.symbol for s in symbols] == ["BTC/USDT", "BTC/USDT:USDT", "ETH/USDT", "ETH/USDT:USDT", "SOL/USDT"]
    assert all(s.watched and s.active for s in Symbol.objects.filter(exchange__code="SIM"))


def test_a_one_day_seed_stores_every_minute_and_rolls_up_then_a_second_run_only_tops_up() -> None:
    # A "now" just after an hour boundary, in the past, so the counts are exact and no minute closes meanwhile.
    hour = align_open_time(datetime.now(UTC), "1h") - timedelta(hours=1)
    now = hour + timedelta(seconds=30)

    written = sim_history_seed(days=1, now=now)

    assert written == 5 * 1440
    assert set(_count("1m").values()) == {1440}
    assert set(_count("5m").values()) == {288}
    assert set(_count("15m").values()) == {96}
    assert set(_count("1h").values()) == {24}
    btc = Symbol.objects.get(exchange__code="SIM", symbol="BTC/USDT")
    minutes = Candle.objects.filter(symbol=btc, timeframe="1m").order_by("open_time")
    assert minutes.first().open_time == hour - timedelta(days=1)
    assert minutes.last().open_time == hour - MINUTE
    first_hour = Candle.objects.filter(symbol=btc, timeframe="1h").order_by("open_time").first()
    assert first_hour.open == minutes.first().open
    assert first_hour.close == minutes.get(open_time=first_hour.open_time + 59 * MINUTE).close
    assert AuditEvent.objects.filter(action="candles.sim_seeded", summary="SIM history: 7200 1m candles generated (1 days)").count() == 1

    assert sim_history_seed(days=1, now=now) == 0
    assert set(_count("1m").values()) == {1440}
    assert AuditEvent.objects.filter(action="candles.sim_seeded").count() == 1

    topped_up = sim_history_seed(days=1, now=now + 10 * MINUTE)

    assert topped_up == 5 * 10
    assert set(_count("1m").values()) == {1450}
    assert set(_count("5m").values()) == {290}
    assert set(_count("1h").values()) == {24}
