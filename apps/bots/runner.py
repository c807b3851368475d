"""The bot runner: closed bars through the SAME strategy objects, driven the way the backtest drives them.

`bot_process_bar(bot_id=..., open_time=...)` processes every closed bar of the bot's symbol and
timeframe after `last_processed_open_time`, up to and including `open_time`, oldest first (a
catch-up after a restart is the same loop). `process_closed_candles` does it for every running
bot on a symbol and timeframe, loading the candles once.

One bar, in the order `apps.backtesting.domain.engine._Run._process` calls things
0. (perpetuals) funding whose time fell in the bar is settled on the bot's own position, at the
   rate and mark the paper positions were settled at (`FundingSettlement`), as the backtest
   settles funding at a bar before its open's fills;
1. (paper accounts) the bot's resting orders meet the bar: the same `MatchingEngine.on_bar`
   and fill model as the backtest, fills stamped with the bar's open time. In production the
   paper matcher of `stream_market` usually filled them from trades already; this settles
   what it could not see (a stream outage, bars stored by a gap fill, tests);
2. order changes since the last bar are reported to the strategy: each new fill in the order
   it was made (`on_order_update` "filled", then `on_position_update`), then cancels, expiries
   and rejections. A market order decided at the previous close is reported here, filled at
   the price the market had when that bar closed, i.e. this bar's open: the backtest's
   `fill_at="next_open"`;
3. what those hooks asked for is submitted (the backtest's flush);
4. at the close: `on_start` (first bar of a run), then `on_bar` over a context that shows
   the stored candles up to and including this bar and nothing later;
5. the orders the hooks asked for go through `order_submit` (source "bot", the bot's own
   `LimitSet` on top of the trader's limits), one at a time, in order; a refusal is reported
   to the strategy as a rejection, an acceptance as "accepted", cancels go through
   `order_cancel`; hooks that place more orders cascade until quiet;
6. the bot's equity at the close (its own position from its own fills, valued at the close),
   its drawdown and daily loss; state, last processed bar, last signal, decision log and a
   performance snapshot are saved.

What the strategy sees of its account is the bot's own book, kept in `Bot.state["runner"]`:
a capital (the account's quote balance when the bot first started), cash and a domain
`Position` built by `Position.apply(fill)` from the bot's own fills, with equity and free cash
from the backtest account's own bookkeeping functions (`apps.backtesting.domain.accounting`:
a perpetual's free cash is the wallet less the rounded-up margin at the leverage of the bot's
last opening order). So the same strategy on the same candles sizes its orders the same way in a backtest and
in a paper bot, whatever else the account holds.

Exactly once
The whole bar is one transaction: the bot row is locked (`FOR UPDATE ... SKIP LOCKED`: a
second worker on the same bot skips it), the orders are written (a live order is only handed
to the venue by `send_live_order_task` after commit), and the strategy state, the last
processed bar, the log and the snapshot are saved with them. A task killed anywhere inside
leaves nothing behind; one killed after the commit finds `last_processed_open_time` at or past
the bar and does nothing. Client order ids are deterministic per bot and bar
(`b<bot tag>-<bar epoch minutes>-<n>`), so even a decision replayed against orders that do
exist (`order_submit` returns the first order for an id) cannot place a second one.

Failures
A `StrategyError`, or any other exception while processing, rolls the bar back and moves THAT
bot to ERROR with the reason (logged, audited, pushed); the loop goes on with the next bot.
Trouble that a retry can fix (a deadlock, a lost database connection, Redis or the network
away) leaves the bar unprocessed for the next task or the beat fallback instead. A push or
task enqueue after a bar's commit that fails is logged and retried in the background
(`apps.core.after_commit`): the bar is stored, so it is never a failed decision. A breached max drawdown or daily
loss pauses the bot with the reason.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import kombu.exceptions
import numpy as np
import redis.exceptions
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import Q

from apps.audit.context import acting_as_bot
from apps.audit.services import audit_record
from apps.backtesting.domain.accounting import book_equity, book_free_cash, perpetual_wallet, spot_cash_after
from apps.bots.models import Bot, BotLogEntry, BotPerformanceSnapshot, BotStatus
from apps.core.after_commit import retried_on_failure, retry_hooks_on_failure
from apps.core.broadcast import rendered_in_time_zone_of
from apps.core.domain.formatting import plain_number
from apps.core.errors import ApplicationError
from apps.core.metrics import bot_decision_lag_seconds, bot_decisions_total
from apps.exchanges.domain.timeframes import timeframe_seconds
from apps.exchanges.errors import ExchangeUnavailableError
from apps.market.selectors import candle_arrays, candle_newest_open_time
from apps.orders.domain.fees import fee_in_quote
from apps.orders.domain.fill_model import FillModel
from apps.orders.domain.matching import MatchingEngine, OrderExpired, OrderFilled, OrderRejected, WorkingOrder
from apps.orders.domain.model import Bar, Fill, Liquidity, OrderIntent, OrderSide, OrderStatus, OrderType, SymbolRules, TimeInForce
from apps.orders.enums import OPEN_STATUSES, OrderSource
from apps.orders.models import Fill as FillRow
from apps.orders.models import FundingSettlement, Order
from apps.orders.services.market_inputs import fee_schedule, symbol_rules
from apps.orders.services.paper import apply_paper_events
from apps.orders.services.placement import OrderRequest, order_cancel, order_submit
from apps.portfolio.domain.balances import position_margin
from apps.portfolio.domain.positions import Position
from apps.portfolio.models import Balance
from apps.risk.domain.rules import LimitSet
from apps.strategies.domain.base import (
    BarView,
    LogLine,
    OrderUpdate,
    Prepared,
    SafeStrategy,
    Strategy,
    StrategyContext,
    StrategyError,
    StrategyParams,
    Tick,
)
from apps.strategies.domain.data import OHLCV
from apps.strategies.domain.registry import get_strategy, list_strategy_names

logger = logging.getLogger(__name__)

ZERO = Decimal(0)
HISTORY_MIN_BARS = 300  # candles a context shows before the bar, at least
HISTORY_MAX_BARS = 5000
WARMUP_FACTOR = 4  # recursive indicators (EMA, Wilder's RSI/ATR) settle within a few periods
MAX_CATCH_UP_BARS = 500  # more missed bars than this: the oldest are skipped (and the log says so)
MAX_FLUSH_ROUNDS = 50  # hooks placing orders whose answers place orders...
LOG_MESSAGE_MAX = 500
_PERIOD_NAME = re.compile(r"(^|_)(period|lookback|window|fast|slow|length)($|_)")


# -- warm-up and history -------------------------------------------------------------------------


def strategy_warmup_bars(params: StrategyParams) -> int:
    """Bars a strategy needs before its first decision: its longest period-like parameter.

    Strategies do not declare a warm-up; an integer parameter named like a period (`fast`,
    `slow`, `lookback`, `*_period`, `window`, `length`) is one. 1 when there is none.
    """
    longest = 1
    for name, value in params.to_dict().items():
        if isinstance(value, int) and not isinstance(value, bool) and _PERIOD_NAME.search(name):
            longest = max(longest, value)
    return longest


def required_bars(params: StrategyParams) -> int:
    """Stored candles a bot needs before it may start: its warm-up, so that its first bar (the next one) can decide.

    With W = the longest period stored, an indicator of that period exists at the last stored bar
    and at the first processed one: a crossing can be seen on the very first bar.
    """
    return strategy_warmup_bars(params)


def history_bars(params: StrategyParams) -> int:
    """Candles shown to the strategy up to (and including) the bar being decided."""
    return min(HISTORY_MAX_BARS, max(HISTORY_MIN_BARS, WARMUP_FACTOR * strategy_warmup_bars(params)))


def bot_params(bot: Bot) -> StrategyParams:
    return get_strategy(bot.strategy).Params.from_dict(bot.params)


# -- stored candles --------------------------------------------------------------------------------


def _ns(moment: datetime) -> int:
    return int(moment.astimezone(UTC).timestamp() * 1_000_000) * 1000


def _stored_bars(*, symbol_id: Any, timeframe: str, start: datetime, end: datetime) -> OHLCV:
    """Stored candles with start <= open time <= end, oldest first: the market app's reader, as backtests read them."""
    return OHLCV.from_arrays(*candle_arrays(symbol_id=symbol_id, timeframe=timeframe, start=start, end=end, include_end=True))


