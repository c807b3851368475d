"""The account of a backtest: cash or wallet, the domain Position, the trades it makes, and what it can carry.

One bookkeeper for a single-symbol account (spot or a linear perpetual), pure domain code that
every driver of strategies uses: the backtest engine keeps an `Account`, the bot runner's book
uses the same functions (`perpetual_wallet`, `book_equity`, `book_free_cash`,
`spot_cash_after`), and the bots' trade list is built by the same round-trip builder
(`RoundTrips`, replayed over stored fills and funding by `round_trips`).

- Spot: `cash` is the quote held; buying spends price x quantity + fee, selling receives
  price x quantity - fee.
- Perpetual: the wallet is the initial capital + the position's net realised P&L (fees and
  funding included) + what liquidations changed beyond it (forfeited isolated margin, a loss
  capped at the wallet on cross); the position's margin is `position_margin` (entry notional
  / leverage, rounded up).

What a fill may do (`refusal`), checked at the fill price, as a venue checks an order when it
executes:
- spot: a buy needs free cash for price x quantity + fee; a sell only what is held;
- perpetual: a fill that reduces the position always passes; any other (a new position, an
  increase, a flip) passes when the equity after it, at the fill price, still covers the
  margin of the resulting position (free margin >= 0).
`affordable_quantity` is the largest fill on a side that passes: what an order sized by a
fraction of equity is re-sized to when its full size does not.

Liquidation (perpetuals) follows `apps.portfolio.domain.liquidation`: `liquidation_price` is
the price at which the margin ratio reaches 100 % (isolated: the position's margin; cross:
the whole wallet), `liquidate` closes the whole position there (or at the reference price when
it gapped beyond) with the venue's liquidation fee.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any, NamedTuple

from apps.orders.domain.model import Fill, Liquidity, MarginMode, OrderSide, SymbolRules
from apps.portfolio.domain.balances import Balance, Balances, position_margin
from apps.portfolio.domain.liquidation import Liquidation, liquidate, liquidation_reached
from apps.portfolio.domain.margin import cross_liquidation_price, isolated_liquidation_price
from apps.portfolio.domain.positions import Position

ZERO = Decimal(0)
ONE = Decimal(1)
_BUY = OrderSide.BUY
LIQUIDATION_TRADE_ID = "liquidation"  # the trade id of a liquidation's closing fill


class Trade(NamedTuple):
    """A closed (or, as `open_trade`, still open) trade. An immutable named tuple: cheap to make by the ten thousand."""

    side: str  # LONG or SHORT
    entry_bar: int
    entry_time: datetime
    exit_bar: int | None
    exit_time: datetime | None
    quantity: Decimal  # everything that was bought (long) or sold (short) into the trade
    entry_price: Decimal
    exit_price: Decimal | None
    fees: Decimal
    funding: Decimal
    pnl: Decimal  # realised P&L less fees and funding (0 while open); a liquidation's forfeited margin included
    liquidated: bool = False  # closed by a liquidation

    @property
    def is_open(self) -> bool:
        return self.exit_bar is None

    @property
    def return_pct(self) -> float:
        notional = self.entry_price * self.quantity
        return float(self.pnl / notional * 100) if notional else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "side": self.side,
            "entry_bar": self.entry_bar,
            "entry_time": self.entry_time.isoformat(),
            "exit_bar": self.exit_bar,
            "exit_time": self.exit_time.isoformat() if self.exit_time else None,
            "quantity": str(self.quantity),
            "entry_price": str(self.entry_price),
            "exit_price": None if self.exit_price is None else str(self.exit_price),
            "fees": str(self.fees),
            "funding": str(self.funding),
            "pnl": str(self.pnl),
            "liquidated": self.liquidated,
        }


class LiquidationRecord(NamedTuple):
    """A position closed by liquidation at bar `bar`."""

    bar: int
    time: datetime
    side: str  # LONG or SHORT
    quantity: Decimal  # unsigned
    price: Decimal
    fee: Decimal
    loss: Decimal  # what the wallet lost in all (P&L, fee and forfeited margin), positive

    def as_dict(self) -> dict[str, Any]:
        return {
            "bar": self.bar,
            "time": self.time.isoformat(),
            "side": self.side,
            "quantity": str(self.quantity),
            "price": str(self.price),
            "fee": str(self.fee),
            "loss": str(self.loss),
        }


class OpenTrade:
    __slots__ = (
        "adjustment",
        "entry_bar",
        "entry_time",
        "fees",
        "funding",
        "notional_in",
        "notional_out",
        "qty_in",
        "qty_out",
        "realized_start",
        "side",
    )

    def __init__(self, side: str, bar: int, when: datetime, qty: Decimal, price: Decimal, fee: Decimal, realized_start: Decimal) -> None:
        self.side = side
        self.entry_bar = bar
        self.entry_time = when
        self.qty_in = qty
        self.notional_in = qty * price
        self.qty_out = ZERO
        self.notional_out = ZERO
        self.fees = fee
        self.funding = ZERO
        self.realized_start = realized_start
        self.adjustment = ZERO  # wallet change of a liquidation beyond its P&L and fee

    def snapshot(self, exit_bar: int | None, exit_time: datetime | None, realized_now: Decimal, *, liquidated: bool = False) -> Trade:
        closed = exit_bar is not None
        return Trade(
            self.side,
            self.entry_bar,
            self.entry_time,
            exit_bar,
            exit_time,
            self.qty_in,
            self.notional_in / self.qty_in,
            self.notional_out / self.qty_out if self.qty_out else None,
            self.fees,
            self.funding,
            (realized_now - self.realized_start - self.fees - self.funding + self.adjustment) if closed else ZERO,
            liquidated,
        )


def round_down_to_lot(quantity: Decimal, lot: Decimal) -> Decimal:
    """A non-negative quantity down to a multiple of the lot."""
    if quantity <= 0:
        return ZERO
    return (quantity / lot).to_integral_value(rounding=ROUND_DOWN) * lot


def spot_cash_after(cash: Decimal, fill: Fill) -> Decimal:
    """Spot quote held after `fill` (its fee in the quote): a buy spends price x quantity + fee, a sell receives price x quantity - fee."""
    if fill.side is _BUY:
        return cash - (fill.price * fill.quantity + fill.fee)
    return cash + (fill.price * fill.quantity - fill.fee)


def perpetual_wallet(initial: Decimal, position: Position, adjustment: Decimal = ZERO) -> Decimal:
    """A perpetual wallet: the capital + the position's net realised P&L (fees and funding) + liquidations' extra change."""
    return initial + position.net_realized + adjustment


def book_equity(*, perpetual: bool, wallet: Decimal, position: Position, mark: Decimal) -> Decimal:
    """Equity at `mark`: perpetual, the wallet + unrealised P&L; spot, the quote held (`wallet`) + the base at the mark."""
    if perpetual:
        return wallet + position.unrealized_pnl(mark)
    return wallet + position.quantity * mark


def book_free_cash(*, perpetual: bool, wallet: Decimal, margin: Decimal) -> Decimal:
    """What new orders may use: perpetual, the wallet less the position's margin (`position_margin`); spot, the quote held."""
    return wallet - margin if perpetual else wallet


