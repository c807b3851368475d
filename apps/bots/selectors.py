"""Reading bots: always scoped by the acting user; performance from the bot's own book and fills."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Q, QuerySet

from apps.backtesting.domain.accounting import FundingEvent, Trade, round_trips
from apps.bots.models import Bot, BotLogEntry, BotPerformanceSnapshot, BotStatus
from apps.bots.runner import RunnerState
from apps.core.selectors import get_or_not_found
from apps.orders.domain.model import Fill as FillValue
from apps.orders.domain.model import Liquidity, OrderSide
from apps.orders.enums import OPEN_STATUSES
from apps.orders.models import Fill, FundingSettlement, Order

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


def bot_funding(*, bot: Bot, since: datetime) -> list[FundingEvent]:
    """The funding intervals the bot's book settled after `since` (the runner settles each one at the bar it falls in)."""
    if not bot.symbol.is_perpetual or bot.last_processed_open_time is None:
        return []
    rows = FundingSettlement.objects.filter(symbol_id=bot.symbol_id, funding_time__gte=since, funding_time__lte=bot.last_processed_open_time)
    return [FundingEvent(row.funding_time, row.rate, row.mark) for row in rows.order_by("funding_time")]


def bot_trades(*, bot: Bot) -> list[Trade]:
    """The bot's trades, oldest first (an open one last), built as the backtest builds its own (funding included)."""
    fills = bot_fills(bot=bot)
    funding = bot_funding(bot=bot, since=fills[0].timestamp) if fills else []
    return round_trips(bot.symbol.symbol, fills, funding)


STATUS_FILTERS = [("", "Any status"), *BotStatus.choices]
