"""A crash between sending an order and hearing back: the venue has the order, we do not know it.

The local Binance is wrapped so that it places the order and then never answers; the gateway gives
up after one second (a read timeout, as when the worker dies or the network drops the answer).
`hang_next` cannot do this: it waits *before* the venue handles the request, and the request is
cancelled when the client gives up, so nothing would be placed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import ccxt
import pytest
from aiohttp import web
from django.conf import settings

from apps.audit.models import AuditEvent
from apps.exchanges.errors import ExchangeUnavailableError
from apps.exchanges.gateways.ccxt_gateway import CcxtGateway
from apps.orders.models import Fill, Order
from apps.orders.services.live import live_accounts_reconcile, live_order_send
from tests.venues import binance
from tests.venues.fixtures import FAST_RETRIES
from tests.venues.server import MarketData, VenueControl, run_venue

from .conftest import LiveTrader, RetryRequested, make_live_trader, pointed_at, retry

pytestmark = pytest.mark.django_db
CLIENT_TIMEOUT_MS = 1000


class LosingVenue:
    """Binance that executes the next `lose` order placements but never sends their answers."""

    def __init__(self) -> None:
        self.lose = 0

    def create_app(self, control: VenueControl, market_data: MarketData) -> web.Application:
        app = binance.create_app(control, market_data)

        @web.middleware
        async def lose_the_answer(request: web.Request, handler: Any) -> web.StreamResponse:
            response = await handler(request)  # the order is placed
            if request.method == "POST" and request.path == "/api/v3/order" and self.lose > 0:
                self.lose -= 1
                await asyncio.sleep(30)  # cancelled when the client gives up
            return response

        app.middlewares.insert(0, lose_the_answer)
        return app


@pytest.fixture
def losing() -> LosingVenue:
    return LosingVenue()


@pytest.fixture
def trader(losing: LosingVenue, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveTrader]:
    def impatient_gateway_for(code: str, credentials: Any = None) -> CcxtGateway:
        options = FAST_RETRIES | {"timeout_ms": CLIENT_TIMEOUT_MS}
        return CcxtGateway(code, credentials, rest_base_url=settings.EXCHANGE_REST_BASE_URL, ws_base_url=settings.EXCHANGE_WS_BASE_URL, **options)

    with run_venue(losing.create_app) as venue, pointed_at(venue):
        monkeypatch.setattr("apps.exchanges.services.gateway_for", impatient_gateway_for)
        yield make_live_trader(venue)


def _send_and_lose_the_answer(trader: LiveTrader, losing: LosingVenue, order: Order) -> None:
    losing.lose = 1
    with pytest.raises(RetryRequested) as raised:
        live_order_send(order_id=str(order.pk), retry=retry)
    assert isinstance(raised.value.exc, ExchangeUnavailableError)
    assert isinstance(raised.value.exc.__cause__, ccxt.RequestTimeout)  # the client gave up waiting


def _our_orders(trader: LiveTrader, client_order_id: str) -> int:
    return Order.objects.filter(account=trader.account, client_order_id=client_order_id).count()


def test_the_retried_send_adopts_the_order_the_venue_accepted_and_places_nothing_twice(trader: LiveTrader, losing: LosingVenue) -> None:
    order = trader.submit("LIMIT")

    _send_and_lose_the_answer(trader, losing, order)

    order.refresh_from_db()
    assert (order.status, order.venue_order_id, order.acknowledged_at) == ("NEW", "", None)
    assert order.sent_at is not None  # committed before the request: the retry knows to ask first
    assert len(trader.venue_orders(order.client_order_id)) == 1  # the venue did take it
    assert trader.venue.control.count("/api/v3/order") == 1  # and the gateway did not resend blindly

    assert live_order_send(order_id=str(order.pk), retry=retry) == "OPEN"  # the retried task
    counts = live_accounts_reconcile()

    order.refresh_from_db()
    on_venue = trader.venue_orders(order.client_order_id)
    assert len(on_venue) == 1
    assert order.venue_order_id == str(on_venue[0].order_id)
    assert order.acknowledged_at is not None
    assert order.status == "OPEN"
    assert trader.venue.control.count("/api/v3/order") == 2  # the first POST and one GET by client id; no second POST
    assert _our_orders(trader, order.client_order_id) == 1
    assert Order.objects.filter(account=trader.account).count() == 1
    assert not {"adopted", "lost", "acknowledged", "conflict", "errors"} & set(counts)
    assert AuditEvent.objects.filter(action="order.acknowledged", target_id=str(order.pk)).count() == 1


def test_when_the_retry_never_comes_reconciliation_acknowledges_the_order(trader: LiveTrader, losing: LosingVenue) -> None:
    order = trader.submit("LIMIT")
    _send_and_lose_the_answer(trader, losing, order)

    counts = live_accounts_reconcile()

    order.refresh_from_db()
    assert counts["acknowledged"] == 1
    assert "adopted" not in counts
    assert order.status == "OPEN"
    assert order.venue_order_id == str(trader.venue_orders(order.client_order_id)[0].order_id)
    event = AuditEvent.objects.get(action="reconciliation.acknowledged", target_id=str(order.pk))
    assert event.changes["ours"]["venue_order_id"] == ""
    assert event.changes["venue"]["venue_order_id"] == order.venue_order_id
    # The task, redelivered late, has nothing left to do.
    assert live_order_send(order_id=str(order.pk), retry=retry) == "OPEN"
    assert trader.venue.control.count("/api/v3/order") == 1
    assert len(trader.venue_orders(order.client_order_id)) == 1


def test_a_market_order_filled_while_the_answer_was_lost_is_recorded_once(trader: LiveTrader, losing: LosingVenue) -> None:
    order = trader.submit("MARKET", quantity="0.01")
    _send_and_lose_the_answer(trader, losing, order)
    assert trader.venue_orders(order.client_order_id)[0].status == "FILLED"

    assert live_order_send(order_id=str(order.pk), retry=retry) == "FILLED"
    live_accounts_reconcile()
    live_accounts_reconcile()
    assert live_order_send(order_id=str(order.pk), retry=retry) == "FILLED"

    order.refresh_from_db()
    on_venue = trader.venue_orders(order.client_order_id)
    assert len(on_venue) == 1  # a market order is not protected by Binance's duplicate check: we must not resend
    fills = list(Fill.objects.filter(order=order))
    assert len(fills) == 1
    assert fills[0].quantity == Decimal("0.01")
    assert fills[0].price == Decimal(on_venue[0].fills[0]["price"])
    assert fills[0].venue_trade_id == f"{order.venue_order_id}:0.01"
    assert (order.status, order.filled_quantity, order.locked_amount) == ("FILLED", Decimal("0.01"), 0)
    # The order as fetched carries no fee; the balance sync settles the BTC commission, and says so.
    assert trader.balance("BTC").total == sum(trader.state.balances["BTC"])
    assert trader.balance("USDT").total == sum(trader.state.balances["USDT"])
    assert AuditEvent.objects.filter(action="reconciliation.balance", target_id=str(trader.account.pk)).exists()
