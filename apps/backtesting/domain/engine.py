"""The backtest engine: bars through the SAME strategy objects and the SAME matching engine as paper trading.

What it reuses rather than re-implements
- Orders are matched by `apps.orders.domain.matching.MatchingEngine.on_bar` with its
  `FillModel`: market orders fill at the next bar's open (`fill_at="next_open"`, default) or
  at the close of the bar they were decided in (`fill_at="close"`), limits when the bar trades
  through them, stops at the stop price or the gapped open, maker/taker fees, slippage, OCO.
- Positions are the portfolio domain's `Position`, built by `Position.apply(fill)` (average
  entry, realised P&L, fees) and `Position.apply_funding` for perpetuals; the margin of a
  perpetual is `position_margin`; the final balances are the domain's `Balances`.
- Strategies are driven through `SafeStrategy` and see the market only through
  `StrategyContext`, exactly as a bot runner drives them.

No look-ahead, by construction
At bar t the context shows bars[0..t] (closed) and indicator values up to t; the strategy's
orders are submitted after bar t closed, so the matching engine can only fill them from bar
t+1 on (or at bar t's close with `fill_at="close"`). A fill in bar t is reported to the
strategy at the close of bar t. Funding is settled at each funding time (every 8 hours from
00:00 UTC by default) on the position held at that moment, marked at the open of the bar that
starts at (or first after) it, before that bar's fills.

Order of work at each bar t
1. funding due in bar t (perpetuals);
2. market orders decided at the previous close meet bar t's open (first, on a perpetual, a
   position whose liquidation price the open gapped beyond is liquidated at the open): they are submitted to the
   MatchingEngine now, with that open as the price (`submit(..., last_price=open)`), and fill
   there plus slippage as takers. That is exactly what the engine does with an order waiting
   for a price (`on_bar` step 1); the order waits in the backtest instead, which spares
   building bar t for the engine when nothing else is working. The strategy is told
   "accepted" when it places the order, as before;
   every fill is first admitted by the account at its price (`Account.refusal`): refused, or
   re-sized down when the order was sized by a fraction of equity (see `accounting.py`);
3. perpetuals: the bar's adverse extreme (low for a long, high for a short) is tested against
   the position's liquidation price before any exit on the bar; reached, the whole position is
   liquidated there (`apps.portfolio.domain.liquidation`), its working orders cancelled, unless
   a working exit stop lies before the liquidation price: the bar reaches that stop first, so
   the matching engine runs first and what remains is tested after it;
4. `MatchingEngine.on_bar(bar t)` when other orders are working; every event is applied to the
   account and reported (`on_order_update`, `on_position_update`);
5. at the close: `on_start` (first bar), then `on_bar` (slow path) or `on_signal` (fast path);
6. the orders the hooks asked for are checked (reduce-only must reduce; spot: no selling what
   is not held; resting orders: spot cash reserved at their price, perpetual exposure within
   equity x leverage; market orders' cash and margin wait for their fill), then submitted (a
   market order in close mode fills at once at bar t's close);
7. the equity at the close is cash plus the position marked at the close.

Two paths, one semantics (the fast path has two tiers)
- Slow path: every bar goes through steps 1-6 and the strategy's `on_bar`. Any strategy.
- Fast path, for strategies with `signals(data, prepared)` (see `strategies.domain.base`): the
  signals are computed once, vectorised, and the engine visits only the bars where something
  can happen: (a) a bar with a signal (on_signal is called there instead of on_bar), (b) the
  bar after an order was submitted (it may fill at that bar's open), (c) a bar whose range
  reaches a working order: the lowest high that triggers a rising stop or crosses a sell
  limit and the highest low for buy limits and falling stops are kept, and the next bar with
  `high >= H or low <= L` is found with numpy comparisons over growing chunks (an inclusive,
  so conservative, test: a visited bar where nothing fills costs only a no-op match), (d) a
  funding bar, (e) a bar whose adverse extreme reaches an open perpetual position's liquidation
  price (found like (c)), and the first bar (on_start). Between visited bars
  nothing can change, so the account is constant and the equity curve is filled in
  vectorised: every visit records (A, q) with equity = A + q x close (spot: A = cash; a
  perpetual: A = wallet - q x entry), and `np.repeat` spreads the segments over the bars.
  The strategy's contract (nothing happens where the signal is NaN) makes the visited bars a
  superset of the bars where the slow path does anything, so both paths make the same calls
  with the same arguments in the same order: the same orders, fills, trades, equity curve and
  decision log. `tests/test_fast_path.py` checks it on random walks.
  One more saving when the strategy has no order or position hooks (nothing can observe when
  a fill is booked): market orders alone meet the next open at the end of the signal's visit
  (booked at bar t+1, unless t+1 is a funding bar), instead of in a visit of their own.
- Desired positions (`run_targets`): when the strategy's signals are target positions
  (`signal_kind()` is "exposure" or "position") and it keeps the default `on_signal` and has
  no start, order or position hook, acting on a signal is by contract "log the reason, trade
  towards the target". The engine then does exactly that itself at each signal bar, with the
  same sizing functions as the context (`exposure_quantity`, `round_to_lot`), the same checks,
  the MatchingEngine (its bulk path `execute_market`, at the next open's price or at the close)
  and the domain Position, without a strategy call per signal.
  Cost: 1,000,000 one-minute bars of SMA 10/30 cross ~39,000 times; the run is ~30 ms of
  numpy plus ~39,000 exact (Decimal) trips through the MatchingEngine (~4 us each) and
  `Position.apply` (~3 us), plus the trade, fill, log and equity bookkeeping: the number of
  trades, not of bars, sets the time (see benchmarks/bench_backtest.py for the figures).

Python's cyclic garbage collector is paused during a run (and restored after it): a run makes
no reference cycles per event, and with tens of thousands of fills, trades and log lines alive
the collector's rescans would cost about a third of the run.

Trades are the life of a non-flat position: opened by the first fill from flat, closed when
the position returns to flat; a fill that flips the position closes one trade and opens the
next at the same price (fees split by quantity). Entry/exit prices are quantity-weighted
averages of the increasing/reducing fills; P&L is the position's realised P&L over the trade
less its fees and funding.

Left out on purpose (documented limits): partial fills against bar volume (the matching
engine does not cap bar fills), a reduce-only order that fills later in the same bar in which
the position was closed, and the mark price: a backtest marks and liquidates at the bar's
prices (there is no separate mark series in candles).
"""

from __future__ import annotations

import gc
import json
import math
import time as _time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd

