"""Another trader sees and touches nothing of mine: not through the pages, not through the WebSocket."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing.websocket import WebsocketCommunicator
from django.conf import settings
from django.db import connections
from django.test import Client

from apps.accounts.tests.factories import UserFactory
from apps.orders.models import Order
from apps.orders.services.market_inputs import current_book
from apps.orders.services.placement import OrderRequest, order_cancel, order_submit
from apps.orders.tests.factories import TradingAccountFactory, sim_markets
from apps.portfolio.models import Position
from trading_platform.asgi import application

HTMX = {"HX-Request": "true"}


def _resting_order(trader, account, symbol) -> Order:
    price = (current_book(symbol).bids[0].price * Decimal("0.9")).quantize(Decimal("0.01"))
    return order_submit(
        actor=trader, account=account, request=OrderRequest(symbol=symbol, side="BUY", order_type="LIMIT", quantity=Decimal("0.1"), price=price)
    )


@pytest.mark.django_db
def test_another_user_sees_none_of_my_orders_positions_or_balances_on_the_pages(client: Client, trader, account, sim) -> None:
    order = _resting_order(trader, account, sim["BTC/USDT"])
    order_submit(actor=trader, account=account, request=OrderRequest(symbol=sim["ETH/USDT"], side="BUY", order_type="MARKET", quantity=Decimal("0.5")))
    position = Position.objects.get(account=account, symbol=sim["ETH/USDT"])
    stranger = UserFactory()
    TradingAccountFactory(owner=stranger, balances={"USDT": "7"})
    client.force_login(stranger)

    orders_page = client.get("/orders/?tab=all").content.decode()
    positions_page = client.get("/positions/").content.decode()

    assert str(order.pk) not in orders_page and "No orders here." in orders_page
    assert str(position.pk) not in positions_page and "No open positions" in positions_page
    assert str(account.pk) not in orders_page + positions_page
    assert '<span data-testid="balance-free-USDT">7</span>' in orders_page


@pytest.mark.django_db
@pytest.mark.parametrize("htmx", [False, True])
def test_another_user_cannot_cancel_my_order_or_close_my_position_through_the_pages(client: Client, trader, account, sim, htmx) -> None:
    order = _resting_order(trader, account, sim["BTC/USDT"])
    order_submit(actor=trader, account=account, request=OrderRequest(symbol=sim["ETH/USDT"], side="BUY", order_type="MARKET", quantity=Decimal("0.5")))
    position = Position.objects.get(account=account, symbol=sim["ETH/USDT"])
    client.force_login(UserFactory())
    headers = HTMX if htmx else {}

    cancel = client.post(f"/orders/{order.pk}/cancel/", headers=headers)
    client.post(f"/positions/{position.pk}/close/", headers=headers)
    client.post(f"/positions/{position.pk}/exits/", {"stop_loss": "1", "take_profit": ""}, headers=headers)

    assert cancel.status_code == (404 if htmx else 302)
    order.refresh_from_db()
    position.refresh_from_db()
    assert order.status == "OPEN" and order.locked_amount > 0
    assert position.quantity == Decimal("0.5") and position.stop_loss is None
    assert Order.objects.filter(account=account).count() == 2


@pytest.mark.django_db
def test_posting_an_order_for_a_symbol_on_an_exchange_i_have_no_account_on_is_refused(client: Client, trader, account, sim) -> None:
    client.force_login(UserFactory())  # no account at all

    response = client.post("/orders/", {"symbol": str(sim["BTC/USDT"].pk), "side": "BUY", "order_type": "MARKET", "quantity": "0.01", "time_in_force": "GTC"})

    assert response.status_code == 400 and not Order.objects.exists()


# WebSocket ------------------------------------------------------------------------------


ORIGIN = (b"origin", b"http://127.0.0.1")
HOST = (b"host", b"127.0.0.1")


def _cookie(user) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    return (b"cookie", f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode())


@pytest.mark.django_db(transaction=True)
def test_only_the_owner_socket_hears_of_an_order_change() -> None:
    symbol = sim_markets()["BTC/USDT"]
    alice, bob = UserFactory(), UserFactory()
    account = TradingAccountFactory(owner=alice, balances={"USDT": "100000"})
    TradingAccountFactory(owner=bob, balances={"USDT": "100000"})
    alice_cookie, bob_cookie = _cookie(alice), _cookie(bob)

    async def scenario() -> tuple[str, str, bool]:
        alice_socket = WebsocketCommunicator(application, "/ws/events/", headers=[ORIGIN, HOST, alice_cookie])
        bob_socket = WebsocketCommunicator(application, "/ws/events/", headers=[ORIGIN, HOST, bob_cookie])
        assert (await alice_socket.connect())[0] and (await bob_socket.connect())[0]
        order = await sync_to_async(_resting_order)(alice, account, symbol)
        placed = await alice_socket.receive_from(timeout=10)
        await sync_to_async(order_cancel)(actor=alice, order_id=order.pk)
        canceled = await alice_socket.receive_from(timeout=10)
        bob_heard_nothing = await bob_socket.receive_nothing(timeout=1)
        await alice_socket.disconnect()
        await bob_socket.disconnect()
        return f"{order.pk}|{placed}", canceled, bob_heard_nothing

    def run() -> tuple[str, str, bool]:
        try:
            return async_to_sync(scenario)()
        finally:
            connections.close_all()  # the database work of sync_to_async ran in this thread

    with ThreadPoolExecutor(max_workers=1) as pool:  # a thread of its own: a browser test may have left an event loop in this one
        placed, canceled, bob_heard_nothing = pool.submit(run).result()

    order_id, html = placed.split("|", 1)
    assert f'id="order-{order_id}"' in html and 'hx-swap-oob="true"' in html and 'data-status="OPEN"' in html
    assert 'id="live-signal"' in html and "orders-changed" in html
    assert f'id="order-{order_id}"' in canceled and 'data-status="CANCELED"' in canceled
    assert bob_heard_nothing
