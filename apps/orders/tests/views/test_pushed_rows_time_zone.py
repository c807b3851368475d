"""A pushed order row shows times in the owner's time zone, exactly as the page renders it."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from apps.core import broadcast
from apps.orders.models import Order
from apps.orders.services import push
from apps.orders.tests.factories import OrderFactory

pytestmark = pytest.mark.django_db


def _row(html: str, order: Order) -> str:
    match = re.search(rf'<tr[^>]*id="order-{order.pk}".*?</tr>', html, re.S)
    assert match, "the order's row is in the HTML"
    return match.group(0)


def test_a_pushed_order_row_uses_the_owners_time_zone_like_the_page(signed_in, trader, account, sim, monkeypatch) -> None:
    trader.time_zone = "Asia/Tokyo"
    trader.save(update_fields=["time_zone"])
    broadcast._time_zones.clear()
    order = OrderFactory(account=account, symbol=sim["BTC/USDT"])
    Order.objects.filter(pk=order.pk).update(created_at=datetime(2026, 3, 1, 23, 30, 5, tzinfo=UTC))
    sent: list[str] = []
    monkeypatch.setattr(broadcast, "user_is_listening", lambda owner_id: True)
    monkeypatch.setattr(push, "send_html_to_user_now", lambda owner_id, html: sent.append(html))

    push._push(order.pk, trader.pk)
    page = signed_in.get("/orders/?tab=open").content.decode()

    assert "03-02 08:30:05" in _row(sent[0], order), "23:30 UTC is 08:30 the next day in Tokyo"
    assert "03-02 08:30:05" in _row(page, order), "the page shows the same time"
