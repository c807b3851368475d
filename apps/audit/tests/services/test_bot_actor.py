"""A bot's orders are its own in the trail: the bot named as the actor, in its owner's trail."""

from __future__ import annotations

import pytest

from apps.accounts.tests.factories import UserFactory
from apps.audit.models import AuditEvent
from apps.bots.runner import bot_process_bar
from apps.bots.services import bot_create, bot_start
from apps.bots.tests.conftest import paper_account
from apps.bots.tests.factories import set_book, store_bars, walk
from apps.orders.models import Order
from apps.orders.tests.factories import sim_markets

pytestmark = pytest.mark.django_db
DCA_EVERY_BAR = {"trigger": "periodic", "interval": 1, "order_quote": 100.0, "max_safety_orders": 0, "take_profit_percent": 50.0}


def test_an_order_a_bot_places_names_the_bot_as_the_actor() -> None:
    sol = sim_markets()["SOL/USDT"]
    trader = UserFactory()
    market = walk(80, seed=7)
    store_bars(sol, market, range(60))
    set_book(sol, market.close[59])
    bot = bot_create(actor=trader, name="dca sol", account=paper_account(trader), symbol=sol, timeframe="1m", strategy="dca", params=DCA_EVERY_BAR)
    bot_start(actor=trader, bot_id=bot.pk)
    store_bars(sol, market, [60])
    set_book(sol, market.open[61])

    bot_process_bar(bot_id=bot.pk, open_time=market.datetime_at(60))

    order = Order.objects.get(bot=bot)
    event = AuditEvent.objects.get(action="order.submitted", target_id=str(order.pk))
    assert (event.actor_kind, event.actor_ref, event.actor_name, event.owner_id) == ("bot", str(bot.pk), "dca sol", trader.pk)
    assert event.changes["status"] == [None, "FILLED"]
    started = AuditEvent.objects.get(action="bot.started", target_id=str(bot.pk))
    assert started.actor_kind == "user"
