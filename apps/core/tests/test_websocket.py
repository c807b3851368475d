"""The per-user WebSocket: authenticated in connect, fed through the real Redis channel layer."""

import pytest
from asgiref.sync import async_to_sync
from channels.testing.websocket import WebsocketCommunicator
from django.conf import settings

from apps.accounts.tests.factories import UserFactory
from apps.core.broadcast import send_html_to_user_now
from apps.core.consumers import UNAUTHENTICATED_CLOSE_CODE
from trading_platform.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://127.0.0.1")


def _session_cookie_for(user, client) -> tuple[bytes, bytes]:
    client.force_login(user)
    session_id = client.cookies[settings.SESSION_COOKIE_NAME].value
    return (b"cookie", f"{settings.SESSION_COOKIE_NAME}={session_id}".encode())


def test_a_websocket_without_a_session_is_refused() -> None:
    async def scenario() -> tuple[bool, object]:
        communicator = WebsocketCommunicator(application, "/ws/events/", headers=[ORIGIN, (b"host", b"127.0.0.1")])
        connected, code = await communicator.connect()
        await communicator.disconnect()
        return connected, code

    connected, code = async_to_sync(scenario)()
    assert connected is False
    assert code == UNAUTHENTICATED_CLOSE_CODE


def test_a_websocket_from_a_foreign_origin_is_refused(client) -> None:
    cookie = _session_cookie_for(UserFactory(), client)

    async def scenario() -> bool:
        communicator = WebsocketCommunicator(application, "/ws/events/", headers=[(b"origin", b"http://evil.example"), cookie])
        connected, _ = await communicator.connect()
        await communicator.disconnect()
        return connected

    assert async_to_sync(scenario)() is False


def test_a_signed_in_user_receives_html_pushed_to_their_group_and_not_others(client) -> None:
    alice, bob = UserFactory(), UserFactory()
    cookie = _session_cookie_for(alice, client)

    async def scenario() -> tuple[bool, str, bool]:
        communicator = WebsocketCommunicator(application, "/ws/events/", headers=[ORIGIN, (b"host", b"127.0.0.1"), cookie])
        connected, _ = await communicator.connect()
        from asgiref.sync import sync_to_async

        await sync_to_async(send_html_to_user_now)(bob.pk, '<div id="x">for bob</div>')
        await sync_to_async(send_html_to_user_now)(alice.pk, '<div id="x" hx-swap-oob="true">for alice</div>')
        received = await communicator.receive_from(timeout=5)
        nothing_else = await communicator.receive_nothing(timeout=0.3)
        await communicator.disconnect()
        return connected, received, nothing_else

    connected, received, nothing_else = async_to_sync(scenario)()
    assert connected is True
    assert "for alice" in received
    assert nothing_else