# -- the bot's own book (Bot.state["runner"]) ------------------------------------------------------


def dec_text(value: Decimal) -> str:
    """A Decimal as JSON text, without the column's trailing zeros and never in E notation."""
    return plain_number(value)


def _dec(value: Any, default: Decimal = ZERO) -> Decimal:
    return default if value in (None, "") else Decimal(str(value))


@dataclass
class TrackedOrder:
    """An order of the bot the strategy knows as working, with what it has been told of it."""

    id: str  # Order pk
    side: str
    type: str
    quantity: Decimal
    price: Decimal | None
    stop: Decimal | None
    tif: str
    reduce_only: bool
    placed: str  # open time (ISO) of the bar whose close decided it
    filled: Decimal = ZERO  # reported to the strategy so far
    fills: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "side": self.side,
            "type": self.type,
            "quantity": dec_text(self.quantity),
            "price": None if self.price is None else dec_text(self.price),
            "stop": None if self.stop is None else dec_text(self.stop),
            "tif": self.tif,
            "reduce_only": self.reduce_only,
            "placed": self.placed,
            "filled": dec_text(self.filled),
            "fills": self.fills,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrackedOrder:
        return cls(
            id=str(data["id"]),
            side=data["side"],
            type=data["type"],
            quantity=_dec(data["quantity"]),
            price=None if data.get("price") is None else _dec(data["price"]),
            stop=None if data.get("stop") is None else _dec(data["stop"]),
            tif=data.get("tif", "GTC"),
            reduce_only=bool(data.get("reduce_only")),
            placed=data.get("placed", ""),
            filled=_dec(data.get("filled")),
            fills=int(data.get("fills", 0)),
        )

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.filled

    @property
    def signed_remaining(self) -> Decimal:
        return self.remaining if self.side == OrderSide.BUY.value else -self.remaining


@dataclass
class RunnerState:
    """The runner's part of `Bot.state`: the bot's own book and what a run has done so far."""

    symbol: str
    perpetual: bool
    capital: Decimal = ZERO
    cash: Decimal = ZERO  # spot: quote the bot's fills left it; perpetual: unused (see wallet)
    leverage: int = 1  # perpetual: of the bot's last accepted opening order; its position's margin is entry notional / leverage
    position: Position = field(default_factory=lambda: Position(""))
    orders: dict[str, TrackedOrder] = field(default_factory=dict)  # by client order id
    started: bool = False  # on_start called in this run
    anchor: str | None = None  # open time (ISO) of the run's bar 0
    day: str = ""
    day_equity: Decimal | None = None
    equity: Decimal | None = None  # at the last processed close
    mark: Decimal | None = None
    last_tick: str | None = None  # time (ISO) of the last trade shown to `on_tick`

    @classmethod
    def from_state(cls, state: dict[str, Any] | None, *, symbol: str, perpetual: bool) -> RunnerState:
        data = (state or {}).get("runner") or {}
        position = data.get("position") or {}
        quantity = _dec(position.get("quantity"))
        return cls(
            symbol=symbol,
            perpetual=perpetual,
            capital=_dec(data.get("capital")),
            cash=_dec(data.get("cash")),
            leverage=int(data.get("leverage") or 1),
            position=Position(
                symbol,
                quantity=quantity,
                entry_price=_dec(position.get("entry_price")) if quantity != 0 else ZERO,
                realized_pnl=_dec(position.get("realized_pnl")),
                fees_paid=_dec(position.get("fees_paid")),
                funding_paid=_dec(position.get("funding_paid")),
            ),
            orders={cid: TrackedOrder.from_json(entry) for cid, entry in (data.get("orders") or {}).items()},
            started=bool(data.get("started")),
            anchor=data.get("anchor"),
            day=data.get("day", ""),
            day_equity=None if data.get("day_equity") is None else _dec(data["day_equity"]),
            equity=None if data.get("equity") is None else _dec(data["equity"]),
            mark=None if data.get("mark") is None else _dec(data["mark"]),
            last_tick=data.get("last_tick"),
        )

    def as_json(self) -> dict[str, Any]:
        p = self.position
        return {
            "capital": dec_text(self.capital),
            "cash": dec_text(self.cash),
            "leverage": self.leverage,
            "position": {
                "quantity": dec_text(p.quantity),
                "entry_price": dec_text(p.entry_price),
                "realized_pnl": dec_text(p.realized_pnl),
                "fees_paid": dec_text(p.fees_paid),
                "funding_paid": dec_text(p.funding_paid),
            },
            "orders": {cid: order.as_json() for cid, order in self.orders.items()},
            "started": self.started,
            "anchor": self.anchor,
            "day": self.day,
            "day_equity": None if self.day_equity is None else dec_text(self.day_equity),
            "equity": None if self.equity is None else dec_text(self.equity),
            "mark": None if self.mark is None else dec_text(self.mark),
            "last_tick": self.last_tick,
        }

    # -- the account a strategy sees: the backtest account's bookkeeping (`apps.backtesting.domain.accounting`) --

    def wallet(self) -> Decimal:
        return perpetual_wallet(self.capital, self.position) if self.perpetual else self.cash

    def equity_at(self, mark: Decimal) -> Decimal:
        return book_equity(perpetual=self.perpetual, wallet=self.wallet(), position=self.position, mark=mark)

    def free_cash(self) -> Decimal:
        margin = position_margin(self.position, self.leverage) if self.perpetual else ZERO
        return book_free_cash(perpetual=self.perpetual, wallet=self.wallet(), margin=margin)

    def apply_fill(self, fill: Fill) -> None:
        fee = _fee_in_quote(fill, self.symbol)
        in_quote = replace(fill, fee=fee)
        self.position = self.position.apply(in_quote, fee_in_quote=fee)
        if not self.perpetual:
            self.cash = spot_cash_after(self.cash, in_quote)

    def pending_market(self) -> Decimal:
        return sum((o.signed_remaining for o in self.orders.values() if o.type == OrderType.MARKET.value), ZERO)


