"""An order's and a bot's page link to their own trail, which the Audit page shows filtered to them."""

from __future__ import annotations

import pytest

from apps.audit.services import audit_record
from apps.bots.tests.factories import BotFactory
from apps.orders.tests.factories import OrderFactory, TradingAccountFactory, sim_markets

pytestmark = pytest.mark.django_db


def test_an_orders_row_links_to_that_orders_trail(client) -> None:
    sim_markets()
    account = TradingAccountFactory(balances={"USDT": "1000"})
    order = OrderFactory(account=account)
    audit_record(actor=account.owner, action="order.submitted", summary="the order in question", target=order)
    audit_record(actor=account.owner, action="order.submitted", summary="another order")
    client.force_login(account.owner)

    page = client.get("/orders/").content.decode()
    link = f"/audit/?target_type=orders.order&amp;target_id={order.pk}"
    assert link in page or link.replace("&amp;", "&") in page

    trail = client.get(f"/audit/?target_type=orders.order&target_id={order.pk}").content.decode()
    assert "the order in question" in trail and "another order" not in trail


def test_a_bots_page_links_to_that_bots_trail(client) -> None:
    sim_markets()
    bot = BotFactory()
    client.force_login(bot.owner)

    page = client.get(f"/bots/{bot.pk}/").content.decode()

    assert 'data-testid="bot-trail"' in page and f"target_type=bots.bot&amp;target_id={bot.pk}".replace("&amp;", "&") in page.replace("&amp;", "&")
