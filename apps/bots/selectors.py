"""Reading bots: always scoped by the acting user; performance from the bot's own book and fills."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Q, QuerySet

from apps.bots.models import Bot, BotLogEntry, BotPerformanceSnapshot, BotStatus
from apps.bots.runner import RunnerState
from apps.core.selectors import get_or_not_found
from apps.orders.domain.model import Fill as FillValue
from apps.orders.domain.model import Liquidity, OrderSide
from apps.orders.enums import OPEN_STATUSES
from apps.orders.models import Fill, Order
from apps.portfolio.domain.positions import Position

ZERO = Decimal(0)


def bot_list(*, actor: Any, status: str = "", search: str = "") -> QuerySet[Bot]:
    bots = Bot.objects.filter(owner=actor).select_related("account", "account__exchange", "symbol", "symbol__exchange")
    if status:
        bots = bots.filter(status=status.upper())
    if search:
        bots = bots.filter(name__icontains=search.strip())
    return bots.order_by("-created_at")


def bot_get(*, actor: Any, bot_id: Any, for_update: bool = False) -> Bot:
    """The actor's (not deleted) bot, or a 404: another user's bot does not exist for this actor."""
    bots = Bot.objects.select_related("owner", "account", "account__exchange", "symbol", "symbol__exchange")
    if for_update:
        bots = bots.select_for_update(of=("self",))
    return get_or_not_found(bots, "No such bot.", pk=bot_id, owner=actor)


def bot_log_list(*, bot: Bot, limit: int = 100) -> list[BotLogEntry]:
    return list(BotLogEntry.objects.filter(bot=bot).order_by("-created_at")[:limit])


def bot_equity_series(*, bot: Bot, limit: int = 5000) -> list[list[float]]:
    """[[unix seconds, equity], ...] oldest first, the newest `limit` snapshots (for the chart)."""
    rows = BotPerformanceSnapshot.objects.filter(bot_id=bot.pk).order_by("-taken_at").values_list("taken_at", "equity")[:limit]
    return [[row[0].timestamp(), float(row[1])] for row in reversed(list(rows))]


def bot_open_orders(*, bot: Bot) -> QuerySet[Order]:
    return Order.objects.filter(bot=bot, status__in=OPEN_STATUSES).select_related("symbol", "symbol__exchange", "account").order_by("-created_at")


@dataclass(frozen=True)
class BotSummary:
    capital: Decimal
    equity: Decimal | None
    pnl: Decimal | None
    pnl_percent: Decimal | None
    position: Decimal
    entry_price: Decimal
    realized: Decimal  # net of fees
    mark: Decimal | None
    drawdown_percent: Decimal | None
    open_orders: int
    quote: str
    base: str
    actions: tuple[str, ...]  # the lifecycle actions its status allows

    @property
    def position_side(self) -> str:
        return "long" if self.position > 0 else "short" if self.position < 0 else "flat"


def bot_summary(bot: Bot) -> BotSummary:
    """The bot's book at its last processed close (no query: it is all in `Bot.state`)."""
    from apps.bots.services import allowed_actions

    book = RunnerState.from_state(bot.state, symbol=bot.symbol.symbol, perpetual=bot.symbol.is_perpetual)
    equity = book.equity
    pnl = equity - book.capital if equity is not None and book.capital else None
    pnl_percent = (pnl / book.capital * 100) if pnl is not None and book.capital else None
    drawdown = None
    if equity is not None and bot.peak_equity:
        drawdown = max(ZERO, (bot.peak_equity - equity) / bot.peak_equity * 100)
    return BotSummary(
        capital=book.capital,
        equity=equity,
        pnl=pnl,
        pnl_percent=pnl_percent,
        position=book.position.quantity,
        entry_price=book.position.entry_price,
        realized=book.position.net_realized,
        mark=book.mark,
        drawdown_percent=drawdown,
        open_orders=len(book.orders),
        quote=bot.symbol.quote,
        base=bot.symbol.base,
        actions=tuple(allowed_actions(bot.status)),
    )


