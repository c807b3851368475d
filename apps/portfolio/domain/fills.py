"""What positions and balances are built from: the side of a trade, one fill, the symbol's rules.
Pure values, exact Decimals, no Django; the orders app builds fills, the portfolio applies them."""

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


class Liquidity(StrEnum):
    MAKER = "MAKER"
    TAKER = "TAKER"
    LIQUIDATION = "LIQUIDATION"  # the venue closed the position by force (apps.portfolio.domain.liquidation)


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


# Built in hot loops: a backtest builds a Fill for every order, and a frozen dataclass's
# __init__ pays a Python-level object.__setattr__ per field. `build_fill` sets the very
# same frozen value through its slot descriptors (three times faster); use it only with
# values that are already checked, in loops that need it.

_new = object.__new__
_FILL_SETTERS = tuple(Fill.__dict__[name].__set__ for name in Fill.__slots__)  # type: ignore[attr-defined]


def build_fill(
    order_id: str,
    symbol: str,
    side: OrderSide,
    price: Decimal,
    quantity: Decimal,
    fee: Decimal,
    fee_currency: str,
    liquidity: Liquidity,
    timestamp: datetime,
    trade_id: str,
) -> Fill:
    """`Fill(...)`, the same frozen value, for hot loops."""
    fill = _new(Fill)
    set_order_id, set_symbol, set_side, set_price, set_quantity, set_fee, set_fee_currency, set_liquidity, set_timestamp, set_trade_id = _FILL_SETTERS
    set_order_id(fill, order_id)
    set_symbol(fill, symbol)
    set_side(fill, side)
    set_price(fill, price)
    set_quantity(fill, quantity)
    set_fee(fill, fee)
    set_fee_currency(fill, fee_currency)
    set_liquidity(fill, liquidity)
    set_timestamp(fill, timestamp)
    set_trade_id(fill, trade_id)
    return fill  # type: ignore[no-any-return]
