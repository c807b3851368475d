"""`MarketStreamer` against the offline SIM venue, with the real database, Redis and channel layer.

The streamer runs in an event loop driven by `async_to_sync`, so its `sync_to_async` database
calls come back to the test's thread and see (and roll back with) the test transaction.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from apps.audit.models import AuditEvent
from apps.exchanges.domain.timeframes import align_open_time
from apps.exchanges.domain.types import Ticker
from apps.exchanges.enums import ExchangeStatus
from apps.exchanges.gateways.sim import SimGateway
from apps.exchanges.models import Symbol
from apps.exchanges.selectors import builtin_exchange
from apps.exchanges.services import exchange_set_status
from apps.market.groups import MARKET_EVENT_TYPE
from apps.market.live import live_read
from apps.market.models import Candle, OrderBookSnapshot
from apps.market.services.candles import candles_upsert
from apps.market.services.demo import sim_symbols_prepare
from apps.market.streaming import BOOK_DEPTH, BOOK_DEPTH_KEPT, MarketStreamer, SymbolState

pytestmark = pytest.mark.django_db

T = TypeVar("T")
MINUTE = timedelta(minutes=1)


# Helpers -------------------------------------------------------------------------------


def _watch_only(*names: str) -> list[Symbol]:
    """Prepare SIM's symbols, then keep only `names` watched (fewer streams, quicker tests)."""
    symbols = sim_symbols_prepare()
    Symbol.objects.filter(exchange__code="SIM").exclude(symbol__in=names).update(watched=False)
    return [s for s in symbols if s.symbol in names]


def _fast_sim(interval: float = 0.01) -> SimGateway:
    """A SIM venue that sends far more stream messages than a browser could use."""
    gateway = SimGateway()
    gateway.ticker_interval = interval
    gateway.order_book_interval = interval
    gateway.trades_interval = interval
    gateway.candles_interval = interval * 5
    return gateway


def _use_gateway(streamer: MarketStreamer, gateway: Any) -> MarketStreamer:
    """Serve SIM from `gateway` (a test double at the venue boundary) instead of a fresh SimGateway."""
    streamer._gateways["SIM"] = gateway
    return streamer


def _run(streamer: MarketStreamer, seconds: float, alongside: Callable[[asyncio.Event], Awaitable[T]] | None = None) -> T | None:
    """Run the streamer for `seconds`; `alongside` runs in the same loop until the stop event."""

    async def scenario() -> T | None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(seconds, stop.set)
        if alongside is None:
            await streamer.run(stop)
            return None
        _, result = await asyncio.gather(streamer.run(stop), alongside(stop))
        return result

    return async_to_sync(scenario)()


async def _first(stream: AsyncIterator[T]) -> T:
    async for item in stream:
        await stream.aclose()  # type: ignore[attr-defined]
        return item
    raise AssertionError("the stream ended without an item")


def _away_from_a_minute_boundary() -> None:
    """Tests that count minutes must not straddle one: wait for the next minute if it is close."""
    now = datetime.now(UTC)
    second = now.second + now.microsecond / 1e6
    if second > 57.5:
        time.sleep(60.2 - second)


def _recent_history(*symbols: Symbol) -> None:
    """Store the last few closed minutes, so the gap fill at connect has next to nothing to do."""
    venue = SimGateway()
    since = align_open_time(datetime.now(UTC), "1m") - 10 * MINUTE
    for symbol in symbols:
        candles_upsert(symbol=symbol, timeframe="1m", candles=async_to_sync(venue.fetch_candles)(symbol.symbol, "1m", since=since, limit=10))


def _stored_minutes(symbol: Symbol) -> list[datetime]:
    return list(Candle.objects.filter(symbol=symbol, timeframe="1m").order_by("open_time").values_list("open_time", flat=True))


# Candles -------------------------------------------------------------------------------


