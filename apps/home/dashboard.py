"""The dashboard's figures for the selected mode (paper or live)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, Sum

from apps.orders.models import Fill, Order
from apps.orders.selectors import fill_net_realized_pnl, start_of_utc_day
from apps.portfolio.presentation import PositionRow, account_equity, position_rows
from apps.portfolio.selectors import trading_account_list

ZERO = Decimal(0)


@dataclass(frozen=True)
class DashboardFigures:
    equity: Decimal
    change_24h: Decimal
    change_24h_percent: Decimal | None
    total_realized: Decimal
    unrealized: Decimal
    positions: list[PositionRow]
    trades_today: int
    volume_today: Decimal
    recent_orders: list[Order]
    recent_fills: list[Fill]
    accounts: int


def dashboard_figures(*, actor: Any, mode: str) -> DashboardFigures:
    """Equity is balances plus open P&L; the 24 h change is realised P&L net of fees and funding over
    the last 24 h plus the open P&L of positions (an estimate: marks 24 h ago are not stored)."""
    accounts = list(trading_account_list(actor=actor, mode=mode))
    equity = sum((account_equity(account=account) for account in accounts), ZERO)
    rows = position_rows(owner_id=actor.pk, mode=mode)
    unrealized = sum((row.unrealized_pnl or ZERO for row in rows), ZERO)
    fills = Fill.objects.filter(account__owner=actor, account__mode=mode)
    since = datetime.now(UTC) - timedelta(hours=24)
    change = fill_net_realized_pnl(owner_id=actor.pk, mode=mode, since=since) + unrealized
    total_realized = fill_net_realized_pnl(owner_id=actor.pk, mode=mode)
    today = fills.filter(executed_at__gte=start_of_utc_day()).aggregate(count=Count("pk"), notional=Sum(F("price") * F("quantity")))
    today_notional = today["notional"] or ZERO
    base = equity - change
    return DashboardFigures(
        equity=equity.quantize(Decimal("0.01")),
        change_24h=change.quantize(Decimal("0.01")),
        change_24h_percent=(change / base * 100).quantize(Decimal("0.01")) if base > 0 else None,
        total_realized=total_realized.quantize(Decimal("0.01")),
        unrealized=unrealized.quantize(Decimal("0.01")),
        positions=rows,
        trades_today=today["count"] or 0,
        volume_today=today_notional.quantize(Decimal("0.01")),
        recent_orders=list(
            Order.objects.filter(account__owner=actor, account__mode=mode).select_related("symbol", "symbol__exchange", "account").order_by("-created_at")[:8]
        ),
        recent_fills=list(fills.select_related("symbol").order_by("-executed_at")[:8]),
        accounts=len(accounts),
    )
