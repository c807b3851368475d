"""What every local venue shares: deterministic market data, fault injection, a background runner.

A venue module (binance, bybit, okx) builds an aiohttp application speaking that venue's own
protocol from a `VenueControl` and a `MarketData`. `run_venue` serves it on a free 127.0.0.1
port from a background thread, so synchronous tests can drive the gateway with `asyncio.run`.
"""

from __future__ import annotations

import asyncio
import math
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aiohttp import WSCloseCode, web

DEFAULT_SEED = 7
BOOK_LEVELS = 50
BOOK_UPDATE_MS = 100  # one order book update id per 100 ms, like Binance's @100ms streams
TRADE_EVERY_MS = 500


def now_ms() -> int:
    return int(time.time() * 1000)


def snap(value: Decimal, step: Decimal) -> Decimal:
    """Round to a multiple of `step`, keeping the step's exponent (0.01 -> two decimals)."""
    return ((value / step).to_integral_value() * step).quantize(step)


def fmt(value: Decimal, places: int = 8) -> str:
    """Binance-style fixed decimals: "27000.01000000"."""
    return f"{value:.{places}f}"


# Market data ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instrument:
    """One market in venue-neutral terms; each venue module names and formats it its own way."""

    base: str
    quote: str
    tick: Decimal
    lot: Decimal
    min_qty: Decimal
    min_notional: Decimal
    base_price: Decimal
    perpetual: bool = False
    active: bool = True
    max_leverage: int = 1
    contract_size: Decimal = Decimal(1)

    @property
    def key(self) -> str:
        return f"{self.base}{self.quote}{'-perp' if self.perpetual else ''}"


@dataclass(frozen=True)
class CandleData:
    open_time: int  # ms
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    closed: bool

    @property
    def quote_volume(self) -> Decimal:
        return (self.volume * self.close).quantize(Decimal("0.00000001"))


@dataclass(frozen=True)
class TradeData:
    trade_id: int
    time: int  # ms
    price: Decimal
    quantity: Decimal
    buyer_is_maker: bool


@dataclass(frozen=True)
class BookData:
    update_id: int
    bids: tuple[tuple[Decimal, Decimal], ...]  # best first
    asks: tuple[tuple[Decimal, Decimal], ...]