# Trades ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BotTrade:
    """The life of a non-flat position of the bot, as the backtest counts trades."""

    side: str  # LONG or SHORT
    entry_time: datetime
    exit_time: datetime | None
    quantity: Decimal  # everything bought (long) or sold (short) into the trade
    entry_price: Decimal
    exit_price: Decimal | None
    fees: Decimal
    pnl: Decimal  # realised less fees; 0 while open

    @property
    def is_open(self) -> bool:
        return self.exit_time is None


class _Open:
    def __init__(self, side: str, when: datetime, qty: Decimal, price: Decimal, fee: Decimal, realized: Decimal) -> None:
        self.side, self.when = side, when
        self.qty_in, self.notional_in = qty, qty * price
        self.qty_out, self.notional_out = ZERO, ZERO
        self.fees, self.realized_start = fee, realized

    def trade(self, exit_time: datetime | None, realized_now: Decimal) -> BotTrade:
        closed = exit_time is not None
        return BotTrade(
            self.side,
            self.when,
            exit_time,
            self.qty_in,
            self.notional_in / self.qty_in,
            self.notional_out / self.qty_out if self.qty_out else None,
            self.fees,
            (realized_now - self.realized_start - self.fees) if closed else ZERO,
        )


def trades_from_fills(symbol: str, fills: list[FillValue]) -> list[BotTrade]:
    """Round trips from fills in time order: opened from flat, closed back at flat; a flip closes one and opens the next."""
    position = Position(symbol)
    trades: list[BotTrade] = []
    current: _Open | None = None
    for fill in fills:
        before = position
        position = before.apply(fill, fee_in_quote=fill.fee)
        held, quantity = before.quantity, fill.quantity
        if held == 0 or current is None:
            current = _Open("LONG" if fill.side is OrderSide.BUY else "SHORT", fill.timestamp, quantity, fill.price, fill.fee, before.realized_pnl)
            continue
        if (held > 0) is (fill.side is OrderSide.BUY):
            current.qty_in += quantity
            current.notional_in += quantity * fill.price
            current.fees += fill.fee
            continue
        closing = min(abs(held), quantity)
        opening = quantity - closing
        fee_close = fill.fee if opening == 0 else fill.fee * closing / quantity
        current.qty_out += closing
        current.notional_out += closing * fill.price
        current.fees += fee_close
        if position.quantity == 0 or opening > 0:
            trades.append(current.trade(fill.timestamp, position.realized_pnl))
            current = None
        if opening > 0:
            side = "LONG" if fill.side is OrderSide.BUY else "SHORT"
            current = _Open(side, fill.timestamp, opening, fill.price, fill.fee - fee_close, position.realized_pnl)
    if current is not None:
        trades.append(current.trade(None, position.realized_pnl))
    return trades


def bot_fills(*, bot: Bot) -> list[FillValue]:
    rows = (
        Fill.objects.filter(order__bot=bot)
        .filter(Q(order__account_id=bot.account_id))
        .select_related("order")
        .order_by("id")  # the order they were made in (UUIDv7), which `executed_at` of a bar-settled fill is not
        .only("side", "price", "quantity", "fee", "fee_currency", "liquidity", "executed_at", "venue_trade_id", "order__client_order_id")
    )
    return [
        FillValue(
            row.order.client_order_id,
            bot.symbol.symbol,
            OrderSide(row.side),
            row.price,
            row.quantity,
            row.fee,
            row.fee_currency,
            Liquidity(row.liquidity),
            row.executed_at,
            row.venue_trade_id,
        )
        for row in rows
    ]


def bot_trades(*, bot: Bot) -> list[BotTrade]:
    """The bot's trades, oldest first (an open one last)."""
    return trades_from_fills(bot.symbol.symbol, bot_fills(bot=bot))


STATUS_FILTERS = [("", "Any status"), *BotStatus.choices]
