"""The strategy interface: typed parameters (declared in `params`), hooks, the context a strategy acts through, errors.

A strategy is a plain class. It is configured by a frozen parameter dataclass (validated on
construction, described by `json_schema()` for forms and the API), reads the market and its
account through a `StrategyContext`, and expresses intent through it (`ctx.buy`, `ctx.limit`,
`ctx.target_position`, `ctx.log`...). The same object runs in a backtest, in paper trading and
live: whoever drives it (the backtest engine, a bot runner) implements `Broker` and calls the
hooks through `SafeStrategy`, which turns any exception from strategy code into a
`StrategyError(strategy, hook, message)`.

Hooks, in the order a driver calls them:
- `prepare(data) -> {name: array}`: indicators, computed vectorised over the history the
  driver has. They must be causal (value t from bars <= t: the functions in `indicators` are);
  the context only ever shows values up to the current closed bar.
- `on_start(ctx)`: once, at the close of the first bar, before `on_bar` for it.
- `on_bar(ctx, bar)`: at the close of every bar; `ctx` shows bars[0..t] and nothing later.
- `on_tick(ctx, tick)`: optional, for drivers that see trades between bars: paper and live
  bots hear a symbol's latest trade at most once a second, after the last processed close
  (`ctx` shows the bars up to it). Backtests replay bars only and never call it.
- `on_order_update(ctx, update)`, `on_position_update(ctx, position)`: after the driver
  processed an order event (a fill, a cancel, a rejection) and the position it changed.
- `on_stop(ctx)`: once, at the end.

Fast path (optional): `signals(data, prepared)` returns one float per bar, decided at that
bar's close from bars <= t: NaN where the strategy would do nothing, otherwise the value handed
to `on_signal(ctx, value)` at that bar. A strategy that has `signals` promises that its
`on_bar` does nothing on the bars where the signal is NaN and is `on_signal(ctx, signals[t])`
where it is not; its order and position hooks still run wherever orders fill. With a
`signal_kind` ("exposure": a signed fraction of equity; "position": a signed quantity) and the
default `on_signal`, a signal is a desired position: log `signal_reason(value)`, then trade
towards it. The backtest engine then only visits the bars where something can happen (see
`apps.backtesting.domain.engine`), and the test suite checks that both paths trade identically.

State: a strategy keeps whatever must survive a restart in `self.state` (JSON types only);
`get_state()` / `set_state()` copy it out and in, so a bot can persist it after every decision.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Any, ClassVar, Literal, NamedTuple, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from apps.core.errors import ApplicationError
from apps.orders.domain.matching import WorkingOrder
from apps.orders.domain.model import Fill, OrderIntent, OrderSide, OrderStatus, OrderType, SymbolRules, TimeInForce
from apps.portfolio.domain.positions import Position
from apps.strategies.domain.data import OHLCV, to_decimal
from apps.strategies.domain.params import AMOUNT_MAX as AMOUNT_MAX
from apps.strategies.domain.params import StrategyParameterError as StrategyParameterError
from apps.strategies.domain.params import StrategyParams as StrategyParams
from apps.strategies.domain.params import param as param

FloatArray = npt.NDArray[np.float64]
Prepared = dict[str, FloatArray]
SignalKind = Literal["exposure", "position"] | None
Number = Decimal | float | int | str

ZERO = Decimal(0)


# -- errors ---------------------------------------------------------------------------------------


class StrategyError(ApplicationError):
    """Strategy code raised: which strategy, in which hook, and what it said."""

    default_code = "strategy_error"
    status_code = 500

    def __init__(self, strategy: str, hook: str, message: str) -> None:
        self.strategy = strategy
        self.hook = hook
        super().__init__(f"strategy {strategy!r} failed in {hook}: {message}", extra={"strategy": strategy, "hook": hook})


class UnknownStrategy(ApplicationError):
    default_code = "strategy_unknown"
    status_code = 404


# -- what strategies receive ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BarView:
    """The bar that just closed, as floats (index t in the history)."""

    index: int
    time: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """Something happened to one of the strategy's orders: a fill, a cancel, an expiry, a rejection."""

    order_id: str
    status: OrderStatus | None  # None for an acceptance or a trigger
    kind: str  # accepted, filled, canceled, expired, rejected, triggered
    fill: Fill | None = None
    remaining: Decimal | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Tick:
    price: Decimal
    quantity: Decimal
    time: datetime


