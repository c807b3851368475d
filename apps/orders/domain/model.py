"""The shared vocabulary of the trading core: pure values, exact Decimals, no Django.

Used by the order state machine, the matching engine / fill model (paper trading and
backtests), positions and balances. Keep it small: behaviour lives in its own modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum


class OrderSide(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        return 1 if self is OrderSide.BUY else -1

    @property
    def opposite(self) -> OrderSide:
        return OrderSide.SELL if self is OrderSide.BUY else OrderSide.BUY


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP_MARKET = "STOP_MARKET"
    STOP_LIMIT = "STOP_LIMIT"
    TAKE_PROFIT = "TAKE_PROFIT"  # a market order triggered when the price reaches stop_price in the profitable direction


class TimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"


class OrderStatus(StrEnum):
    NEW = "NEW"
    OPEN = "OPEN"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"

    @property
    def is_terminal(self) -> bool:
        return self in {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED}


class Liquidity(StrEnum):
    MAKER = "MAKER"
    TAKER = "TAKER"


class MarginMode(StrEnum):
    ISOLATED = "ISOLATED"
    CROSS = "CROSS"


@dataclass(frozen=True, slots=True)
class SymbolRules:
    """A market's trading rules, as the venue publishes them."""

    symbol: str
    base: str
    quote: str
    tick_size: Decimal
    lot_size: Decimal
    min_quantity: Decimal
    min_notional: Decimal
    max_leverage: int
    is_perpetual: bool
    maintenance_margin_rate: Decimal = Decimal("0.005")


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """Rates as fractions of notional (0.001 = 0.1 %); a negative maker rate is a rebate."""

    maker_rate: Decimal
    taker_rate: Decimal


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """What a trader (or a bot) asks for, before validation."""

    client_order_id: str
    symbol: str
    side: OrderSide
    order_type: OrderType
    quantity: Decimal
    price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    reduce_only: bool = False
    leverage: int = 1
    margin_mode: MarginMode = MarginMode.ISOLATED


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution of (part of) an order."""

    order_id: str
    symbol: str
    side: OrderSide
    price: Decimal
    quantity: Decimal
    fee: Decimal  # in fee_currency; positive is paid, negative is a rebate
    fee_currency: str
    liquidity: Liquidity
    timestamp: datetime
    trade_id: str = ""

    @property
    def notional(self) -> Decimal:
        return self.price * self.quantity


@dataclass(frozen=True, slots=True)
class Bar:
    """An OHLCV bar, for bar-driven matching in backtests."""

    open_time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
