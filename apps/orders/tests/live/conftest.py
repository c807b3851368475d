"""A verified live Binance account pointed at the local Binance (tests.venues), with 100 000 USDT."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.test import override_settings

from apps.accounts.models import User
from apps.accounts.tests.factories import UserFactory
from apps.exchanges.models import Symbol
from apps.exchanges.selectors import builtin_exchange
from apps.exchanges.services import api_connection_create, api_connection_verify, symbols_sync
from apps.orders.models import Order
from apps.orders.services.market_inputs import current_book
from apps.orders.services.placement import OrderRequest, order_submit
from apps.portfolio.models import Balance, TradingAccount
from apps.portfolio.services import live_account_create
from tests.venues import binance
from tests.venues.fixtures import binance_server  # noqa: F401
from tests.venues.server import RunningVenue

STARTING_USDT = Decimal("100000")  # the same as the venue's, so balances start equal


class RetryRequested(Exception):
    """What the test's stand-in for Celery's `self.retry` raises."""

    def __init__(self, exc: Exception | None, countdown: float | None) -> None:
        super().__init__(f"retry in {countdown}s after {exc!r}")
        self.exc, self.countdown = exc, countdown


def retry(exc: Exception | None = None, countdown: float | None = None, **_: Any) -> RetryRequested:
    raise RetryRequested(exc, countdown)


@dataclass
class LiveTrader:
    user: User
    account: TradingAccount
    btc: Symbol
    venue: RunningVenue

    @property
    def state(self) -> binance.BinanceState:
        return self.venue[binance.STATE]

    def venue_orders(self, client_order_id: str) -> list[binance.SpotOrder]:
        return [order for order in self.state.orders.values() if order.client_order_id == client_order_id]

    def balance(self, asset: str) -> Balance:
        return Balance.objects.get(account=self.account, asset=asset)

    def resting_buy_price(self) -> Decimal:
        """5 % under the bid: rests on the venue without filling."""
        return self.btc.round_price(current_book(self.btc).best_bid * Decimal("0.95"), "down")

    def submit(self, order_type: str = "LIMIT", side: str = "BUY", quantity: str = "0.01", price: Decimal | None = None) -> Order:
        if order_type == "LIMIT" and price is None:
            price = self.resting_buy_price()
        request = OrderRequest(symbol=self.btc, side=side, order_type=order_type, quantity=Decimal(quantity), price=price)
        return order_submit(actor=self.user, account=self.account, request=request)


def make_live_trader(venue: RunningVenue) -> LiveTrader:
    """What a trader does before trading live: connect, verify, open the account. Symbols come from the venue."""
    user = UserFactory()
    exchange = builtin_exchange("BINANCE")
    connection = api_connection_create(actor=user, exchange=exchange, label="main", api_key=binance.API_KEY, secret=binance.SECRET)
    connection = api_connection_verify(actor=user, connection_id=connection.pk)
    assert connection.is_verified, connection.status_detail
    symbols_sync(exchange=exchange)
    account = live_account_create(actor=user, connection=connection)
    Balance.objects.create(account=account, asset="USDT", free=STARTING_USDT)
    return LiveTrader(user, account, Symbol.objects.select_related("exchange").get(exchange=exchange, symbol="BTC/USDT"), venue)


def pointed_at(venue: RunningVenue) -> Any:
    """Every gateway the platform opens (`gateway_for`) talks to `venue`."""
    return override_settings(EXCHANGE_REST_BASE_URL=venue.rest_url, EXCHANGE_WS_BASE_URL=venue.ws_url)


@pytest.fixture
def live_trader(binance_server: RunningVenue) -> Iterator[LiveTrader]:  # noqa: F811
    with pointed_at(binance_server):
        yield make_live_trader(binance_server)
