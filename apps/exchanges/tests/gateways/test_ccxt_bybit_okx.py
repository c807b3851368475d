"""CcxtGateway against local Bybit v5 and OKX v5 servers: markets and candles in each venue's own protocol."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TypeVar

import pytest

from apps.exchanges.domain.types import Candle, MarketInfo, MarketType
from apps.exchanges.errors import UnknownSymbolError
from apps.exchanges.gateways.ccxt_gateway import CcxtGateway, rebase_urls
from tests.venues import bybit, okx
from tests.venues.fixtures import connect
from tests.venues.server import RunningVenue

T = TypeVar("T")
JAN_1 = datetime(2024, 1, 1, tzinfo=UTC)
HOUR_MS = 3_600_000


def run(awaitable: Awaitable[T]) -> T:
    return asyncio.run(asyncio.wait_for(awaitable, timeout=20))  # type: ignore[arg-type]


async def markets_of(venue: RunningVenue, code: str) -> dict[str, MarketInfo]:
    async with connect(venue, code) as gateway:
        return {market.symbol: market for market in await gateway.load_markets()}


async def candles_of(venue: RunningVenue, code: str, symbol: str, timeframe: str, since: datetime | None, limit: int | None) -> list[Candle]:
    async with connect(venue, code) as gateway:
        return await gateway.fetch_candles(symbol, timeframe, since=since, limit=limit)


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


# Bybit ------------------------------------------------------------------------------------


def test_bybit_markets_are_spot_and_usdt_perpetuals_with_their_filters(bybit_server: RunningVenue) -> None:
    markets = run(markets_of(bybit_server, "BYBIT"))

    assert set(markets) == {"BTC/USDT", "ETH/USDT", "OLD/USDT", "BTC/USDT:USDT", "ETH/USDT:USDT"}  # no USDC perpetual
    spot = markets["BTC/USDT"]
    assert (spot.tick_size, spot.lot_size, spot.min_quantity, spot.min_notional, spot.max_leverage) == (
        Decimal("0.01"),
        Decimal("0.000001"),
        Decimal("0.000048"),
        Decimal("1"),
        1,
    )
    perp = markets["ETH/USDT:USDT"]
    assert perp.market_type is MarketType.LINEAR_PERPETUAL
    assert (perp.tick_size, perp.lot_size, perp.min_quantity, perp.min_notional) == (Decimal("0.01"), Decimal("0.01"), Decimal("0.01"), Decimal("5"))
    assert perp.max_leverage == 50  # from the leverage filter
    assert markets["OLD/USDT"].active is False
    assert bybit_server.control.count("/v5/market/instruments-info") == 3  # spot, linear, linear pre-launch


def test_bybit_candles_page_forward_with_exact_values(bybit_server: RunningVenue) -> None:
    async def scenario() -> tuple[list[Candle], list[Candle]]:
        async with connect(bybit_server, "BYBIT") as gateway:
            page = await gateway.fetch_candles("BTC/USDT:USDT", "1h", since=JAN_1, limit=1000)
            following = await gateway.fetch_candles("BTC/USDT:USDT", "1h", since=page[-1].open_time + timedelta(hours=1), limit=3)
            return page, following

    page, following = run(scenario())
    venue = bybit_server.market_data.candles(bybit.LINEAR["BTCUSDT"], HOUR_MS, ms(JAN_1), 3)

    assert len(page) == 1000
    assert page[0].open_time == JAN_1 and page[-1].open_time == JAN_1 + timedelta(hours=999)
    assert following[0].open_time == JAN_1 + timedelta(hours=1000)
    assert [(c.open, c.high, c.low, c.close, c.volume) for c in page[:3]] == [(v.open, v.high, v.low, v.close, v.volume) for v in venue]
    assert all(c.open_time.tzinfo is UTC for c in page)


def test_bybit_since_mid_candle_starts_at_the_next_open(bybit_server: RunningVenue) -> None:
    candles = run(candles_of(bybit_server, "BYBIT", "BTC/USDT", "4h", JAN_1 + timedelta(hours=1), 2))

    assert [c.open_time for c in candles] == [JAN_1 + timedelta(hours=4), JAN_1 + timedelta(hours=8)]


def test_bybit_latest_candles(bybit_server: RunningVenue) -> None:
    candles = run(candles_of(bybit_server, "BYBIT", "ETH/USDT", "5m", None, 12))

    assert len(candles) == 12
    assert datetime.now(UTC) - candles[-1].open_time < timedelta(minutes=5, seconds=5)


def test_bybit_rate_limit_is_retried(bybit_server: RunningVenue) -> None:
    bybit_server.control.fail_next(1, 429, path="/v5/market/kline", retry_after=0.2)

    candles = run(candles_of(bybit_server, "BYBIT", "BTC/USDT", "1d", JAN_1, 5))

    assert len(candles) == 5
    assert bybit_server.control.count("/v5/market/kline") == 2


# OKX --------------------------------------------------------------------------------------


def test_okx_markets_convert_contracts_to_base_units(okx_server: RunningVenue) -> None:
    markets = run(markets_of(okx_server, "OKX"))

    assert set(markets) == {"BTC/USDT", "ETH/USDT", "OLD/USDT", "BTC/USDT:USDT", "ETH/USDT:USDT"}  # no inverse swap
    perp = markets["BTC/USDT:USDT"]
    assert perp.venue_symbol == "BTC-USDT-SWAP"
    assert perp.tick_size == Decimal("0.1")
    assert perp.lot_size == perp.min_quantity == Decimal("0.0001")  # 0.01 contracts of 0.01 BTC
    assert perp.max_leverage == 100
    spot = markets["BTC/USDT"]
    assert (spot.lot_size, spot.min_quantity, spot.min_notional, spot.max_leverage) == (Decimal("0.00000001"), Decimal("0.00001"), Decimal(0), 1)
    assert markets["OLD/USDT"].active is False


def test_okx_recent_candles_come_from_the_candles_endpoint(okx_server: RunningVenue) -> None:
    since = (datetime.now(UTC) - timedelta(hours=10)).replace(minute=0, second=0, microsecond=0)

    candles = run(candles_of(okx_server, "OKX", "ETH/USDT", "15m", since, 8))

    assert [c.open_time for c in candles] == [since + timedelta(minutes=15 * i) for i in range(8)]
    assert okx_server.control.count("/api/v5/market/candles") == 1
    assert okx_server.control.count("/api/v5/market/history-candles") == 0


def test_okx_old_candles_page_through_history_candles(okx_server: RunningVenue) -> None:
    async def scenario() -> list[Candle]:
        async with connect(okx_server, "OKX") as gateway:
            first = await gateway.fetch_candles("BTC/USDT", "1h", since=JAN_1, limit=300)
            second = await gateway.fetch_candles("BTC/USDT", "1h", since=first[-1].open_time + timedelta(hours=1), limit=300)
            return first + second

    candles = run(scenario())
    venue = okx_server.market_data.candles(okx.SPOT["BTC-USDT"], HOUR_MS, ms(JAN_1), 600)

    assert len(candles) == 600
    assert [c.open_time for c in candles] == [JAN_1 + timedelta(hours=i) for i in range(600)]
    assert [(c.open, c.close, c.volume) for c in candles] == [(v.open, v.close, v.volume) for v in venue]
    assert okx_server.control.count("/api/v5/market/history-candles") == 2


def test_okx_swap_volume_is_in_base_units_and_day_candles_open_at_utc_midnight(okx_server: RunningVenue) -> None:
    candles = run(candles_of(okx_server, "OKX", "BTC/USDT:USDT", "1d", JAN_1, 3))
    venue = okx_server.market_data.candles(okx.SWAP["BTC-USDT-SWAP"], 24 * HOUR_MS, ms(JAN_1), 3)

    assert [c.open_time for c in candles] == [JAN_1 + timedelta(days=i) for i in range(3)]
    assert [c.volume for c in candles] == [v.volume for v in venue]


def test_okx_server_errors_are_retried(okx_server: RunningVenue) -> None:
    okx_server.control.fail_next(2, 502, path="/api/v5/public/instruments")

    markets = run(markets_of(okx_server, "OKX"))

    assert "BTC/USDT:USDT" in markets
    assert okx_server.control.count("/api/v5/public/instruments") == 4  # spot and swap, one of them twice more


def test_okx_unknown_symbol(okx_server: RunningVenue) -> None:
    with pytest.raises(UnknownSymbolError):
        run(candles_of(okx_server, "OKX", "PEPE/USDT", "1h", None, 5))


# URLs -------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["BINANCE", "BYBIT", "OKX"])
def test_every_url_is_rebased_keeping_its_path(code: str) -> None:
    gateway = CcxtGateway(code, rest_base_url="http://127.0.0.1:9", ws_base_url="ws://127.0.0.1:9")

    def leaves(urls: object) -> list[str]:
        if isinstance(urls, dict):
            return [leaf for value in urls.values() for leaf in leaves(value)]
        return [urls] if isinstance(urls, str) else []

    urls = leaves(gateway._exchange.urls["api"])
    assert urls and all(url.startswith(("http://127.0.0.1:9", "ws://127.0.0.1:9")) for url in urls)
    run(gateway.close())


def test_rebase_keeps_paths_and_ports_out() -> None:
    urls = {"public": "https://api.binance.com/api/v3", "ws": {"spot": "wss://stream.binance.com:9443/ws"}, "rest": "https://{hostname}"}

    assert rebase_urls(urls, "http://localhost:1", "ws://localhost:2") == {
        "public": "http://localhost:1/api/v3",
        "ws": {"spot": "ws://localhost:2/ws"},
        "rest": "http://localhost:1",
    }
