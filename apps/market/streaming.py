"""The live market process (`manage.py stream_market`).

Raw venue streams are taken in here, outside the web process: a busy symbol sends far
more than a browser needs. We keep the latest state per symbol, store closed candles
(and periodic order book snapshots), and publish at most `push_hz` updates a second
per symbol and widget to the channel layer, as rendered partials.

Each stream is supervised: when it breaks it is reopened with exponential backoff and
jitter, and the candles missed meanwhile are fetched over REST. The database is treated
the same way: every call into it first drops a connection that an error left unusable (a
PostgreSQL restart), so the next query reconnects; after such a reconnect the state kept
in memory (the paper matcher's open orders, each symbol's last stored candle) is read
again from the database, which stays the source of truth.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connections
from django.template.loader import render_to_string

from apps.core.domain.backoff import Backoff
from apps.core.metrics import stream_lag_seconds, stream_messages_total, stream_reconnects_total, websocket_pushes_total
from apps.exchanges.domain.timeframes import TIMEFRAMES, align_open_time, timeframe_seconds
from apps.exchanges.domain.types import Candle, OrderBook, Ticker, Trade
from apps.exchanges.gateways.base import ExchangeGateway
from apps.exchanges.gateways.registry import gateway_for
from apps.exchanges.models import Exchange, Symbol
from apps.exchanges.selectors import watched_symbols
from apps.exchanges.services import exchange_record_outcome
from apps.market.groups import MARKET_EVENT_TYPE, exchange_group, symbol_group
from apps.market.heartbeat import HEARTBEAT_SECONDS, Heartbeat, VenueBeat, heartbeat_write
from apps.market.hooks import PaperMatching, TickOffers, stream_hooks
from apps.market.live import book_to_dict, live_store, ticker_to_dict
from apps.market.presentation import book_rows, ticker_view
from apps.market.services.candles import candles_rollup_from_1m, candles_upsert, last_stored_open_time
from apps.market.sharding import ALL_SYMBOLS, Shard

logger = logging.getLogger(__name__)
T = TypeVar("T")

BOOK_DEPTH = 15  # levels shown on the page
BOOK_DEPTH_KEPT = 50  # levels kept in the live state: paper orders walk them without a REST call
GAP_FILL_MAX = timedelta(days=1)
SYMBOL_REFRESH_SECONDS = 60


@dataclass
class SymbolState:
    symbol: Symbol
    ticker: Ticker | None = None
    book: OrderBook | None = None
    forming: Candle | None = None
    last_stored: datetime | None = None
    last_closed: Candle | None = None  # the newest stored candle as it was stored
    ticker_dirty: bool = False
    book_dirty: bool = False
    candle_dirty: bool = False
    last_snapshot: datetime | None = None


@dataclass
class StreamStats:
    messages: int = 0
    pushes: int = 0
    candles_stored: int = 0
    reconnects: int = 0
    gap_filled: int = 0


def drop_unusable_database_connections() -> bool:
    """Close this thread's connections that an error left unusable, so the next query reconnects.

    Django does this between requests; a long-running process has no requests, and without
    it a connection the server closed (a PostgreSQL restart) fails every later query.
    Returns True when a connection was dropped. Costs nothing while no error occurred."""
    dropped = False
    for connection in connections.all(initialized_only=True):
        if connection.connection is None or not connection.errors_occurred or connection.in_atomic_block:
            continue
        if not connection.is_usable():
            connection.close()
            dropped = True
        else:
            connection.errors_occurred = False
    return dropped


@dataclass
class MarketStreamer:
    exchange_codes: list[str] | None = None
    shard: Shard = ALL_SYMBOLS  # only the watched symbols of this shard (apps.market.sharding)
    push_hz: int = field(default_factory=lambda: settings.MARKET_PUSH_HZ)
    snapshot_seconds: int = field(default_factory=lambda: settings.ORDER_BOOK_SNAPSHOT_SECONDS)
    backoff_base: float = 0.5
    states: dict[str, SymbolState] = field(default_factory=dict)
    stats: StreamStats = field(default_factory=StreamStats)
    paper_matching: bool = True
    bot_ticks: bool = True  # hand trades to running bots whose strategy has on_tick
    user_data: bool = True  # follow the user-data streams of live accounts (apps.orders.services.live_stream)
    _gateways: dict[str, ExchangeGateway] = field(default_factory=dict)
    _tasks: dict[str, list[asyncio.Task[None]]] = field(default_factory=dict)
    _paper: PaperMatching | None = None
    _ticks: TickOffers | None = None
    _next_funding: dict[Any, tuple[datetime, Any]] = field(default_factory=dict)  # symbol -> (due, rate for that interval)
    database_reconnects: int = 0
    heartbeat_seconds: float = HEARTBEAT_SECONDS
    _beats: dict[str, VenueBeat] = field(default_factory=dict)  # exchange code -> what /health/ reads
    _started: float = field(default_factory=time.time)

    # The database ----------------------------------------------------------------------

    async def _db(self, function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Call `function` in the database thread, on a connection that works (reconnecting after a loss)."""

        def call() -> T:
            if drop_unusable_database_connections():
                self._forget_database_state()
            return function(*args, **kwargs)

        return await sync_to_async(call)()

    def _forget_database_state(self) -> None:
        """The connection was lost: what we keep from the database may be out of date; read it again."""
        self.database_reconnects += 1
        logger.warning("database connection lost; reconnecting and reading open paper orders and stored candles again")
        for state in self.states.values():
            state.last_stored = None
            state.last_closed = None
        if self._paper is not None:
            self._paper.forget()

    async def run(self, stop: asyncio.Event) -> None:
        layer = get_channel_layer()
        refresher = asyncio.create_task(self._refresh_symbols_forever(stop))
        publisher = asyncio.create_task(self._publish_forever(layer, stop))
        heart = asyncio.create_task(self._repeat("heartbeat", self.heartbeat_once, stop, every=self.heartbeat_seconds))
        background = [refresher, publisher, heart]
        if self.bot_ticks and stream_hooks.tick_dispatcher is not None:
            self._ticks = stream_hooks.tick_dispatcher()
        if self.user_data and stream_hooks.user_data_streams is not None:
            background.append(asyncio.create_task(stream_hooks.user_data_streams(exchange_codes=self.exchange_codes).run(stop)))
        if self.paper_matching and stream_hooks.paper_matcher is not None:
            self._paper = stream_hooks.paper_matcher()
            background += [asyncio.create_task(self._paper_sync_forever(stop)), asyncio.create_task(self._funding_forever(stop))]
        try:
            await stop.wait()
        finally:
            for task in [*background, *(t for tasks in self._tasks.values() for t in tasks)]:
                task.cancel()
            await asyncio.gather(*background, *(t for tasks in self._tasks.values() for t in tasks), return_exceptions=True)
            for gateway in self._gateways.values():
                await gateway.close()

    # Which symbols -----------------------------------------------------------------

    async def _refresh_symbols_forever(self, stop: asyncio.Event) -> None:
        await self._repeat("watched symbols refresh", self.refresh_symbols, stop, every=SYMBOL_REFRESH_SECONDS)

    async def _repeat(self, name: str, step: Callable[[], Awaitable[Any]], stop: asyncio.Event, *, every: float) -> None:
        """Run `step` every `every` seconds until `stop`; a failure (the database or Redis away) is
        logged and retried with backoff, so a loop never ends on an outage."""
        backoff = Backoff(base=self.backoff_base)
        failing = False
        while not stop.is_set():
            try:
                await step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # an outage is waited out, whatever it raises
                delay = max(every, backoff.next_delay())
                if not failing:
                    logger.exception("%s failed; retrying with backoff", name)
                else:
                    logger.warning("%s failed again (%s); retrying in %.1f s", name, exc, delay)
                failing = True
            else:
                if failing:
                    logger.info("%s recovered", name)
                failing = False
                backoff.reset()
                delay = every
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
            except TimeoutError:
                pass

    async def refresh_symbols(self) -> None:
        symbols = await self._db(self._load_watched)
        wanted = {f"{s.exchange.code}:{s.slug}": s for s in symbols}
        for key in list(self._tasks):
            if key not in wanted:
                for task in self._tasks.pop(key):
                    task.cancel()
                self.states.pop(key, None)
        for key, symbol in wanted.items():
            if key not in self._tasks:
                self._beats.setdefault(symbol.exchange.code, VenueBeat())
                self.states[key] = SymbolState(symbol=symbol)
                self._tasks[key] = self._start_symbol(key, symbol)
                logger.info("streaming %s", key)

    def _load_watched(self) -> list[Symbol]:
        symbols = watched_symbols()
        if self.exchange_codes:
            symbols = symbols.filter(exchange__code__in=self.exchange_codes)
        return [s for s in symbols if self.shard.owns(s.exchange.code, s.symbol)]

    def _gateway(self, code: str) -> ExchangeGateway:
        if code not in self._gateways:
            self._gateways[code] = gateway_for(code)
        return self._gateways[code]

    def _start_symbol(self, key: str, symbol: Symbol) -> list[asyncio.Task[None]]:
        gateway = self._gateway(symbol.exchange.code)
        state = self.states[key]
        name = symbol.symbol
        return [
            asyncio.create_task(self._supervise(f"{key} ticker", symbol.exchange, lambda: gateway.watch_ticker(name), self._on_ticker(state))),
            asyncio.create_task(self._supervise(f"{key} trades", symbol.exchange, lambda: gateway.watch_trades(name), self._on_trades(state))),
            asyncio.create_task(self._supervise(f"{key} book", symbol.exchange, lambda: gateway.watch_order_book(name, BOOK_DEPTH_KEPT), self._on_book(state))),
            asyncio.create_task(
                self._supervise(
                    f"{key} candles",
                    symbol.exchange,
                    lambda: gateway.watch_candles(name, "1m"),
                    self._on_candles(state),
                    before_each_connect=lambda: self.fill_gap(state),
                )
            ),
        ]

    # Supervision ---------------------------------------------------------------------

    async def _supervise(
        self,
        name: str,
        exchange: Exchange,
        open_stream: Callable[[], AsyncIterator[Any]],
        on_item: Callable[[Any], Awaitable[None]],
        before_each_connect: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        backoff = Backoff(base=self.backoff_base)
        beat = self._beats.setdefault(exchange.code, VenueBeat())
        received = stream_messages_total.labels(venue=exchange.code, kind=name.rsplit(" ", 1)[-1])
        lag = stream_lag_seconds.labels(venue=exchange.code)
        # None until the stream first delivers or breaks: the first message also clears a
        # "down" status left from before (e.g. by a previous run that stopped during an outage).
        healthy: bool | None = None
        while True:
            try:
                if before_each_connect is not None:
                    await before_each_connect()
                async for item in open_stream():
                    if healthy is not True:
                        await self._record_outcome(exchange, None)
                        if healthy is False:
                            logger.info("%s stream recovered", name)
                        healthy = True
                    backoff.reset()
                    self.stats.messages += 1
                    beat.last_message = time.time()
                    received.inc()
                    if (sent_at := venue_timestamp(item)) is not None:
                        lag.observe(max(0.0, beat.last_message - sent_at.timestamp()))
                    await on_item(item)
                raise ConnectionError("stream ended")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - every failure is retried; the venue decides when it is back
                self.stats.reconnects += 1
                stream_reconnects_total.labels(venue=exchange.code).inc()
                delay = backoff.next_delay()
                logger.warning("%s stream broke (%s); reconnecting in %.1f s", name, exc, delay)
                if healthy is not False:
                    healthy = False
                    from apps.core.errors import ApplicationError
                    from apps.exchanges.errors import ExchangeUnavailableError

                    error = exc if isinstance(exc, ApplicationError) else ExchangeUnavailableError(f"{name}: {exc}")
                    await self._record_outcome(exchange, error)
                await asyncio.sleep(delay)

    async def _record_outcome(self, exchange: Exchange, error: Exception | None) -> None:
        """Note the venue's status; with the database away it is noted at the next change, never fatal to the stream."""
        try:
            await self._db(exchange_record_outcome, exchange=exchange, error=error)
        except Exception as exc:  # noqa: BLE001
            logger.warning("recording %s's status failed: %s", exchange.code, exc)

    # Handlers ------------------------------------------------------------------------

    def _on_ticker(self, state: SymbolState) -> Callable[[Ticker], Awaitable[None]]:
        async def handle(ticker: Ticker) -> None:
            state.ticker = ticker
            state.ticker_dirty = True
            if self._paper is not None and state.symbol.is_perpetual:  # margin calls and liquidations at the mark
                await self._db(self._paper.on_mark, state.symbol, ticker)

        return handle

    def _on_trades(self, state: SymbolState) -> Callable[[list[Trade]], Awaitable[None]]:
        async def handle(trades: list[Trade]) -> None:
            if self._paper is not None and trades:
                await self._db(self._feed_paper, state.symbol, sorted(trades, key=lambda t: t.timestamp))
            if self._ticks is not None and trades:
                await self._db(self._ticks.offer, state.symbol.pk, max(trades, key=lambda t: t.timestamp))
            if trades and state.ticker is not None:
                latest = max(trades, key=lambda t: t.timestamp)
                if latest.timestamp >= state.ticker.timestamp and latest.price != state.ticker.last:
                    from dataclasses import replace

                    state.ticker = replace(state.ticker, last=latest.price, timestamp=latest.timestamp)
                    state.ticker_dirty = True

        return handle

    def _on_book(self, state: SymbolState) -> Callable[[OrderBook], Awaitable[None]]:
        async def handle(book: OrderBook) -> None:
            state.book = book
            state.book_dirty = True
            now = datetime.now(UTC)
            if state.last_snapshot is None or (now - state.last_snapshot).total_seconds() >= self.snapshot_seconds:
                state.last_snapshot = now
                await self._db(store_order_book_snapshot, symbol=state.symbol, book=book)

        return handle

    def _on_candles(self, state: SymbolState) -> Callable[[list[Candle]], Awaitable[None]]:
        async def handle(candles: list[Candle]) -> None:
            if not candles:
                return
            newest = max(candles, key=lambda c: c.open_time)
            current_minute = align_open_time(datetime.now(UTC), "1m")

            def unstored(c: Candle) -> bool:
                # New, or a later version of the newest stored one: an update the venue sent before
                # the minute ended can arrive after it, and would otherwise stay the stored candle.
                if state.last_stored is None or c.open_time > state.last_stored:
                    return True
                return c.open_time == state.last_stored and c != state.last_closed

            closed = [c for c in candles if c.open_time < max(newest.open_time, current_minute) and unstored(c)]
            if closed:
                await self.store_closed(state, sorted(closed, key=lambda c: c.open_time))
            state.forming = newest
            state.candle_dirty = True

        return handle

    async def store_closed(self, state: SymbolState, closed: list[Candle]) -> None:
        await self._db(store_closed_candles, symbol=state.symbol, candles=closed)
        state.last_stored = closed[-1].open_time
        state.last_closed = closed[-1]
        self.stats.candles_stored += len(closed)
        self._beats.setdefault(state.symbol.exchange.code, VenueBeat()).last_candle_stored = time.time()

    async def heartbeat_once(self) -> None:
        """Tell /health/ we are alive and, per venue, when we last heard from it and last stored a candle."""
        beat = Heartbeat(at=time.time(), started=self._started, venues=dict(self._beats))
        await asyncio.to_thread(heartbeat_write, beat)

    async def fill_gap(self, state: SymbolState) -> None:
        """Fetch over REST the closed 1m candles missed since the last stored one."""
        now = datetime.now(UTC)
        if state.last_stored is None:
            state.last_stored = await self._db(last_stored_open_time, symbol=state.symbol, timeframe="1m")
        start = max(state.last_stored + timedelta(minutes=1) if state.last_stored else now - GAP_FILL_MAX, now - GAP_FILL_MAX)
        newest_closed = align_open_time(now, "1m") - timedelta(minutes=1)
        gateway = self._gateway(state.symbol.exchange.code)
        while start <= newest_closed:
            page = await gateway.fetch_candles(state.symbol.symbol, "1m", since=start, limit=1000)
            page = [c for c in page if start <= c.open_time <= newest_closed]
            if not page:
                break
            await self.store_closed(state, page)
            self.stats.gap_filled += len(page)
            start = page[-1].open_time + timedelta(minutes=1)

    # Paper trading -------------------------------------------------------------------

    def _feed_paper(self, symbol: Symbol, trades: list[Trade]) -> None:
        paper = self._paper
        if paper is None:
            return
        for trade in trades:
            paper.on_trade(symbol, trade.price, trade.quantity, trade.timestamp)

    async def _paper_sync_forever(self, stop: asyncio.Event) -> None:
        async def sync() -> None:
            if self._paper is not None:
                await self._db(self._paper.sync, [state.symbol.pk for state in self.states.values()])

        await self._repeat("paper order sync", sync, stop, every=1)

    async def _funding_forever(self, stop: asyncio.Event) -> None:
        """Settle funding on paper positions in perpetuals when each funding time passes."""
        await self._repeat("funding settlement", self.funding_once, stop, every=30)

    async def funding_once(self) -> None:
        """Settle each perpetual whose funding time has passed and note the next one's rate."""
        funding_settle = stream_hooks.funding_settle
        if funding_settle is None:
            return
        for state in list(self.states.values()):
            symbol = state.symbol
            if not symbol.is_perpetual or state.ticker is None:
                continue
            try:
                funding = await self._gateway(symbol.exchange.code).fetch_funding_rate(symbol.symbol)
            except Exception as exc:  # noqa: BLE001
                logger.warning("funding rate of %s unavailable: %s", symbol, exc)
                continue
            pending = self._next_funding.get(symbol.pk)
            if pending is not None and datetime.now(UTC) >= pending[0]:
                await self._db(funding_settle, symbol=symbol, rate=pending[1], mark=state.ticker.last, at=pending[0])
                self._next_funding.pop(symbol.pk)
            known = self._next_funding.get(symbol.pk)
            if funding.next_funding_time is not None and (known is None or known[0] == funding.next_funding_time):
                # the latest predicted rate for that funding time: it is the one paid when the time passes
                self._next_funding[symbol.pk] = (funding.next_funding_time, funding.rate)

    # Publishing ----------------------------------------------------------------------

    async def _publish_forever(self, layer: Any, stop: asyncio.Event) -> None:
        await self._repeat("live push", lambda: self.publish_once(layer), stop, every=1 / self.push_hz)

    async def publish_once(self, layer: Any) -> int:
        sent = 0
        for state in list(self.states.values()):
            symbol = state.symbol
            code = symbol.exchange.code
            html_for_symbol: list[str] = []
            candle_payload = None
            if state.ticker_dirty and state.ticker is not None:
                state.ticker_dirty = False
                data = ticker_to_dict(state.ticker)
                live_store("ticker", code, symbol.slug, data)
                view = ticker_view(data)
                row = render_to_string("market/partials.html#ticker-row", {"symbol": symbol, "ticker": view})
                await layer.group_send(exchange_group(code), {"type": MARKET_EVENT_TYPE, "payload": json.dumps({"html": row})})
                html_for_symbol.append(render_to_string("market/partials.html#symbol-ticker", {"symbol": symbol, "ticker": view}))
                sent += 1
            if state.book_dirty and state.book is not None:
                state.book_dirty = False
                data = book_to_dict(state.book)
                live_store("book", code, symbol.slug, data)
                html_for_symbol.append(
                    render_to_string(
                        "market/partials.html#order-book",
                        {"symbol": symbol, "book": book_rows({**data, "bids": data["bids"][:BOOK_DEPTH], "asks": data["asks"][:BOOK_DEPTH]})},
                    )
                )
            if state.candle_dirty and state.forming is not None:
                state.candle_dirty = False
                c = state.forming
                candle_payload = [int(c.open_time.timestamp() * 1000), str(c.open), str(c.high), str(c.low), str(c.close), str(c.volume)]
            if html_for_symbol or candle_payload:
                payload = json.dumps({"html": "".join(html_for_symbol), "candle": candle_payload})
                await layer.group_send(symbol_group(code, symbol.slug), {"type": MARKET_EVENT_TYPE, "payload": payload})
                sent += 1
        self.stats.pushes += sent
        websocket_pushes_total.labels(kind="market").inc(sent)
        return sent


# Storage (synchronous, called through sync_to_async) ----------------------------------


def venue_timestamp(item: Any) -> datetime | None:
    """When the venue stamped a streamed item (a ticker, a book, the newest of a batch of trades); None for candles."""
    if isinstance(item, list):
        stamps = [stamp for element in item if (stamp := getattr(element, "timestamp", None)) is not None]
        return max(stamps) if stamps else None
    stamp = getattr(item, "timestamp", None)
    return stamp if isinstance(stamp, datetime) else None


def store_closed_candles(*, symbol: Symbol, candles: list[Candle]) -> int:
    """Store closed 1m candles, then roll up every higher timeframe whose bucket they complete."""
    written = candles_upsert(symbol=symbol, timeframe="1m", candles=candles)
    first, last = candles[0].open_time, candles[-1].open_time + timedelta(minutes=1)
    for timeframe in TIMEFRAMES[1:]:
        span = timedelta(seconds=timeframe_seconds(timeframe))
        candles_rollup_from_1m(symbol=symbol, timeframe=timeframe, start=align_open_time(first, timeframe), end=last + span)
    first_open, last_open = min(c.open_time for c in candles), max(c.open_time for c in candles)
    for listener in stream_hooks.closed_candles:  # bots deciding on the bars these candles closed (their runner catches up in order)
        try:
            listener(symbol_id=symbol.pk, first=first_open, last=last_open)
        except Exception:  # never lose candles over it: the bots' beat fallback catches up
            logger.exception("enqueueing bots for %s failed", symbol)
    return written


def store_order_book_snapshot(*, symbol: Symbol, book: OrderBook) -> None:
    from apps.core.partitions import ensure_partitions_cover
    from apps.market.models import OrderBookSnapshot

    ensure_partitions_cover("market_orderbooksnapshot", book.timestamp, book.timestamp)
    OrderBookSnapshot.objects.bulk_create(
        [
            OrderBookSnapshot(
                symbol=symbol,
                captured_at=book.timestamp,
                bids=[[str(level.price), str(level.quantity)] for level in book.bids],
                asks=[[str(level.price), str(level.quantity)] for level in book.asks],
                mid=book.mid,
            )
        ],
        ignore_conflicts=True,
    )
