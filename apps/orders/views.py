from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from apps.accounts.auth import request_user
from apps.accounts.forms import apply_application_error
from apps.core.errors import ApplicationError
from apps.orders.forms import OrderForm
from apps.orders.selectors import ORDER_TABS, order_list
from apps.orders.services.placement import OrderRequest, new_client_order_id, order_cancel, order_submit
from apps.orders.services.preview import order_preview
from apps.portfolio.forms import PaperAccountForm
from apps.portfolio.mode import current_mode
from apps.portfolio.presentation import balances_context
from apps.portfolio.selectors import trading_account_list


def _order_request(form: OrderForm, source: str = "ui") -> OrderRequest:
    data = form.cleaned_data
    return OrderRequest(
        symbol=data["symbol"],
        side=data["side"],
        order_type=data["order_type"],
        quantity=data.get("quantity"),
        quote_amount=data.get("quote_amount") if data.get("quantity") is None else None,
        price=data.get("price"),
        stop_price=data.get("stop_price"),
        time_in_force=data.get("time_in_force") or "GTC",
        post_only=bool(data.get("post_only")),
        reduce_only=bool(data.get("reduce_only")),
        leverage=data.get("leverage") or 1,
        margin_mode=data.get("margin_mode") or "ISOLATED",
        stop_loss=data.get("stop_loss"),
        take_profit=data.get("take_profit"),
        client_order_id=data.get("client_order_id") or "",
        source=source,
    )


def _table_context(request: HttpRequest) -> dict[str, Any]:
    tab = request.GET.get("tab", "open")
    tab = tab if tab in ORDER_TABS else "open"
    symbol = request.GET.get("symbol", "").strip()[:24]
    status = request.GET.get("status", "").strip()[:16]
    orders = order_list(actor=request_user(request), mode=current_mode(request), tab=tab, symbol=symbol, status=status)
    page = Paginator(orders, 50).get_page(request.GET.get("page"))
    return {"orders_page": page, "tab": tab, "symbol_filter": symbol, "status_filter": status}


def _page_context(request: HttpRequest, form: OrderForm | None = None, preview: Any = None) -> dict[str, Any]:
    user = request_user(request)
    mode = current_mode(request)
    accounts = list(trading_account_list(actor=user, mode=mode))
    if form is None:
        form = OrderForm(accounts=accounts, initial={"client_order_id": new_client_order_id()})
    return {
        "active_section": "orders",
        "accounts": accounts,
        "account_balances": [balances_context(account=account) for account in accounts],
        "form": form,
        "preview": preview,
        "paper_form": PaperAccountForm(),
        **_table_context(request),
    }


@login_required
@require_http_methods(["GET", "POST"])
def orders_view(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        if request.htmx and request.GET.get("table"):  # type: ignore[attr-defined]
            return render(request, "orders/orders.html#order-table", _table_context(request))
        return render(request, "orders/orders.html", _page_context(request))
    user = request_user(request)
    accounts = list(trading_account_list(actor=user, mode=current_mode(request)))
    form = OrderForm(request.POST, accounts=accounts)
    if form.is_valid():
        try:
            order = order_submit(actor=user, account=form.account_for(form.cleaned_data["symbol"]), request=_order_request(form))
        except ApplicationError as exc:
            apply_application_error(form, exc)
        else:
            message = f"{order.get_side_display()} {order.quantity.normalize():f} {order.symbol.symbol}: {order.get_status_display().lower()}"
            if order.reject_reason and not order.is_open:
                message += f" ({order.reject_reason})"
            messages.success(request, message)
            if request.htmx:  # type: ignore[attr-defined]
                fresh = OrderForm(
                    accounts=accounts,
                    initial={
                        **{k: v for k, v in form.cleaned_data.items() if k in ("symbol", "side", "order_type", "time_in_force", "leverage", "margin_mode")},
                        "client_order_id": new_client_order_id(),
                    },
                )
                response = render(request, "orders/orders.html#trade-panel", _page_context(request, form=fresh))
                # Fired before the swap, while the form is still in the page, so it reaches the table's
                # "orders-changed from:body" (a handler on the form itself is removed with the form).
                return trigger_client_event(response, "orders-changed")
            return redirect("orders:list")
    status = 400
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "orders/orders.html#trade-panel", _page_context(request, form=form), status=status)
    return render(request, "orders/orders.html", _page_context(request, form=form), status=status)


@login_required
@require_POST
def order_preview_view(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    accounts = list(trading_account_list(actor=user, mode=current_mode(request)))
    form = OrderForm(request.POST, accounts=accounts)
    preview = None
    if form.is_valid():
        symbol = form.cleaned_data["symbol"]
        preview = order_preview(actor=user, account=form.account_for(symbol), request=_order_request(form))
    return render(request, "orders/orders.html#order-preview", {"preview": preview, "form": form})


@login_required
@require_POST
def order_cancel_view(request: HttpRequest, order_id: str) -> HttpResponse:
    try:
        order_cancel(actor=request_user(request), order_id=order_id)
    except ApplicationError as exc:
        if request.htmx:  # type: ignore[attr-defined]
            return HttpResponse(exc.message, status=exc.status_code)
        messages.error(request, exc.message)
    if request.htmx:  # type: ignore[attr-defined]
        return HttpResponse(status=204)
    return redirect("orders:list")
