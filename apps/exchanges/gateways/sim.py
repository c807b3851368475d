"""The offline simulated venue SIM: the `ExchangeGateway` protocol over `SimulatedMarket`s.

Market data only, in real time: what a venue would have said at `clock.now()`. History is
whatever the simulator computes for the past, so a backfill, a live stream and a restart all
see the same candles. Trading on SIM goes through paper accounts (the trading core).

Mark price: a SIM perpetual's ticker carries a mark that follows its index (the spot market on
the same price path) with the perpetual's mean basis (`SimSymbolSpec.basis_bps`: 2 bps on
BTC, 1.5 bps on ETH), rounded to the perpetual's tick. Its last trade swings around that by
the hourly basis and the trade noise; positions are valued and liquidated at the mark.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Protocol

from apps.core.domain.money import round_to_step
from apps.core.errors import ValidationError
from apps.exchanges.domain.simulator import SimSymbolSpec, SimulatedMarket, simulated_markets
from apps.exchanges.domain.timeframes import TIMEFRAMES, UnknownTimeframe, align_open_time, timeframe_seconds
from apps.exchanges.domain.types import (
    Balance,
    Candle,
    FundingRate,
    MarketInfo,
    OrderBook,
    OrderRequest,
    Ticker,
    Trade,
    VenueOrder,
    VenuePosition,
)
from apps.exchanges.errors import ExchangeErrorCode, NotSupportedError, UnknownSymbolError

CANDLES_PAGE_LIMIT = 1_000
TRADES_PAGE_LIMIT = 1_000
DEFAULT_PAGE = 500
MAX_BOOK_DEPTH = 100
STREAM_CATCH_UP = timedelta(seconds=10)  # after a long pause a trade stream resumes from this far back, no further
PAPER_ONLY = "SIM trades through paper accounts"
BASIS_POINTS = Decimal(10_000)


class Clock(Protocol):
    """Where the gateway's "now" comes from; tests pass a fake one that moves when slept on."""

    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...


class WallClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@lru_cache(maxsize=1)
def shared_markets() -> dict[str, SimulatedMarket]:
    """The built-in SIM markets, shared by every gateway so their caches are too."""
    return simulated_markets()


