"""One protocol for every venue: the ccxt gateway for real exchanges, the simulated SIM venue,
and (with the trading core) the paper venue. Every method is async; every number is a Decimal.

Callers get the platform's errors (`apps.exchanges.errors`), never a library's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

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


@dataclass(frozen=True)
class Credentials:
    api_key: str
    secret: str
    passphrase: str = ""
    testnet: bool = False

    def __repr__(self) -> str:  # never print secrets, not even in a traceback
        return f"Credentials(api_key={self.api_key[:4]}…, testnet={self.testnet})"


@runtime_checkable
class ExchangeGateway(Protocol):
    code: str

    # Market data -------------------------------------------------------------------
    async def load_markets(self) -> list[MarketInfo]: ...

    async def fetch_ticker(self, symbol: str) -> Ticker: ...

    async def fetch_tickers(self, symbols: list[str] | None = None) -> list[Ticker]: ...

    async def fetch_order_book(self, symbol: str, depth: int = 20) -> OrderBook: ...

    async def fetch_candles(self, symbol: str, timeframe: str, since: datetime | None = None, limit: int | None = None) -> list[Candle]:
        """Candles with open time >= since, oldest first, at most `limit` (the venue's page)."""
        ...

    async def fetch_trades(self, symbol: str, since: datetime | None = None, limit: int | None = None) -> list[Trade]: ...

    async def fetch_funding_rate(self, symbol: str) -> FundingRate: ...

    # Account -----------------------------------------------------------------------
    async def fetch_balances(self) -> list[Balance]: ...

    async def create_order(self, request: OrderRequest) -> VenueOrder: ...

    async def cancel_order(self, symbol: str, venue_order_id: str | None = None, client_order_id: str | None = None) -> VenueOrder: ...

    async def fetch_order(self, symbol: str, venue_order_id: str | None = None, client_order_id: str | None = None) -> VenueOrder: ...

    async def fetch_open_orders(self, symbol: str | None = None) -> list[VenueOrder]: ...

    async def fetch_positions(self, symbols: list[str] | None = None) -> list[VenuePosition]: ...

    async def fetch_liquidations(self, symbol: str, since: datetime | None = None) -> list[VenueOrder]:
        """The account's positions in the perpetual `symbol` that the venue liquidated (since `since`),
        each as the filled order that closed it (`VenueOrder.is_liquidation`)."""
        ...

    async def set_leverage(self, symbol: str, leverage: int) -> None: ...

    async def set_margin_mode(self, symbol: str, margin_mode: str) -> None: ...

    # Streams (each yields until the stream breaks; the caller reconnects) ---------
    def watch_ticker(self, symbol: str) -> AsyncIterator[Ticker]: ...

    def watch_trades(self, symbol: str) -> AsyncIterator[list[Trade]]: ...

    def watch_candles(self, symbol: str, timeframe: str) -> AsyncIterator[list[Candle]]: ...

    def watch_order_book(self, symbol: str, depth: int = 20) -> AsyncIterator[OrderBook]: ...

    def watch_orders(self) -> AsyncIterator[list[VenueOrder]]:
        """The account's user-data stream: an empty list once it is open, then the orders whose
        state changed, each in its latest state."""
        ...

    async def close(self) -> None: ...