class RoundTrips:
    """The round-trip builder: trades from fills in time order, opened from flat, closed back at flat; a flip closes one and opens the next.

    `record` takes each fill with the position before and after it (`Position.apply`), so the
    account that books the fill decides nothing twice; `round_trips` replays a list of fills.
    """

    __slots__ = ("open_trade", "trades")

    def __init__(self) -> None:
        self.trades: list[Trade] = []
        self.open_trade: OpenTrade | None = None

    def record(self, before: Position, after: Position, fill: Fill, bar: int, *, liquidated: bool = False) -> None:
        held = before.quantity
        quantity = fill.quantity
        trade = self.open_trade
        if held == 0 or trade is None:
            self.open_trade = OpenTrade("LONG" if fill.side is _BUY else "SHORT", bar, fill.timestamp, quantity, fill.price, fill.fee, before.realized_pnl)
            return
        if (held > 0) is (fill.side is _BUY):
            trade.qty_in += quantity
            trade.notional_in += quantity * fill.price
            trade.fees += fill.fee
            return
        closing = min(abs(held), quantity)
        opening = quantity - closing
        fee_close = fill.fee if opening == 0 else fill.fee * closing / quantity
        trade.qty_out += closing
        trade.notional_out += closing * fill.price
        trade.fees += fee_close
        if after.quantity == 0 or opening > 0:
            self.trades.append(trade.snapshot(bar, fill.timestamp, after.realized_pnl, liquidated=liquidated))
            self.open_trade = None
        if opening > 0:
            side = "LONG" if fill.side is _BUY else "SHORT"
            self.open_trade = OpenTrade(side, bar, fill.timestamp, opening, fill.price, fill.fee - fee_close, after.realized_pnl)

    def record_funding(self, payment: Decimal) -> None:
        if self.open_trade is not None:
            self.open_trade.funding += payment

    def all_trades(self, position: Position) -> list[Trade]:
        """The closed trades, then the open one (if any) as it stands."""
        if self.open_trade is None:
            return list(self.trades)
        return [*self.trades, self.open_trade.snapshot(None, None, position.realized_pnl)]


