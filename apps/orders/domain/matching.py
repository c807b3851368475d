"""The matching engine shared by paper trading and backtests: working orders of ONE symbol.

Paper trading drives it with live trades (`on_trade`) and gives it the order book and the last
price at submission; backtests drive it with closed bars (`on_bar`). Both use the same
`FillModel`, so a strategy pays the same slippage and fees either way. Events come out as
small frozen dataclasses, in the order they happened; the caller persists them.

Semantics (the honest defaults, and the choices made where venues or the brief left room):

Submission
- Order ids are the caller's (deterministic replays); a duplicate id is rejected. Quantities
  are rounded down to the lot; prices must already be on the tick (rejected otherwise: moving
  a limit silently changes the trade). Below min quantity / min notional: rejected.
- MARKET fills at once by walking the book (taker, the levels' own prices); with no book at
  the last price plus slippage. What a thin book cannot fill expires (venues expire the rest of
  a market order). FOK checks the depth first.
- LIMIT that crosses (book: best ask <= buy limit; with only a last price: the price at or
  through the limit, as a book at one price would be) fills the crossing part as taker, never worse than the limit; the rest rests (GTC) or expires
  (IOC); FOK fills completely or expires with no fill. A post-only order that would cross is
  rejected. A non-crossing LIMIT rests as maker (IOC/FOK expire with no fill).
- STOP_MARKET / STOP_LIMIT trigger when the price moves against the stop's side (a buy stop at
  price >= stop, a sell stop at price <= stop); TAKE_PROFIT the other way round (a sell TP at
  price >= stop, a buy TP at price <= stop). The trigger price is the last price (or the book's
  mid). A stop whose trigger is already reached at submission TRIGGERS IMMEDIATELY by default
  (market-if-touched behaviour: the trader's intent is kept, and it is what a backtest gets
  anyway when the next bar opens beyond the stop). Some venues refuse such orders instead
  (Binance futures: -2021 "Order would immediately trigger"); `reject_stops_that_would_trigger=True`
  mirrors them. The check needs a reference price at submission; an order waiting for a price
  (below) is never rejected later.
- With no book and no price (a backtest between bars), the order waits for the next price the
  engine sees: the next trade or the next bar's open, and is then handled as if it had been
  submitted at that price (a market order fills there, a limit through it takes, a stop beyond
  it triggers). This is how "no look-ahead, fills at the next price after the decision" works.

Paper trading (`on_trade`)
- Stops trigger on the trade price and fill at that (gapped) price with slippage, as takers, in
  full (a market order takes whatever is there; slippage prices it). A triggered STOP_LIMIT
  takes if the trade price is strictly through its limit, otherwise rests as a maker.
- Resting limits fill as makers at their limit price when the market trades THROUGH them (a buy
  when the trade price < limit); at exactly the limit only with `fill_on_touch=True`. With
  `respect_trade_volume=True` the trade's quantity is shared out in price-time priority (each
  side gets the full trade quantity), so fills can be partial.

Backtests (`on_bar`; the engine sees a bar only after it closed)
- `fill_at="next_open"` (default): orders submitted after bar t are matched from bar t+1; a
  market order fills at t+1's open plus slippage. `fill_at="close"`: a market order fills at the
  close of the bar in which it was decided, passed to `submit` as `bar_close` (required for
  market orders in that mode; forbidden in the other). Everything else is the same in both.
- A stop is filled at the open (plus slippage) when the bar opens beyond it (a gap); else at
  the stop price (plus slippage) when the bar's range reaches it (touch triggers).
- A resting limit the bar opens through fills at the open as a TAKER (price improvement at the
  open, capped at the limit, slippage and taker fee; a post-only order fills at its limit as
  maker instead); else, when the range trades through it (low < buy limit, high > sell limit),
  at the limit as a MAKER. A bar that only touches the limit does not fill it (unless
  `fill_on_touch`). A TAKE_PROFIT fills at the open on a gap, else at its stop price with
  slippage. Bar fills are never capped by the bar's volume (`respect_trade_volume` is for trades).
- Intrabar ordering, conservative (adverse first): (1) orders waiting for a price, at the open;
  (2) stops gapped through at the open; (3) limits and take-profits gapped through at the open;
  (4) stops reached within the range, nearest to the open first; (5) limits and take-profits
  reached within the range, nearest to the open first. So when a position's stop-loss and its
  take-profit could both fill in one bar, the stop-loss is assumed to have come first; put the
  two in one `oco_group` and the take-profit is then canceled. A STOP_LIMIT triggered within
  the range that cannot take at the stop price rests from the next bar (the path after the
  trigger is unknown).

OCO: orders submitted with the same `oco_group` cancel each other: the first fill (even
partial) of one cancels the others, and the group's name is then free again. The engine knows
nothing of positions: reduce-only, funding and margin belong to the position code.

Fills are stamped with the `now` given to the call that produced them and get deterministic
trade ids (`<order_id>-<n>`). Final orders leave the working set; their final status is kept
so a late cancel is answered with `CancelRejected("order is already FILLED")`.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Literal

from apps.exchanges.domain.types import OrderBook
from apps.orders.domain.fill_model import FillModel
from apps.orders.domain.model import (
    Bar,
    Fill,
    Liquidity,
    OrderIntent,
    OrderSide,
    OrderStatus,
    OrderType,
    SymbolRules,
    TimeInForce,
    build_fill,
)

ZERO = Decimal(0)
FillAt = Literal["next_open", "close"]

_BUY = OrderSide.BUY
_SELL = OrderSide.SELL
_MARKET = OrderType.MARKET
_LIMIT = OrderType.LIMIT
_STOP_MARKET = OrderType.STOP_MARKET
_STOP_LIMIT = OrderType.STOP_LIMIT
_TAKE_PROFIT = OrderType.TAKE_PROFIT
_GTC = TimeInForce.GTC
_FOK = TimeInForce.FOK
_OPEN = OrderStatus.OPEN
_PARTIAL = OrderStatus.PARTIALLY_FILLED
_FILLED = OrderStatus.FILLED
_CANCELED = OrderStatus.CANCELED
_EXPIRED = OrderStatus.EXPIRED
_MAKER = Liquidity.MAKER
_TAKER = Liquidity.TAKER
_COMPACT_MIN = 4096

# -- events -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderAccepted:
    order_id: str


@dataclass(frozen=True, slots=True)
class OrderRejected:
    """The order was refused at submission and never worked."""

    order_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class OrderFilled:
    order_id: str
    fill: Fill
    remaining: Decimal
    status: OrderStatus  # PARTIALLY_FILLED or FILLED


@dataclass(frozen=True, slots=True)
class OrderCanceled:
    order_id: str
    reason: str = "canceled"


@dataclass(frozen=True, slots=True)
class OrderExpired:
    """Time in force ran out (IOC/FOK, the unfillable rest of a market order, a crossing post-only)."""

    order_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class OrderTriggered:
    """A stop or take-profit reached its trigger; `price` is the price that triggered it."""

    order_id: str
    price: Decimal


@dataclass(frozen=True, slots=True)
class CancelRejected:
    """A cancel that could not be done (unknown order, or already final); the order is unchanged."""

    order_id: str
    reason: str


EngineEvent = OrderAccepted | OrderRejected | OrderFilled | OrderCanceled | OrderExpired | OrderTriggered | CancelRejected


# -- working orders -----------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class WorkingOrder:
    """An order the engine holds: the intent's fields plus what happened to it so far."""

    order_id: str
    client_order_id: str
    side: OrderSide
    order_type: OrderType
    quantity: Decimal  # rounded down to the lot
    price: Decimal | None
    stop_price: Decimal | None
    time_in_force: TimeInForce
    post_only: bool
    reduce_only: bool
    submitted_at: datetime
    filled_quantity: Decimal = ZERO
    filled_notional: Decimal = ZERO
    fees: Decimal = ZERO
    status: OrderStatus = OrderStatus.NEW
    triggered: bool = False
    oco_group: str | None = None
    fill_count: int = field(default=0, repr=False)
    heap_seq: int = field(default=-1, repr=False)  # the seq of its live heap entry, -1 when in none
    skip_bar: int = field(default=-1, repr=False)  # a bar number in which it may not fill any more

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.filled_quantity

    @property
    def average_price(self) -> Decimal | None:
        return self.filled_notional / self.filled_quantity if self.filled_quantity else None