def _fee_in_quote(fill: Fill, symbol: str) -> Decimal:
    base, _, rest = symbol.partition("/")
    return fee_in_quote(fee=fill.fee, fee_currency=fill.fee_currency, price=fill.price, base=base, quote=rest.split(":")[0])


def initial_capital(bot: Bot) -> Decimal:
    """The account's quote balance (free and held) in the bot's quote currency."""
    balance = Balance.objects.filter(account_id=bot.account_id, asset=bot.symbol.quote).first()
    return balance.total if balance is not None else ZERO


def client_order_id(bot_id: Any, bar: datetime, n: int) -> str:
    """Deterministic per bot and bar: `b` + 12 hex of the bot id (its random tail) + the bar's epoch minutes + a counter."""
    minutes = int(bar.astimezone(UTC).timestamp()) // 60
    return f"b{bot_id.hex[-12:]}-{minutes}-{n}"


def tick_order_id(bot_id: Any, at: datetime, n: int) -> str:
    """Deterministic per bot and trade: `t` + 12 hex of the bot id + the trade's epoch milliseconds + a counter.

    A different letter and unit from bar orders, so an order decided on a trade never takes the
    id of one decided at a bar close (a replayed trade finds its first order instead)."""
    millis = int(at.astimezone(UTC).timestamp() * 1000)
    return f"t{bot_id.hex[-12:]}-{millis}-{n}"


# -- the broker a strategy context talks to --------------------------------------------------------


class BotBroker:
    """`strategies.domain.base.Broker` over the bot's own book; orders are queued, submitted after the hook."""

    def __init__(self, bot_id: Any, bar: datetime, book: RunnerState, tick_time: datetime | None = None) -> None:
        self.bot_id = bot_id
        self.bar = bar
        self.tick_time = tick_time  # deciding on a trade between bars: orders get trade ids
        self.book = book
        self.n = 0
        self.outbox: list[tuple[str, Any]] = []  # ("place", (intent, oco)) / ("cancel", order_id)
        self.pending = book.pending_market()
        self.decided_at = bar

    def next_order_id(self) -> str:
        self.n += 1
        if self.tick_time is not None:
            return tick_order_id(self.bot_id, self.tick_time, self.n)
        return client_order_id(self.bot_id, self.bar, self.n)

    def place(self, intent: OrderIntent, oco_group: str | None) -> None:
        self.outbox.append(("place", (intent, oco_group)))
        if intent.order_type is OrderType.MARKET:
            self.pending += intent.quantity if intent.side is OrderSide.BUY else -intent.quantity

    def cancel(self, order_id: str) -> None:
        self.outbox.append(("cancel", order_id))

    def position(self) -> Position:
        return self.book.position

    def cash(self) -> Decimal:
        return self.book.free_cash()

    def equity(self, mark: Decimal) -> Decimal:
        return self.book.equity_at(mark)

    def open_orders(self) -> list[WorkingOrder]:
        return [
            WorkingOrder(
                cid,
                cid,
                OrderSide(o.side),
                OrderType(o.type),
                o.quantity,
                o.price,
                o.stop,
                TimeInForce(o.tif),
                False,
                o.reduce_only,
                datetime.fromisoformat(o.placed) if o.placed else self.bar,
                filled_quantity=o.filled,
                status=OrderStatus.PARTIALLY_FILLED if o.filled else OrderStatus.OPEN,
            )
            for cid, o in self.book.orders.items()
        ]

    def pending_quantity(self) -> Decimal:
        return self.pending


# -- one bar of one bot ----------------------------------------------------------------------------


class BotHalted(Exception):
    """The bar could not be processed because of the bot itself: it goes to ERROR with this reason."""


@dataclass
class LogItem:
    level: str
    message: str


@dataclass
class Window:
    """Stored candles of one symbol and timeframe, shared by the bots that read them."""

    symbol_id: Any
    timeframe: str
    data: OHLCV
    times: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.times = self.data.time_ns()

    def bars_after(self, after: datetime | None, until: datetime) -> list[int]:
        lo = 0 if after is None else int(np.searchsorted(self.times, _ns(after), side="right"))
        hi = int(np.searchsorted(self.times, _ns(until), side="right"))
        return list(range(lo, hi))

    def slice(self, start: datetime, end_index: int) -> tuple[OHLCV, int]:
        """Bars from `start` to bar `end_index` (views) and the offset of the first one."""
        lo = int(np.searchsorted(self.times, _ns(start)))
        d = self.data
        hi = end_index + 1
        return OHLCV(d.time[lo:hi], d.open[lo:hi], d.high[lo:hi], d.low[lo:hi], d.close[lo:hi], d.volume[lo:hi]), lo


