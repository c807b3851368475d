from __future__ import annotations

import pytest
from django.test import Client

from apps.accounts.models import User
from apps.accounts.tests.factories import UserFactory
from apps.exchanges.models import Symbol
from apps.orders.tests.factories import JsonApi, TradingAccountFactory, sim_markets
from apps.portfolio.models import TradingAccount


@pytest.fixture
def sim(db: None) -> dict[str, Symbol]:
    return sim_markets()


@pytest.fixture
def trader(db: None) -> User:
    return UserFactory()


@pytest.fixture
def account(trader: User, sim: dict[str, Symbol]) -> TradingAccount:
    return TradingAccountFactory(owner=trader, balances={"USDT": "100000"})


@pytest.fixture
def api(client: Client, trader: User) -> JsonApi:
    return JsonApi(client, trader)
