"""The Positions page and its actions: close a position with a reduce-only order, set its exits."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRefresh

from apps.accounts.auth import request_user
from apps.core.errors import ApplicationError, ValidationError
from apps.exchanges.selectors import api_connection_list
from apps.orders.selectors import liquidation_list
from apps.orders.services.positions import position_close, position_set_sl_tp
from apps.portfolio.mode import current_mode
from apps.portfolio.presentation import balances_context, position_rows
from apps.portfolio.selectors import trading_account_list


@login_required
def positions_view(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    mode = current_mode(request)
    accounts = list(trading_account_list(actor=user, mode=mode))
    connections = [c for c in api_connection_list(actor=user) if c.is_verified and not any(a.api_connection_id == c.pk for a in accounts)]
    context = {
        "active_section": "positions",
        "rows": position_rows(owner_id=user.pk, mode=mode),
        "liquidations": liquidation_list(actor=user, mode=mode),
        "mode": mode,
        "accounts": accounts,
        "account_balances": [balances_context(account=account) for account in accounts],
        "verified_connections": connections,
    }
    return render(request, "orders/positions.html", context)


def _decimal_or_none(raw: str, field: str) -> Decimal | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ValidationError.for_field(field, f"{raw!r} is not a price.") from None
    if not value.is_finite():
        raise ValidationError.for_field(field, f"{raw!r} is not a price.")
    return value


@login_required
@require_POST
def position_close_view(request: HttpRequest, position_id: str) -> HttpResponse:
    try:
        price = _decimal_or_none(request.POST.get("price", ""), "price")
        order = position_close(actor=request_user(request), position_id=position_id, order_type="LIMIT" if price else "MARKET", price=price)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Closing {order.symbol.symbol}: {order.get_status_display().lower()}.")
    if request.htmx:  # type: ignore[attr-defined]
        return HttpResponseClientRefresh()
    return redirect("positions:list")


@login_required
@require_POST
def position_exits_view(request: HttpRequest, position_id: str) -> HttpResponse:
    try:
        position_set_sl_tp(
            actor=request_user(request),
            position_id=position_id,
            stop_loss=_decimal_or_none(request.POST.get("stop_loss", ""), "stop_loss"),
            take_profit=_decimal_or_none(request.POST.get("take_profit", ""), "take_profit"),
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Exits saved.")
    if request.htmx:  # type: ignore[attr-defined]
        return HttpResponseClientRefresh()
    return redirect("positions:list")