class BarRun:
    """Steps 1-6 of the module docstring for one bot and one bar, inside the caller's transaction."""

    def __init__(
        self, bot: Bot, strategy_cls: type[Strategy], params: StrategyParams, data: OHLCV, prepared: Prepared, t: int, tick_time: datetime | None = None
    ) -> None:
        self.bot = bot
        self.rules: SymbolRules = symbol_rules(bot.symbol)
        self.data = data
        self.t = t
        self.bar_time = data.datetime_at(t)
        self.tf_seconds = timeframe_seconds(bot.timeframe)
        self.state = RunnerState.from_state(bot.state, symbol=self.rules.symbol, perpetual=self.rules.is_perpetual)
        strategy = strategy_cls(params)
        self.safe = SafeStrategy(strategy)
        self.safe.set_state((bot.state or {}).get("strategy") or {})
        self.broker = BotBroker(bot.pk, self.bar_time, self.state, tick_time)
        self.lines: list[LogLine] = []
        self.log: list[LogItem] = []
        self.ctx = StrategyContext(data, prepared, self.broker, self.rules, self.lines.append)
        self.ctx.t = t
        self.limits = LimitSet(name=f"Bot {bot.name!r} limits", max_position_notional=bot.max_position_notional)
        self.orders_placed = 0

    # -- steps ---------------------------------------------------------------------------------------

    def execute(self) -> None:
        if self.rules.is_perpetual:
            self._settle_funding()
        if self.state.orders:
            rows = self._rows(list(self.state.orders))
            if self.bot.account.is_paper and self._match_resting(rows):
                rows = self._rows(list(self.state.orders))
            self._report(rows)
        self._flush()
        d = self.data
        t = self.t
        if not self.state.started:
            self.state.anchor = self.bar_time.isoformat()
            self.state.started = True
            self.safe.on_start(self.ctx)
        anchor = datetime.fromisoformat(self.state.anchor) if self.state.anchor else self.bar_time
        index = int((self.bar_time - anchor).total_seconds()) // self.tf_seconds
        self.safe.on_bar(self.ctx, BarView(index, self.bar_time, float(d.open[t]), float(d.high[t]), float(d.low[t]), float(d.close[t]), float(d.volume[t])))
        self._flush()
        self._save()

    def _settle_funding(self) -> None:
        """The funding whose time fell in this bar (after the previous bar's open, up to this one's), paid or
        received by the book's position at the rate and mark the paper positions were settled at, before the
        bar's fills are reported: as the backtest settles funding at the bar, before the fills at its open."""
        if self.state.position.quantity == 0:
            return
        since = self.bar_time - timedelta(seconds=self.tf_seconds)
        settlements = FundingSettlement.objects.filter(symbol_id=self.bot.symbol_id, funding_time__gt=since, funding_time__lte=self.bar_time)
        for settlement in settlements.order_by("funding_time"):
            self.state.position, payment = self.state.position.apply_funding(settlement.rate, settlement.mark)
            what = "paid" if payment > 0 else "received"
            self._line("info", f"funding {plain_number(settlement.rate * 100)} %: {what} {plain_number(abs(payment))} {self.rules.quote}")

    def _match_resting(self, rows: dict[str, dict[str, Any]]) -> bool:
        """Step 1 (paper): the bot's working orders against this bar, as the backtest matches them. True when something happened."""
        working = [(cid, row) for cid, row in rows.items() if row["status"] in OPEN_STATUSES and row["filled_quantity"] < row["quantity"]]
        if not working:
            return False
        account = self.bot.account
        engine = MatchingEngine(self.rules, FillModel(fee_schedule(account, self.bot.symbol), account.slippage_bps, self.rules))
        for cid, row in working:
            tracked = self.state.orders[cid]
            intent = OrderIntent(
                client_order_id=cid,
                symbol=self.rules.symbol,
                side=OrderSide(tracked.side),
                order_type=OrderType(tracked.type),
                quantity=row["quantity"] - row["filled_quantity"],
                price=tracked.price,
                stop_price=tracked.stop,
                time_in_force=TimeInForce(tracked.tif),
                post_only=False,  # it rested: a maker from here on
                reduce_only=tracked.reduce_only,
            )
            engine.submit(str(row["pk"]), intent, self.bar_time, resting=True)
        d, t = self.data, self.t
        bar = Bar(self.bar_time, _price(d.open[t]), _price(d.high[t]), _price(d.low[t]), _price(d.close[t]), _price(d.volume[t]))
        by_order: dict[str, list[Any]] = defaultdict(list)
        for event in engine.on_bar(bar, self.bar_time):
            if isinstance(event, OrderFilled | OrderExpired | OrderRejected):
                by_order[event.order_id].append(event)
        for order_id, events in by_order.items():
            apply_paper_events(order_id=order_id, events=events)
        return bool(by_order)

    def _rows(self, client_ids: list[str]) -> dict[str, dict[str, Any]]:
        ids = [self.state.orders[cid].id for cid in client_ids if cid in self.state.orders]
        if not ids:
            return {}
        rows = Order.objects.filter(pk__in=ids).values("pk", "client_order_id", "status", "quantity", "filled_quantity", "reject_reason")
        return {row["client_order_id"]: dict(row) for row in rows}

    def _report(self, rows: dict[str, dict[str, Any]], *, skip_placed_now: bool = False) -> None:
        """Step 2: tell the strategy about new fills (in time order), then about orders that ended otherwise."""
        book = self.state
        now_key = self.bar_time.isoformat()
        changed = {
            cid: row
            for cid, row in rows.items()
            if cid in book.orders
            and not (skip_placed_now and book.orders[cid].placed == now_key)
            and (row["filled_quantity"] != book.orders[cid].filled or OrderStatus(row["status"]).is_terminal)
        }
        if not changed:
            return
        with_fills = {str(row["pk"]): cid for cid, row in changed.items() if row["filled_quantity"] > book.orders[cid].filled}
        new_fills: list[tuple[str, FillRow]] = []
        if with_fills:
            seen: dict[str, int] = defaultdict(int)
            for stored in FillRow.objects.filter(order_id__in=list(with_fills)).order_by("id"):
                cid = with_fills[str(stored.order_id)]
                seen[cid] += 1
                if seen[cid] > book.orders[cid].fills:
                    new_fills.append((cid, stored))
        # In the order they were made (ids are UUIDv7: creation time), not by `executed_at`: a resting
        # order settled against a bar is stamped with the bar's open (the backtest's convention),
        # earlier than the market order that filled at that open seconds after the previous close.
        new_fills.sort(key=lambda item: item[1].id)
        for cid, row_fill in new_fills:
            tracked = book.orders[cid]
            fill = Fill(
                cid,
                self.rules.symbol,
                OrderSide(row_fill.side),
                row_fill.price,
                row_fill.quantity,
                row_fill.fee,
                row_fill.fee_currency,
                Liquidity(row_fill.liquidity),
                row_fill.executed_at,
                row_fill.venue_trade_id,
            )
            tracked.filled += row_fill.quantity
            tracked.fills += 1
            if tracked.type == OrderType.MARKET.value:
                self.broker.pending -= row_fill.quantity if tracked.side == OrderSide.BUY.value else -row_fill.quantity
            book.apply_fill(fill)
            remaining = tracked.remaining
            status = OrderStatus.FILLED if remaining <= 0 else OrderStatus.PARTIALLY_FILLED
            self._line("fill", f"{fill.side.value} {dec_text(fill.quantity)} {self.rules.symbol} filled at {dec_text(fill.price)} ({cid})")
            if status is OrderStatus.FILLED:
                del book.orders[cid]
            if self.safe.has_order_hook:
                self.safe.on_order_update(self.ctx, OrderUpdate(cid, status, "filled", fill, max(remaining, ZERO)))
            if self.safe.has_position_hook:
                self.safe.on_position_update(self.ctx, book.position)
        for cid, row in changed.items():
            status = OrderStatus(row["status"])
            tracked_or_none = book.orders.get(cid)
            if tracked_or_none is None or not status.is_terminal:
                continue
            tracked = tracked_or_none
            del book.orders[cid]
            if tracked.type == OrderType.MARKET.value:
                self.broker.pending -= tracked.signed_remaining
            if status is OrderStatus.FILLED:
                continue
            reason = row["reject_reason"] or ""
            self._line(
                "order", f"{tracked.side} {self.rules.symbol} {tracked.type.lower()} order {status.value.lower()}{f': {reason}' if reason else ''} ({cid})"
            )
            if self.safe.has_order_hook:
                self.safe.on_order_update(self.ctx, OrderUpdate(cid, status, status.value.lower(), reason=reason))

    def _flush(self) -> None:
        """Steps 3 and 5: submit and cancel what the hooks asked for, in order, until quiet."""
        rounds = 0
        broker = self.broker
        while broker.outbox:
            rounds += 1
            if rounds > MAX_FLUSH_ROUNDS:
                raise BotHalted("the strategy keeps placing orders in answer to its own orders")
            batch, broker.outbox = broker.outbox, []
            for action, payload in batch:
                if action == "cancel":
                    self._cancel(payload)
                else:
                    intent, _oco = payload  # OCO groups are a backtest feature; venues get plain orders
                    self._submit(intent)

    def _submit(self, intent: OrderIntent) -> None:
        bot = self.bot
        request = OrderRequest(
            symbol=bot.symbol,
            side=intent.side.value,
            order_type=intent.order_type.value,
            quantity=intent.quantity,
            price=intent.price,
            stop_price=intent.stop_price,
            time_in_force=intent.time_in_force.value,
            post_only=intent.post_only,
            reduce_only=intent.reduce_only,
            leverage=intent.leverage,
            margin_mode=intent.margin_mode.value,
            client_order_id=intent.client_order_id,
            source=OrderSource.BOT,
        )
        what = f"{intent.side.value} {dec_text(intent.quantity)} {self.rules.symbol} {intent.order_type.value.lower().replace('_', ' ')}"
        if intent.price is not None:
            what += f" at {dec_text(intent.price)}"
        if intent.stop_price is not None:
            what += f" stop {dec_text(intent.stop_price)}"
        try:
            order = order_submit(actor=bot.owner, account=bot.account, request=request, extra_limits=[self.limits])
        except ApplicationError as exc:
            self._reject(intent, what, exc.message)
            return
        if order.bot_id is None:
            Order.objects.filter(pk=order.pk, bot__isnull=True).update(bot=bot)
        if order.status == OrderStatus.REJECTED.value:
            self._reject(intent, what, order.reject_reason or "rejected")
            return
        self.orders_placed += 1
        if self.rules.is_perpetual and not intent.reduce_only:
            self.state.leverage = intent.leverage
        self.state.orders[intent.client_order_id] = TrackedOrder(
            id=str(order.pk),
            side=intent.side.value,
            type=intent.order_type.value,
            quantity=order.quantity,
            price=intent.price,
            stop=intent.stop_price,
            tif=intent.time_in_force.value,
            reduce_only=intent.reduce_only,
            placed=self.bar_time.isoformat(),
        )
        self._line("order", f"placed {what} ({intent.client_order_id})")
        if self.safe.has_order_hook:
            self.safe.on_order_update(self.ctx, OrderUpdate(intent.client_order_id, OrderStatus.OPEN, "accepted"))

    def _reject(self, intent: OrderIntent, what: str, reason: str) -> None:
        if intent.order_type is OrderType.MARKET:
            self.broker.pending -= intent.quantity if intent.side is OrderSide.BUY else -intent.quantity
        self._line("warning", f"{what} refused: {reason}")
        if self.safe.has_order_hook:
            self.safe.on_order_update(self.ctx, OrderUpdate(intent.client_order_id, OrderStatus.REJECTED, "rejected", reason=reason))

    def _cancel(self, client_id: str) -> None:
        tracked = self.state.orders.get(client_id)
        if tracked is None:
            return  # unknown or already ended: nothing changes (the backtest's CancelRejected)
        try:
            order_cancel(actor=self.bot.owner, order_id=tracked.id)
        except ApplicationError as exc:
            logger.debug("bot %s: cancel of %s: %s", self.bot.pk, client_id, exc.message)
        # Report what the cancel settled (fills that came first, then the cancel). A paper market
        # order placed at this close is reported at the next bar, like the backtest's next-open fill.
        self._report(self._rows([client_id]), skip_placed_now=True)

    # -- persisting ------------------------------------------------------------------------------------

    def _line(self, level: str, message: str) -> None:
        self.log.append(LogItem(level, message[:LOG_MESSAGE_MAX]))

    def _save(self) -> None:
        self._persist(mark=_price(self.data.close[self.t]), at=self.bar_time, closes_bar=True)

    def _persist(self, *, mark: Decimal, at: datetime, closes_bar: bool) -> None:
        """Save the strategy's state, the book, the log and the risk verdict at `mark`; a closed bar
        also moves the bar cursor and takes a performance snapshot."""
        bot = self.bot
        book = self.state
        equity = book.equity_at(mark)
        day = at.date().isoformat()
        if book.day != day:  # the first bar of a UTC day: the day starts from the last close's equity
            book.day = day
            book.day_equity = book.equity if book.equity is not None else equity
        peak = equity if bot.peak_equity is None else max(bot.peak_equity, equity)
        if closes_bar:  # the book keeps the equity at the last close
            book.equity, book.mark = equity, mark

        strategy_lines = [LogItem("info", line.message[:LOG_MESSAGE_MAX]) for line in self.lines]
        entries = strategy_lines + self.log
        bot.state = {"strategy": self.safe.get_state(), "runner": book.as_json()}
        if closes_bar:
            bot.last_processed_open_time = self.bar_time
        if strategy_lines:
            bot.last_signal = strategy_lines[-1].message[:255]
        bot.peak_equity = peak
        fields = ["state", "last_processed_open_time", "last_signal", "peak_equity", "updated_at"]

        reason = self._risk_breach(equity, peak, book.day_equity)
        if reason:
            bot.status = BotStatus.PAUSED
            bot.error = reason
            fields += ["status", "error"]
            entries.append(LogItem("warning", f"paused: {reason}"))
            audit_record(actor=None, owner=bot.owner, action="bot.paused_by_risk", summary=f"{bot.name}: {reason}", target=bot)
        bot.save(update_fields=fields)
        created = bot_log_write(bot, at, entries)
        if closes_bar:
            BotPerformanceSnapshot.objects.bulk_create(
                [BotPerformanceSnapshot(bot=bot, taken_at=at, equity=equity, position=book.position.quantity, realized_pnl=book.position.net_realized)],
                ignore_conflicts=True,
            )
        push_bot_on_commit(bot, [entry.pk for entry in created])

    def _risk_breach(self, equity: Decimal, peak: Decimal, day_equity: Decimal | None) -> str:
        bot = self.bot
        quote = self.rules.quote
        if bot.max_drawdown_percent is not None and peak > 0:
            drawdown = (peak - equity) / peak * 100
            if drawdown >= bot.max_drawdown_percent:
                return f"drawdown {drawdown:.2f} % from the peak {peak:.2f} {quote} reached the limit of {bot.max_drawdown_percent} %"
        if bot.max_daily_loss is not None and day_equity is not None:
            loss = day_equity - equity
            if loss >= bot.max_daily_loss:
                return f"lost {loss:.2f} {quote} today (UTC), the daily limit is {bot.max_daily_loss.normalize():f} {quote}"
        return ""


