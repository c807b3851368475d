"""Live updates of the trading pages: rendered partials sent to the owner's group after commit."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.template.loader import render_to_string

from apps.core.broadcast import rendered_in_time_zone_of, send_html_to_user_now
from apps.orders.models import Order


def push_order_changes(order: Order) -> None:
    """After commit: the order's row (inserted or replaced), its position and the account's balances."""
    order_id = order.pk
    owner_id = order.account.owner_id
    transaction.on_commit(lambda: _push(order_id, owner_id))


def push_account_changes(*, owner_id: Any, account_id: Any, symbol_id: Any = None, orders_changed: bool = False) -> None:
    """After commit: the account's position in `symbol_id` (if given) and its balances, for changes
    that come without an order the trader placed (exits edited, funding, balances aligned with the
    venue, a liquidation). `orders_changed` also tells the order tables to reload themselves (rather
    than pushing rows a page without the table has no place for)."""
    transaction.on_commit(lambda: _push_account(owner_id, account_id, symbol_id, orders_changed))


@rendered_in_time_zone_of("owner_id")
def _push(order_id: Any, owner_id: Any) -> None:
    from apps.core.broadcast import user_is_listening

    if not user_is_listening(owner_id):  # an API-only trader or a bot with no page open
        return
    order = Order.objects.select_related("symbol", "symbol__exchange", "account", "account__exchange").get(pk=order_id)
    html: list[str] = [render_to_string("orders/partials.html#order-row", {"order": order, "oob": True})]
    html += _position_and_balances_html(owner_id, order.account, order.symbol_id)
    html.append(render_to_string("partials/live_signal.html", {"events": "orders-changed positions-changed balances-changed"}))
    send_html_to_user_now(owner_id, "".join(html))


@rendered_in_time_zone_of("owner_id")
def _push_account(owner_id: Any, account_id: Any, symbol_id: Any, orders_changed: bool = False) -> None:
    from apps.core.broadcast import user_is_listening
    from apps.portfolio.models import TradingAccount

    if not user_is_listening(owner_id):
        return
    account = TradingAccount.objects.select_related("exchange").filter(pk=account_id, owner_id=owner_id).first()
    if account is None:
        return
    html = _position_and_balances_html(owner_id, account, symbol_id)
    events = "orders-changed positions-changed balances-changed" if orders_changed else "positions-changed balances-changed"
    html.append(render_to_string("partials/live_signal.html", {"events": events}))
    send_html_to_user_now(owner_id, "".join(html))


def _position_and_balances_html(owner_id: Any, account: Any, symbol_id: Any) -> list[str]:
    from apps.portfolio.presentation import balances_context, position_rows

    html: list[str] = []
    if symbol_id is not None:
        for row in position_rows(owner_id=owner_id, account=account, symbol_id=symbol_id):
            html.append(render_to_string("portfolio/partials.html#position-row", {"row": row, "oob": True}))
    html.append(render_to_string("portfolio/partials.html#balances", {**balances_context(account=account), "oob": True}))
    return html