def test_a_short_run_stores_the_closed_candles_and_rolls_up_the_higher_timeframes() -> None:
    symbols = sim_symbols_prepare()
    assert len(symbols) == 5 and all(s.watched for s in Symbol.objects.filter(exchange__code="SIM"))
    streamer = MarketStreamer(exchange_codes=["SIM"])

    _run(streamer, 2.5)

    newest_closed = align_open_time(datetime.now(UTC), "1m") - MINUTE
    for symbol in symbols:
        minutes = _stored_minutes(symbol)
        # The missed day came over REST when the candle stream opened; then the stream kept it current.
        assert minutes[-1] in {newest_closed, newest_closed - MINUTE}, symbol
        assert 1438 <= len(minutes) <= 1441, symbol
        assert len(minutes) == (minutes[-1] - minutes[0]) / MINUTE + 1, f"{symbol}: the stored minutes have holes"
        five = list(Candle.objects.filter(symbol=symbol, timeframe="5m").order_by("open_time"))
        complete = [m for m in minutes if m.minute % 5 == 0 and m + 4 * MINUTE <= minutes[-1]]
        assert [c.open_time for c in five] == complete, f"{symbol}: every complete 5m bucket is rolled up, no partial one"
        assert 23 <= Candle.objects.filter(symbol=symbol, timeframe="1h").count() <= 24
    assert streamer.stats.candles_stored >= 5 * 1438

    btc = next(s for s in symbols if s.symbol == "BTC/USDT")
    bucket = Candle.objects.filter(symbol=btc, timeframe="5m").order_by("-open_time").first()
    parts = list(Candle.objects.filter(symbol=btc, timeframe="1m", open_time__gte=bucket.open_time, open_time__lt=bucket.open_time + 5 * MINUTE))
    assert len(parts) == 5
    assert bucket.open == parts[0].open and bucket.close == parts[-1].close
    assert bucket.high == max(p.high for p in parts) and bucket.low == min(p.low for p in parts)
    assert bucket.volume == sum(p.volume for p in parts)


def test_fill_gap_fetches_exactly_the_missed_minutes_over_rest() -> None:
    (btc,) = _watch_only("BTC/USDT")
    _away_from_a_minute_boundary()
    newest_closed = align_open_time(datetime.now(UTC), "1m") - MINUTE
    venue = SimGateway()
    history = async_to_sync(venue.fetch_candles)("BTC/USDT", "1m", since=newest_closed - 59 * MINUTE, limit=60)
    assert history[-1].open_time == newest_closed and len(history) == 60
    candles_upsert(symbol=btc, timeframe="1m", candles=history[:-7])  # the stream was away for the last 7 minutes

    streamer = MarketStreamer(exchange_codes=["SIM"])
    state = SymbolState(symbol=btc)
    async_to_sync(streamer.fill_gap)(state)

    assert _stored_minutes(btc) == [c.open_time for c in history]
    assert streamer.stats.gap_filled == 7
    assert state.last_stored == newest_closed
    filled = Candle.objects.filter(symbol=btc, timeframe="1m", open_time__gt=history[-8].open_time).order_by("open_time")
    assert [(c.open, c.high, c.low, c.close, c.volume) for c in filled] == [(c.open, c.high, c.low, c.close, c.volume) for c in history[-7:]]

    async_to_sync(streamer.fill_gap)(state)  # nothing missed any more: nothing fetched

    assert streamer.stats.gap_filled == 7 and len(_stored_minutes(btc)) == 60


def test_fill_gap_after_a_long_outage_goes_back_one_day_at_most() -> None:
    (btc,) = _watch_only("BTC/USDT")
    _away_from_a_minute_boundary()
    newest_closed = align_open_time(datetime.now(UTC), "1m") - MINUTE
    venue = SimGateway()
    old = async_to_sync(venue.fetch_candles)("BTC/USDT", "1m", since=newest_closed - timedelta(days=3), limit=10)
    candles_upsert(symbol=btc, timeframe="1m", candles=old)

    streamer = MarketStreamer(exchange_codes=["SIM"])
    async_to_sync(streamer.fill_gap)(SymbolState(symbol=btc))

    recent = [m for m in _stored_minutes(btc) if m > old[-1].open_time]
    assert recent[-1] == newest_closed
    assert newest_closed - recent[0] < timedelta(days=1)
    assert len(recent) == (recent[-1] - recent[0]) / MINUTE + 1


