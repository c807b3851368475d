"""The live market process liquidates paper positions by itself: `stream_market`'s SIM ticker
stream carries the mark, and each update reaches the paper matcher.

The streamer runs in an event loop driven by `async_to_sync`, so its database calls come back
to the test's thread and see (and roll back with) the test transaction.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync

from apps.exchanges.gateways.sim import SimGateway
from apps.exchanges.models import Symbol
from apps.market.services.candles import candles_upsert
from apps.market.services.demo import sim_symbols_prepare
from apps.market.streaming import MarketStreamer
from apps.orders.models import Fill
from apps.orders.tests.factories import TradingAccountFactory
from apps.portfolio.domain.margin import initial_margin
from apps.portfolio.models import Balance, Position

pytestmark = pytest.mark.django_db


def _only_the_perpetual_watched() -> Symbol:
    sim_symbols_prepare()
    Symbol.objects.filter(exchange__code="SIM").exclude(symbol="BTC/USDT:USDT").update(watched=False)
    perp = Symbol.objects.select_related("exchange").get(exchange__code="SIM", symbol="BTC/USDT:USDT")
    venue = SimGateway()
    since = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=10)
    candles_upsert(symbol=perp, timeframe="1m", candles=async_to_sync(venue.fetch_candles)(perp.symbol, "1m", since=since, limit=10))
    return perp


def test_the_stream_liquidates_a_paper_long_whose_mark_is_beyond_its_liquidation_price() -> None:
    perp = _only_the_perpetual_watched()
    venue = SimGateway()
    mark = async_to_sync(venue.fetch_ticker)(perp.symbol).mark
    assert mark is not None
    entry = perp.round_price(mark * Decimal("1.05"))  # a 50x long from 5 % higher: its liquidation price is above the mark now
    margin = initial_margin(Decimal("0.1") * entry, 50)
    account = TradingAccountFactory(exchange=perp.exchange)
    Balance.objects.create(account=account, asset="USDT", free=Decimal(1000) - margin, locked=margin)
    position = Position.objects.create(account=account, symbol=perp, quantity=Decimal("0.1"), entry_price=entry, leverage=50, isolated_margin=margin)
    streamer = MarketStreamer(exchange_codes=["SIM"], bot_ticks=False, user_data=False)

    async def scenario() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(3.0, stop.set)
        await streamer.run(stop)

    async_to_sync(scenario)()

    position.refresh_from_db()
    assert position.quantity == 0
    fill = Fill.objects.get(account=account, liquidity="LIQUIDATION")
    assert fill.side == "SELL" and fill.quantity == Decimal("0.1")
    assert abs(fill.price / mark - 1) < Decimal("0.01")  # the mark first seen beyond the price, moments later
    assert fill.price % perp.tick_size == 0  # a SIM mark, on the tick
    assert Balance.objects.get(account=account, asset="USDT").total == Decimal(1000) - margin
