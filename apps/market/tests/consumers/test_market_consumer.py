"""Market WebSockets through the real ASGI stack (origin check, session auth) and the Redis channel layer."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels.testing.websocket import WebsocketCommunicator
from django.conf import settings

from apps.accounts.tests.factories import UserFactory
from apps.core.consumers import UNAUTHENTICATED_CLOSE_CODE
from apps.exchanges.tests.factories import ExchangeFactory, SymbolFactory
from apps.market.consumers import NOT_FOUND_CLOSE_CODE
from apps.market.groups import MARKET_EVENT_TYPE
from trading_platform.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

HEADERS = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")]


@pytest.fixture
def sim_symbols() -> None:
    # Transactional tests flush the tables, seeded exchanges included: make sure SIM is there.
    sim = ExchangeFactory(code="SIM")
    SymbolFactory(exchange=sim, symbol="BTC/USDT")
    SymbolFactory(exchange=sim, symbol="ETH/USDT")


def _cookie(client) -> tuple[bytes, bytes]:
    client.force_login(UserFactory())
    return (b"cookie", f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode())


def _connect_all(paths: list[str], cookie: tuple[bytes, bytes] | None = None) -> dict[str, tuple[bool, object]]:
    """Open every path at once (a refused socket takes a second to wind down) and report (connected, close code)."""

    async def one(path: str) -> tuple[bool, object]:
        communicator = WebsocketCommunicator(application, path, headers=HEADERS + ([cookie] if cookie else []))
        connected, code = await communicator.connect()
        await communicator.disconnect()
        return connected, code

    async def scenario() -> list[tuple[bool, object]]:
        return list(await asyncio.gather(*(one(path) for path in paths)))

    return dict(zip(paths, async_to_sync(scenario)(), strict=True))


def test_anonymous_visitors_are_refused(sim_symbols) -> None:
    paths = ["/ws/market/SIM/", "/ws/market/SIM/BTC-USDT/"]

    assert _connect_all(paths) == dict.fromkeys(paths, (False, UNAUTHENTICATED_CLOSE_CODE))


def test_an_unknown_exchange_or_symbol_is_refused_as_not_found(sim_symbols, client) -> None:
    paths = ["/ws/market/NOPE/", "/ws/market/NOPE/BTC-USDT/", "/ws/market/SIM/XRP-JPY/"]

    assert _connect_all(paths, _cookie(client)) == dict.fromkeys(paths, (False, NOT_FOUND_CLOSE_CODE))


def test_a_signed_in_client_receives_what_is_sent_to_its_group_only(sim_symbols, client) -> None:
    cookie = _cookie(client)

    def event(text: str) -> dict[str, str]:
        return {"type": MARKET_EVENT_TYPE, "payload": json.dumps({"html": f'<p id="x">{text}</p>', "candle": None})}

    async def scenario() -> tuple[bool, bool, list[str], bool, list[str], bool]:
        layer = get_channel_layer()
        exchange_socket = WebsocketCommunicator(application, "/ws/market/SIM/", headers=[*HEADERS, cookie])
        symbol_socket = WebsocketCommunicator(application, "/ws/market/sim/BTC-USDT/", headers=[*HEADERS, cookie])
        exchange_ok, _ = await exchange_socket.connect()
        symbol_ok, _ = await symbol_socket.connect()

        await layer.group_send("market.SIM.ETH-USDT", event("eth book"))
        await layer.group_send("market.SIM.BTC-USDT", event("btc book"))
        await layer.group_send("market.SIM", event("ticker rows"))

        for_symbol = [json.loads(await symbol_socket.receive_from(timeout=5))["html"]]
        symbol_quiet = await symbol_socket.receive_nothing(timeout=0.3)
        for_exchange = [json.loads(await exchange_socket.receive_from(timeout=5))["html"]]
        exchange_quiet = await exchange_socket.receive_nothing(timeout=0.3)
        await exchange_socket.disconnect()
        await symbol_socket.disconnect()
        return exchange_ok, symbol_ok, for_symbol, symbol_quiet, for_exchange, exchange_quiet

    exchange_ok, symbol_ok, for_symbol, symbol_quiet, for_exchange, exchange_quiet = async_to_sync(scenario)()

    assert exchange_ok and symbol_ok
    assert for_symbol == ['<p id="x">btc book</p>'] and symbol_quiet
    assert for_exchange == ['<p id="x">ticker rows</p>'] and exchange_quiet