class MarketData:
    """A price path from a seeded RNG: the same seed, instrument and time give the same numbers.

    Each point of the path depends only on its time (two slow waves plus seeded noise), so any
    window of candles, trades or books can be produced without replaying history, and a candle's
    close is exactly the next candle's open.
    """

    def __init__(self, seed: int = DEFAULT_SEED) -> None:
        self.seed = seed

    def _rng(self, *parts: object) -> random.Random:
        return random.Random(":".join(map(str, (self.seed, *parts))))

    def price(self, instrument: Instrument, at_ms: int) -> Decimal:
        minutes = at_ms / 60_000
        wave = 0.03 * math.sin(2 * math.pi * minutes / 1440) + 0.01 * math.sin(2 * math.pi * minutes / 97)
        noise = self._rng(instrument.key, "price", at_ms).uniform(-0.002, 0.002)
        return snap(instrument.base_price * Decimal(repr(1 + wave + noise)), instrument.tick)

    def candle(self, instrument: Instrument, interval_ms: int, open_time: int, now: int | None = None) -> CandleData:
        """The candle opening at `open_time`; still forming (closes at `now`) if `now` falls inside it."""
        now = now_ms() if now is None else now
        close_time = open_time + interval_ms
        closed = close_time <= now
        end = close_time if closed else max(open_time, now - now % 1000)
        open_, close = self.price(instrument, open_time), self.price(instrument, end)
        rng = self._rng(instrument.key, "candle", interval_ms, open_time)
        spread = instrument.base_price * Decimal("0.001") * Decimal(math.sqrt(interval_ms / 60_000))
        high = snap(max(open_, close) + spread * Decimal(repr(rng.random())), instrument.tick)
        low = snap(min(open_, close) - spread * Decimal(repr(rng.random())), instrument.tick)
        steps = rng.randint(100, 50_000) * max(1, interval_ms // 60_000)
        if not closed:
            steps = steps * (end - open_time) // interval_ms
        return CandleData(open_time, open_, high, low, close, instrument.lot * steps, closed)

    def candles(self, instrument: Instrument, interval_ms: int, first_open: int, count: int, now: int | None = None) -> list[CandleData]:
        now = now_ms() if now is None else now
        opens = (first_open + i * interval_ms for i in range(count))
        return [self.candle(instrument, interval_ms, open_time, now) for open_time in opens if open_time <= now]

    def trade(self, instrument: Instrument, trade_id: int) -> TradeData:
        at = trade_id * TRADE_EVERY_MS
        rng = self._rng(instrument.key, "trade", trade_id)
        return TradeData(trade_id, at, self.price(instrument, at), instrument.lot * rng.randint(1, 20_000), rng.random() < 0.5)

    def trades_between(self, instrument: Instrument, start_ms: int, end_ms: int) -> list[TradeData]:
        first, last = -(-start_ms // TRADE_EVERY_MS), end_ms // TRADE_EVERY_MS
        return [self.trade(instrument, trade_id) for trade_id in range(first, last + 1)]

    def last_trade_id(self, at_ms: int | None = None) -> int:
        return (now_ms() if at_ms is None else at_ms) // TRADE_EVERY_MS

    def book(self, instrument: Instrument, update_id: int | None = None, levels: int = BOOK_LEVELS) -> BookData:
        update_id = current_book_update_id() if update_id is None else update_id
        mid = self.price(instrument, update_id * BOOK_UPDATE_MS)
        rng = self._rng(instrument.key, "book", update_id)

        def side(sign: int) -> tuple[tuple[Decimal, Decimal], ...]:
            return tuple((mid + sign * instrument.tick * (i + 1), instrument.lot * rng.randint(1, 100_000)) for i in range(levels))

        return BookData(update_id, side(-1), side(+1))

    def ticker(self, instrument: Instrument, at_ms: int | None = None) -> dict[str, Any]:
        """24 h statistics in venue-neutral form."""
        at = now_ms() if at_ms is None else at_ms
        day_ago = at - 86_400_000
        hourly = [self.candle(instrument, 3_600_000, day_ago - day_ago % 3_600_000 + i * 3_600_000, at) for i in range(25)]
        book = self.book(instrument, at // BOOK_UPDATE_MS, levels=1)
        volume = sum((candle.volume for candle in hourly), Decimal(0))
        return {
            "open": self.price(instrument, day_ago),
            "last": self.price(instrument, at),
            "high": max(candle.high for candle in hourly),
            "low": min(candle.low for candle in hourly),
            "volume": volume,
            "quote_volume": sum((candle.quote_volume for candle in hourly), Decimal(0)),
            "bid": book.bids[0],
            "ask": book.asks[0],
            "open_time": day_ago,
            "close_time": at,
        }


def current_book_update_id() -> int:
    return now_ms() // BOOK_UPDATE_MS


def book_prices(market_data: MarketData, instrument: Instrument, update_id: int, levels: int = BOOK_LEVELS) -> set[Decimal]:
    mid = market_data.price(instrument, update_id * BOOK_UPDATE_MS)
    return {mid + sign * instrument.tick * (i + 1) for sign in (-1, 1) for i in range(levels)}


def book_diff(market_data: MarketData, instrument: Instrument, since_update_id: int | None, book: BookData) -> tuple[list[list[str]], list[list[str]]]:
    """The events of update ids (since_update_id, book.update_id] folded into one, like a depth stream event.

    The new book's levels all count as changed; a price level that any intermediate book had and
    the new one lacks is sent with quantity 0, so a client holding any snapshot in the range ends
    up with exactly the new book.
    """
    first = book.update_id if since_update_id is None else since_update_id
    stale: set[Decimal] = set()
    for update_id in range(first, book.update_id):
        stale |= book_prices(market_data, instrument, update_id)
    live = {price for price, _ in book.bids} | {price for price, _ in book.asks}
    # a stale level may sit on either side of the new mid: clear it from both
    gone = [[str(price), "0"] for price in sorted(stale - live)]
    return [[str(p), str(q)] for p, q in book.bids] + gone, [[str(p), str(q)] for p, q in book.asks] + gone


# Fault injection --------------------------------------------------------------------------


@dataclass
class Fault:
    remaining: int
    status: int | None = None  # answer with this HTTP status...
    hang_seconds: float | None = None  # ...or hold the request this long first
    hang_after_handling: bool = False  # hold the answer instead: the venue acted, the client never hears
    retry_after: float | None = None
    path: str | None = None  # only requests to this path; None for any

    def matches(self, path: str) -> bool:
        return self.remaining > 0 and (self.path is None or self.path == path)


@dataclass
class VenueControl:
    """The test's handle on a running venue. Thread-safe: the server runs in another thread."""

    requests: Counter[str] = field(default_factory=Counter)
    _faults: list[Fault] = field(default_factory=list)
    _sockets: set[web.WebSocketResponse] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    loop: asyncio.AbstractEventLoop | None = None

    def fail_next(self, count: int, status: int, *, path: str | None = None, retry_after: float | None = None) -> None:
        """The next `count` requests (to `path`, if given) answer `status` in the venue's error format."""
        with self._lock:
            self._faults.append(Fault(count, status=status, path=path, retry_after=retry_after))

    def hang_next(self, count: int, seconds: float, *, path: str | None = None, after_handling: bool = False) -> None:
        """The next `count` requests wait `seconds` (past the client's timeout) before they are
        handled, or with `after_handling` after: the venue acts on the request, the answer is lost."""
        with self._lock:
            self._faults.append(Fault(count, hang_seconds=seconds, path=path, hang_after_handling=after_handling))

    def count(self, path: str) -> int:
        with self._lock:
            return self.requests[path]

    def reset_counts(self) -> None:
        with self._lock:
            self.requests.clear()

    def drop_websockets(self) -> int:
        """Close every open WebSocket now, as a venue does on maintenance. Returns how many."""
        if self.loop is None:
            return 0
        return asyncio.run_coroutine_threadsafe(self._close_sockets(), self.loop).result(timeout=5)

    @property
    def open_websockets(self) -> int:
        return len(self._sockets)

    # server side

    def _record(self, path: str) -> Fault | None:
        with self._lock:
            self.requests[path] += 1
            fault = next((fault for fault in self._faults if fault.matches(path)), None)
            if fault is not None:
                fault.remaining -= 1
            return fault

    def register(self, ws: web.WebSocketResponse) -> None:
        self._sockets.add(ws)

    def unregister(self, ws: web.WebSocketResponse) -> None:
        self._sockets.discard(ws)

    async def _close_sockets(self) -> int:
        sockets = list(self._sockets)
        for ws in sockets:
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"dropped by the test")
        return len(sockets)


ErrorResponder = Callable[[int], web.Response]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def fault_middleware(control: VenueControl, error_response: ErrorResponder) -> Any:
    """Counts every request by path and plays the faults the test queued."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        fault = control._record(request.path)
        if fault is None:
            return await handler(request)
        if fault.hang_seconds is not None and not fault.hang_after_handling:
            await asyncio.sleep(fault.hang_seconds)
        if fault.status is not None:
            response = error_response(fault.status)
            if fault.retry_after is not None:
                response.headers["Retry-After"] = f"{fault.retry_after:g}"
            return response
        handled = await handler(request)
        if fault.hang_seconds is not None and fault.hang_after_handling:
            await asyncio.sleep(fault.hang_seconds)
        return handled

    return middleware


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(payload, status=status, headers=headers)


def html_error(status: int) -> web.Response:
    """What a CDN in front of a venue sends for 502/503: HTML, not the venue's JSON."""
    reason = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}.get(status, "Error")
    body = f"<html><head><title>{status} {reason}</title></head><body><center><h1>{status} {reason}</h1></center></body></html>"
    return web.Response(status=status, text=body, content_type="text/html")


# Running in the background ----------------------------------------------------------------


@dataclass(frozen=True)
class RunningVenue:
    rest_url: str
    ws_url: str
    control: VenueControl
    app: web.Application
    market_data: MarketData

    def __getitem__(self, key: web.AppKey[Any]) -> Any:
        return self.app[key]


AppFactory = Callable[[VenueControl, MarketData], web.Application]


@contextmanager
def run_venue(app_factory: AppFactory, *, seed: int = DEFAULT_SEED) -> Iterator[RunningVenue]:
    """Serve the venue on a free 127.0.0.1 port in a background thread until the block ends."""
    control, market_data = VenueControl(), MarketData(seed)
    app = app_factory(control, market_data)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    loop = asyncio.new_event_loop()
    control.loop = loop
    # handler_cancellation: a hung request ends when the client gives up, not minutes later
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0, access_log=None)

    async def start() -> None:
        await runner.setup()
        await web.SockSite(runner, sock).start()

    thread = threading.Thread(target=loop.run_forever, name=f"venue-{port}", daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=10)
    try:
        yield RunningVenue(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", control, app, market_data)
    finally:
        asyncio.run_coroutine_threadsafe(control._close_sockets(), loop).result(timeout=10)
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        sock.close()
