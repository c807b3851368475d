"""What the live market process calls in the apps above it (the paper matcher, live accounts'
user-data streams, bots). Those apps register their pieces in `AppConfig.ready()`; the stream
runs only what is registered, so the market app imports none of them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from apps.exchanges.domain.types import Ticker, Trade


class PaperMatching(Protocol):
    """Matches open paper orders against the streamed trades and marks."""

    def forget(self) -> None: ...
    def sync(self, symbol_ids: list[Any]) -> None: ...
    def on_mark(self, symbol: Any, ticker: Ticker) -> int: ...
    def on_trade(self, symbol: Any, price: Decimal, quantity: Decimal, at: datetime) -> int: ...


class FundingSettle(Protocol):
    """Pays or receives one funding interval on the open paper positions in a perpetual."""

    def __call__(self, *, symbol: Any, rate: Decimal, mark: Decimal, at: datetime) -> int: ...


class UserDataRunner(Protocol):
    async def run(self, stop: asyncio.Event) -> None: ...


class UserDataStreamsFactory(Protocol):
    """Follows the user-data streams of live accounts (only those of `exchange_codes` when given)."""

    def __call__(self, *, exchange_codes: list[str] | None) -> UserDataRunner: ...


class TickOffers(Protocol):
    """Hands a trade to the running bots whose strategy decides on ticks; True when it enqueued one."""

    def offer(self, symbol_id: Any, trade: Trade) -> bool: ...


class ClosedCandlesListener(Protocol):
    """Told after the stream stored closed 1m candles first..last of a symbol."""

    def __call__(self, *, symbol_id: Any, first: datetime, last: datetime) -> Any: ...


@dataclass
class StreamHooks:
    paper_matcher: Callable[[], PaperMatching] | None = None
    funding_settle: FundingSettle | None = None
    user_data_streams: UserDataStreamsFactory | None = None
    tick_dispatcher: Callable[[], TickOffers] | None = None
    closed_candles: list[ClosedCandlesListener] = field(default_factory=list)


stream_hooks = StreamHooks()


def register_paper_matching(*, matcher: Callable[[], PaperMatching], funding_settle: FundingSettle) -> None:
    stream_hooks.paper_matcher = matcher
    stream_hooks.funding_settle = funding_settle


def register_user_data_streams(factory: UserDataStreamsFactory) -> None:
    stream_hooks.user_data_streams = factory


def register_tick_dispatcher(factory: Callable[[], TickOffers]) -> None:
    stream_hooks.tick_dispatcher = factory


def register_closed_candles_listener(listener: ClosedCandlesListener) -> None:
    if listener not in stream_hooks.closed_candles:
        stream_hooks.closed_candles.append(listener)
