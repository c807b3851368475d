"""Market data and trading values as they cross the gateway boundary: exact Decimals, UTC times."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum


class MarketType(StrEnum):
    SPOT = "spot"
    LINEAR_PERPETUAL = "linear_perpetual"


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


@dataclass(frozen=True, slots=True)
class MarketInfo:
    """One tradable market as the venue describes it."""

    symbol: str  # ccxt unified symbol: "BTC/USDT" or "BTC/USDT:USDT"
    venue_symbol: str  # the venue's own id: "BTCUSDT"
    base: str
    quote: str
    market_type: MarketType
    tick_size: Decimal
    lot_size: Decimal
    min_quantity: Decimal
    min_notional: Decimal
    max_leverage: int
    active: bool


@dataclass(frozen=True, slots=True)
class Candle:
    """OHLCV keyed by its open time (UTC)."""

    open_time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


@dataclass(frozen=True, slots=True)
class Ticker:
    symbol: str
    last: Decimal
    bid: Decimal | None
    ask: Decimal | None
    open_24h: Decimal | None
    high_24h: Decimal | None
    low_24h: Decimal | None
    base_volume_24h: Decimal | None
    quote_volume_24h: Decimal | None
    timestamp: datetime
    mark: Decimal | None = None
    """A perpetual's mark price (what positions are valued and liquidated at), where the venue publishes one."""

    @property
    def change_24h_percent(self) -> Decimal | None:
        if self.open_24h is None or self.open_24h == 0:
            return None
        return (self.last - self.open_24h) / self.open_24h * 100


@dataclass(frozen=True, slots=True)
class BookLevel:
    price: Decimal
    quantity: Decimal


@dataclass(frozen=True, slots=True)
class OrderBook:
    symbol: str
    bids: tuple[BookLevel, ...]  # best (highest) first
    asks: tuple[BookLevel, ...]  # best (lowest) first
    timestamp: datetime

    @property
    def best_bid(self) -> Decimal | None:
        return self.bids[0].price if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks[0].price if self.asks else None

    @property
    def mid(self) -> Decimal | None:
        if not self.bids or not self.asks:
            return None
        return (self.bids[0].price + self.asks[0].price) / 2


@dataclass(frozen=True, slots=True)
class Trade:
    symbol: str
    trade_id: str
    price: Decimal
    quantity: Decimal
    side: Side
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class FundingRate:
    symbol: str
    rate: Decimal
    next_funding_time: datetime | None
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class Balance:
    asset: str
    free: Decimal
    locked: Decimal

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


@dataclass(frozen=True, slots=True)
class OrderRequest:
    symbol: str
    side: Side
    order_type: str  # market, limit, stop_market, stop_limit, take_profit
    quantity: Decimal
    client_order_id: str
    price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: str = "GTC"
    post_only: bool = False
    reduce_only: bool = False
    params: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class VenueOrder:
    """An order as the venue reports it."""

    venue_order_id: str
    client_order_id: str | None
    symbol: str
    side: Side
    order_type: str
    status: str  # open, closed, canceled, rejected, expired (ccxt's unified statuses)
    price: Decimal | None
    stop_price: Decimal | None
    quantity: Decimal
    filled: Decimal
    average_price: Decimal | None
    fee: Decimal | None
    fee_currency: str | None
    timestamp: datetime

    @property
    def is_liquidation(self) -> bool:
        """The venue closed a position by force: Binance names its liquidation orders `autoclose-...`
        (`adl_autoclose...` for auto-deleveraging); venues that report a type report "liquidation"."""
        client_order_id = (self.client_order_id or "").lower()
        return client_order_id.startswith(LIQUIDATION_CLIENT_ID_PREFIXES) or self.order_type.lower() == "liquidation"


LIQUIDATION_CLIENT_ID_PREFIXES = ("autoclose-", "adl_autoclose")


@dataclass(frozen=True, slots=True)
class VenuePosition:
    symbol: str
    quantity: Decimal  # signed: long > 0, short < 0
    entry_price: Decimal
    mark_price: Decimal | None
    leverage: int | None
    margin_mode: str | None
    liquidation_price: Decimal | None
    unrealized_pnl: Decimal | None