class FundingEvent(NamedTuple):
    """One funding interval a position settled: at `time`, payment = signed quantity x `mark` x `rate`."""

    time: datetime
    rate: Decimal
    mark: Decimal


def round_trips(symbol: str, fills: Sequence[Fill], funding: Sequence[FundingEvent] = ()) -> list[Trade]:
    """The trades of `fills` (time order, fees in the quote currency), oldest first, an open one last; `entry_bar`/`exit_bar` number the fills.

    `funding` (time order) is settled on the position as it stands at each event's time, before
    the fills at that very time, as the backtest settles funding at a bar before its open's fills.
    """
    position = Position(symbol)
    trips = RoundTrips()
    pending = iter(funding)
    event = next(pending, None)
    for number, fill in enumerate(fills):
        while event is not None and event.time <= fill.timestamp:
            position = _settle(position, trips, event)
            event = next(pending, None)
        after = position.apply(fill, fee_in_quote=fill.fee)
        trips.record(position, after, fill, number)
        position = after
    while event is not None:
        position = _settle(position, trips, event)
        event = next(pending, None)
    return trips.all_trades(position)


def _settle(position: Position, trips: RoundTrips, event: FundingEvent) -> Position:
    after, payment = position.apply_funding(event.rate, event.mark)
    trips.record_funding(payment)
    return after


