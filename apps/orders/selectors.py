from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from apps.core.selectors import get_or_not_found
from apps.orders.enums import OPEN_STATUSES
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