# -- the engine ---------------------------------------------------------------------------------


class MatchingEngine:
    """Working orders of one symbol, matched against trades (paper) or bars (backtests)."""

    def __init__(
        self,
        rules: SymbolRules,
        fill_model: FillModel,
        *,
        fill_on_touch: bool = False,
        respect_trade_volume: bool = False,
        fill_at: FillAt = "next_open",
        reject_stops_that_would_trigger: bool = False,
    ) -> None:
        if fill_model.rules.symbol != rules.symbol:
            raise ValueError("the fill model is for another symbol")
        if fill_at not in ("next_open", "close"):
            raise ValueError("fill_at must be 'next_open' or 'close'")
        self.rules = rules
        self.fill_model = fill_model
        self.fill_on_touch = fill_on_touch
        self.respect_trade_volume = respect_trade_volume
        self.fill_at: FillAt = fill_at
        self.reject_stops_that_would_trigger = reject_stops_that_would_trigger
        self._orders: dict[str, WorkingOrder] = {}  # working (non-final) orders, in submission order
        self._final: dict[str, OrderStatus] = {}  # final status of every order that left the book
        self._awaiting: dict[str, WorkingOrder] = {}  # waiting for the next price
        self._bids: list[tuple[Decimal, int, WorkingOrder]] = []  # (-limit, seq): best bid first
        self._asks: list[tuple[Decimal, int, WorkingOrder]] = []  # (limit, seq): best ask first
        self._rise: list[tuple[Decimal, int, WorkingOrder]] = []  # (stop, seq): trigger at price >= stop
        self._fall: list[tuple[Decimal, int, WorkingOrder]] = []  # (-stop, seq): trigger at price <= stop
        self._groups: dict[str, list[str]] = {}
        self._seq = 0
        self._stale = 0  # heap entries of orders that left their heap other than by a pop
        self._bar_no = 0
        # hot-path copies of rules and rates
        self._symbol = rules.symbol
        self._quote = rules.quote
        self._tick = rules.tick_size
        self._lot = rules.lot_size
        self._min_quantity = rules.min_quantity
        self._min_notional = rules.min_notional
        self._maker_rate = fill_model.fees.maker_rate
        self._taker_rate = fill_model.fees.taker_rate

    # -- queries ----------------------------------------------------------------------------

    def open_orders(self) -> list[WorkingOrder]:
        """Copies of the working orders, in submission order."""
        return [replace(order) for order in self._orders.values()]

    def get(self, order_id: str) -> WorkingOrder | None:
        order = self._orders.get(order_id)
        return replace(order) if order is not None else None

    def status(self, order_id: str) -> OrderStatus | None:
        order = self._orders.get(order_id)
        if order is not None:
            return order.status
        return self._final.get(order_id)

    # -- commands ---------------------------------------------------------------------------

    def submit(
        self,
        order_id: str,
        intent: OrderIntent,
        now: datetime,
        book: OrderBook | None = None,
        last_price: Decimal | None = None,
        *,
        bar_close: Decimal | None = None,
        oco_group: str | None = None,
        resting: bool = False,
    ) -> list[EngineEvent]:
        """Accept (or reject) an order and match it against what is known now.

        Paper trading passes the current `book` and/or `last_price`; a backtest passes neither
        (the order waits for the next bar's open) or, with `fill_at="close"`, the `bar_close` of
        the bar in which the decision was made. `oco_group` links orders that cancel each other.
        `resting=True` restores an order that already rests (a restart, a matcher reloading its
        orders): a limit goes straight back on the book as a maker, whatever the price now.
        """
        if bar_close is not None:
            if self.fill_at != "close":
                raise ValueError("bar_close is for fill_at='close'; with 'next_open' orders fill from the next bar")
            if last_price is None:
                last_price = bar_close
        if order_id in self._orders or order_id in self._final:
            return [OrderRejected(order_id, "duplicate order id")]
        quantity, reason = self._validate(intent, book, last_price)
        order_type = intent.order_type
        side = intent.side
        if reason is None and not resting:
            if intent.post_only and self._crosses(side, intent.price, book, last_price):  # type: ignore[arg-type]
                reason = "post-only order would take liquidity"
            elif self.reject_stops_that_would_trigger and order_type is not _MARKET and order_type is not _LIMIT:
                reference = _trigger_reference(book, last_price)
                if reference is not None and _reached(order_type, side, intent.stop_price, reference):  # type: ignore[arg-type]
                    reason = "stop would trigger immediately"
        if reason is not None:
            self._final[order_id] = OrderStatus.REJECTED  # the id is spent; a cancel says why
            return [OrderRejected(order_id, reason)]

        order = WorkingOrder(
            order_id,
            intent.client_order_id,
            side,
            order_type,
            quantity,
            intent.price,
            intent.stop_price,
            intent.time_in_force,
            intent.post_only,
            intent.reduce_only,
            now,
        )
        order.status = _OPEN
        self._orders[order_id] = order
        if oco_group is not None:
            order.oco_group = oco_group
            self._groups.setdefault(oco_group, []).append(order_id)
        events: list[EngineEvent] = [OrderAccepted(order_id)]
        if order_type is _LIMIT and resting:
            self._rest(order)
        elif order_type is _LIMIT:
            self._look_limit(order, book, last_price, now, events)
        elif order_type is _MARKET:
            self._look_market(order, book, last_price, now, events)
        else:
            self._look(order, book, last_price, now, events)
        return events

    def execute_market(self, order_id: str, intent: OrderIntent, price: Decimal, now: datetime) -> list[EngineEvent]:
        """Bulk path for backtests: a MARKET order executed at once at `price` (a bar's open or close).

        Exactly `submit(order_id, intent, now, last_price=price)` for a market order (the same
        validation, taker price with slippage and tick rounding, fee, trade id and events:
        OrderAccepted then OrderFilled, or OrderRejected), without building the working order
        that such an order would leave at once. Not for OCO groups (they need the working order).
        """
        result = self.execute_market_fill(order_id, intent, price, now)
        if type(result) is OrderRejected:
            return [result]
        return [OrderAccepted(order_id), OrderFilled(order_id, result, ZERO, _FILLED)]  # type: ignore[arg-type]

    def execute_market_fill(self, order_id: str, intent: OrderIntent, price: Decimal, now: datetime) -> Fill | OrderRejected:
        """`execute_market` without the events around it: the fill, or the rejection (one object per order in a backtest's loop)."""
        if intent.order_type is not _MARKET:
            raise ValueError("execute_market is for market orders")
        if order_id in self._orders or order_id in self._final:
            return OrderRejected(order_id, "duplicate order id")
        quantity, reason = self._validate(intent, None, price)
        if reason is not None:
            self._final[order_id] = OrderStatus.REJECTED  # the id is spent, as in submit
            return OrderRejected(order_id, reason)
        side = intent.side
        fill_price = self.fill_model.taker_price(side, price)
        notional = fill_price * quantity
        self._final[order_id] = _FILLED
        return build_fill(order_id, self._symbol, side, fill_price, quantity, notional * self._taker_rate, self._quote, _TAKER, now, f"{order_id}-1")

    def cancel(self, order_id: str, now: datetime) -> list[EngineEvent]:
        order = self._orders.get(order_id)
        if order is None:
            final = self._final.get(order_id)
            return [CancelRejected(order_id, "unknown order" if final is None else f"order is already {final.value}")]
        self._retire(order, _CANCELED)
        if self._stale > _COMPACT_MIN and self._stale > len(self._orders):
            self._compact()
        return [OrderCanceled(order_id)]

    def on_trade(self, price: Decimal, quantity: Decimal, now: datetime) -> list[EngineEvent]:
        """A trade printed on the venue: wake waiting orders, trigger stops, fill limits traded through."""
        events: list[EngineEvent] = []
        if self._awaiting:
            self._wake(price, now, events)
        stale = 0
        rise = self._rise
        while rise:
            stop, seq, order = rise[0]
            if order.heap_seq != seq:
                heapq.heappop(rise)
                stale += 1
                continue
            if stop > price:
                break
            heapq.heappop(rise)
            order.heap_seq = -1
            self._trigger(order, price, now, events)
        fall = self._fall
        while fall:
            key, seq, order = fall[0]
            if order.heap_seq != seq:
                heapq.heappop(fall)
                stale += 1
                continue
            if -key < price:
                break
            heapq.heappop(fall)
            order.heap_seq = -1
            self._trigger(order, price, now, events)
        touch = self.fill_on_touch
        budget = quantity if self.respect_trade_volume else None
        bids = self._bids
        while bids:
            key, seq, order = bids[0]
            if order.heap_seq != seq:
                heapq.heappop(bids)
                stale += 1
                continue
            limit: Decimal = order.price  # type: ignore[assignment]
            if limit < price or (limit == price and not touch):
                break
            filled = self._fill_resting(order, bids, budget, now, events)
            if budget is not None:
                budget -= filled
                if filled <= 0 or budget <= 0:
                    break
        budget = quantity if self.respect_trade_volume else None
        asks = self._asks
        while asks:
            key, seq, order = asks[0]
            if order.heap_seq != seq:
                heapq.heappop(asks)
                stale += 1
                continue
            limit = key
            if limit > price or (limit == price and not touch):
                break
            filled = self._fill_resting(order, asks, budget, now, events)
            if budget is not None:
                budget -= filled
                if filled <= 0 or budget <= 0:
                    break
        self._stale -= stale
        return events

    def on_bar(self, bar: Bar, now: datetime) -> list[EngineEvent]:
        """A bar closed: match it conservatively (see the module docstring for the intrabar order)."""
        self._bar_no += 1
        bar_no = self._bar_no
        events: list[EngineEvent] = []
        open_, high, low = bar.open, bar.high, bar.low
        fm = self.fill_model
        touch = self.fill_on_touch

        # (1) orders that waited for a price meet the open
        if self._awaiting:
            self._wake(open_, now, events)
        if not (self._rise or self._fall or self._bids or self._asks):
            return events  # nothing rests or is armed: the range cannot fill anything (a backtest's common case)

        # collect everything the bar reaches; stale heap entries are dropped on the way
        rise_hits = self._pop_while(self._rise, lambda key: key <= high)
        fall_hits = self._pop_while(self._fall, lambda key: -key >= low)
        gap_stops: list[WorkingOrder] = []
        gap_favourable: list[tuple[int, WorkingOrder]] = []
        range_stops: list[tuple[Decimal, int, WorkingOrder]] = []
        range_favourable: list[tuple[Decimal, int, WorkingOrder]] = []
        for order in rise_hits + fall_hits:
            stop: Decimal = order.stop_price  # type: ignore[assignment]
            gapped = stop <= open_ if _rises(order) else stop >= open_
            if order.order_type is _TAKE_PROFIT:
                if gapped:
                    gap_favourable.append((order.heap_seq, order))
                else:
                    range_favourable.append((abs(stop - open_), order.heap_seq, order))
            elif gapped:
                gap_stops.append(order)
            else:
                range_stops.append((abs(stop - open_), order.heap_seq, order))
        for order in rise_hits + fall_hits:
            order.heap_seq = -1

        # (2) stops gapped through: triggered and filled at the open
        for order in gap_stops:
            if order.order_id in self._orders:
                self._trigger(order, open_, now, events)

        # (3) limits and take-profits gapped through: at the open as takers, never worse than the limit
        gap_limits = self._pop_while(self._bids, lambda key: -key > open_)
        gap_limits += self._pop_while(self._asks, lambda key: key < open_)
        for order in gap_limits:
            gap_favourable.append((order.heap_seq, order))
            order.heap_seq = -1
        gap_favourable.sort(key=lambda item: item[0])
        for _, order in gap_favourable:
            if order.order_id not in self._orders:
                continue
            if order.order_type is _TAKE_PROFIT:
                self._trigger(order, open_, now, events)
            elif order.post_only:
                self._fill(order, order.price, order.quantity - order.filled_quantity, _MAKER, now, events)  # type: ignore[arg-type]
            else:
                price = fm.capped_taker_price(order.side, open_, order.price)
                self._fill(order, price, order.quantity - order.filled_quantity, _TAKER, now, events)

        # (4) stops reached within the range: adverse first, nearest to the open first
        range_stops.sort(key=lambda item: (item[0], item[1]))
        for _, _, order in range_stops:
            if order.order_id not in self._orders:
                continue
            self._trigger(order, order.stop_price, now, events)  # type: ignore[arg-type]
            if order.order_id in self._orders and order.heap_seq >= 0:
                order.skip_bar = bar_no  # a STOP_LIMIT resting after an intrabar trigger waits for the next bar

        # (5) limits traded through and take-profits reached within the range: at the limit as makers
        if touch:
            range_limits = self._pop_while(self._bids, lambda key: -key >= low)
            range_limits += self._pop_while(self._asks, lambda key: key <= high)
        else:
            range_limits = self._pop_while(self._bids, lambda key: -key > low)
            range_limits += self._pop_while(self._asks, lambda key: key < high)
        deferred: list[WorkingOrder] = []
        for order in range_limits:
            if order.skip_bar == bar_no:
                deferred.append(order)
            else:
                range_favourable.append((abs(order.price - open_), order.heap_seq, order))  # type: ignore[operator]
            order.heap_seq = -1
        range_favourable.sort(key=lambda item: (item[0], item[1]))
        for _, _, order in range_favourable:
            if order.order_id not in self._orders:
                continue
            if order.order_type is _TAKE_PROFIT:
                self._trigger(order, order.stop_price, now, events)  # type: ignore[arg-type]
            else:
                self._fill(order, order.price, order.quantity - order.filled_quantity, _MAKER, now, events)  # type: ignore[arg-type]
        for order in deferred:
            if order.order_id in self._orders:
                self._rest(order)
        return events

    # -- internals: submission ----------------------------------------------------------------

    def _validate(self, intent: OrderIntent, book: OrderBook | None, last_price: Decimal | None) -> tuple[Decimal, str | None]:
        if intent.symbol != self._symbol:
            return ZERO, f"symbol {intent.symbol} is not traded by this engine ({self._symbol})"
        quantity = intent.quantity
        if quantity <= 0 or quantity % self._lot != 0:
            quantity = self.fill_model.round_quantity(quantity)
            if quantity <= 0:
                return ZERO, "quantity is below the lot size"
        if quantity < self._min_quantity:
            return ZERO, f"quantity {quantity} is below the minimum {self._min_quantity}"
        order_type = intent.order_type
        price = intent.price
        stop = intent.stop_price
        tick = self._tick
        if order_type is _LIMIT or order_type is _STOP_LIMIT:
            if price is None or price <= 0:
                return ZERO, f"a {order_type.value} order needs a positive price"
            if price % tick != 0:
                return ZERO, f"price {price} is not a multiple of the tick size {tick}"
        if order_type is not _MARKET and order_type is not _LIMIT:
            if stop is None or stop <= 0:
                return ZERO, f"a {order_type.value} order needs a positive stop price"
            if stop % tick != 0:
                return ZERO, f"stop price {stop} is not a multiple of the tick size {tick}"
        if intent.post_only and (order_type is not _LIMIT or intent.time_in_force is not _GTC):
            return ZERO, "post-only needs a GTC limit order"
        if intent.reduce_only and not self.rules.is_perpetual:
            return ZERO, f"reduce-only is only for perpetual markets; {self._symbol} is a spot market"
        if order_type is _LIMIT or order_type is _STOP_LIMIT:
            reference = price
        elif order_type is not _MARKET:
            reference = stop
        else:
            reference = last_price
            if reference is None and book is not None:
                levels = book.asks if intent.side is _BUY else book.bids
                if levels:
                    reference = levels[0].price
        if reference is None and order_type is _MARKET and self.fill_at == "close":
            return ZERO, "fill_at='close' needs bar_close (or a book or last price) for a market order"
        if reference is not None and quantity * reference < self._min_notional:
            return ZERO, f"notional {quantity * reference} is below the minimum {self._min_notional}"
        return quantity, None

    @staticmethod
    def _crosses(side: OrderSide, limit: Decimal, book: OrderBook | None, last_price: Decimal | None) -> bool:
        """Would a limit take liquidity now? Touching the best opposite level is enough; a last
        price alone counts as that level (so paper with a book and a backtest at the open agree)."""
        if book is not None:
            levels = book.asks if side is _BUY else book.bids
            if levels:
                best = levels[0].price
                return best <= limit if side is _BUY else best >= limit
        if last_price is not None:
            return last_price <= limit if side is _BUY else last_price >= limit
        return False

    def _look(self, order: WorkingOrder, book: OrderBook | None, last_price: Decimal | None, now: datetime, events: list[EngineEvent]) -> None:
        """First look at an order with what is known now: fill, rest, arm, expire or wait for a price."""
        order_type = order.order_type
        if order_type is _LIMIT or (order_type is _STOP_LIMIT and order.triggered):
            self._look_limit(order, book, last_price, now, events)
        elif order_type is _MARKET or order.triggered:
            self._look_market(order, book, last_price, now, events)
        else:
            reference = _trigger_reference(book, last_price)
            if reference is None:
                self._awaiting[order.order_id] = order
            elif _reached(order_type, order.side, order.stop_price, reference):  # type: ignore[arg-type]
                order.triggered = True
                events.append(OrderTriggered(order.order_id, reference))
                self._look(order, book, last_price, now, events)
            else:
                self._arm(order)

    def _look_market(self, order: WorkingOrder, book: OrderBook | None, last_price: Decimal | None, now: datetime, events: list[EngineEvent]) -> None:
        side = order.side
        if book is not None and (book.asks if side is _BUY else book.bids):
            remaining = order.quantity - order.filled_quantity
            if order.time_in_force is _FOK and self.fill_model.book_depth(side, book) < remaining:
                self._retire(order, _EXPIRED)
                events.append(OrderExpired(order.order_id, "fill-or-kill: not enough liquidity in the book"))
                return
            self._take_book(order, book, None, now, events)
            if order.status is not _FILLED:
                self._retire(order, _EXPIRED)
                events.append(OrderExpired(order.order_id, "market order: the book was too thin for the rest"))
            return
        if last_price is None:
            self._awaiting[order.order_id] = order
            return
        price = self.fill_model.taker_price(side, last_price)
        self._fill(order, price, order.quantity - order.filled_quantity, _TAKER, now, events)

    def _look_limit(
        self, order: WorkingOrder, book: OrderBook | None, last_price: Decimal | None, now: datetime, events: list[EngineEvent], touch_takes: bool = True
    ) -> None:
        """`touch_takes`: a last price equal to the limit takes (as a one-price book would); a
        stop-limit just triggered at its stop only takes strictly through its limit."""
        side = order.side
        limit: Decimal = order.price  # type: ignore[assignment]
        levels = None if book is None else (book.asks if side is _BUY else book.bids)
        if levels:
            best = levels[0].price
            crossing = best <= limit if side is _BUY else best >= limit
        elif last_price is not None:
            if touch_takes:
                crossing = last_price <= limit if side is _BUY else last_price >= limit
            else:
                crossing = last_price < limit if side is _BUY else last_price > limit
        else:
            self._awaiting[order.order_id] = order
            return
        if crossing:
            if order.post_only:
                self._retire(order, _EXPIRED)
                events.append(OrderExpired(order.order_id, "post-only order would take liquidity"))
                return
            if levels:
                if order.time_in_force is _FOK and self.fill_model.book_depth(side, book, limit) < order.quantity - order.filled_quantity:  # type: ignore[arg-type]
                    self._retire(order, _EXPIRED)
                    events.append(OrderExpired(order.order_id, "fill-or-kill: not enough liquidity within the limit"))
                    return
                self._take_book(order, book, limit, now, events)  # type: ignore[arg-type]
            else:
                price = self.fill_model.capped_taker_price(side, last_price, limit)  # type: ignore[arg-type]
                self._fill(order, price, order.quantity - order.filled_quantity, _TAKER, now, events)
            if order.status is _FILLED:
                return
        if order.time_in_force is not _GTC:
            self._retire(order, _EXPIRED)
            events.append(OrderExpired(order.order_id, f"{order.time_in_force.value}: not filled immediately"))
            return
        self._rest(order)

    def _take_book(self, order: WorkingOrder, book: OrderBook, limit: Decimal | None, now: datetime, events: list[EngineEvent]) -> None:
        for price, quantity in self.fill_model.walk_book(order.side, order.quantity - order.filled_quantity, book, limit):
            self._fill(order, price, quantity, _TAKER, now, events)
            if order.status is _FILLED:
                return

    def _trigger(self, order: WorkingOrder, price: Decimal, now: datetime, events: list[EngineEvent]) -> None:
        """Trigger a stop/take-profit at `price` and execute it there (a limit may rest instead)."""
        order.triggered = True
        events.append(OrderTriggered(order.order_id, price))
        if order.order_type is _STOP_LIMIT:
            self._look_limit(order, None, price, now, events, touch_takes=False)
        else:
            self._fill(order, self.fill_model.taker_price(order.side, price), order.quantity - order.filled_quantity, _TAKER, now, events)

    def _wake(self, price: Decimal, now: datetime, events: list[EngineEvent]) -> None:
        waiting = list(self._awaiting.values())
        self._awaiting.clear()
        for order in waiting:
            if order.order_id in self._orders:
                self._look(order, None, price, now, events)

    # -- internals: book keeping ----------------------------------------------------------------

    def _push(self, heap: list[tuple[Decimal, int, WorkingOrder]], key: Decimal, order: WorkingOrder) -> None:
        self._seq += 1
        order.heap_seq = self._seq
        heapq.heappush(heap, (key, self._seq, order))

    def _rest(self, order: WorkingOrder) -> None:
        price: Decimal = order.price  # type: ignore[assignment]
        self._seq = seq = self._seq + 1
        order.heap_seq = seq
        if order.side is _BUY:
            heapq.heappush(self._bids, (-price, seq, order))
        else:
            heapq.heappush(self._asks, (price, seq, order))

    def _arm(self, order: WorkingOrder) -> None:
        stop: Decimal = order.stop_price  # type: ignore[assignment]
        if _rises(order):
            self._push(self._rise, stop, order)
        else:
            self._push(self._fall, -stop, order)

    def _pop_while(self, heap: list[tuple[Decimal, int, WorkingOrder]], reached: Callable[[Decimal], bool]) -> list[WorkingOrder]:
        """Pop the live entries whose key satisfies `reached`; their heap_seq is left for ordering."""
        out: list[WorkingOrder] = []
        while heap:
            key, seq, order = heap[0]
            if order.heap_seq != seq:
                heapq.heappop(heap)
                self._stale -= 1
                continue
            if not reached(key):
                break
            heapq.heappop(heap)
            out.append(order)
        return out

    def _fill_resting(
        self,
        order: WorkingOrder,
        heap: list[tuple[Decimal, int, WorkingOrder]],
        budget: Decimal | None,
        now: datetime,
        events: list[EngineEvent],
    ) -> Decimal:
        """Fill a resting limit at the top of `heap` as maker, up to `budget`; the quantity filled."""
        quantity = order.quantity - order.filled_quantity
        if budget is not None and budget < quantity:
            quantity = self.fill_model.round_quantity(budget)
            if quantity <= 0:
                return ZERO
        else:
            heapq.heappop(heap)
            order.heap_seq = -1
        self._fill(order, order.price, quantity, _MAKER, now, events)  # type: ignore[arg-type]
        return quantity

    def _fill(self, order: WorkingOrder, price: Decimal, quantity: Decimal, liquidity: Liquidity, now: datetime, events: list[EngineEvent]) -> None:
        order.fill_count += 1
        notional = price * quantity
        fee = notional * (self._maker_rate if liquidity is _MAKER else self._taker_rate)
        order_id = order.order_id
        fill = Fill(order_id, self._symbol, order.side, price, quantity, fee, self._quote, liquidity, now, f"{order_id}-{order.fill_count}")
        filled = order.filled_quantity + quantity
        order.filled_quantity = filled
        order.filled_notional += notional
        order.fees += fee
        remaining = order.quantity - filled
        if remaining <= 0:
            self._retire(order, _FILLED)
            events.append(OrderFilled(order_id, fill, remaining, _FILLED))
        else:
            order.status = _PARTIAL
            events.append(OrderFilled(order_id, fill, remaining, _PARTIAL))
        if order.oco_group is not None:
            self._cancel_group(order, events)

    def _cancel_group(self, order: WorkingOrder, events: list[EngineEvent]) -> None:
        group = self._groups.pop(order.oco_group, [])  # type: ignore[arg-type]
        for other_id in group:
            if other_id == order.order_id:
                continue
            other = self._orders.get(other_id)
            if other is not None:
                self._retire(other, _CANCELED)
                events.append(OrderCanceled(other_id, f"one-cancels-other: {order.order_id} filled"))
        order.oco_group = None

    def _retire(self, order: WorkingOrder, status: OrderStatus) -> None:
        order.status = status
        order_id = order.order_id
        del self._orders[order_id]
        self._final[order_id] = status
        if order.heap_seq >= 0:
            order.heap_seq = -1
            self._stale += 1
        if self._awaiting:
            self._awaiting.pop(order_id, None)
        group = order.oco_group
        if group is not None and status is not _FILLED:
            members = self._groups.get(group)
            if members is not None:
                members.remove(order_id)
                if not members:
                    del self._groups[group]

    def _compact(self) -> None:
        """Drop the entries of canceled orders from the heaps (they are skipped lazily otherwise)."""
        for heap in (self._bids, self._asks, self._rise, self._fall):
            heap[:] = [entry for entry in heap if entry[2].heap_seq == entry[1]]
            heapq.heapify(heap)
        self._stale = 0


def _rises(order: WorkingOrder) -> bool:
    """Does the order trigger on a rising price? Buy stops and sell take-profits do."""
    return (order.side is _BUY) is (order.order_type is not _TAKE_PROFIT)


def _reached(order_type: OrderType, side: OrderSide, stop: Decimal, price: Decimal) -> bool:
    rises = (side is _BUY) is (order_type is not _TAKE_PROFIT)
    return price >= stop if rises else price <= stop


def _trigger_reference(book: OrderBook | None, last_price: Decimal | None) -> Decimal | None:
    """The price stops are compared with at submission: the last trade, else the book's mid."""
    if last_price is not None:
        return last_price
    if book is not None:
        return book.mid
    return None