class TickRun(BarRun):
    """A trade between two closes, for a strategy with `on_tick` (paper and live bots only).

    The context shows the stored candles up to the last processed bar, as after that close.
    Order changes since then are reported first (step 2), then `on_tick`, then what the hooks
    asked for is submitted (steps 3 and 5, orders named by the trade: `tick_order_id`). The state,
    the book, the log and the risk verdict at the trade's price are saved; the bar cursor and
    the performance snapshots stay with the bars.
    """

    def __init__(self, bot: Bot, strategy_cls: type[Strategy], params: StrategyParams, data: OHLCV, prepared: Prepared, t: int, tick: Tick) -> None:
        super().__init__(bot, strategy_cls, params, data, prepared, t, tick_time=tick.time)
        self.tick = tick

    def execute(self) -> None:
        if self.state.orders:
            self._report(self._rows(list(self.state.orders)))
        self._flush()
        self.safe.on_tick(self.ctx, self.tick)
        self._flush()
        self.state.last_tick = self.tick.time.isoformat()
        self._persist(mark=self.tick.price, at=self.tick.time, closes_bar=False)


def strategy_wants_ticks(strategy_cls: type[Strategy]) -> bool:
    return strategy_cls.on_tick is not Strategy.on_tick


def _ticking(rows: Iterable[tuple[Any, str]]) -> list[Any]:
    """The first of each (value, strategy name) pair whose strategy has an `on_tick` hook.

    An unknown strategy is left out here; it fails at the bot's next bar, with the reason."""
    known = set(list_strategy_names())
    return [value for value, name in rows if name in known and strategy_wants_ticks(get_strategy(name))]


