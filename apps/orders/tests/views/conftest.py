from __future__ import annotations

import pytest
from django.test import Client

from apps.accounts.models import User
from apps.accounts.tests.factories import UserFactory
from apps.exchanges.models import Symbol
from apps.orders.tests.factories import TradingAccountFactory, sim_markets
from apps.portfolio.models import TradingAccount


@pytest.fixture
def sim(db: None) -> dict[str, Symbol]:
    return sim_markets()


@pytest.fixture
def trader(db: None) -> User:
    return UserFactory()


@pytest.fixture
def account(trader: User, sim: dict[str, Symbol]) -> TradingAccount:
    """A paper account on SIM with 100,000 USDT (maker 0.02 %, taker 0.05 %)."""
    return TradingAccountFactory(owner=trader, balances={"USDT": "100000"})


@pytest.fixture
def signed_in(client: Client, trader: User) -> Client:
    client.force_login(trader)
    return client