class SimGateway:
    code = "SIM"
    trades_interval = 0.2  # seconds between stream updates
    ticker_interval = 0.25
    order_book_interval = 0.25
    candles_interval = 0.5

    def __init__(self, *, clock: Clock | None = None, specs: Mapping[str, SimSymbolSpec] | None = None) -> None:
        self._clock: Clock = clock or WallClock()
        self._markets = shared_markets() if specs is None else simulated_markets(specs)

    # Lookups and argument checks ----------------------------------------------------

    def _market(self, symbol: str) -> SimulatedMarket:
        try:
            return self._markets[symbol]
        except KeyError:
            raise UnknownSymbolError(f"SIM has no market {symbol!r}.", extra={"symbol": symbol}) from None

    @staticmethod
    def _timeframe_seconds(timeframe: str) -> int:
        try:
            return timeframe_seconds(timeframe)
        except UnknownTimeframe:
            raise ValidationError.for_field(
                "timeframe",
                f"Unknown timeframe {timeframe!r}; use one of {', '.join(TIMEFRAMES)}.",
                code=ExchangeErrorCode.UNSUPPORTED_TIMEFRAME,
            ) from None

    @staticmethod
    def _page_size(limit: int | None, maximum: int) -> int:
        if limit is None:
            return min(DEFAULT_PAGE, maximum)
        if limit < 1:
            raise ValidationError.for_field("limit", "The limit must be at least 1.")
        return min(limit, maximum)

    @staticmethod
    def _aware(moment: datetime, field: str) -> datetime:
        if moment.tzinfo is None:
            raise ValidationError.for_field(field, f"{field} must be a timezone-aware datetime (UTC).")
        return moment

    @staticmethod
    def _book_depth(depth: int) -> int:
        if not 1 <= depth <= MAX_BOOK_DEPTH:
            raise ValidationError.for_field("depth", f"The book depth must be between 1 and {MAX_BOOK_DEPTH}.")
        return depth

    # Market data --------------------------------------------------------------------

    async def load_markets(self) -> list[MarketInfo]:
        return [_market_info(market.spec) for market in self._markets.values()]

    async def fetch_ticker(self, symbol: str) -> Ticker:
        return self._ticker(self._market(symbol), self._clock.now())

    async def fetch_tickers(self, symbols: list[str] | None = None) -> list[Ticker]:
        chosen = [self._market(symbol) for symbol in symbols] if symbols is not None else list(self._markets.values())
        now = self._clock.now()
        return [self._ticker(market, now) for market in chosen]

    def _ticker(self, market: SimulatedMarket, moment: datetime) -> Ticker:
        ticker = market.ticker_at(moment)
        if not market.spec.is_perpetual:
            return ticker
        return replace(ticker, mark=self.mark_price_at(market, moment))

    def mark_price_at(self, market: SimulatedMarket, moment: datetime) -> Decimal:
        """The perpetual's index (its spot market's price, or its own path when it has no spot) times (1 + mean basis)."""
        index_market = self._index_markets().get(market.spec.path_seed, market)
        index = index_market.price_at(moment)
        mark = index * (1 + Decimal(str(market.spec.basis_bps)) / BASIS_POINTS)
        return round_to_step(mark, market.spec.tick_size, "nearest")

    def _index_markets(self) -> dict[int, SimulatedMarket]:
        return {market.spec.path_seed: market for market in self._markets.values() if not market.spec.is_perpetual}

    async def fetch_order_book(self, symbol: str, depth: int = 20) -> OrderBook:
        market = self._market(symbol)
        return market.order_book_at(self._clock.now(), self._book_depth(depth))

    async def fetch_candles(self, symbol: str, timeframe: str, since: datetime | None = None, limit: int | None = None) -> list[Candle]:
        """Closed candles only (the forming one is left out), oldest first, a page of at most 1 000."""
        market = self._market(symbol)
        width = timedelta(seconds=self._timeframe_seconds(timeframe))
        count = self._page_size(limit, CANDLES_PAGE_LIMIT)
        forming_open = align_open_time(self._clock.now(), timeframe)
        start = forming_open - width * count if since is None else self._aware(since, "since")
        end = min(forming_open, start + width * count)
        if end <= start:
            return []
        return await asyncio.to_thread(market.candles, start, end, timeframe)

    async def fetch_trades(self, symbol: str, since: datetime | None = None, limit: int | None = None) -> list[Trade]:
        """Trades that have happened by now, oldest first: from `since` on, or the latest ones."""
        market = self._market(symbol)
        count = self._page_size(limit, TRADES_PAGE_LIMIT)
        now = self._clock.now()
        if since is None:
            return await asyncio.to_thread(market.latest_trades, now, count)
        start = self._aware(since, "since")
        if start >= now:
            return []
        return await asyncio.to_thread(market.trades_between, start, now, count)

    async def fetch_funding_rate(self, symbol: str) -> FundingRate:
        market = self._market(symbol)
        if not market.spec.is_perpetual:
            raise NotSupportedError(f"{symbol} is a spot market: it has no funding rate.", extra={"symbol": symbol})
        return market.funding_rate_at(self._clock.now())

    # Account: SIM has none of its own ------------------------------------------------

    async def fetch_balances(self) -> list[Balance]:
        raise NotSupportedError(PAPER_ONLY)

    async def create_order(self, request: OrderRequest) -> VenueOrder:
        raise NotSupportedError(PAPER_ONLY)

    async def cancel_order(self, symbol: str, venue_order_id: str | None = None, client_order_id: str | None = None) -> VenueOrder:
        raise NotSupportedError(PAPER_ONLY)

    async def fetch_order(self, symbol: str, venue_order_id: str | None = None, client_order_id: str | None = None) -> VenueOrder:
        raise NotSupportedError(PAPER_ONLY)

    async def fetch_open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        raise NotSupportedError(PAPER_ONLY)

    async def fetch_positions(self, symbols: list[str] | None = None) -> list[VenuePosition]:
        raise NotSupportedError(PAPER_ONLY)

    async def fetch_liquidations(self, symbol: str, since: datetime | None = None) -> list[VenueOrder]:
        raise NotSupportedError(PAPER_ONLY)

    async def set_leverage(self, symbol: str, leverage: int) -> None:
        raise NotSupportedError(PAPER_ONLY)

    async def set_margin_mode(self, symbol: str, margin_mode: str) -> None:
        raise NotSupportedError(PAPER_ONLY)

    async def watch_orders(self) -> AsyncIterator[list[VenueOrder]]:
        raise NotSupportedError(PAPER_ONLY)
        yield []  # pragma: no cover - makes this an async generator, like the other streams

    # Streams: arguments are checked when the stream is opened -------------------------

    def watch_ticker(self, symbol: str) -> AsyncIterator[Ticker]:
        return self._ticker_stream(self._market(symbol))

    def watch_trades(self, symbol: str) -> AsyncIterator[list[Trade]]:
        return self._trade_stream(self._market(symbol))

    def watch_candles(self, symbol: str, timeframe: str) -> AsyncIterator[list[Candle]]:
        market = self._market(symbol)
        self._timeframe_seconds(timeframe)
        return self._candle_stream(market, timeframe)

    def watch_order_book(self, symbol: str, depth: int = 20) -> AsyncIterator[OrderBook]:
        return self._order_book_stream(self._market(symbol), self._book_depth(depth))

    async def _ticker_stream(self, market: SimulatedMarket) -> AsyncIterator[Ticker]:
        while True:
            yield self._ticker(market, self._clock.now())
            await self._clock.sleep(self.ticker_interval)

    async def _order_book_stream(self, market: SimulatedMarket, depth: int) -> AsyncIterator[OrderBook]:
        while True:
            yield market.order_book_at(self._clock.now(), depth)
            await self._clock.sleep(self.order_book_interval)

    async def _trade_stream(self, market: SimulatedMarket) -> AsyncIterator[list[Trade]]:
        """Each batch holds the trades whose timestamps passed since the previous one (none twice, none skipped)."""
        cursor = self._clock.now()
        while True:
            await self._clock.sleep(self.trades_interval)
            now = self._clock.now()
            cursor = max(cursor, now - STREAM_CATCH_UP)
            trades = market.trades_between(cursor, now)
            cursor = now
            if trades:
                yield trades

    async def _candle_stream(self, market: SimulatedMarket, timeframe: str) -> AsyncIterator[list[Candle]]:
        """The forming candle, updated; when a candle ends, the closed one (complete) comes first in the batch."""
        shown: datetime | None = None
        while True:
            forming = market.forming_candle(self._clock.now(), timeframe)
            batch: list[Candle] = []
            if shown is not None and forming.open_time > shown:
                batch.extend(market.candles(shown, forming.open_time, timeframe)[-CANDLES_PAGE_LIMIT:])
            batch.append(forming)
            shown = forming.open_time
            yield batch
            await self._clock.sleep(self.candles_interval)

    async def close(self) -> None:
        return None


def _market_info(spec: SimSymbolSpec) -> MarketInfo:
    return MarketInfo(
        symbol=spec.symbol,
        venue_symbol=spec.venue_symbol,
        base=spec.base,
        quote=spec.quote,
        market_type=spec.market_type,
        tick_size=spec.tick_size,
        lot_size=spec.lot_size,
        min_quantity=spec.min_quantity,
        min_notional=spec.min_notional,
        max_leverage=spec.max_leverage,
        active=True,
    )