from apps.backtesting.domain.accounting import Account, LiquidationRecord, Trade, resized
from apps.exchanges.domain.types import MarketType
from apps.orders.domain.fill_model import FillModel
from apps.orders.domain.matching import (
    EngineEvent,
    MatchingEngine,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderTriggered,
    WorkingOrder,
)
from apps.orders.domain.model import (
    Bar,
    FeeSchedule,
    Fill,
    MarginMode,
    OrderIntent,
    OrderSide,
    OrderStatus,
    OrderType,
    SymbolRules,
    build_market_intent,
)
from apps.portfolio.domain.balances import Balances
from apps.portfolio.domain.positions import Position
from apps.strategies.domain.base import (
    BarView,
    LogLine,
    OrderUpdate,
    Prepared,
    SafeStrategy,
    SignalKind,
    Strategy,
    StrategyContext,
    StrategyError,
    exposure_quantity,
    overrides,
    round_to_lot,
)
from apps.strategies.domain.data import EPOCH, OHLCV, to_decimal

FloatArray = npt.NDArray[np.float64]
FillAt = Literal["next_open", "close"]
Mode = Literal["auto", "fast", "slow"]

ZERO = Decimal(0)
_BUY = OrderSide.BUY
_SELL = OrderSide.SELL
_MARKET = OrderType.MARKET
_LIMIT = OrderType.LIMIT
_STOP_LIMIT = OrderType.STOP_LIMIT
_TAKE_PROFIT = OrderType.TAKE_PROFIT
_FILLED = OrderStatus.FILLED
_STOP_MARKET = OrderType.STOP_MARKET
_MAX_CASCADE = 100  # hooks placing orders that fill at once (close mode) and call hooks again
_RESIZE_STEPS = 4  # lots taken off a computed affordable quantity before refusing (the margin is rounded up)
DEFAULT_LIQUIDATION_FEE = Decimal("0.005")  # of the closing notional: the venue's clearance fee (Binance USDT-M charges up to 1.25 %)


def default_rules(market_type: MarketType = MarketType.SPOT, *, tick: str = "0.01", lot: str = "0.00000001") -> SymbolRules:
    perpetual = market_type is MarketType.LINEAR_PERPETUAL
    return SymbolRules(
        symbol="BTC/USDT:USDT" if perpetual else "BTC/USDT",
        base="BTC",
        quote="USDT",
        tick_size=Decimal(tick),
        lot_size=Decimal(lot),
        min_quantity=Decimal(lot),
        min_notional=ZERO,
        max_leverage=125 if perpetual else 1,
        is_perpetual=perpetual,
    )


@dataclass(frozen=True)
class BacktestConfig:
    initial_capital: Decimal = Decimal(10_000)
    maker_fee: Decimal = Decimal("0.0002")  # fraction of notional; negative is a rebate
    taker_fee: Decimal = Decimal("0.0005")
    slippage_bps: Decimal = ZERO
    fill_at: FillAt = "next_open"
    market_type: MarketType = MarketType.SPOT
    leverage: int = 1
    margin_mode: MarginMode = MarginMode.ISOLATED  # perpetuals: what a liquidation takes (the position's margin, or the wallet)
    liquidation_fee: Decimal = DEFAULT_LIQUIDATION_FEE
    funding_rate: Decimal | Sequence[float] | FloatArray | None = None  # per interval: a constant, or one rate per bar
    funding_interval_hours: int = 8
    fill_on_touch: bool = False
    rules: SymbolRules | None = None
    mode: Mode = "auto"  # fast when the strategy has signals
    restore_state_every: int = 0  # > 0: every N bars, persist the strategy's state to JSON and continue with a fresh instance

    def __post_init__(self) -> None:
        if self.initial_capital <= 0:
            raise ValueError("initial_capital must be positive")
        if self.fill_at not in ("next_open", "close"):
            raise ValueError("fill_at must be 'next_open' or 'close'")
        if self.mode not in ("auto", "fast", "slow"):
            raise ValueError("mode must be auto, fast or slow")
        if self.leverage < 1:
            raise ValueError("leverage must be at least 1")
        if self.market_type is MarketType.SPOT and self.leverage != 1:
            raise ValueError("spot trading has no leverage")
        if self.funding_interval_hours <= 0:
            raise ValueError("funding_interval_hours must be positive")
        if self.liquidation_fee < 0:
            raise ValueError(f"liquidation_fee cannot be negative, not {self.liquidation_fee}")

    def symbol_rules(self) -> SymbolRules:
        rules = self.rules or default_rules(self.market_type)
        if rules.is_perpetual != (self.market_type is MarketType.LINEAR_PERPETUAL):
            raise ValueError("the symbol rules do not match the market type")
        if self.leverage > max(rules.max_leverage, 1):
            raise ValueError(f"leverage {self.leverage} is above {rules.symbol}'s maximum of {rules.max_leverage}")
        return rules


class OrderRefusal(NamedTuple):
    """An order the account could not carry: refused, or re-sized down (`filled` > 0) when it was sized by a fraction of equity."""

    bar: int
    time: datetime
    order_id: str
    side: str  # BUY or SELL
    quantity: Decimal  # what was asked
    reason: str
    filled: Decimal = ZERO  # re-sized: the quantity that filled instead

    @property
    def resized(self) -> bool:
        return self.filled > 0

    @property
    def label(self) -> str:
        """The reason, prefixed by what happened: the key refusals are counted by."""
        return f"re-sized: {self.reason}" if self.resized else f"refused: {self.reason}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "bar": self.bar,
            "time": self.time.isoformat(),
            "order_id": self.order_id,
            "side": self.side,
            "quantity": str(self.quantity),
            "filled": str(self.filled),
            "resized": self.resized,
            "reason": self.reason,
        }


class FillRecord(NamedTuple):
    bar: int
    fill: Fill


@dataclass(slots=True)
class BacktestResult:
    config: BacktestConfig
    strategy: str
    params: dict[str, Any]
    path: str  # "fast" or "slow"
    data: OHLCV
    trades: list[Trade]
    open_trade: Trade | None
    fills: list[FillRecord]
    equity: FloatArray  # per bar, marked at the close
    position: FloatArray  # signed quantity per bar, at the close
    log: list[LogLine]
    position_final: Position
    balances: Balances
    open_orders: list[WorkingOrder]
    strategy_state: dict[str, Any]
    funding_paid: Decimal
    bars_visited: int
    elapsed: float = 0.0
    rejections: list[OrderUpdate] = field(default_factory=list)
    refusals: list[OrderRefusal] = field(default_factory=list)  # refused or re-sized orders, in order
    liquidations: list[LiquidationRecord] = field(default_factory=list)

    def refusal_counts(self) -> dict[str, int]:
        """How many orders were refused or re-sized, by `OrderRefusal.label`."""
        counts: dict[str, int] = {}
        for refusal in self.refusals:
            counts[refusal.label] = counts.get(refusal.label, 0) + 1
        return counts

    def warning(self) -> str | None:
        """One line when any order was refused or re-sized or any position liquidated; None otherwise."""
        parts = [f"{count} {label}" for label, count in self.refusal_counts().items()]
        if self.liquidations:
            parts.append(f"{len(self.liquidations)} liquidation{'s' if len(self.liquidations) != 1 else ''}")
        return "Warning: " + "; ".join(parts) if parts else None

    def metrics(self) -> dict[str, Any]:
        from apps.backtesting.domain.metrics import compute_metrics

        return compute_metrics(self)