class Account:
    """Cash or wallet, the domain Position, and the trades it makes (see the module docstring)."""

    __slots__ = (
        "_admitted",
        "_bound",
        "_bound_for",
        "_floats",
        "_floats_for",
        "_liquidation_for",
        "_liquidation_level",
        "_liquidation_price",
        "_margin_for",
        "_mmr",
        "adjustment",
        "cash",
        "funding_paid",
        "initial",
        "isolated",
        "leverage",
        "perpetual",
        "position",
        "round_trips",
        "rules",
    )

    def __init__(self, initial: Decimal, rules: SymbolRules, leverage: int, margin_mode: MarginMode = MarginMode.ISOLATED) -> None:
        self.initial = initial
        self.rules = rules
        self.perpetual = rules.is_perpetual
        self.leverage = leverage
        self.isolated = margin_mode is MarginMode.ISOLATED
        self.position = Position(rules.symbol)
        self.cash = initial  # spot: quote held; perpetual: unused (the wallet is initial + net realised + adjustment)
        self.adjustment = ZERO  # perpetual: liquidations' wallet change beyond their P&L and fee
        self.round_trips = RoundTrips()
        self.funding_paid = ZERO
        self._admitted: tuple[Fill, Position] | None = None  # the last fill `refusal` passed, and the position after it
        self._liquidation_for: tuple[Position, Decimal] | None = None  # what the cached liquidation price was computed for
        self._liquidation_price: Decimal | None = None
        self._liquidation_level = 0.0
        self._margin_for: tuple[Position, Decimal] | None = None  # (a position, its margin): computed once per position
        self._bound_for: Position | None = None  # the isolated position `_bound` was computed for
        self._bound = 0.0
        self._floats_for: Position | None = None  # the position `_floats` (wallet, entry, quantity as floats) describe
        self._floats = (0.0, 0.0, 0.0)
        self._mmr = float(rules.maintenance_margin_rate)

    @property
    def trades(self) -> list[Trade]:
        return self.round_trips.trades

    @property
    def open_trade(self) -> OpenTrade | None:
        return self.round_trips.open_trade

    def wallet(self) -> Decimal:
        return perpetual_wallet(self.initial, self.position, self.adjustment) if self.perpetual else self.cash

    def margin(self) -> Decimal:
        if not self.perpetual:
            return ZERO
        return self._margin_of(self.position)

    def _margin_of(self, position: Position) -> Decimal:
        cached = self._margin_for
        if cached is not None and cached[0] is position:
            return cached[1]
        margin = position_margin(position, self.leverage)
        self._margin_for = (position, margin)
        return margin

    def free_cash(self) -> Decimal:
        return book_free_cash(perpetual=self.perpetual, wallet=self.wallet(), margin=self.margin())

    def equity(self, mark: Decimal) -> Decimal:
        return book_equity(perpetual=self.perpetual, wallet=self.wallet(), position=self.position, mark=mark)

    def segment(self) -> tuple[float, float]:
        """(A, q) with equity = A + q x close while nothing changes."""
        position = self.position
        if self.perpetual:
            return float(self.wallet() - position.quantity * position.entry_price), float(position.quantity)
        return float(self.cash), float(position.quantity)

    # -- what a fill may do ---------------------------------------------------------------------

    def refusal(self, fill: Fill, reserved: Decimal = ZERO) -> str | None:
        """Why the account cannot take `fill` at its price, or None. `reserved`: spot cash held for other working buys."""
        position = self.position
        if not self.perpetual:
            if fill.side is _BUY:
                if fill.price * fill.quantity + fill.fee > self.cash - reserved:
                    return "spot: not enough cash at the fill price"
                return None
            if fill.quantity > position.quantity:
                return "spot: cannot sell more than is held"
            return None
        held = position.quantity
        change = fill.quantity if fill.side is _BUY else -fill.quantity
        after_quantity = held + change
        if held != 0 and (after_quantity == 0 or ((after_quantity > 0) == (held > 0) and abs(after_quantity) < abs(held))):
            return None  # reduces or closes
        if self._clearly_carried(fill, held, after_quantity):
            return None
        after = position.apply(fill, fee_in_quote=fill.fee)
        wallet_after = perpetual_wallet(self.initial, after, self.adjustment)
        equity_after = wallet_after + after.unrealized_pnl(fill.price)
        if equity_after < self._margin_of(after):
            return "perpetual: not enough free margin at the fill price"
        self._admitted = (fill, after)  # `apply_fill` of this very fill reuses it
        return None

    def _clearly_carried(self, fill: Fill, held: Decimal, after_quantity: Decimal) -> bool:
        """A float test that passes only fills the exact test passes by a wide margin (most fills), sparing it.

        For a fill that does not reduce the position, the equity after it at its price is the
        equity before it less the fee (the part that opens or adds has no unrealised P&L yet),
        and the margin after it is the entry notional after it / leverage (rounded up by at most
        a hundred-millionth).
        """
        wallet, entry, quantity = self._floats if self._floats_for is self.position else self._position_floats()
        price = float(fill.price)
        if held != 0 and (after_quantity > 0) == (held > 0):  # an increase: the entry is averaged
            notional = abs(quantity) * entry + float(fill.quantity) * price
        else:  # opens, or flips: the rest opens at the fill price
            notional = abs(float(after_quantity)) * price
        equity = wallet + (price - entry) * quantity - float(fill.fee)
        return equity > notional / self.leverage * (1 + 1e-9) + 1e-6

    def _position_floats(self) -> tuple[float, float, float]:
        """Wallet, entry price and quantity as floats, converted once per position (for the quick tests only)."""
        position = self.position
        if self._floats_for is not position:
            self._floats = (float(self.wallet()), float(position.entry_price), float(position.quantity))
            self._floats_for = position
        return self._floats

    def liquidation_bound(self) -> float | None:
        """A float price no nearer to the entry than the liquidation price (isolated: without computing the margin); None: none.

        Isolated margin is the entry notional / leverage rounded up, so a long liquidates at or
        below E x (1 - 1/L) / (1 - mmr) and a short at or above E x (1 + 1/L) / (1 + mmr); the
        bound leaves a relative 1e-9 for float rounding. Cross: the liquidation price itself.
        """
        quantity = self.position.quantity
        if not self.perpetual or quantity == 0:
            return None
        if not self.isolated:
            return self.liquidation_level()
        position = self.position
        if self._bound_for is not position:
            entry = float(position.entry_price)
            mmr = self._mmr
            inverse = 1.0 / self.leverage
            if quantity > 0:
                self._bound = entry * (1.0 - inverse) / (1.0 - mmr) * (1 + 1e-9)
            else:
                self._bound = entry * (1.0 + inverse) / (1.0 + mmr) * (1 - 1e-9)
            self._bound_for = position
        return self._bound

    def affordable_quantity(self, side: OrderSide, price: Decimal, fee_rate: Decimal, reserved: Decimal = ZERO) -> Decimal:
        """The largest quantity (to the lot) that a fill on `side` at `price` may have; 0 when none."""
        lot = self.rules.lot_size
        fee_rate = max(fee_rate, ZERO)
        if not self.perpetual:
            if side is not _BUY:
                return max(self.position.quantity, ZERO)
            return round_down_to_lot((self.cash - reserved) / (price * (ONE + fee_rate)), lot)
        held = self.position.quantity
        sign = 1 if side is _BUY else -1
        closing = abs(held) if held != 0 and (held > 0) != (sign > 0) else ZERO
        equity = self.equity(price) - closing * price * fee_rate
        held_margin = ZERO if closing else self.margin()
        per_unit = price * (ONE / Decimal(self.leverage) + fee_rate)
        return closing + round_down_to_lot((equity - held_margin) / per_unit, lot)

    # -- changes --------------------------------------------------------------------------------

    def apply_fill(self, fill: Fill, bar: int, *, liquidated: bool = False) -> None:
        before = self.position
        admitted = self._admitted
        if admitted is not None and admitted[0] is fill:
            after = admitted[1]
        else:
            after = before.apply(fill, fee_in_quote=fill.fee)  # the fill model charges fees in the quote currency
        self._admitted = None
        self.position = after
        if not self.perpetual:
            self.cash = spot_cash_after(self.cash, fill)
        self.round_trips.record(before, after, fill, bar, liquidated=liquidated)

    def apply_funding(self, rate: Decimal, mark: Decimal) -> None:
        after, payment = self.position.apply_funding(rate, mark)
        self.position = after
        self.funding_paid += payment
        self.round_trips.record_funding(payment)

    # -- liquidation ----------------------------------------------------------------------------

    def liquidation_price(self) -> Decimal | None:
        """Where the margin ratio of the position reaches 100 % (None: flat, spot, or no positive price)."""
        position = self.position
        if not self.perpetual or position.quantity == 0:
            return None
        cached = self._liquidation_for
        if cached is not None and cached[0] is position and cached[1] == self.adjustment:
            return self._liquidation_price
        mmr = self.rules.maintenance_margin_rate
        if self.isolated:
            price = isolated_liquidation_price(
                quantity=position.quantity, entry_price=position.entry_price, maintenance_margin_rate=mmr, isolated_margin=self.margin()
            )
        else:
            price = cross_liquidation_price(
                quantity=position.quantity, entry_price=position.entry_price, maintenance_margin_rate=mmr, wallet_balance=self.wallet()
            )
        self._liquidation_for = (position, self.adjustment)
        self._liquidation_price = price
        self._liquidation_level = float(price) if price is not None else 0.0
        return price

    def liquidation_level(self) -> float | None:
        """`liquidation_price` as a float, for a quick test against float prices (rounding is monotonic: never misses)."""
        return None if self.liquidation_price() is None else self._liquidation_level

    def liquidate_if_reached(
        self, *, bar: int, when: datetime, adverse: Decimal, reference: Decimal, fee_rate: Decimal
    ) -> tuple[LiquidationRecord, Fill] | None:
        """Liquidate the whole position when `adverse` (the bar's low for a long, high for a short) reaches its liquidation price.

        The closing fill is at the liquidation price, or at `reference` (the bar's open) when that
        already lies beyond it; it is booked on the Position like any fill (trade id
        `LIQUIDATION_TRADE_ID`), and what the wallet loses beyond P&L and fee (the forfeited
        isolated margin, or a cross loss capped at the wallet) goes to `adjustment`.
        """
        price = self.liquidation_price()
        position = self.position
        if price is None or not liquidation_reached(quantity=position.quantity, liquidation_price=price, adverse_price=adverse):
            return None
        outcome = self._liquidation(price, reference, fee_rate)
        fill = Fill(
            LIQUIDATION_TRADE_ID,
            self.rules.symbol,
            OrderSide.SELL if position.quantity > 0 else _BUY,
            outcome.price,
            abs(position.quantity),
            outcome.fee,
            self.rules.quote,
            Liquidity.TAKER,
            when,
            LIQUIDATION_TRADE_ID,
        )
        extra = outcome.wallet_change - (outcome.realized_pnl - outcome.fee)
        if self.open_trade is not None:
            self.open_trade.adjustment += extra
        self.adjustment += extra
        self.apply_fill(fill, bar, liquidated=True)
        record = LiquidationRecord(bar, when, "LONG" if outcome.is_long else "SHORT", abs(outcome.quantity), outcome.price, outcome.fee, -outcome.wallet_change)
        return record, fill

    def _liquidation(self, price: Decimal, reference: Decimal, fee_rate: Decimal) -> Liquidation:
        position = self.position
        return liquidate(
            quantity=position.quantity,
            entry_price=position.entry_price,
            liquidation_price=price,
            reference_price=reference,
            fee_rate=fee_rate,
            isolated=self.isolated,
            margin=self.margin() if self.isolated else max(self.wallet(), ZERO),
        )

    def balances(self) -> Balances:
        quote = self.rules.quote
        if self.perpetual:
            margin = self.margin()
            wallet = self.wallet()
            return Balances([Balance(quote, free=max(wallet - margin, ZERO), locked=min(margin, max(wallet, ZERO)))])
        return Balances([Balance(quote, free=max(self.cash, ZERO)), Balance(self.rules.base, free=max(self.position.quantity, ZERO))])


def resized(fill: Fill, quantity: Decimal, fee_rate: Decimal) -> Fill:
    """The same execution for a smaller quantity (the fee is notional x rate)."""
    return replace(fill, quantity=quantity, fee=fill.price * quantity * fee_rate)
