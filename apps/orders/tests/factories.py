"""Trading rows built directly, for tests that need a state rather than the path to it.

Orders placed through `order_submit` are the real thing; these factories are for lists,
filters and isolation tests that only need rows to exist.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import factory
from django.db import connections
from django.test import Client
from django.utils import timezone

from apps.accounts.models import User
from apps.accounts.tests.factories import UserFactory
from apps.accounts.tests.helpers import bearer
from apps.exchanges.crypto import encrypt_credentials
from apps.exchanges.domain.types import BookLevel, Ticker
from apps.exchanges.enums import ConnectionStatus
from apps.exchanges.gateways.base import Credentials
from apps.exchanges.models import ApiConnection, Symbol
from apps.exchanges.tests.factories import ExchangeFactory, SymbolFactory
from apps.market.live import live_store, ticker_to_dict
from apps.market.services.demo import sim_symbols_prepare
from apps.orders.models import Fill, Order
from apps.portfolio.enums import AccountMode
from apps.portfolio.models import Balance, Position, TradingAccount


class ApiConnectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ApiConnection

    owner = factory.SubFactory(UserFactory)
    exchange = factory.SubFactory(ExchangeFactory, code="BINANCE")
    label = factory.Sequence(lambda n: f"key {n}")
    credentials_encrypted = factory.LazyFunction(lambda: encrypt_credentials(Credentials(api_key="test-key-0123456789", secret="test-secret")))
    api_key_hint = "6789"
    status = ConnectionStatus.VERIFIED


class TradingAccountFactory(factory.django.DjangoModelFactory):
    """A paper account on SIM; `balances={"USDT": "10000"}` gives it money."""

    class Meta:
        model = TradingAccount
        skip_postgeneration_save = True

    owner = factory.SubFactory(UserFactory)
    exchange = factory.SubFactory(ExchangeFactory, code="SIM")
    mode = AccountMode.PAPER
    name = factory.LazyAttribute(lambda o: f"{o.mode.title()} {o.exchange.code}")

    class Params:
        live = factory.Trait(
            mode=AccountMode.LIVE,
            exchange=factory.SubFactory(ExchangeFactory, code="BINANCE"),
            api_connection=factory.SubFactory(ApiConnectionFactory, owner=factory.SelfAttribute("..owner"), exchange=factory.SelfAttribute("..exchange")),
        )

    @factory.post_generation
    def balances(account: TradingAccount, create: bool, extracted: dict[str, Any] | None, **kwargs: Any) -> None:
        if create and extracted:
            Balance.objects.bulk_create([Balance(account=account, asset=asset, free=Decimal(str(amount))) for asset, amount in extracted.items()])


class BalanceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Balance
        django_get_or_create = ("account", "asset")

    account = factory.SubFactory(TradingAccountFactory)
    asset = "USDT"
    free = Decimal("10000")
    locked = Decimal(0)


class PositionFactory(factory.django.DjangoModelFactory):
    """An open long on the account's exchange (BTC/USDT unless told)."""

    class Meta:
        model = Position

    account = factory.SubFactory(TradingAccountFactory)
    symbol = factory.SubFactory(SymbolFactory, exchange=factory.SelfAttribute("..account.exchange"))
    quantity = Decimal("0.1")
    entry_price = Decimal("60000")
    opened_at = factory.LazyFunction(timezone.now)


class OrderFactory(factory.django.DjangoModelFactory):
    """A resting limit buy, as a row (no hold is taken: use `order_submit` for the real thing)."""

    class Meta:
        model = Order

    account = factory.SubFactory(TradingAccountFactory)
    symbol = factory.SubFactory(SymbolFactory, exchange=factory.SelfAttribute("..account.exchange"))
    client_order_id = factory.Sequence(lambda n: f"test-{n}")
    side = "BUY"
    order_type = "LIMIT"
    quantity = Decimal("0.01")
    price = Decimal("50000")
    status = "OPEN"
    source = "ui"


class FillFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Fill

    order = factory.SubFactory(OrderFactory, status="FILLED", filled_quantity=Decimal("0.01"))
    account = factory.SelfAttribute("order.account")
    symbol = factory.SelfAttribute("order.symbol")
    side = factory.SelfAttribute("order.side")
    price = Decimal("50000")
    quantity = Decimal("0.01")
    fee = Decimal("0.25")
    fee_currency = "USDT"
    liquidity = "TAKER"


# Helpers -------------------------------------------------------------------------------------


def sim_markets() -> dict[str, Symbol]:
    """SIM's symbols by name (BTC/USDT, BTC/USDT:USDT, ETH/USDT, ETH/USDT:USDT, SOL/USDT)."""
    ExchangeFactory(code="SIM")  # transactional tests flush the seeded exchanges
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        symbols = sim_symbols_prepare()
    else:  # a browser test left Playwright's loop in this thread: async_to_sync must run in another (transactional tests only)
        with ThreadPoolExecutor(max_workers=1) as pool:
            symbols = pool.submit(_prepare_in_thread).result()
    return {symbol.symbol: symbol for symbol in symbols}


def _prepare_in_thread() -> list[Symbol]:
    try:
        return sim_symbols_prepare()
    finally:
        connections.close_all()


def ticker_stored(symbol: Symbol, last: Decimal) -> None:
    """A fresh ticker in the live store, as the stream keeps it: no venue is asked for `symbol`'s price."""
    ticker = Ticker(symbol.symbol, last, None, None, None, None, None, None, None, timezone.now())
    live_store("ticker", symbol.exchange.code, symbol.slug, ticker_to_dict(ticker))


def walk(levels: tuple[BookLevel, ...], quantity: Decimal) -> list[tuple[Decimal, Decimal]]:
    """What a taker gets for `quantity` from these levels, best first (computed here, not by the engine)."""
    taken: list[tuple[Decimal, Decimal]] = []
    for level in levels:
        if quantity <= 0:
            break
        take = min(level.quantity, quantity)
        taken.append((level.price, take))
        quantity -= take
    return taken


class JsonApi:
    """A JSON client signed in with a JWT."""

    def __init__(self, client: Client, user: User) -> None:
        self.client, self.headers = client, bearer(user)

    def get(self, url: str, params: dict[str, Any] | None = None) -> Any:
        return self.client.get(url, params or {}, headers=self.headers)

    def post(self, url: str, body: dict[str, Any] | None = None) -> Any:
        return self.client.post(url, body or {}, content_type="application/json", headers=self.headers)

    def put(self, url: str, body: dict[str, Any]) -> Any:
        return self.client.put(url, body, content_type="application/json", headers=self.headers)

    def patch(self, url: str, body: dict[str, Any]) -> Any:
        return self.client.patch(url, body, content_type="application/json", headers=self.headers)