def ticking_bot_ids(*, symbol_id: Any) -> list[Any]:
    """Running bots on the symbol whose strategy has an `on_tick` hook, oldest first."""
    return _ticking(Bot.objects.filter(symbol_id=symbol_id, status=BotStatus.RUNNING).order_by("created_at").values_list("pk", "strategy"))


def ticking_symbol_ids() -> set[Any]:
    """Symbols with at least one running bot whose strategy has an `on_tick` hook."""
    return set(_ticking(Bot.objects.filter(status=BotStatus.RUNNING).values_list("symbol_id", "strategy").distinct()))


def bot_process_tick(*, bot_id: Any, tick: Tick) -> int | None:
    """One trade for one running bot whose strategy wants ticks: the orders placed, or None when skipped.

    Skipped (ticks may be dropped, unlike bars): a bot not running, not yet started on a bar,
    busy with a bar in another worker, or a trade from before its last processed close or not
    newer than the last trade it saw (a replayed trade).
    """
    bot = Bot.objects.select_related(*_RELATED).filter(pk=bot_id).first()
    if bot is None or bot.status != BotStatus.RUNNING or bot.last_processed_open_time is None:
        return None
    last_bar = bot.last_processed_open_time
    if tick.time < last_bar + timedelta(seconds=timeframe_seconds(bot.timeframe)):
        return None  # the trade belongs to a bar the bot has already decided on
    try:
        strategy_cls = get_strategy(bot.strategy)
        if not strategy_wants_ticks(strategy_cls):
            return None
        params = strategy_cls.Params.from_dict(bot.params)
        window = Window(
            bot.symbol_id,
            bot.timeframe,
            _stored_bars(symbol_id=bot.symbol_id, timeframe=bot.timeframe, start=_window_start(last_bar, bot.timeframe, history_bars(params)), end=last_bar),
        )
        if not len(window.data) or window.data.datetime_at(len(window.data) - 1) != last_bar:
            return None
        t = len(window.data) - 1
        prepared = SafeStrategy(strategy_cls(params)).prepare(window.data)
        with transaction.atomic():
            row = Bot.objects.select_for_update(skip_locked=True).filter(pk=bot.pk).values_list(*_MUTABLE).first()
            if row is None:
                return None
            for name, value in zip(_MUTABLE, row, strict=True):
                setattr(bot, name, value)
            state = RunnerState.from_state(bot.state, symbol=bot.symbol.symbol, perpetual=bot.symbol.is_perpetual)
            if bot.status != BotStatus.RUNNING or bot.last_processed_open_time != last_bar or not state.started:
                return None
            if state.last_tick is not None and tick.time <= datetime.fromisoformat(state.last_tick):
                return None
            run = TickRun(bot, strategy_cls, params, window.data, prepared, t, tick)
            with acting_as_bot(bot):
                run.execute()
            retry_hooks_on_failure(transaction.get_connection())
            return run.orders_placed
    except TRANSIENT_ERRORS as exc:
        logger.warning("bot %s, trade at %s: database trouble, trade dropped: %s", bot.pk, tick.time, exc)
        return None
    except Exception as exc:  # the same as at a bar: this bot stops with the reason, never the worker
        logger.warning("bot %s stopped at a trade at %s: %s", bot.pk, tick.time, exc, exc_info=not isinstance(exc, StrategyError | BotHalted))
        bot_fail(bot_id=bot.pk, reason=_reason(exc))
        return None


def _price(value: float) -> Decimal:
    return Decimal(repr(float(value)))


def bot_log_write(bot: Bot, bar_time: datetime | None, items: Iterable[LogItem]) -> list[BotLogEntry]:
    from django.utils import timezone

    now = timezone.now()
    rows = [
        BotLogEntry(bot=bot, bar_open_time=bar_time, level=item.level, message=item.message, created_at=now + timedelta(microseconds=i))
        for i, item in enumerate(items)
    ]
    return BotLogEntry.objects.bulk_create(rows) if rows else []


# -- pushes ----------------------------------------------------------------------------------------


def push_bot_on_commit(bot: Bot, log_ids: list[Any] | None = None) -> None:
    """After commit: the bot's card and status (both pages), and its new log lines, to the owner's sockets."""
    bot_id, owner_id, ids = bot.pk, bot.owner_id, list(log_ids or [])
    # A push is a courtesy that never fails the caller after its commit: with Redis away it is
    # logged and retried in the background.
    transaction.on_commit(retried_on_failure(lambda: _push(bot_id, owner_id, ids)))


