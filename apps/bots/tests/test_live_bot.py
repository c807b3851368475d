"""A bot on a live account: its orders go through order_submit to the venue (the local Binance), held and sent once."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from apps.audit.models import AuditEvent
from apps.bots.runner import bot_process_bar, client_order_id
from apps.bots.services import bot_create, bot_start
from apps.bots.tests.factories import store_bars, walk
from apps.orders.models import Order
from apps.orders.services.live import live_order_send
from apps.orders.tests.live.conftest import LiveTrader, make_live_trader, pointed_at, retry
from tests.venues.fixtures import binance_server  # noqa: F401
from tests.venues.server import RunningVenue

pytestmark = pytest.mark.django_db


@pytest.fixture
def live_trader(binance_server: RunningVenue) -> Iterator[LiveTrader]:  # noqa: F811
    with pointed_at(binance_server):
        yield make_live_trader(binance_server)


def test_a_live_bot_places_its_order_on_the_venue_once_with_its_own_client_id(live_trader: LiveTrader, monkeypatch: pytest.MonkeyPatch) -> None:
    enqueued: list[tuple[Any, ...]] = []
    monkeypatch.setattr("apps.orders.tasks.send_live_order_task.delay", lambda *args: enqueued.append(args))
    btc = live_trader.btc
    data = walk(70, seed=5, start=60000.0, sigma=0.0005)
    store_bars(btc, data, range(61))
    bot = bot_create(
        actor=live_trader.user,
        name="live dca",
        account=live_trader.account,
        symbol=btc,
        timeframe="1m",
        strategy="dca",
        params={"trigger": "periodic", "interval": 1, "order_quote": 100.0, "max_safety_orders": 0, "take_profit_percent": 50.0},
    )
    bot_start(actor=live_trader.user, bot_id=bot.pk)
    store_bars(btc, data, [61])

    report = bot_process_bar(bot_id=bot.pk, open_time=data.datetime_at(61))

    assert report.processed == 1 and report.orders == 1
    order = Order.objects.get(bot=bot)
    assert (order.source, order.side, order.order_type, order.status) == ("bot", "BUY", "MARKET", "NEW")  # held, waiting for the venue
    assert order.client_order_id == client_order_id(bot.pk, data.datetime_at(61), 1)
    assert order.locked_amount > 0 and live_trader.balance("USDT").locked == order.locked_amount
    assert AuditEvent.objects.filter(action="order.submitted", target_id=str(order.pk)).exists()

    assert live_order_send(order_id=str(order.pk), retry=retry) == "FILLED"  # the task, as the worker runs it
    assert live_order_send(order_id=str(order.pk), retry=retry) == "FILLED"  # a redelivered task sends nothing more

    (on_venue,) = live_trader.venue_orders(order.client_order_id)
    assert (on_venue.side, on_venue.type, on_venue.status) == ("BUY", "MARKET", "FILLED")
    assert on_venue.quantity == order.quantity
    order.refresh_from_db()
    assert order.venue_order_id == str(on_venue.order_id) and order.filled_quantity == order.quantity
    assert live_trader.venue.control.count("/api/v3/order") == 1
    assert Decimal(0) < order.average_price