class LogLine(NamedTuple):
    """One decision log line: the bar it was decided at, its open time, why."""

    bar: int
    time: datetime
    message: str


class Broker(Protocol):
    """What a context needs from its driver (backtest engine, paper or live bot runner)."""

    def next_order_id(self) -> str: ...
    def place(self, intent: OrderIntent, oco_group: str | None) -> None: ...
    def cancel(self, order_id: str) -> None: ...
    def position(self) -> Position: ...
    def cash(self) -> Decimal: ...
    def equity(self, mark: Decimal) -> Decimal: ...
    def open_orders(self) -> list[WorkingOrder]: ...
    def pending_quantity(self) -> Decimal: ...


# A broker may also offer `place_sized_by_fraction(intent, oco_group)`: `target_exposure` sends its
# orders there, so a driver that checks orders at the fill can re-size them down to what the account
# can carry instead of refusing them (the backtest engine does). Without it they go to `place`.
PLACE_SIZED_BY_FRACTION = "place_sized_by_fraction"


class StrategyContext:
    """A strategy's window on the market and its account at the close of bar `t`, and its voice.

    History (`bars`, `series`, `indicator`) stops at bar t: nothing later is reachable.
    """

    __slots__ = ("_broker", "_clock", "_closes", "_data", "_log", "_prepared", "rules", "t")

    def __init__(
        self,
        data: OHLCV,
        prepared: Prepared,
        broker: Broker,
        rules: SymbolRules,
        log: Callable[[LogLine], None],
        *,
        clock: Callable[[int], datetime] | None = None,
    ) -> None:
        self._data = data
        self._clock = clock or data.datetime_at
        self._prepared = prepared
        self._broker = broker
        self._log = log
        self._closes = data.close
        self.rules = rules
        self.t = -1

    # -- history (closed bars only) --------------------------------------------------------------

    @property
    def bars(self) -> OHLCV:
        """Bars 0..t (views)."""
        return self._data.head(self.t + 1)

    def series(self, name: str) -> FloatArray:
        """A prepared indicator up to bar t, read-only."""
        view = self._prepared[name][: self.t + 1]
        view.flags.writeable = False
        return view

    def indicator(self, name: str, ago: int = 0) -> float:
        """A prepared indicator at bar t - ago (NaN before the first bar)."""
        if ago < 0:
            raise ValueError("ago must be zero or positive: the future is not available")
        i = self.t - ago
        return float(self._prepared[name][i]) if i >= 0 else math.nan

    @property
    def close_price(self) -> float:
        """The close of bar t (`ctx.close()` is the order that flattens the position)."""
        return float(self._closes[self.t])

    @property
    def time(self) -> datetime:
        """Bar t's open time."""
        return self._clock(self.t)

    def price(self) -> Decimal:
        """The close of bar t as a Decimal."""
        return Decimal(repr(float(self._closes[self.t])))

    # -- account -----------------------------------------------------------------------------------

    @property
    def position(self) -> Position:
        return self._broker.position()

    @property
    def position_quantity(self) -> Decimal:
        return self._broker.position().quantity

    @property
    def pending_quantity(self) -> Decimal:
        """Signed quantity of market orders placed but not filled yet (buys > 0)."""
        return self._broker.pending_quantity()

    @property
    def cash(self) -> Decimal:
        return self._broker.cash()

    @property
    def equity(self) -> Decimal:
        """Cash plus the position marked at the close of bar t."""
        return self._broker.equity(self.price())

    @property
    def open_orders(self) -> list[WorkingOrder]:
        return self._broker.open_orders()

    # -- rounding ----------------------------------------------------------------------------------

    def round_quantity(self, quantity: Number) -> Decimal:
        """Down to the lot (towards zero), keeping the sign."""
        return round_to_lot(_dec(quantity), self.rules.lot_size)

    def round_price(self, price: Number, *, up: bool = False) -> Decimal:
        """To the tick: down, or up with `up=True`."""
        tick = self.rules.tick_size
        return ((_dec(price) / tick).to_integral_value(rounding=ROUND_UP if up else ROUND_DOWN) * tick).quantize(tick)

    # -- intents -----------------------------------------------------------------------------------

    def _quantity(self, quantity: Number | None, quote: Number | None, price: Decimal | None = None) -> Decimal:
        if (quantity is None) == (quote is None):
            raise ValueError("give a quantity or a quote amount, not both")
        if quantity is not None:
            return self.round_quantity(abs(_dec(quantity)))
        return self.round_quantity(abs(_dec(quote)) / (price or self.price()))  # type: ignore[arg-type]

    def _place(
        self,
        side: OrderSide,
        order_type: OrderType,
        quantity: Decimal,
        price: Decimal | None = None,
        stop: Decimal | None = None,
        *,
        post_only: bool = False,
        reduce_only: bool = False,
        tif: TimeInForce = TimeInForce.GTC,
        oco: str | None = None,
        by_fraction: bool = False,
    ) -> str | None:
        if quantity <= 0:
            return None
        broker = self._broker
        order_id = broker.next_order_id()
        intent = OrderIntent(order_id, self.rules.symbol, side, order_type, quantity, price, stop, tif, post_only, reduce_only)
        place = getattr(broker, PLACE_SIZED_BY_FRACTION, None) if by_fraction else None
        (place or broker.place)(intent, oco)
        return order_id

    def buy(self, quantity: Number | None = None, *, quote: Number | None = None, reduce_only: bool = False) -> str | None:
        """A market buy of `quantity` base units, or of `quote` worth at the close; the order id (None when it rounds to 0)."""
        return self._place(OrderSide.BUY, OrderType.MARKET, self._quantity(quantity, quote), reduce_only=reduce_only)

    def sell(self, quantity: Number | None = None, *, quote: Number | None = None, reduce_only: bool = False) -> str | None:
        return self._place(OrderSide.SELL, OrderType.MARKET, self._quantity(quantity, quote), reduce_only=reduce_only)

    def limit(
        self,
        side: OrderSide | str,
        price: Number,
        quantity: Number | None = None,
        *,
        quote: Number | None = None,
        post_only: bool = False,
        reduce_only: bool = False,
        oco: str | None = None,
    ) -> str | None:
        """A GTC limit order at `price` (rounded to the tick in the order's favour: a buy down, a sell up)."""
        side = OrderSide(side)
        px = self.round_price(price, up=side is OrderSide.SELL)
        return self._place(side, OrderType.LIMIT, self._quantity(quantity, quote, px), px, post_only=post_only, reduce_only=reduce_only, oco=oco)

    def stop(
        self,
        side: OrderSide | str,
        stop_price: Number,
        quantity: Number | None = None,
        *,
        limit_price: Number | None = None,
        reduce_only: bool = False,
        oco: str | None = None,
    ) -> str | None:
        """A stop-market (or stop-limit with `limit_price`) order; prices rounded to the tick."""
        side = OrderSide(side)
        sp = self.round_price(stop_price, up=side is OrderSide.BUY)
        lp = None if limit_price is None else self.round_price(limit_price, up=side is OrderSide.SELL)
        order_type = OrderType.STOP_MARKET if lp is None else OrderType.STOP_LIMIT
        return self._place(side, order_type, self._quantity(quantity, None), lp, sp, reduce_only=reduce_only, oco=oco)

    def take_profit(self, side: OrderSide | str, trigger_price: Number, quantity: Number, *, reduce_only: bool = True, oco: str | None = None) -> str | None:
        side = OrderSide(side)
        tp = self.round_price(trigger_price, up=side is OrderSide.SELL)
        return self._place(side, OrderType.TAKE_PROFIT, self._quantity(quantity, None), None, tp, reduce_only=reduce_only, oco=oco)

    def cancel(self, order_id: str) -> None:
        self._broker.cancel(order_id)

    def cancel_all(self) -> None:
        for order in self._broker.open_orders():
            self._broker.cancel(order.order_id)

    def target_position(self, size: Number) -> str | None:
        """Trade towards a signed position `size` (long > 0) with a market order; counts orders not filled yet."""
        return self._trade_towards(size, by_fraction=False)

    def _trade_towards(self, size: Number, *, by_fraction: bool) -> str | None:
        target = self.round_quantity(size)
        broker = self._broker
        current = broker.position().quantity + broker.pending_quantity()
        delta = target - current
        if delta > 0:
            return self._place(OrderSide.BUY, OrderType.MARKET, delta, by_fraction=by_fraction)
        if delta < 0:
            return self._place(OrderSide.SELL, OrderType.MARKET, -delta, by_fraction=by_fraction)
        return None

    def target_exposure(self, fraction: Number) -> str | None:
        """Trade towards `fraction` x equity of exposure (signed; -1 is short all equity) at bar t's close."""
        f = _dec(fraction)
        if f == 0:
            return self.target_position(ZERO)
        price = self.price()
        return self._trade_towards(exposure_quantity(self._broker.equity(price), f, price), by_fraction=True)

    def close(self) -> str | None:
        """Flatten the position with a market order."""
        return self.target_position(ZERO)

    def log(self, reason: str) -> None:
        """A decision log line (why the strategy did what it did), stamped with the bar."""
        self._log(LogLine(self.t, self._clock(self.t), reason))


