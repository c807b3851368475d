from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet, Sum

from apps.core.selectors import get_or_not_found
from apps.orders.enums import OPEN_STATUSES, FillLiquidityChoice
from apps.orders.models import Fill, Order

ORDER_TABS = {"open": OPEN_STATUSES, "history": ["FILLED", "CANCELED", "REJECTED", "EXPIRED"], "all": None}


def order_list(
    *, actor: Any, mode: str | None = None, account_id: Any = None, tab: str = "all", status: str = "", symbol: str = "", since: datetime | None = None
) -> QuerySet[Order]:
    orders = Order.objects.filter(account__owner=actor).select_related("symbol", "symbol__exchange", "account", "account__exchange")
    if mode:
        orders = orders.filter(account__mode=mode)
    if account_id:
        orders = orders.filter(account_id=account_id)
    statuses = ORDER_TABS.get(tab)
    if statuses is not None:
        orders = orders.filter(status__in=statuses)
    if status:
        orders = orders.filter(status=status.upper())
    if symbol:
        orders = orders.filter(symbol__symbol__icontains=symbol.strip())
    if since:
        orders = orders.filter(created_at__gte=since)
    return orders.order_by("-created_at")


def order_get(*, actor: Any, order_id: Any) -> Order:
    orders = Order.objects.select_related("symbol", "symbol__exchange", "account", "account__exchange")
    return get_or_not_found(orders, "No such order.", pk=order_id, account__owner=actor)


def fill_list(*, actor: Any, mode: str | None = None, account_id: Any = None, since: datetime | None = None) -> QuerySet[Fill]:
    fills = Fill.objects.filter(account__owner=actor).select_related("symbol", "order")
    if mode:
        fills = fills.filter(account__mode=mode)
    if account_id:
        fills = fills.filter(account_id=account_id)
    if since:
        fills = fills.filter(executed_at__gte=since)
    return fills.order_by("-executed_at")


def liquidation_list(*, actor: Any, mode: str | None = None, limit: int = 20) -> list[Fill]:
    """The owner's latest forced closes (fills with liquidity LIQUIDATION), newest first."""
    return list(fill_list(actor=actor, mode=mode).filter(liquidity=FillLiquidityChoice.LIQUIDATION).select_related("symbol__exchange")[:limit])


def start_of_utc_day(now: datetime | None = None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def fill_net_realized_pnl(*, owner_id: Any, mode: str, since: datetime | None = None, quote: str | None = None) -> Decimal:
    """Realised P&L net of fees over one owner's fills in one mode (paper and live never mix).

    Fills record their fee in the symbol's quote currency, so `quote` keeps one currency's P&L
    and fees together instead of adding USDT to USDC or BTC.
    """
    fills = Fill.objects.filter(account__owner_id=owner_id, account__mode=mode)
    if since is not None:
        fills = fills.filter(executed_at__gte=since)
    if quote is not None:
        fills = fills.filter(symbol__quote=quote)
    total = fills.aggregate(pnl=Sum("realized_pnl"), fees=Sum("fee"))
    return (total["pnl"] or Decimal(0)) - (total["fees"] or Decimal(0))
