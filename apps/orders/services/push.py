"""Live updates of the trading pages: rendered partials sent to the owner's group after commit."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.template.loader import render_to_string

from apps.core.broadcast import send_html_to_user_now
from apps.orders.models import Order


def push_order_changes(order: Order) -> None:
    """After commit: the order's row (inserted or replaced), its position and the account's balances."""
    order_id = order.pk
    owner_id = order.account.owner_id
    transaction.on_commit(lambda: _push(order_id, owner_id))


def _push(order_id: Any, owner_id: Any) -> None:
    from apps.core.broadcast import user_is_listening
    from apps.portfolio.presentation import balances_context, position_rows

    if not user_is_listening(owner_id):  # an API-only trader or a bot with no page open
        return
    order = Order.objects.select_related("symbol", "symbol__exchange", "account", "account__exchange").get(pk=order_id)
    html = [render_to_string("orders/partials.html#order-row", {"order": order, "oob": True})]
    positions = position_rows(owner_id=owner_id, account=order.account, symbol_id=order.symbol_id)
    for row in positions:
        html.append(render_to_string("portfolio/partials.html#position-row", {"row": row, "oob": True}))
    html.append(render_to_string("portfolio/partials.html#balances", {**balances_context(account=order.account), "oob": True}))
    html.append(render_to_string("partials/live_signal.html", {"events": "orders-changed positions-changed balances-changed"}))
    send_html_to_user_now(owner_id, "".join(html))