def round_to_lot(quantity: Decimal, lot: Decimal) -> Decimal:
    """`quantity` down to a multiple of `lot`, towards zero, keeping the sign."""
    if quantity % lot == 0:
        return quantity
    units = (abs(quantity) / lot).to_integral_value(rounding=ROUND_DOWN)
    return (units * lot).copy_sign(quantity) if units else ZERO


def exposure_quantity(equity: Decimal, fraction: Decimal, price: Decimal) -> Decimal:
    """The signed quantity worth `fraction` x `equity` at `price` (not yet rounded to the lot)."""
    return equity * fraction / price


def _dec(value: Number) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float | np.floating):
        return to_decimal(float(value))
    return Decimal(value)


# -- strategies -----------------------------------------------------------------------------------


class Strategy:
    """Base class of strategies: override the hooks you need (all are no-ops here)."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    Params: ClassVar[type[StrategyParams]] = StrategyParams

    def __init__(self, params: StrategyParams | Mapping[str, Any] | None = None) -> None:
        if isinstance(params, StrategyParams):
            if not isinstance(params, self.Params):
                raise StrategyParameterError("params", f"expected {self.Params.__name__}, got {type(params).__name__}")
            self.params = params
        else:
            self.params = self.Params.from_dict(params)
        self.state: dict[str, Any] = {}

    def prepare(self, data: OHLCV) -> Prepared:
        return {}

    def signals(self, data: OHLCV, prepared: Prepared) -> FloatArray | None:
        """One float per bar for the fast path (NaN: nothing to do), or None (no fast path)."""
        return None

    def signal_kind(self) -> SignalKind:
        """What a signal value is: a target "exposure" (signed fraction of equity at the close) or a
        target "position" (signed base quantity); None when `on_signal` does something else."""
        return None

    def signal_reason(self, value: float) -> str | None:
        """The decision log line for a signal (None: nothing to log)."""
        return None

    def on_signal(self, ctx: StrategyContext, value: float) -> None:
        """Act on a signal: log its reason, then trade towards the target it names (see `signal_kind`).

        A strategy that keeps this default and has a `signal_kind` promises that acting on a
        signal is exactly this; the backtest engine may then execute its signals without
        calling it (see the engine's fast path).
        """
        reason = self.signal_reason(value)
        if reason:
            ctx.log(reason)
        if self.signal_kind() == "position":
            ctx.target_position(value)
        else:
            ctx.target_exposure(value)

    def on_start(self, ctx: StrategyContext) -> None:
        pass

    def on_bar(self, ctx: StrategyContext, bar: BarView) -> None:
        pass

    def on_tick(self, ctx: StrategyContext, tick: Tick) -> None:
        pass

    def on_order_update(self, ctx: StrategyContext, update: OrderUpdate) -> None:
        pass

    def on_position_update(self, ctx: StrategyContext, position: Position) -> None:
        pass

    def on_stop(self, ctx: StrategyContext) -> None:
        pass

    def get_state(self) -> dict[str, Any]:
        """A deep copy of `self.state`, which must hold JSON types only."""
        return json.loads(json.dumps(self.state, allow_nan=False))  # type: ignore[no-any-return]

    def set_state(self, state: Mapping[str, Any]) -> None:
        self.state = copy.deepcopy(dict(state))


S = TypeVar("S", bound=type[Strategy])


def overrides(strategy: Strategy, hook: str) -> bool:
    """Does `strategy` override `hook` of the base class? (Drivers skip calling no-op hooks.)"""
    return getattr(type(strategy), hook) is not getattr(Strategy, hook)


class SafeStrategy:
    """Calls a strategy's hooks, turning any exception into `StrategyError(strategy, hook, message)`."""

    __slots__ = ("_on_bar", "_on_order_update", "_on_signal", "has_order_hook", "has_position_hook", "name", "strategy")

    def __init__(self, strategy: Strategy) -> None:
        self.strategy = strategy
        self._on_bar = strategy.on_bar
        self._on_signal = strategy.on_signal
        self._on_order_update = strategy.on_order_update
        self.name = strategy.name or type(strategy).__name__
        self.has_order_hook = overrides(strategy, "on_order_update")
        self.has_position_hook = overrides(strategy, "on_position_update")

    def _fail(self, hook: str, error: Exception) -> StrategyError:
        return StrategyError(self.name, hook, f"{type(error).__name__}: {error}")

    def call(self, hook: str, *args: Any) -> Any:
        try:
            return getattr(self.strategy, hook)(*args)
        except StrategyError:
            raise
        except Exception as error:
            raise self._fail(hook, error) from error

    def prepare(self, data: OHLCV) -> Prepared:
        prepared = self.call("prepare", data)
        if not isinstance(prepared, dict):
            raise StrategyError(self.name, "prepare", f"must return a dict of arrays, not {type(prepared).__name__}")
        out: Prepared = {}
        for key, values in prepared.items():
            array = np.asarray(values, dtype=np.float64)
            if array.shape != (len(data),):
                raise StrategyError(self.name, "prepare", f"indicator {key!r} has shape {array.shape}, expected ({len(data)},)")
            out[key] = array
        return out

    def signals(self, data: OHLCV, prepared: Prepared) -> FloatArray | None:
        result = self.call("signals", data, prepared)
        if result is None:
            return None
        array = np.asarray(result, dtype=np.float64)
        if array.shape != (len(data),):
            raise StrategyError(self.name, "signals", f"has shape {array.shape}, expected ({len(data)},)")
        return array

    def on_signal(self, ctx: StrategyContext, value: float) -> None:
        try:
            self._on_signal(ctx, value)
        except StrategyError:
            raise
        except Exception as error:
            raise self._fail("on_signal", error) from error

    def signal_kind(self) -> SignalKind:
        kind = self.call("signal_kind")
        if kind not in (None, "exposure", "position"):
            raise StrategyError(self.name, "signal_kind", f"must be 'exposure', 'position' or None, not {kind!r}")
        return kind  # type: ignore[no-any-return]

    def signal_reason(self, value: float) -> str | None:
        return self.call("signal_reason", value)  # type: ignore[no-any-return]

    def on_start(self, ctx: StrategyContext) -> None:
        self.call("on_start", ctx)

    def on_bar(self, ctx: StrategyContext, bar: BarView) -> None:
        try:
            self._on_bar(ctx, bar)
        except StrategyError:
            raise
        except Exception as error:
            raise self._fail("on_bar", error) from error

    def on_tick(self, ctx: StrategyContext, tick: Tick) -> None:
        self.call("on_tick", ctx, tick)

    def on_order_update(self, ctx: StrategyContext, update: OrderUpdate) -> None:
        try:
            self._on_order_update(ctx, update)
        except StrategyError:
            raise
        except Exception as error:
            raise self._fail("on_order_update", error) from error

    def on_position_update(self, ctx: StrategyContext, position: Position) -> None:
        self.call("on_position_update", ctx, position)

    def on_stop(self, ctx: StrategyContext) -> None:
        self.call("on_stop", ctx)

    def get_state(self) -> dict[str, Any]:
        state = self.call("get_state")
        try:
            json.dumps(state, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise StrategyError(self.name, "get_state", f"state is not JSON-serialisable: {error}") from error
        if not isinstance(state, dict):
            raise StrategyError(self.name, "get_state", "state must be a dict")
        return state

    def set_state(self, state: Mapping[str, Any]) -> None:
        self.call("set_state", state)