@rendered_in_time_zone_of("owner_id")
def _push(bot_id: Any, owner_id: Any, log_ids: list[Any]) -> None:
    from django.template.loader import render_to_string

    from apps.bots.selectors import bot_summary
    from apps.core.broadcast import send_html_to_user_now, user_is_listening

    if not user_is_listening(owner_id):
        return
    bot = Bot.all_objects.select_related("account", "account__exchange", "symbol", "symbol__exchange").filter(pk=bot_id).first()
    if bot is None:
        return
    summary = bot_summary(bot)
    html = [
        render_to_string("bots/partials.html#bot-card", {"bot": bot, "summary": summary, "oob": True}),
        render_to_string("bots/partials.html#bot-status", {"bot": bot, "summary": summary, "oob": True}),
    ]
    if log_ids:
        entries = list(BotLogEntry.objects.filter(pk__in=log_ids).order_by("-created_at"))
        html.append(render_to_string("bots/partials.html#log-push", {"bot": bot, "entries": entries}))
    send_html_to_user_now(owner_id, "".join(html))


# -- failures --------------------------------------------------------------------------------------


def bot_fail(*, bot_id: Any, reason: str, bar_time: datetime | None = None) -> None:
    """Move the bot to ERROR with `reason` (its own transaction; the failed bar was rolled back)."""
    reason = reason[:LOG_MESSAGE_MAX]
    with transaction.atomic():
        bot = Bot.objects.select_for_update(of=("self",)).select_related("owner").filter(pk=bot_id).first()
        if bot is None or bot.status not in (BotStatus.RUNNING, BotStatus.PAUSED):
            return
        old = bot.status
        bot.status, bot.error = BotStatus.ERROR, reason
        bot.save(update_fields=["status", "error", "updated_at"])
        created = bot_log_write(bot, bar_time, [LogItem("error", f"stopped by an error: {reason}")])
        audit_record(actor=None, owner=bot.owner, action="bot.errored", summary=f"{bot.name}: {reason}", target=bot, changes={"status": [old, BotStatus.ERROR]})
        push_bot_on_commit(bot, [entry.pk for entry in created])


# -- processing bars -------------------------------------------------------------------------------


@dataclass
class RunReport:
    processed: int = 0  # bars
    bots: int = 0
    errors: int = 0
    busy: int = 0  # bots locked by another worker (or stopped meanwhile)
    deferred: int = 0  # left for a retry after database trouble
    orders: int = 0

    def add(self, other: RunReport) -> None:
        self.processed += other.processed
        self.bots += other.bots
        self.errors += other.errors
        self.busy += other.busy
        self.deferred += other.deferred
        self.orders += other.orders

    def as_dict(self) -> dict[str, int]:
        return {"bots": self.bots, "bars": self.processed, "orders": self.orders, "errors": self.errors, "busy": self.busy, "deferred": self.deferred}


# Temporary: the database, Redis (the broker, the channel layer, the cache) or the network is
# away. The bar is rolled back and tried again; the bot keeps running.
TRANSIENT_ERRORS = (
    OperationalError,
    InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    kombu.exceptions.OperationalError,
    ConnectionError,
    TimeoutError,
    ExchangeUnavailableError,
)
_RELATED = ("owner", "account", "account__exchange", "account__owner", "symbol", "symbol__exchange")


def _window_start(first_pending: datetime, timeframe: str, history: int) -> datetime:
    return first_pending - timedelta(seconds=timeframe_seconds(timeframe) * (history - 1))


def _run_bot(bot: Bot, window: Window, open_time: datetime) -> RunReport:
    """Every unprocessed bar of `bot` in `window` up to `open_time`, oldest first, one transaction each.

    Each bar gets the same view as if it were processed alone, as it closed: the bot's history
    window ending at that bar, indicators prepared over it (so not even a careless indicator can
    see a later candle), whatever else is pending.
    """
    report = RunReport(bots=1)
    all_pending = window.bars_after(bot.last_processed_open_time, open_time)
    if bot.last_processed_open_time is None:  # never given a starting bar: begin with the newest
        all_pending = all_pending[-1:]
    pending = all_pending[-MAX_CATCH_UP_BARS:]
    if not pending:
        return report
    try:
        strategy_cls = get_strategy(bot.strategy)
        params = strategy_cls.Params.from_dict(bot.params)
        history = history_bars(params)
    except Exception as exc:  # noqa: BLE001 - a bot whose strategy cannot be built stops, not the loop
        report.errors += 1
        bot_fail(bot_id=bot.pk, reason=_reason(exc))
        return report
    skipped = len(all_pending) - len(pending)
    if skipped:
        first = window.data.datetime_at(pending[0])
        with transaction.atomic():
            bot_log_write(bot, None, [LogItem("warning", f"{skipped} missed bars were too old to replay; catching up from {first:%Y-%m-%d %H:%M} UTC")])
    for index in pending:
        bar_time = window.data.datetime_at(index)
        try:
            data, offset = window.slice(_window_start(bar_time, bot.timeframe, history), index)
            prepared = SafeStrategy(strategy_cls(params)).prepare(data)
            outcome = _process_one(bot, strategy_cls, params, data, prepared, index - offset, bar_time)
        except TRANSIENT_ERRORS as exc:
            logger.warning("bot %s, bar %s: database trouble, left for a retry: %s", bot.pk, bar_time, exc)
            report.deferred += 1
            bot_decisions_total.labels(outcome="deferred").inc()
            break
        except Exception as exc:  # any failure stops THIS bot, never the worker
            logger.warning("bot %s stopped at bar %s: %s", bot.pk, bar_time, exc, exc_info=not isinstance(exc, StrategyError | BotHalted))
            report.errors += 1
            bot_decisions_total.labels(outcome="failed").inc()
            bot_fail(bot_id=bot.pk, reason=_reason(exc), bar_time=bar_time)
            break
        if outcome is None:  # locked elsewhere, not running any more, or already done
            report.busy += 1
            break
        report.processed += 1
        report.orders += outcome
        _observe_decision(bar_time, bot.timeframe, outcome)
    return report


def _observe_decision(bar_open: datetime, timeframe: str, orders: int) -> None:
    closed_at = bar_open + timedelta(seconds=timeframe_seconds(timeframe))
    bot_decision_lag_seconds.observe(max(0.0, (datetime.now(tz=UTC) - closed_at).total_seconds()))
    bot_decisions_total.labels(outcome="ordered" if orders else "held").inc()


def _reason(exc: Exception) -> str:
    if isinstance(exc, StrategyError | ApplicationError):
        return exc.message
    if isinstance(exc, BotHalted):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


_MUTABLE = (
    "status",
    "last_processed_open_time",
    "state",
    "peak_equity",
    "params",
    "name",
    "error",
    "max_position_notional",
    "max_daily_loss",
    "max_drawdown_percent",
)