# -- the broker the strategy context talks to ----------------------------------------------------


class _Order:
    """What the backtest knows of an order it submitted (for checks and for finding bars that can fill it)."""

    __slots__ = ("by_fraction", "intent", "oco", "order_id", "remaining", "triggered")

    def __init__(self, order_id: str, intent: OrderIntent, oco: str | None, *, by_fraction: bool = False) -> None:
        self.order_id = order_id
        self.intent = intent
        self.oco = oco
        self.remaining = intent.quantity
        self.triggered = False
        self.by_fraction = by_fraction  # sized by a fraction of equity: re-sized at the fill rather than refused


class _Run:
    """One backtest run: the broker behind the context, the bar loop and the bookkeeping."""

    def __init__(self, strategy: Strategy, data: OHLCV, config: BacktestConfig) -> None:
        if len(data) == 0:
            raise ValueError("no bars to test")
        self.config = config
        self.data = data
        self.rules = rules = config.symbol_rules()
        fees = FeeSchedule(maker_rate=config.maker_fee, taker_rate=config.taker_fee)
        self.fill_model = FillModel(fees, config.slippage_bps, rules)
        self.engine = MatchingEngine(rules, self.fill_model, fill_on_touch=config.fill_on_touch, fill_at=config.fill_at)
        self.account = Account(config.initial_capital, rules, config.leverage, config.margin_mode)
        self.perpetual = rules.is_perpetual
        self.safe = SafeStrategy(strategy)
        self.log: list[LogLine] = []
        self.fills: list[FillRecord] = []
        self.rejections: list[OrderUpdate] = []
        self.refusals: list[OrderRefusal] = []
        self.liquidations: list[LiquidationRecord] = []
        self.prepared: Prepared = self.safe.prepare(data)
        self._times: dict[int, datetime] = {}
        self._times_pinned = False  # True when _times holds every time a run needs
        self._open, self._high, self._low, self._close, self._volume = data.open, data.high, data.low, data.close, data.volume
        self.ctx = StrategyContext(data, self.prepared, self, rules, self.log.append, clock=self._open_time)
        self.close_mode = config.fill_at == "close"
        self.n = len(data)
        self.times_ns = data.time_ns()
        bar_seconds = data.bar_seconds() or 60.0
        self.bar_delta = timedelta(seconds=bar_seconds)
        self.orders: dict[str, _Order] = {}  # submitted, still working
        self.outbox: list[tuple[str, Any]] = []  # ("place", _Order) / ("cancel", order_id)
        self.deferred: list[_Order] = []  # market orders waiting for the next open (fill_at="next_open")
        self.defer_markets = config.fill_at == "next_open"
        self.resting = 0  # working orders other than deferred market orders
        self.pending_market = ZERO  # signed remaining of working and queued market orders
        self.next_id = 0
        self.fresh_orders = False  # orders submitted since the last match: the next bar must be matched
        self.thresholds_dirty = True
        self.low_threshold = -math.inf  # a bar with low <= this may fill something
        self.high_threshold = math.inf  # a bar with high >= this may fill something
        self.account_changed = True  # since the last equity segment was recorded
        self.segments: list[tuple[int, float, float]] = []
        self.last_segment: tuple[float, float] | None = None
        self.visited = 0
        self.t = -1
        self.funding_counts, self.funding_rates = self._funding_schedule()
        self.funding_bars: set[int] = set() if self.funding_counts is None else set(np.flatnonzero(self.funding_counts).tolist())
        self.merge_fills = not (self.safe.has_order_hook or self.safe.has_position_hook) and not config.restore_state_every

    # -- Broker protocol ----------------------------------------------------------------------------

    def next_order_id(self) -> str:
        self.next_id += 1
        return f"o{self.next_id}"

    def place(self, intent: OrderIntent, oco_group: str | None) -> None:
        """Queue an order (its id is the intent's client order id); it is checked and submitted after the hook returns."""
        self._queue(_Order(intent.client_order_id, intent, oco_group))

    def place_sized_by_fraction(self, intent: OrderIntent, oco_group: str | None) -> None:
        """`place` for an order sized by a fraction of equity: re-sized down at the fill when the account cannot carry it."""
        self._queue(_Order(intent.client_order_id, intent, oco_group, by_fraction=True))

    def _queue(self, order: _Order) -> None:
        self.outbox.append(("place", order))
        intent = order.intent
        if intent.order_type is _MARKET:
            self.pending_market += intent.quantity if intent.side is _BUY else -intent.quantity

    def cancel(self, order_id: str) -> None:
        self.outbox.append(("cancel", order_id))

    def position(self) -> Position:
        return self.account.position

    def cash(self) -> Decimal:
        return self.account.free_cash()

    def equity(self, mark: Decimal) -> Decimal:
        return self.account.equity(mark)

    def open_orders(self) -> list[WorkingOrder]:
        """The matching engine's working orders, then the market orders waiting for the next open."""
        waiting = [
            WorkingOrder(
                o.order_id,
                o.order_id,
                o.intent.side,
                _MARKET,
                o.intent.quantity,
                None,
                None,
                o.intent.time_in_force,
                False,
                o.intent.reduce_only,
                self._decision_time(self.t),
            )
            for o in self.deferred
        ]
        return self.engine.open_orders() + waiting

    def pending_quantity(self) -> Decimal:
        return self.pending_market

    # -- time ---------------------------------------------------------------------------------------

    def _open_time(self, t: int) -> datetime:
        """Bar t's open time (a few recent ones are kept: a visit asks for the same ones several times)."""
        cache = self._times
        when = cache.get(t)
        if when is None:
            if len(cache) > 8 and not self._times_pinned:
                cache.clear()
            when = cache[t] = EPOCH + timedelta(microseconds=int(self.times_ns[t]) // 1000)
        return when

    def _decision_time(self, t: int) -> datetime:
        """When bar t closed: the next bar's open time, or open + bar length for the last bar."""
        if t + 1 < self.n:
            return self._open_time(t + 1)
        return self._open_time(t) + self.bar_delta

    def _bar(self, t: int) -> Bar:
        """Bar t as the orders domain's exact Bar (prices back to Decimal at this edge)."""
        return Bar(
            self._open_time(t),
            Decimal(repr(float(self._open[t]))),
            Decimal(repr(float(self._high[t]))),
            Decimal(repr(float(self._low[t]))),
            Decimal(repr(float(self._close[t]))),
            Decimal(repr(float(self._volume[t]))),
        )

    # -- funding ------------------------------------------------------------------------------------

    def _funding_schedule(self) -> tuple[npt.NDArray[np.int64] | None, FloatArray | None]:
        config = self.config
        if not self.rules.is_perpetual or config.funding_rate is None:
            return None, None
        interval = np.int64(config.funding_interval_hours * 3600 * 1_000_000_000)
        slot = self.times_ns // interval
        counts = np.empty(self.n, dtype=np.int64)
        counts[0] = 1 if self.times_ns[0] % interval == 0 else 0
        counts[1:] = np.diff(slot)
        rate = config.funding_rate
        if isinstance(rate, Decimal | int | float):
            rates = np.full(self.n, float(rate))
            if float(rate) == 0:
                return None, None
        else:
            rates = np.asarray(rate, dtype=np.float64)
            if rates.shape != (self.n,):
                raise ValueError(f"funding_rate must be a constant or one rate per bar ({self.n})")
        return counts, rates

    def _settle_funding(self, t: int) -> None:
        counts = self.funding_counts
        if counts is None or counts[t] == 0 or self.account.position.quantity == 0:
            return
        assert self.funding_rates is not None
        rate_value = self.config.funding_rate
        rate = rate_value if isinstance(rate_value, Decimal) else to_decimal(self.funding_rates[t])
        mark = to_decimal(self.data.open[t])
        for _ in range(int(counts[t])):
            self.account.apply_funding(rate, mark)
        self.account_changed = True

    # -- orders -------------------------------------------------------------------------------------

    def _reject(self, order: _Order, reason: str, bar: int) -> None:
        if order.intent.order_type is _MARKET:
            self._unpend(order.intent.side, order.remaining)
        self._report_refusal(bar, order.order_id, order.intent.side, order.remaining, reason)
        update = OrderUpdate(order.order_id, OrderStatus.REJECTED, "rejected", reason=reason)
        self.rejections.append(update)
        if self.safe.has_order_hook:
            self.safe.on_order_update(self.ctx, update)

    def _report_refusal(self, bar: int, order_id: str, side: OrderSide, quantity: Decimal, reason: str, filled: Decimal = ZERO) -> None:
        """Count the refusal (or re-size) and say it in the log, at the bar it happened."""
        when = self._open_time(bar)
        refusal = OrderRefusal(bar, when, order_id, side.value, quantity, reason, filled)
        self.refusals.append(refusal)
        what = f"re-sized to {filled}" if filled else "refused"
        self.log.append(LogLine(bar, when, f"order {order_id} ({side.value.lower()} {quantity}) {what}: {reason}"))

    def _unpend(self, side: OrderSide, quantity: Decimal) -> None:
        self.pending_market -= quantity if side is _BUY else -quantity

    def _check(self, intent: OrderIntent, t: int) -> str | None:
        """Pre-trade checks the venue or the account would make; a reason to reject, or None."""
        account = self.account
        held = account.position.quantity
        side_sign = 1 if intent.side is _BUY else -1
        if intent.reduce_only:
            if held == 0 or (held > 0) == (side_sign > 0):
                return "reduce-only order would not reduce the position"
            if intent.quantity > abs(held):
                return "reduce-only order is larger than the position"
            return None
        if not account.perpetual and intent.side is _SELL:
            committed = sum((o.remaining for o in self.orders.values() if o.intent.side is _SELL), ZERO)
            if intent.quantity > held - committed:
                return "spot: cannot sell more than is held"
            return None
        if intent.order_type is _MARKET:
            return None  # cash and margin are checked when it fills, at the fill price (`_admit`)
        reference = intent.price or intent.stop_price or Decimal(repr(float(self._close[t])))
        if not account.perpetual:  # a resting buy: its cash is reserved while it works
            committed = sum(
                (o.remaining * (o.intent.price or o.intent.stop_price or reference) for o in self.orders.values() if o.intent.side is _BUY),
                ZERO,
            )
            cost = intent.quantity * reference * (1 + max(self.config.taker_fee, self.config.maker_fee, ZERO))
            if cost > account.cash - committed:
                return "spot: not enough cash"
            return None
        exposure = held + self.pending_market + intent.quantity * side_sign
        if abs(exposure) <= abs(held):
            return None
        if abs(exposure) * reference > account.equity(reference) * self.config.leverage:
            return "perpetual: exposure beyond equity x leverage"
        return None

    def _flush(self, t: int) -> None:
        """Submit / cancel what the hooks asked for, in order; report what that caused, until quiet."""
        rounds = 0
        while self.outbox:
            rounds += 1
            if rounds > _MAX_CASCADE:
                raise RuntimeError("strategy hooks keep placing orders that fill at once")
            batch, self.outbox = self.outbox, []
            now = self._decision_time(t)
            close = Decimal(repr(float(self._close[t]))) if self.close_mode else None
            engine = self.engine
            for action, payload in batch:
                if action == "cancel":
                    waiting = next((o for o in self.deferred if o.order_id == payload), None)
                    if waiting is not None:  # never reached the matching engine: canceled here
                        self.deferred.remove(waiting)
                        self._handle([OrderCanceled(payload)], t)
                        continue
                    events = engine.cancel(payload, now)
                    if events:
                        self._handle(events, t)
                    continue
                order: _Order = payload
                reason = self._check(order.intent, t)
                if reason is not None:
                    self._reject(order, reason, t)
                    continue
                intent = order.intent
                self.orders[order.order_id] = order
                self.fresh_orders = True
                if intent.order_type is _MARKET and self.defer_markets:
                    self.deferred.append(order)
                    if self.safe.has_order_hook:  # accepted now, as the engine would have said
                        self.safe.on_order_update(self.ctx, OrderUpdate(order.order_id, OrderStatus.OPEN, "accepted"))
                    continue
                self.resting += 1
                self.thresholds_dirty = True
                if close is not None and intent.order_type is _MARKET:
                    events = engine.submit(order.order_id, intent, now, bar_close=close, oco_group=order.oco)
                elif close is not None:
                    events = engine.submit(order.order_id, intent, now, last_price=close, oco_group=order.oco)
                else:
                    events = engine.submit(order.order_id, intent, now, oco_group=order.oco)
                self._handle(events, t)

    def _handle(self, events: list[EngineEvent], t: int) -> None:
        safe = self.safe
        ctx = self.ctx
        order_hook = safe.has_order_hook
        orders = self.orders
        for event in events:
            kind = type(event)
            if kind is OrderFilled:
                self._filled(event, t)  # type: ignore[arg-type]
            elif kind is OrderAccepted:
                if order_hook:
                    safe.on_order_update(ctx, OrderUpdate(event.order_id, OrderStatus.OPEN, "accepted"))
            elif kind is OrderTriggered:
                order = orders.get(event.order_id)
                if order is not None:
                    order.triggered = True
                    self.thresholds_dirty = True
                if order_hook:
                    safe.on_order_update(ctx, OrderUpdate(event.order_id, None, "triggered"))
            elif kind is OrderCanceled or kind is OrderExpired or kind is OrderRejected:
                order = orders.pop(event.order_id, None)
                if order is not None:
                    self.resting -= 1
                    self.thresholds_dirty = True
                    if order.intent.order_type is _MARKET:
                        self._unpend(order.intent.side, order.remaining)
                status = OrderStatus.CANCELED if kind is OrderCanceled else OrderStatus.EXPIRED if kind is OrderExpired else OrderStatus.REJECTED
                if order_hook:
                    safe.on_order_update(ctx, OrderUpdate(event.order_id, status, status.value.lower(), reason=getattr(event, "reason", "")))
            # CancelRejected: nothing changed

    def _filled(self, event: OrderFilled, t: int) -> None:
        asked = event.fill
        order = self.orders.get(event.order_id)
        fill = self._admit(asked, order is not None and order.by_fraction, t)
        if order is not None:
            order.remaining = event.remaining
            if order.intent.order_type is _MARKET:
                self.pending_market -= asked.quantity if asked.side is _BUY else -asked.quantity
            if event.status is _FILLED or fill is None:
                del self.orders[event.order_id]
                self.resting -= 1
        self.thresholds_dirty = True
        if fill is None:
            update = OrderUpdate(event.order_id, OrderStatus.REJECTED, "rejected", reason=self.refusals[-1].reason)
            self.rejections.append(update)
            if self.safe.has_order_hook:
                self.safe.on_order_update(self.ctx, update)
            return
        self.account_changed = True
        self.account.apply_fill(fill, t)
        self.fills.append(FillRecord(t, fill))
        safe = self.safe
        if safe.has_order_hook:
            safe.on_order_update(self.ctx, OrderUpdate(event.order_id, event.status, "filled", fill, event.remaining))
        if safe.has_position_hook:
            safe.on_position_update(self.ctx, self.account.position)

    def _admit(self, fill: Fill, by_fraction: bool, bar: int) -> Fill | None:
        """The fill the account can carry at its price: `fill`, a smaller one (sized by fraction), or None (refused and reported)."""
        account = self.account
        reserved = self._reserved_cash(fill.order_id) if not self.perpetual and fill.side is _BUY else ZERO
        reason = account.refusal(fill, reserved)
        if reason is None:
            return fill
        if by_fraction:
            rate = self.fill_model.fee_rate(fill.liquidity)
            lot = self.rules.lot_size
            quantity = min(fill.quantity - lot, account.affordable_quantity(fill.side, fill.price, rate, reserved))
            for _ in range(_RESIZE_STEPS):
                if quantity <= 0:
                    break
                smaller = resized(fill, quantity, rate)
                if account.refusal(smaller, reserved) is None:
                    self._report_refusal(bar, fill.order_id, fill.side, fill.quantity, reason, quantity)
                    return smaller
                quantity -= lot
        self._report_refusal(bar, fill.order_id, fill.side, fill.quantity, reason)
        return None

    def _reserved_cash(self, order_id: str) -> Decimal:
        """Spot cash held by the other working buy limits and stops (market orders are checked at their own fill)."""
        return sum(
            (
                o.remaining * (o.intent.price or o.intent.stop_price or ZERO)
                for o in self.orders.values()
                if o.intent.side is _BUY and o.intent.order_type is not _MARKET and o.order_id != order_id
            ),
            ZERO,
        )

    # -- liquidation --------------------------------------------------------------------------------

    def _liquidate(self, t: int, *, at_open: bool = False, stops_done: bool = False) -> bool:
        """Liquidate the position if bar t reaches its liquidation price; True when a working exit stop must be matched first.

        `at_open`: only a gap (the open itself beyond the price), tested before the market orders
        that fill at that open. Otherwise the bar's adverse extreme (low for a long, high for a
        short) is tested before any exit on the bar, unless a working stop on the closing side lies
        between the entry side and the liquidation price (the bar reaches the stop first): then the
        matching engine runs first and the remaining position is tested after it (`stops_done`).
        """
        account = self.account
        quantity = account.position.quantity
        if quantity == 0:
            return False
        level = account.liquidation_bound()
        if level is None:
            return False
        extreme = float(self._open[t] if at_open else self._low[t] if quantity > 0 else self._high[t])
        if (extreme > level) if quantity > 0 else (extreme < level):
            return False  # not reached (the exact test below is needed only when the float one says maybe)
        opening = Decimal(repr(float(self._open[t])))
        if at_open:
            adverse = opening
        else:
            adverse = Decimal(repr(extreme))
            if not stops_done:
                price = account.liquidation_price()
                if price is None or (adverse > price if quantity > 0 else adverse < price):
                    return False
                if self._exit_stop_before(price, quantity):
                    return True
        outcome = account.liquidate_if_reached(bar=t, when=self._open_time(t), adverse=adverse, reference=opening, fee_rate=self.config.liquidation_fee)
        if outcome is None:
            return False
        record, fill = outcome
        self.liquidations.append(record)
        self.fills.append(FillRecord(t, fill))
        self.account_changed = True
        self.thresholds_dirty = True
        self.log.append(LogLine(t, record.time, f"liquidated: {record.side.lower()} {record.quantity} at {record.price}, loss {record.loss}"))
        self._cancel_resting(t)
        if self.safe.has_position_hook:
            self.safe.on_position_update(self.ctx, account.position)
        return False

    def _exit_stop_before(self, liquidation_price: Decimal, quantity: Decimal) -> bool:
        closing = _SELL if quantity > 0 else _BUY
        for order in self.orders.values():
            intent = order.intent
            stop = intent.stop_price
            if intent.side is not closing or intent.order_type not in (_STOP_MARKET, _STOP_LIMIT) or stop is None:
                continue
            if (stop > liquidation_price) if quantity > 0 else (stop < liquidation_price):
                return True
        return False

    def _cancel_resting(self, t: int) -> None:
        """A liquidation cancels the orders working in the matching engine (market orders waiting for the next open stay)."""
        waiting = {o.order_id for o in self.deferred}
        now = self._open_time(t)
        for order_id in [o for o in self.orders if o not in waiting]:
            events = self.engine.cancel(order_id, now)
            if events:
                self._handle(events, t)

    def _thresholds(self) -> tuple[float, float]:
        """The highest low and the lowest high at which a working order could fill (inclusive: conservative)."""
        if self.thresholds_dirty:
            low, high = -math.inf, math.inf
            for order in self.orders.values():
                intent = order.intent
                order_type = intent.order_type
                if order_type is _MARKET:
                    low, high = math.inf, -math.inf  # matched on the next bar whatever it does
                    break
                if order_type is _LIMIT or (order_type is _STOP_LIMIT and order.triggered):
                    price = float(intent.price)  # type: ignore[arg-type]
                    rises = intent.side is _SELL
                else:
                    price = float(intent.stop_price)  # type: ignore[arg-type]
                    rises = (intent.side is _BUY) is (order_type is not _TAKE_PROFIT)
                    if order_type is _STOP_LIMIT:  # may rest after the trigger: its limit counts as well
                        limit = float(intent.price)  # type: ignore[arg-type]
                        if intent.side is _SELL:
                            high = min(high, limit)
                        else:
                            low = max(low, limit)
                if rises:
                    high = min(high, price)
                else:
                    low = max(low, price)
            self.low_threshold, self.high_threshold = low, high
            self.thresholds_dirty = False
        low, high = self.low_threshold, self.high_threshold
        if self.perpetual:  # the liquidation price moves with funding too: not cached
            quantity = self.account.position.quantity
            liquidation = self.account.liquidation_bound() if quantity != 0 else None
            if liquidation is not None:  # float() rounds monotonically: a bar that reaches the Decimal price passes the test
                if quantity > 0:
                    low = max(low, liquidation)
                else:
                    high = min(high, liquidation)
        return low, high

    # -- one bar ------------------------------------------------------------------------------------

    def _process(self, t: int, signal: float | None) -> None:
        """Everything that happens at bar t (see the module docstring). `signal` is None on the slow path."""
        self.t = t
        self.ctx.t = t
        self.visited += 1
        if self.funding_counts is not None:
            self._settle_funding(t)
        perpetual = self.perpetual
        if self.orders:
            self.fresh_orders = False
            if self.deferred:
                if perpetual:
                    self._liquidate(t, at_open=True)
                self._submit_deferred(t)
            stops_first = perpetual and self._liquidate(t)
            if self.resting:
                events = self.engine.on_bar(self._bar(t), self._open_time(t))
                if events:
                    self._handle(events, t)
            if stops_first:
                self._liquidate(t, stops_done=True)
            if self.outbox:
                self._flush(t)
        elif perpetual:
            self._liquidate(t)
        safe = self.safe
        if t == 0:
            safe.on_start(self.ctx)
        if signal is None:
            data = self.data
            safe.on_bar(
                self.ctx,
                BarView(t, self._open_time(t), float(data.open[t]), float(data.high[t]), float(data.low[t]), float(data.close[t]), float(data.volume[t])),
            )
        elif not math.isnan(signal):
            safe.on_signal(self.ctx, signal)
        if self.outbox:
            self._flush(t)
        every = self.config.restore_state_every
        if every and t % every == every - 1:
            self._restore()
        if self.account_changed:
            self._record_segment(t)
        if signal is not None and self.deferred and not self.resting and self.merge_fills and t + 1 < self.n and t + 1 not in self.funding_bars:
            # Fast path: market orders alone meet the next open now rather than in a visit of their own.
            # Nothing the strategy can observe differs (it has no order/position hooks, and bar t+1's
            # open is not shown to it before bar t+1 closes); the fills are booked at bar t+1.
            self.fresh_orders = False
            if self.perpetual:
                self._liquidate(t + 1, at_open=True)
            self._submit_deferred(t + 1)
            if self.account_changed:
                self._record_segment(t + 1)

    def _record_segment(self, t: int) -> None:
        self.account_changed = False
        segment = self.account.segment()
        if segment != self.last_segment:
            self.segments.append((t, *segment))
            self.last_segment = segment

    def _submit_deferred(self, t: int) -> None:
        """Market orders decided at the last close meet bar t's open: submitted to the matching engine at that price.

        For a market order this is exactly what the engine does with an order waiting for a
        price (it fills at the first price it sees, plus slippage, as a taker); waiting here
        instead of in the engine spares building bar t for the engine when nothing else works.
        """
        waiting, self.deferred = self.deferred, []
        now = self._open_time(t)
        price = Decimal(repr(float(self._open[t])))
        engine = self.engine
        self.resting += len(waiting)  # they work in the engine now (and leave it filled)
        for order in waiting:
            for event in engine.submit(order.order_id, order.intent, now, last_price=price, oco_group=order.oco):
                kind = type(event)
                if kind is OrderFilled:
                    self._filled(event, t)  # type: ignore[arg-type]
                elif kind is not OrderAccepted:  # accepted was reported at placement
                    self._handle([event], t)

    def _restore(self) -> None:
        """What a bot does on restart: the state goes out as JSON and comes back into a fresh instance."""
        old = self.safe.strategy
        state = json.loads(json.dumps(self.safe.get_state()))
        fresh = type(old)(old.params)
        self.safe = SafeStrategy(fresh)
        self.prepared.update(self.safe.prepare(self.data))
        self.safe.set_state(state)

    # -- the loops ----------------------------------------------------------------------------------

    def run_slow(self) -> None:
        for t in range(self.n):
            self._process(t, None)

    def run_fast(self, signals: FloatArray) -> None:
        n = self.n
        low_arr, high_arr = self.data.low, self.data.high
        scheduled = np.flatnonzero(~np.isnan(signals))
        if self.funding_counts is not None:
            scheduled = np.union1d(scheduled, np.flatnonzero(self.funding_counts))
        every = self.config.restore_state_every
        if every:
            scheduled = np.union1d(scheduled, np.arange(every - 1, n, every))
        scheduled = np.union1d(scheduled, [0]).astype(np.int64)
        sched = scheduled.tolist()
        values = dict(zip(sched, signals[scheduled].tolist(), strict=True))
        nan = math.nan
        k = 0
        n_sched = len(sched)
        process = self._process
        t = -1
        while True:
            while k < n_sched and sched[k] <= t:
                k += 1
            nxt = sched[k] if k < n_sched else n
            if t + 1 < nxt and (self.orders or (self.perpetual and self.account.position.quantity != 0)):
                if self.fresh_orders:
                    nxt = t + 1
                else:
                    low, high = self._thresholds()
                    nxt = _first_reach(low_arr, high_arr, t + 1, nxt, low, high)
            if nxt >= n:
                break
            t = nxt
            process(t, values.get(t, nan))

    def can_execute_targets(self, kind: SignalKind) -> bool:
        """May the signals be executed as desired positions without calling the strategy per signal?

        Yes when the strategy declares a signal kind and keeps the default `on_signal` (so acting
        on a signal is: log its reason, trade towards the target), and has no hook that could see
        or change anything in between (start, order and position hooks), and no restarts are asked.
        """
        strategy = self.safe.strategy
        return (
            kind is not None
            and not any(overrides(strategy, hook) for hook in ("on_signal", "on_start", "on_order_update", "on_position_update"))
            and not self.config.restore_state_every
        )

    def run_targets(self, signals: FloatArray, kind: SignalKind) -> None:
        """Fast path for desired-position signals: each signal is sized, checked and matched at once.

        Exactly what the default `on_signal` and the general visit do, step for step, with the
        same objects: the reason goes to the decision log, the target is sized like
        `ctx.target_exposure` / `ctx.target_position` (`exposure_quantity`, `round_to_lot`), the
        market order for the difference passes the same checks (`_check`), is executed by the
        MatchingEngine at the next open (or at the close in close mode) through its bulk path
        `execute_market` (what `submit(..., last_price=price)` does for a market order, minus the
        working order it would create and retire at once), and its fill is booked on the domain
        Position (`Account.apply_fill`, after `Account.refusal` admitted it). As nothing can
        observe the order between its decision and the next open (no hooks), the fill is booked
        in the same step, at bar t+1, unless funding falls due at t+1 first (then at t+1's own
        step). Only bars with a signal, a fill, funding or a liquidation are touched (the bars
        in between are searched for the liquidation price with numpy); between them the equity
        curve is filled in vectorised.
        """
        n = self.n
        sig_idx = np.flatnonzero(~np.isnan(signals))
        values = dict(zip(sig_idx.tolist(), signals[sig_idx].tolist(), strict=True))
        funding_bars = self.funding_bars
        bars = np.union1d(sig_idx, np.fromiter(funding_bars, dtype=np.int64)) if funding_bars else sig_idx
        account = self.account
        engine = self.engine
        symbol = self.rules.symbol
        lot = self.rules.lot_size
        closes, opens = self._close, self._open
        fills = self.fills
        log = self.log
        reasons: dict[float, str | None] = {}
        position_kind = kind == "position"
        close_mode = self.close_mode
        pending: tuple[str, OrderIntent] | None = None  # waiting for a funding bar's open
        visited = 0
        # the open times of every bar touched (log lines at t, fills at t+1), converted in one go
        touched_mask = np.zeros(n, dtype=bool)  # a mask, not np.union1d: no sort of 80,000 indices
        touched_mask[bars] = True
        touched_mask[bars[bars + 1 < n] + 1] = True
        touched = np.flatnonzero(touched_mask)
        self._times.update(zip(touched.tolist(), _utc_datetimes(self.times_ns[touched]), strict=True))
        self._times_pinned = True

        perpetual = self.perpetual
        by_fraction = not position_kind
        scan_from = 0  # bars before this one were tested for liquidation
        lows, highs = self.data.low, self.data.high
        if perpetual and len(bars):  # the lowest low and highest high between consecutive touched bars: most gaps need no search
            gap_low, gap_high = _range_extremes(lows, highs, np.concatenate(([0], bars[:-1] + 1)), bars)
        side = 0  # of the position, 0 when no price liquidates it; `level` is its liquidation bound
        level = 0.0

        def watch() -> None:
            """Side and liquidation bound of the position, after the account changed (the bar tests below are float compares)."""
            nonlocal side, level
            quantity = account.position.quantity
            found = account.liquidation_bound() if quantity != 0 else None
            side = 0 if found is None else 1 if quantity > 0 else -1
            level = found or 0.0

        def book(order_id: str, intent: OrderIntent, bar: int, now: datetime, price: Decimal) -> None:
            result = engine.execute_market_fill(order_id, intent, price, now)
            if isinstance(result, Fill):
                fill = self._admit(result, by_fraction, bar)
                if fill is None:
                    self.rejections.append(OrderUpdate(order_id, OrderStatus.REJECTED, "rejected", reason=self.refusals[-1].reason))
                    return
                account.apply_fill(fill, bar)
                fills.append(FillRecord(bar, fill))
                self.account_changed = True
            else:
                self._handle([result], bar)

        for i, b in enumerate(bars.tolist()):
            if side and scan_from < b and (gap_low[i] <= level if side > 0 else gap_high[i] >= level):
                self._scan_liquidation(scan_from, b)
                watch()
            visited += 1
            if funding_bars and b in funding_bars:
                self._settle_funding(b)
                watch()
            if pending is not None:
                if side and (opens[b] <= level if side > 0 else opens[b] >= level):
                    self._liquidate(b, at_open=True)
                book(pending[0], pending[1], b, self._open_time(b), Decimal(repr(float(opens[b]))))
                pending = None
                if perpetual:
                    watch()
            if side and (lows[b] <= level if side > 0 else highs[b] >= level):
                self._liquidate(b)
                watch()
            scan_from = b + 1
            value = values.get(b)
            if value is not None:
                if value not in reasons:
                    reasons[value] = self.safe.signal_reason(value)
                reason = reasons[value]
                if reason:
                    log.append(LogLine(b, self._open_time(b), reason))
                price = Decimal(repr(float(closes[b])))
                target = to_decimal(value)
                if not position_kind and target != 0:
                    target = exposure_quantity(account.equity(price), target, price)
                delta = round_to_lot(target, lot) - account.position.quantity
                if delta != 0:
                    order_id = self.next_order_id()
                    intent = build_market_intent(order_id, symbol, _BUY if delta > 0 else _SELL, abs(delta))
                    self.pending_market = delta
                    refusal = self._check(intent, b)
                    self.pending_market = ZERO
                    if refusal is not None:
                        self._reject(_Order(order_id, intent, None), refusal, b)
                        self.pending_market = ZERO
                    elif close_mode:
                        book(order_id, intent, b, self._decision_time(b), price)
                        if perpetual:
                            watch()
                    elif b + 1 < n:
                        if self.account_changed:
                            self._record_segment(b)
                        if b + 1 in funding_bars:
                            pending = (order_id, intent)  # funding at t+1 comes before its open's fills
                        else:
                            if side and (opens[b + 1] <= level if side > 0 else opens[b + 1] >= level):
                                self._liquidate(b + 1, at_open=True)
                            book(order_id, intent, b + 1, self._open_time(b + 1), Decimal(repr(float(opens[b + 1]))))
                            if perpetual:
                                watch()
                            if self.account_changed:
                                self._record_segment(b + 1)
                            continue
                    else:  # decided at the last close: never reaches an open
                        self.deferred.append(_Order(order_id, intent, None))
                        self.pending_market = delta
            if self.account_changed:
                self._record_segment(b)
        if perpetual and scan_from < n:
            self._scan_liquidation(scan_from, n)
        self.visited = visited
        self.t = self.ctx.t = n - 1

    def _scan_liquidation(self, start: int, stop: int) -> None:
        """Liquidation on the bars [start, stop) where nothing else happens (`run_targets`), found with numpy."""
        low, high = self.data.low, self.data.high
        while start < stop:
            quantity = self.account.position.quantity
            found = self.account.liquidation_bound() if quantity != 0 else None
            if found is None:
                return
            level = found  # rounds monotonically: conservative, the exact test is `_liquidate`'s
            t = _first_reach(low, high, start, stop, level if quantity > 0 else -math.inf, level if quantity < 0 else math.inf)
            if t >= stop:
                return
            self._liquidate(t)
            if self.account_changed:
                self._record_segment(t)
            start = t + 1

    def result(self, path: str, elapsed: float) -> BacktestResult:
        n = self.n
        starts = np.array([s[0] for s in self.segments], dtype=np.int64)
        a = np.array([s[1] for s in self.segments], dtype=np.float64)
        q = np.array([s[2] for s in self.segments], dtype=np.float64)
        lengths = np.diff(np.append(starts, n))
        initial = float(self.config.initial_capital)
        a_bar = np.full(n, initial)
        q_bar = np.zeros(n)
        if len(starts):
            a_bar[starts[0] :] = np.repeat(a, lengths)
            q_bar[starts[0] :] = np.repeat(q, lengths)
        equity = a_bar + q_bar * self.data.close
        account = self.account
        open_trade = None
        if account.open_trade is not None:
            open_trade = account.open_trade.snapshot(None, None, account.position.realized_pnl)
        return BacktestResult(
            config=self.config,
            strategy=self.safe.name,
            params=self.safe.strategy.params.to_dict(),
            path=path,
            data=self.data,
            trades=list(account.trades),
            open_trade=open_trade,
            fills=self.fills,
            equity=equity,
            position=q_bar,
            log=self.log,
            position_final=account.position,
            balances=account.balances(),
            open_orders=self.engine.open_orders(),
            strategy_state=self.safe.get_state(),
            funding_paid=account.funding_paid,
            bars_visited=self.visited,
            elapsed=elapsed,
            rejections=self.rejections,
            refusals=self.refusals,
            liquidations=self.liquidations,
        )


def _utc_datetimes(ns: npt.NDArray[np.int64]) -> list[datetime]:
    """Aware UTC datetimes from nanoseconds since the epoch (to the microsecond), built by pandas in C."""
    micros = ns - ns % 1000  # a datetime holds microseconds; drop the rest as numpy's cast did
    return list(pd.DatetimeIndex(micros, tz=UTC).to_pydatetime())


def _range_extremes(low: FloatArray, high: FloatArray, starts: npt.NDArray[np.int64], stops: npt.NDArray[np.int64]) -> tuple[FloatArray, FloatArray]:
    """The lowest low and the highest high of each range [starts[k], stops[k]) (inf and -inf when it is empty)."""
    lowest = np.full(starts.shape, math.inf)
    highest = np.full(starts.shape, -math.inf)
    keep = starts < stops
    if keep.any():
        bounds = np.empty(2 * int(keep.sum()), dtype=np.int64)
        bounds[0::2], bounds[1::2] = starts[keep], stops[keep]
        lowest[keep] = np.minimum.reduceat(np.append(low, math.inf), bounds)[0::2]
        highest[keep] = np.maximum.reduceat(np.append(high, -math.inf), bounds)[0::2]
    return lowest, highest


def _first_reach(low: FloatArray, high: FloatArray, start: int, stop: int, low_threshold: float, high_threshold: float) -> int:
    """The first bar in [start, stop) with low <= low_threshold or high >= high_threshold; `stop` when none."""
    if low_threshold == -math.inf and high_threshold == math.inf:
        return stop
    size = 64
    i = start
    while i < stop:
        end = min(stop, i + size)
        hit = (low[i:end] <= low_threshold) | (high[i:end] >= high_threshold)
        if hit.any():
            return i + int(hit.argmax())
        i = end
        size = min(size * 4, 1 << 16)
    return stop


def run_backtest(strategy: Strategy, data: OHLCV | Sequence[Bar], config: BacktestConfig | None = None) -> BacktestResult:
    """Replay `data` through `strategy` (fast path when it has signals and the mode allows; see the module docstring)."""
    config = config or BacktestConfig()
    bars = data if isinstance(data, OHLCV) else OHLCV.from_bars(data)
    with _cyclic_gc_paused():
        return _run(strategy, bars, config)


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector during a run, as it was before afterwards.

    A run allocates a few small objects per trade (fills, events, positions, log lines) and
    keeps many of them; the collector would rescan them all again and again (a third of the
    time of a 40,000-trade run). A run makes no reference cycles per event, so reference
    counting frees everything as usual meanwhile.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        # What the run kept goes straight to the oldest generation (freeze, then unfreeze, moves
        # every tracked object there and clears the young generation's count): otherwise the first
        # allocation after the run would scan all of it once more as young objects.
        gc.freeze()
        gc.unfreeze()
        if enabled:
            gc.enable()


CAUSALITY_CUT_BARS = 500  # prepare() and signals() must give the same values on a prefix this long


def _values_match(whole: Any, prefix: Any, cut: int) -> bool:
    a, b = np.asarray(whole)[:cut], np.asarray(prefix)[:cut]
    if a.shape != b.shape:
        return False
    if np.issubdtype(a.dtype, np.number) and np.issubdtype(b.dtype, np.number):
        return bool(np.allclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True))
    return bool(np.array_equal(a, b))


