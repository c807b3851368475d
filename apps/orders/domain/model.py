"""The shared vocabulary of the trading core: pure values, exact Decimals, no Django.

Used by the order state machine, the matching engine / fill model (paper trading and
backtests), positions and balances. Keep it small: behaviour lives in its own modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

# The values a position is built from live with the positions (the portfolio app sits below orders).
from apps.portfolio.domain.fills import Fill as Fill
from apps.portfolio.domain.fills import Liquidity as Liquidity
from apps.portfolio.domain.fills import OrderSide as OrderSide
from apps.portfolio.domain.fills import SymbolRules as SymbolRules
from apps.portfolio.domain.fills import build_fill as build_fill


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


class MarginMode(StrEnum):
    ISOLATED = "ISOLATED"
    CROSS = "CROSS"


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


# Built in hot loops ----------------------------------------------------------------------
# A backtest builds an OrderIntent, a Fill and a Position for every order. A frozen
# dataclass's __init__ pays a Python-level object.__setattr__ per field, which makes these
# three a quarter of a long backtest. The function below builds the very same frozen value
# through its slot descriptors (three times faster; `build_fill` does the same for fills);
# use it only with values that are already checked, in loops that need it.

_new = object.__new__
# Each class's slot setters in field order (dataclass(slots=True) declares __slots__ so).
_INTENT_SETTERS = tuple(OrderIntent.__dict__[name].__set__ for name in OrderIntent.__slots__)  # type: ignore[attr-defined]


def build_market_intent(client_order_id: str, symbol: str, side: OrderSide, quantity: Decimal) -> OrderIntent:
    """`OrderIntent(client_order_id, symbol, side, OrderType.MARKET, quantity)` for hot loops."""
    intent = _new(OrderIntent)
    (
        set_client_order_id,
        set_symbol,
        set_side,
        set_order_type,
        set_quantity,
        set_price,
        set_stop_price,
        set_time_in_force,
        set_post_only,
        set_reduce_only,
        set_leverage,
        set_margin_mode,
    ) = _INTENT_SETTERS
    set_client_order_id(intent, client_order_id)
    set_symbol(intent, symbol)
    set_side(intent, side)
    set_order_type(intent, OrderType.MARKET)
    set_quantity(intent, quantity)
    set_price(intent, None)
    set_stop_price(intent, None)
    set_time_in_force(intent, TimeInForce.GTC)
    set_post_only(intent, False)
    set_reduce_only(intent, False)
    set_leverage(intent, 1)
    set_margin_mode(intent, MarginMode.ISOLATED)
    return intent  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class Bar:
    """An OHLCV bar, for bar-driven matching in backtests."""

    open_time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