class FixedClock:
    """A venue whose "now" stands still (its updates arrive late, from the local clock's point of view)."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)


def test_a_minute_stored_early_is_corrected_when_the_venue_sends_its_final_version() -> None:
    (btc,) = _watch_only("BTC/USDT")
    _away_from_a_minute_boundary()
    minute = align_open_time(datetime.now(UTC), "1m") - MINUTE  # over, by the local clock
    # The venue's last update of that minute, sent 5 s before its end, is handled only after the end.
    late = async_to_sync(_first)(SimGateway(clock=FixedClock(minute + timedelta(seconds=55))).watch_candles("BTC/USDT", "1m"))
    venue = SimGateway()
    (final,) = async_to_sync(venue.fetch_candles)("BTC/USDT", "1m", since=minute, limit=1)
    forming = async_to_sync(_first)(venue.watch_candles("BTC/USDT", "1m"))[-1]
    assert late[-1].open_time == final.open_time == minute and late[-1] != final
    streamer = MarketStreamer(exchange_codes=["SIM"])
    state = SymbolState(symbol=btc, last_stored=minute - MINUTE)
    on_candles = streamer._on_candles(state)

    async_to_sync(on_candles)(late)  # taken as closed: the local minute is over
    async_to_sync(on_candles)([final, forming])  # the venue closes the minute and opens the next

    stored = Candle.objects.get(symbol=btc, timeframe="1m", open_time=minute)
    assert (stored.open, stored.high, stored.low, stored.close, stored.volume) == (final.open, final.high, final.low, final.close, final.volume)
    assert state.last_stored == minute and state.forming == forming

    async_to_sync(on_candles)([final, forming])  # the same final version again: nothing to write

    assert streamer.stats.candles_stored == 2


# Publishing ----------------------------------------------------------------------------


def _price_in(html: str) -> str:
    match = re.search(r'data-testid="last-price">([^<]+)<', html)
    assert match, html
    return match.group(1).strip()


def test_publish_once_sends_the_rendered_partials_to_the_exchange_and_symbol_groups() -> None:
    (btc,) = _watch_only("BTC/USDT")
    venue = SimGateway()

    async def venue_state() -> tuple[Any, Any, Any]:
        return (
            await venue.fetch_ticker("BTC/USDT"),
            await venue.fetch_order_book("BTC/USDT", BOOK_DEPTH),
            (await _first(venue.watch_candles("BTC/USDT", "1m")))[-1],
        )

    ticker, book, forming = async_to_sync(venue_state)()
    streamer = MarketStreamer(exchange_codes=["SIM"], push_hz=4)
    streamer.states["SIM:BTC-USDT"] = SymbolState(symbol=btc, ticker=ticker, book=book, forming=forming, ticker_dirty=True, book_dirty=True, candle_dirty=True)

    async def scenario() -> tuple[int, dict[str, Any], dict[str, Any], int, list[str], dict[str, Any]]:
        layer = get_channel_layer()
        channels = {group: await layer.new_channel() for group in ("market.SIM", "market.SIM.BTC-USDT", "market.SIM.ETH-USDT")}
        for group, channel in channels.items():
            await layer.group_add(group, channel)
        try:
            sent = await streamer.publish_once(layer)
            # Pages read the same state from Redis instead of asking the venue.
            live = {kind: live_read(kind, "SIM", ["BTC-USDT"]).get("BTC-USDT") for kind in ("ticker", "book")}
            row = await asyncio.wait_for(layer.receive(channels["market.SIM"]), 5)
            symbol = await asyncio.wait_for(layer.receive(channels["market.SIM.BTC-USDT"]), 5)
            again = await streamer.publish_once(layer)
            silent = []
            for group, channel in channels.items():
                try:
                    await asyncio.wait_for(layer.receive(channel), 0.3)
                except TimeoutError:
                    silent.append(group)
            return sent, row, symbol, again, silent, live
        finally:
            for group, channel in channels.items():
                await layer.group_discard(group, channel)

    sent, row, symbol, again, silent, live = async_to_sync(scenario)()

    assert sent == 2
    assert row["type"] == symbol["type"] == MARKET_EVENT_TYPE
    row_html = json.loads(row["payload"])["html"]
    assert 'id="ticker-SIM-BTC-USDT"' in row_html and "BTC/USDT" in row_html
    assert _price_in(row_html) == str(ticker.last)
    assert f"{ticker.change_24h_percent.quantize(Decimal('0.01'))} %" in row_html

    payload = json.loads(symbol["payload"])
    assert 'id="symbol-ticker"' in payload["html"] and _price_in(payload["html"]) == str(ticker.last)
    assert 'id="order-book"' in payload["html"]
    assert f">{book.bids[0].price}<" in payload["html"] and f">{book.asks[0].price}<" in payload["html"]
    assert f"spread {book.asks[0].price - book.bids[0].price}" in payload["html"]
    assert payload["html"].count('class="num up"') == BOOK_DEPTH and payload["html"].count('class="num down"') == BOOK_DEPTH
    assert payload["candle"] == [
        int(forming.open_time.timestamp() * 1000),
        str(forming.open),
        str(forming.high),
        str(forming.low),
        str(forming.close),
        str(forming.volume),
    ]

    assert again == 0, "nothing changed, so nothing is sent"
    assert sorted(silent) == ["market.SIM", "market.SIM.BTC-USDT", "market.SIM.ETH-USDT"]
    assert live["ticker"] is not None and live["ticker"].fresh and live["ticker"].data["last"] == str(ticker.last)
    assert live["book"] is not None and live["book"].data["bids"][0] == [str(book.bids[0].price), str(book.bids[0].quantity)]


def test_pushes_are_throttled_to_push_hz_per_symbol_however_fast_the_venue_sends() -> None:
    _recent_history(*_watch_only("BTC/USDT", "ETH/USDT"))
    streamer = _use_gateway(MarketStreamer(exchange_codes=["SIM"], push_hz=4), _fast_sim(0.01))
    groups = ("market.SIM", "market.SIM.BTC-USDT", "market.SIM.ETH-USDT")
    seconds = 2.5

    async def listen(stop: asyncio.Event) -> dict[str, list[tuple[float, dict[str, Any]]]]:
        layer = get_channel_layer()
        channels = {group: await layer.new_channel() for group in groups}
        for group, channel in channels.items():
            await layer.group_add(group, channel)
        received: dict[str, list[tuple[float, dict[str, Any]]]] = {group: [] for group in groups}

        async def drain(group: str) -> None:
            while True:
                message = await layer.receive(channels[group])
                received[group].append((time.monotonic(), json.loads(message["payload"])))

        tasks = [asyncio.create_task(drain(group)) for group in groups]
        await stop.wait()
        await asyncio.sleep(0.3)  # what was sent before the stop
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for group, channel in channels.items():
            await layer.group_discard(group, channel)
        return received

    received = _run(streamer, seconds, listen)
    assert received is not None

    def busiest_second(times: list[float]) -> int:
        return max((sum(1 for t in times if start <= t < start + 1.0) for start in times), default=0)

    for group in ("market.SIM.BTC-USDT", "market.SIM.ETH-USDT"):
        times = [t for t, _ in received[group]]
        assert len(times) >= 4, f"{group} got pushes"
        assert len(times) <= 4 * seconds + 2, group
        assert busiest_second(times) <= 5, group
    for slug in ("BTC-USDT", "ETH-USDT"):
        rows = [t for t, payload in received["market.SIM"] if f'id="ticker-SIM-{slug}"' in payload["html"]]
        assert 4 <= len(rows) <= 4 * seconds + 2 and busiest_second(rows) <= 5
    pushes_per_symbol = len(received["market.SIM.BTC-USDT"])
    assert streamer.stats.messages > 10 * pushes_per_symbol, "the venue sent far more than was pushed"


# Supervision ---------------------------------------------------------------------------


class TickerBreaksOnceGateway:
    """SIM, except that the first ticker stream breaks after one message (a dropped connection)."""

    def __init__(self, inner: SimGateway) -> None:
        self.inner = inner
        self.ticker_opened_at: list[float] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def watch_ticker(self, symbol: str) -> AsyncIterator[Ticker]:
        self.ticker_opened_at.append(time.monotonic())
        if len(self.ticker_opened_at) == 1:
            return self._one_then_broken(symbol)
        return self.inner.watch_ticker(symbol)

    async def _one_then_broken(self, symbol: str) -> AsyncIterator[Ticker]:
        yield await self.inner.fetch_ticker(symbol)
        raise ConnectionError("connection reset by venue")


def test_a_broken_stream_is_reopened_with_backoff_and_the_exchange_goes_down_then_back_up() -> None:
    (btc,) = _watch_only("BTC/USDT")
    _recent_history(btc)
    venue = TickerBreaksOnceGateway(_fast_sim(0.05))
    streamer = _use_gateway(MarketStreamer(exchange_codes=["SIM"], backoff_base=0.01), venue)
    changes_before = AuditEvent.objects.filter(action="exchange.status_changed").count()

    _run(streamer, 1.5)

    opened = venue.ticker_opened_at
    assert len(opened) == 2, "reopened once, then it stayed up"
    assert 0.01 <= opened[1] - opened[0] < 0.5, "a short backoff, not an immediate retry and not the default"
    assert streamer.stats.reconnects == 1
    statuses = list(AuditEvent.objects.filter(action="exchange.status_changed").order_by("created_at").values_list("summary", "changes"))
    assert [summary for summary, _ in statuses[changes_before:]] == ["SIM is down", "SIM is operational"]
    assert "connection reset by venue" in statuses[changes_before][1]["status_detail"][1]
    sim = builtin_exchange("SIM")
    assert sim.status == ExchangeStatus.OPERATIONAL and sim.status_detail == ""
    assert streamer.states["SIM:BTC-USDT"].ticker is not None


def test_a_down_status_left_from_before_is_cleared_once_the_streams_deliver() -> None:
    _watch_only("BTC/USDT")
    # The previous stream_market stopped while the venue was down; the venue is back since.
    exchange_set_status(exchange=builtin_exchange("SIM"), status=ExchangeStatus.DOWN, detail="SIM:BTC-USDT ticker: timed out")
    streamer = MarketStreamer(exchange_codes=["SIM"])

    _run(streamer, 1.0)

    sim = builtin_exchange("SIM")
    assert (sim.status, sim.status_detail) == (ExchangeStatus.OPERATIONAL, "")
    assert AuditEvent.objects.filter(action="exchange.status_changed", summary="SIM is operational").count() == 1
    assert streamer.stats.reconnects == 0


# Order book snapshots ------------------------------------------------------------------


def test_order_book_snapshots_are_stored_at_most_once_per_snapshot_seconds() -> None:
    (btc,) = _watch_only("BTC/USDT")
    _recent_history(btc)
    streamer = _use_gateway(MarketStreamer(exchange_codes=["SIM"], snapshot_seconds=1), _fast_sim(0.02))

    _run(streamer, 2.4)

    snapshots = list(OrderBookSnapshot.objects.filter(symbol=btc).order_by("captured_at"))
    assert 2 <= len(snapshots) <= 3
    assert streamer.stats.messages > 20 * len(snapshots)
    gaps = [(b.captured_at - a.captured_at).total_seconds() for a, b in zip(snapshots, snapshots[1:], strict=False)]
    assert all(gap >= 0.9 for gap in gaps), gaps
    latest = snapshots[-1]
    assert len(latest.bids) == len(latest.asks) == BOOK_DEPTH_KEPT
    assert Decimal(latest.bids[0][0]) < latest.mid < Decimal(latest.asks[0][0])