def _first_look_ahead(safe: SafeStrategy, bars: OHLCV, prepared: Prepared, signals: FloatArray | None) -> str | None:
    """What of `prepare` / `signals` used later bars, or None.

    The strategy sees the whole history up front (vectorised indicators), so the engine checks
    that its values are causal: recomputed on the first bars only, every value on those bars must
    be the same. A value that reads a later bar (a `shift(-1)`, a centred window, a whole-series
    normalisation) differs at the cut. The cuts: after `CAUSALITY_CUT_BARS` bars, and just after
    each of the first two signals, where a signal that was decided from a later bar is missing.
    """
    n = len(bars)
    cuts = {min(n - 1, CAUSALITY_CUT_BARS)}
    if signals is not None:
        cuts |= {int(d) + 1 for d in np.flatnonzero(~np.isnan(signals))[:2] if int(d) + 1 < n}
    for cut in sorted(c for c in cuts if c >= 2):
        head = bars.head(cut)
        head_prepared = safe.prepare(head)
        for name, values in prepared.items():
            if name not in head_prepared or not _values_match(values, head_prepared[name], cut):
                return f"prepare() value {name!r}"
        if signals is not None:
            head_signals = safe.signals(head, head_prepared)
            if head_signals is None or not _values_match(signals, head_signals, cut):
                return "signals()"
    return None


def _refuse_look_ahead(run: _Run, signals: FloatArray | None) -> None:
    found = _first_look_ahead(run.safe, run.data, run.prepared, signals)
    if found is not None:
        raise StrategyError(
            run.safe.name, "prepare", f"its {found} changes when later bars are added: it looks ahead (a value at bar t may use bars up to t only)"
        )


def _run(strategy: Strategy, bars: OHLCV, config: BacktestConfig) -> BacktestResult:
    started = _time.perf_counter()
    run = _Run(strategy, bars, config)
    signals = None if config.mode == "slow" else run.safe.signals(bars, run.prepared)
    _refuse_look_ahead(run, signals)
    if config.mode == "fast" and signals is None:
        raise ValueError(f"strategy {run.safe.name!r} has no signals(): it cannot run on the fast path")
    if signals is None:
        run.run_slow()
        path = "slow"
    else:
        kind = run.safe.signal_kind()
        if run.can_execute_targets(kind):
            run.run_targets(signals, kind)
        else:
            run.run_fast(signals)
        path = "fast"
    run.ctx.t = run.n - 1
    run.safe.on_stop(run.ctx)
    return run.result(path, _time.perf_counter() - started)
