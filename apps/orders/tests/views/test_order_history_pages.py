"""The order tables page by fifty, and every page is reachable with the filters kept."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.orders.tests.factories import OrderFactory

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def _history(account, sim, count: int, symbol: str = "BTC/USDT") -> list:
    now = timezone.now()
    orders = [OrderFactory(account=account, symbol=sim[symbol], status="CANCELED") for _ in range(count)]
    for age, order in enumerate(orders):
        type(order).objects.filter(pk=order.pk).update(created_at=now - timedelta(minutes=age))
    return orders  # newest first


def _link(page: str, testid: str) -> str:
    match = re.search(rf'<a href="([^"]+)"[^>]*data-testid="{testid}"', page)
    assert match, f"no {testid} link on the page"
    return match.group(1).replace("&amp;", "&")


def test_the_history_tab_links_to_its_second_page(signed_in: Client, account, sim) -> None:
    orders = _history(account, sim, 55)

    first = signed_in.get("/orders/?tab=history").content.decode()
    assert "Page 1 of 2" in first and f'id="order-{orders[0].pk}"' in first and f'id="order-{orders[54].pk}"' not in first

    second = signed_in.get("/orders/" + _link(first, "page-older")).content.decode()
    assert "Page 2 of 2" in second and f'id="order-{orders[54].pk}"' in second and f'id="order-{orders[0].pk}"' not in second
    assert "/orders/" + _link(second, "page-newer") == "/orders/?tab=history&page=1"


def test_paging_a_filtered_table_in_place_keeps_the_filter(signed_in: Client, account, sim) -> None:
    btc = _history(account, sim, 52)
    eth = _history(account, sim, 3, symbol="ETH/USDT")

    table = signed_in.get("/orders/?tab=history&symbol=BTC&table=1", headers=HTMX).content.decode()
    assert table.lstrip().startswith('<div id="order-table"')
    older = re.search(r'hx-get="([^"]+)"[^>]*data-testid="page-older"', table)
    assert older and 'hx-target="#order-table"' in table

    second = signed_in.get("/orders/" + older.group(1).replace("&amp;", "&"), headers=HTMX).content.decode()
    assert f'id="order-{btc[51].pk}"' in second
    assert not any(f'id="order-{order.pk}"' in second for order in eth), "the symbol filter is kept on page 2"


def test_a_live_refresh_of_page_two_stays_on_page_two(signed_in: Client, account, sim) -> None:
    _history(account, sim, 55)

    second = signed_in.get("/orders/?tab=history&page=2").content.decode()

    assert 'hx-get="/orders/?table=1&amp;page=2"' in second
