"""A position built by applying fills: one net position per account and symbol.

Linear contracts (and spot exposure): P&L, fees and funding are in the symbol's quote
(settlement) currency. Quantities are signed: long > 0, short < 0, flat == 0.

- Adding to a position (or opening one) moves the entry price to the quantity-weighted
  average of the old entry and the fill price.
- Reducing realises `closed quantity x (fill price - entry) x direction` and keeps the
  entry price of what remains.
- A fill larger than the position closes all of it (realising as above) and opens the
  remainder on the other side at the fill price.
- `realized_pnl` is trading P&L only; fees and funding are kept apart and subtracted in
  `net_realized`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum

from apps.portfolio.domain.fills import Fill, OrderSide

ZERO = Decimal(0)


class PositionSide(StrEnum):
    LONG = "LONG"
    SHORT = "SHORT"
    FLAT = "FLAT"


class FeeCurrencyMismatch(ValueError):
    """A fill's fee is in a currency other than the position's quote, and no conversion was given."""


def settlement_currency(symbol: str) -> str | None:
    """The currency P&L settles in, from a ccxt unified symbol: BTC/USDT -> USDT, BTC/USDT:USDT -> USDT."""
    if ":" in symbol:
        return symbol.rsplit(":", 1)[1] or None
    if "/" in symbol:
        return symbol.split("/", 1)[1] or None
    return None


@dataclass(frozen=True, slots=True)
class Position:
    symbol: str
    quantity: Decimal = ZERO  # signed: long > 0, short < 0
    entry_price: Decimal = ZERO  # average entry of the open quantity; 0 when flat
    realized_pnl: Decimal = ZERO  # trading P&L of the closed quantity, before fees and funding
    fees_paid: Decimal = ZERO  # in quote; negative when rebates exceed fees
    funding_paid: Decimal = ZERO  # in quote; negative when funding was received

    def __post_init__(self) -> None:
        if self.quantity == 0 and self.entry_price != 0:
            raise ValueError("a flat position has no entry price")
        if self.quantity != 0 and self.entry_price <= 0:
            raise ValueError("an open position needs a positive entry price")

    # Side -------------------------------------------------------------------------------

    @property
    def side(self) -> PositionSide:
        if self.quantity > 0:
            return PositionSide.LONG
        if self.quantity < 0:
            return PositionSide.SHORT
        return PositionSide.FLAT

    @property
    def is_long(self) -> bool:
        return self.quantity > 0

    @property
    def is_short(self) -> bool:
        return self.quantity < 0

    @property
    def is_flat(self) -> bool:
        return self.quantity == 0

    @property
    def closing_side(self) -> OrderSide | None:
        """The order side that reduces this position (None when flat)."""
        if self.is_flat:
            return None
        return OrderSide.SELL if self.is_long else OrderSide.BUY

    # Values -----------------------------------------------------------------------------

    @property
    def net_realized(self) -> Decimal:
        """Realised trading P&L less fees and funding: the cash the position has made so far."""
        return self.realized_pnl - self.fees_paid - self.funding_paid

    @property
    def entry_notional(self) -> Decimal:
        return abs(self.quantity) * self.entry_price

    def unrealized_pnl(self, mark: Decimal) -> Decimal:
        """(mark - entry) x signed quantity."""
        return (mark - self.entry_price) * self.quantity

    def notional(self, mark: Decimal) -> Decimal:
        """|quantity| x mark: the position's size in quote, always >= 0."""
        return abs(self.quantity) * mark

    def roi(self, mark: Decimal, leverage: Decimal | int) -> Decimal:
        """Unrealised P&L over initial margin (entry notional / leverage), as a fraction: 0.25 is +25 %.

        0 when flat.
        """
        if leverage <= 0:
            raise ValueError("leverage must be positive")
        if self.is_flat:
            return ZERO
        return self.unrealized_pnl(mark) * Decimal(leverage) / self.entry_notional

    # Changes ----------------------------------------------------------------------------

    def apply(self, fill: Fill, *, fee_in_quote: Decimal | None = None) -> Position:
        """The position after `fill` (netting: buys add to longs and reduce shorts).

        The fee is taken as is when it is in the symbol's quote currency; a fee charged in
        another currency (BNB, the base) needs its quote value as `fee_in_quote`.
        """
        if fill.symbol != self.symbol:
            raise ValueError(f"a {fill.symbol} fill cannot change a {self.symbol} position")
        if not fill.quantity.is_finite() or fill.quantity <= 0:
            raise ValueError(f"a fill's quantity must be positive, not {fill.quantity}")
        if not fill.price.is_finite() or fill.price <= 0:
            raise ValueError(f"a fill's price must be positive, not {fill.price}")

        fee = self._fee_in_quote(fill, fee_in_quote)
        held = self.quantity
        change = fill.quantity * fill.side.sign
        after = held + change
        realized = self.realized_pnl

        if held == 0 or (held > 0) == (change > 0):
            entry = (abs(held) * self.entry_price + fill.quantity * fill.price) / abs(after)
        else:
            closed = min(abs(held), fill.quantity)
            realized += closed * (fill.price - self.entry_price) * (1 if held > 0 else -1)
            if after == 0:
                entry = ZERO
            elif (after > 0) == (held > 0):
                entry = self.entry_price
            else:  # flipped: the remainder opens on the other side at the fill price
                entry = fill.price

        return _build_position(self.symbol, after, entry, realized, self.fees_paid + fee, self.funding_paid)

    def apply_funding(self, rate: Decimal, mark: Decimal) -> tuple[Position, Decimal]:
        """Settle one funding interval: payment = signed quantity x mark x rate.

        The payment is what the holder pays: positive for a long when the rate is positive
        (longs pay shorts), negative (received) for a short at the same rate; the signs swap
        when the rate is negative. It accumulates in `funding_paid`.
        """
        payment = self.quantity * mark * rate
        if payment == 0:
            return self, ZERO
        return replace(self, funding_paid=self.funding_paid + payment), payment

    def _fee_in_quote(self, fill: Fill, fee_in_quote: Decimal | None) -> Decimal:
        if fee_in_quote is not None:
            return fee_in_quote
        if fill.fee == 0:
            return ZERO
        quote = settlement_currency(self.symbol)
        if quote is not None and fill.fee_currency == quote:
            return fill.fee
        raise FeeCurrencyMismatch(
            f"the fee of fill {fill.trade_id or fill.order_id} is in {fill.fee_currency or 'an unnamed currency'}, "
            f"not in {quote or 'the quote currency'}: pass fee_in_quote"
        )


_new = object.__new__
_POSITION_SETTERS = tuple(Position.__dict__[name].__set__ for name in Position.__slots__)  # type: ignore[attr-defined]  # field order


def _build_position(symbol: str, quantity: Decimal, entry_price: Decimal, realized_pnl: Decimal, fees_paid: Decimal, funding_paid: Decimal) -> Position:
    """`Position(...)`, the same frozen value, through its slots: `apply` runs once per fill of
    every backtest, and its results already hold the invariants `__post_init__` checks (see
    portfolio.domain.fills.build_fill for why)."""
    position = _new(Position)
    set_symbol, set_quantity, set_entry_price, set_realized_pnl, set_fees_paid, set_funding_paid = _POSITION_SETTERS
    set_symbol(position, symbol)
    set_quantity(position, quantity)
    set_entry_price(position, entry_price)
    set_realized_pnl(position, realized_pnl)
    set_fees_paid(position, fees_paid)
    set_funding_paid(position, funding_paid)
    return position  # type: ignore[no-any-return]