def _process_one(bot: Bot, strategy_cls: type[Strategy], params: StrategyParams, data: OHLCV, prepared: Prepared, t: int, bar_time: datetime) -> int | None:
    """One bar in one transaction; the number of orders placed, or None when the bot was not processed.

    `bot` comes with its account, symbol and owner loaded once per batch; under the row lock its
    own fields are read afresh (a service may have paused or stopped it meanwhile).
    """
    with transaction.atomic():
        row = Bot.objects.select_for_update(skip_locked=True).filter(pk=bot.pk).values_list(*_MUTABLE).first()
        if row is None:
            return None  # another worker holds it (or it was deleted)
        for name, value in zip(_MUTABLE, row, strict=True):
            setattr(bot, name, value)
        if bot.status != BotStatus.RUNNING:
            return None
        if bot.last_processed_open_time is not None and bot.last_processed_open_time >= bar_time:
            return None
        run = BarRun(bot, strategy_cls, params, data, prepared, t)
        with acting_as_bot(bot):
            run.execute()
        # The bar is decided and stored at the commit: a push or task enqueue after it that meets
        # Redis trouble is logged and retried, never a failed bar.
        retry_hooks_on_failure(transaction.get_connection())
        return run.orders_placed


def _bar_window(symbol_id: Any, timeframe: str, bots: list[Bot], open_time: datetime) -> Window:
    tf = timeframe_seconds(timeframe)
    starts = []
    for bot in bots:
        first = (bot.last_processed_open_time + timedelta(seconds=tf)) if bot.last_processed_open_time else open_time
        first = max(first, open_time - timedelta(seconds=tf * (MAX_CATCH_UP_BARS - 1)))
        try:
            history = history_bars(bot_params(bot))
        except Exception:  # noqa: BLE001 - reported when that bot runs
            history = HISTORY_MIN_BARS
        starts.append(_window_start(first, timeframe, history))
    return Window(symbol_id, timeframe, _stored_bars(symbol_id=symbol_id, timeframe=timeframe, start=min(starts), end=open_time))


def _ensure_partitions(start: datetime, end: datetime) -> None:
    from apps.core.partitions import ensure_partitions_cover

    for table in ("bots_botperformancesnapshot", "orders_fill"):
        try:
            ensure_partitions_cover(table, start, end)
        except KeyError:  # policy not registered (an app left out)
            pass


def bot_process_bar(*, bot_id: Any, open_time: datetime) -> RunReport:
    """Process the bot's closed bars after its last processed one, up to and including `open_time`, in order."""
    bot = Bot.objects.select_related(*_RELATED).filter(pk=bot_id).first()
    if bot is None or bot.status != BotStatus.RUNNING:
        return RunReport()
    if bot.last_processed_open_time is not None and bot.last_processed_open_time >= open_time:
        return RunReport(bots=1)
    window = _bar_window(bot.symbol_id, bot.timeframe, [bot], open_time)
    if len(window.data):
        _ensure_partitions(window.data.datetime_at(0), open_time)
    return _run_bot(bot, window, open_time)


def running_bots(*, symbol_id: Any, timeframe: str, before: datetime, bot_ids: list[Any] | None = None) -> list[Bot]:
    """Running bots on this symbol and timeframe with a bar to process up to `before`, oldest first."""
    bots = (
        Bot.objects.filter(symbol_id=symbol_id, timeframe=timeframe, status=BotStatus.RUNNING)
        .filter(Q(last_processed_open_time__lt=before) | Q(last_processed_open_time__isnull=True))
        .select_related(*_RELATED)
        .order_by("created_at")
    )
    if bot_ids is not None:
        bots = bots.filter(pk__in=bot_ids)
    return list(bots)


def due_bot_ids(*, symbol_id: Any, timeframe: str, before: datetime) -> list[Any]:
    return list(
        Bot.objects.filter(symbol_id=symbol_id, timeframe=timeframe, status=BotStatus.RUNNING)
        .filter(Q(last_processed_open_time__lt=before) | Q(last_processed_open_time__isnull=True))
        .order_by("created_at")
        .values_list("pk", flat=True)
    )


def process_closed_candles(*, symbol_id: Any, timeframe: str, open_time: datetime, bot_ids: list[Any] | None = None) -> RunReport:
    """Every running bot on the symbol and timeframe (or those of `bot_ids`), through its unprocessed bars up to `open_time`."""
    report = RunReport()
    bots = running_bots(symbol_id=symbol_id, timeframe=timeframe, before=open_time, bot_ids=bot_ids)
    if not bots:
        return report
    window = _bar_window(symbol_id, timeframe, bots, open_time)
    if not len(window.data):
        return report
    _ensure_partitions(window.data.datetime_at(0), open_time)
    for bot in bots:
        report.add(_run_bot(bot, window, open_time))
    return report


def due_bar_groups(now: datetime | None = None) -> list[tuple[Any, str, datetime]]:
    """(symbol, timeframe, newest stored bar) for every group of running bots with a bar left to process."""
    groups: dict[tuple[Any, str], datetime | None] = {}
    for symbol_id, timeframe, last in Bot.objects.filter(status=BotStatus.RUNNING).values_list("symbol_id", "timeframe", "last_processed_open_time"):
        key = (symbol_id, timeframe)
        known = groups.get(key, last)
        groups[key] = None if known is None or last is None else min(known, last)
    due = []
    for (symbol_id, timeframe), oldest in groups.items():
        newest = candle_newest_open_time(symbol_id=symbol_id, timeframe=timeframe)
        if newest is not None and (oldest is None or newest > oldest):
            due.append((symbol_id, timeframe, newest))
    return due


def completed_buckets(first: datetime, last: datetime, timeframes: Iterable[str]) -> dict[str, datetime]:
    """For 1m candles with open times first..last just stored: the open time of the newest bucket each timeframe completed.

    A bucket [B, B + span) completes with its last minute, B + span - 1m; a timeframe whose
    last minute is not among the new candles completed nothing.
    """
    done: dict[str, datetime] = {}
    first_open = int(first.astimezone(UTC).timestamp())
    last_close = int(last.astimezone(UTC).timestamp()) + 60
    for timeframe in timeframes:
        seconds = timeframe_seconds(timeframe)
        boundary = last_close - last_close % seconds  # the newest bucket end the candles reached
        if boundary - 60 >= first_open:
            done[timeframe] = datetime.fromtimestamp(boundary - seconds, tz=UTC)
    return done


__all__ = [
    "BarRun",
    "BotBroker",
    "RunReport",
    "RunnerState",
    "TrackedOrder",
    "bot_fail",
    "bot_process_bar",
    "bot_process_tick",
    "client_order_id",
    "completed_buckets",
    "due_bar_groups",
    "history_bars",
    "initial_capital",
    "process_closed_candles",
    "push_bot_on_commit",
    "required_bars",
    "strategy_wants_ticks",
    "strategy_warmup_bars",
    "tick_order_id",
    "ticking_bot_ids",
    "ticking_symbol_ids",
]
