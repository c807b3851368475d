"""How a price becomes an execution: slippage, tick/lot rounding, maker/taker fees, book walking.

One fill model serves paper trading (live trades and order books) and backtests (bars), so a
strategy is charged the same way in both. The honest defaults it encodes:

- A taker pays slippage: `slippage_bps` moves the reference price against the taker (a buy
  higher, a sell lower) and the result is rounded to the tick in the taker's disfavour (a buy
  up, a sell down). It applies when the price comes from a single reference (the last trade,
  a bar's open, a stop price). A walk through an order book uses the levels' own prices: the
  book already prices the spread and the depth, so adding slippage on top would count twice.
- A maker fills at its limit price, without slippage.
- The fee is notional x rate, in the quote currency (spot and linear perpetuals alike); a
  negative maker rate is a rebate and gives a negative fee.
- Quantities are rounded down to the lot: an order never executes more than it asked for.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_DOWN, ROUND_UP, Decimal

from apps.exchanges.domain.types import OrderBook
from apps.orders.domain.model import FeeSchedule, Fill, Liquidity, OrderSide, SymbolRules

ZERO = Decimal(0)
_ONE = Decimal(1)
_BPS = Decimal(10_000)


class FillModel:
    """Prices, quantities and fees of executions for one symbol."""

    __slots__ = ("_buy_factor", "_lot", "_maker_rate", "_sell_factor", "_taker_rate", "_tick", "fees", "rules", "slippage_bps")

    def __init__(self, fees: FeeSchedule, slippage_bps: Decimal, rules: SymbolRules) -> None:
        if not ZERO <= slippage_bps < _BPS:
            raise ValueError("slippage_bps must be between 0 (inclusive) and 10000 (exclusive)")
        if rules.tick_size <= 0 or rules.lot_size <= 0:
            raise ValueError("tick_size and lot_size must be positive")
        self.fees = fees
        self.slippage_bps = slippage_bps
        self.rules = rules
        self._tick = rules.tick_size
        self._lot = rules.lot_size
        self._buy_factor = _ONE + slippage_bps / _BPS
        self._sell_factor = _ONE - slippage_bps / _BPS
        self._maker_rate = fees.maker_rate
        self._taker_rate = fees.taker_rate

    # -- rounding ---------------------------------------------------------------------------

    def round_quantity(self, quantity: Decimal) -> Decimal:
        """Down to a multiple of the lot size (never more than asked); negative becomes zero."""
        if quantity <= 0:
            return ZERO
        lot = self._lot
        if quantity % lot == 0:
            return quantity
        return ((quantity / lot).to_integral_value(rounding=ROUND_DOWN) * lot).quantize(lot)

    def is_on_tick(self, price: Decimal) -> bool:
        return price % self._tick == 0

    # -- prices -----------------------------------------------------------------------------

    def taker_price(self, side: OrderSide, reference: Decimal) -> Decimal:
        """`reference` moved by the slippage against the taker, rounded to the tick against the taker.

        A sell never goes below one tick: a price of zero is not a price.
        """
        tick = self._tick
        if side is OrderSide.BUY:
            raw = reference * self._buy_factor
            if raw % tick == 0:
                return raw
            return ((raw / tick).to_integral_value(rounding=ROUND_UP) * tick).quantize(tick)
        raw = reference * self._sell_factor
        if raw % tick != 0:
            raw = ((raw / tick).to_integral_value(rounding=ROUND_DOWN) * tick).quantize(tick)
        return raw if raw >= tick else tick

    def capped_taker_price(self, side: OrderSide, reference: Decimal, limit: Decimal | None) -> Decimal:
        """The taker price, never worse than `limit` (a buy never above it, a sell never below)."""
        price = self.taker_price(side, reference)
        if limit is None:
            return price
        if side is OrderSide.BUY:
            return price if price <= limit else limit
        return price if price >= limit else limit

    @staticmethod
    def maker_price(limit: Decimal) -> Decimal:
        """A maker fills at its own limit price: no slippage, no improvement."""
        return limit

    # -- fees -------------------------------------------------------------------------------

    def fee_rate(self, liquidity: Liquidity) -> Decimal:
        return self._maker_rate if liquidity is Liquidity.MAKER else self._taker_rate

    def fee(self, price: Decimal, quantity: Decimal, liquidity: Liquidity) -> Decimal:
        """notional x rate, in the quote currency; exact (no rounding: the ledger rounds at the edge)."""
        return price * quantity * (self._maker_rate if liquidity is Liquidity.MAKER else self._taker_rate)

    def make_fill(
        self,
        *,
        order_id: str,
        side: OrderSide,
        price: Decimal,
        quantity: Decimal,
        liquidity: Liquidity,
        timestamp: datetime,
        trade_id: str = "",
    ) -> Fill:
        fee = price * quantity * (self._maker_rate if liquidity is Liquidity.MAKER else self._taker_rate)
        return Fill(order_id, self.rules.symbol, side, price, quantity, fee, self.rules.quote, liquidity, timestamp, trade_id)

    # -- order books ------------------------------------------------------------------------

    def walk_book(self, side: OrderSide, quantity: Decimal, book: OrderBook, limit: Decimal | None = None) -> list[tuple[Decimal, Decimal]]:
        """The (price, quantity) a taker on `side` gets by sweeping the book, best level first.

        A buy takes the asks, a sell the bids. With `limit`, levels worse than the limit are not
        touched. The result is partial when the book is thin (its quantities sum to less than
        asked); each quantity is rounded down to the lot.
        """
        remaining = self.round_quantity(quantity)
        levels = book.asks if side is OrderSide.BUY else book.bids
        out: list[tuple[Decimal, Decimal]] = []
        if remaining <= 0:
            return out
        lot = self._lot
        is_buy = side is OrderSide.BUY
        for level in levels:
            price = level.price
            if limit is not None and (price > limit if is_buy else price < limit):
                break
            available = level.quantity
            if available <= 0:
                continue
            if remaining <= available:
                take = remaining  # a multiple of the lot already
            else:
                take = available
                if take % lot != 0:
                    take = self.round_quantity(take)
                    if take <= 0:
                        continue
            out.append((price, take))
            remaining -= take
            if remaining <= 0:
                break
        return out

    def book_depth(self, side: OrderSide, book: OrderBook, limit: Decimal | None = None) -> Decimal:
        """How much a taker on `side` could take from the book, within `limit` when given."""
        levels = book.asks if side is OrderSide.BUY else book.bids
        is_buy = side is OrderSide.BUY
        total = ZERO
        for level in levels:
            if limit is not None and (level.price > limit if is_buy else level.price < limit):
                break
            if level.quantity > 0:
                total += self.round_quantity(level.quantity)
        return total

    @staticmethod
    def average_price(executions: list[tuple[Decimal, Decimal]]) -> Decimal | None:
        """Quantity-weighted average price of (price, quantity) pairs; None when empty."""
        quantity = sum((q for _, q in executions), ZERO)
        if quantity == 0:
            return None
        return sum((p * q for p, q in executions), ZERO) / quantity
