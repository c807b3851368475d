"""The events WebSocket only pushes: what a client sends on it, a cancel "command" for someone
else's order included, changes nothing and tells the sender nothing."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing.websocket import WebsocketCommunicator
from django.conf import settings
from django.db import connections
from django.test import Client

from apps.accounts.tests.factories import UserFactory
from apps.core.broadcast import send_html_to_user_now
from apps.orders.services.market_inputs import current_book
from apps.orders.services.placement import OrderRequest, order_submit
from apps.orders.tests.factories import TradingAccountFactory, sim_markets
from apps.portfolio.models import Balance
from trading_platform.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://127.0.0.1")
HOST = (b"host", b"127.0.0.1")


def _cookie(user) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    return (b"cookie", f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode())


def _in_own_thread(scenario):
    def run():
        try:
            return async_to_sync(scenario)()
        finally:
            connections.close_all()  # the database work of sync_to_async ran in this thread

    with ThreadPoolExecutor(max_workers=1) as pool:  # a browser test may have left an event loop in this thread
        return pool.submit(run).result()


def test_a_cancel_command_sent_by_another_user_on_the_socket_leaves_my_order_open_and_tells_them_nothing() -> None:
    symbol = sim_markets()["BTC/USDT"]
    alice, bob = UserFactory(), UserFactory()
    account = TradingAccountFactory(owner=alice, balances={"USDT": "100000"})
    TradingAccountFactory(owner=bob, balances={"USDT": "100000"})
    price = symbol.round_price(current_book(symbol).best_bid * Decimal("0.9"), "down")
    order = order_submit(
        actor=alice, account=account, request=OrderRequest(symbol=symbol, side="BUY", order_type="LIMIT", quantity=Decimal("0.1"), price=price)
    )
    held = order.locked_amount
    alice_cookie, bob_cookie = _cookie(alice), _cookie(bob)
    commands = [
        {"action": "cancel", "order_id": str(order.pk)},
        {"type": "order.cancel", "order": str(order.pk), "account": str(account.pk)},
        {"type": "user.html", "html": f'<div id="order-{order.pk}">canceled</div>'},  # a handler name: still only data
        {"HEADERS": {"HX-Request": "true", "HX-Trigger": "cancel"}, "url": f"/orders/{order.pk}/cancel/", "method": "POST"},
    ]

    async def scenario() -> tuple[bool, bool, str]:
        alice_socket = WebsocketCommunicator(application, "/ws/events/", headers=[ORIGIN, HOST, alice_cookie])
        bob_socket = WebsocketCommunicator(application, "/ws/events/", headers=[ORIGIN, HOST, bob_cookie])
        assert (await alice_socket.connect())[0] and (await bob_socket.connect())[0]
        for command in commands:
            await bob_socket.send_to(text_data=json.dumps(command))
        await bob_socket.send_to(text_data=f"cancel {order.pk}")  # not even JSON
        bob_heard_nothing = await bob_socket.receive_nothing(timeout=1)
        alice_heard_nothing = await alice_socket.receive_nothing(timeout=0.2)  # her order did not change
        await sync_to_async(send_html_to_user_now)(bob.pk, '<div id="x">for bob</div>')
        still_listening = await bob_socket.receive_from(timeout=5)  # the socket was not closed either
        await alice_socket.disconnect()
        await bob_socket.disconnect()
        return bob_heard_nothing, alice_heard_nothing, still_listening

    bob_heard_nothing, alice_heard_nothing, still_listening = _in_own_thread(scenario)

    assert bob_heard_nothing and alice_heard_nothing
    assert still_listening == '<div id="x">for bob</div>'
    order.refresh_from_db()
    assert (order.status, order.locked_amount, order.reject_reason) == ("OPEN", held, "")
    assert Balance.objects.get(account=account, asset="USDT").locked == held
