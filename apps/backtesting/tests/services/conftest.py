from __future__ import annotations

import pytest

from apps.accounts.models import User
from apps.accounts.tests.factories import UserFactory
from apps.exchanges.models import Symbol
from apps.exchanges.tests.factories import SymbolFactory


@pytest.fixture
def trader(db: None) -> User:
    return UserFactory()


@pytest.fixture
def symbol(db: None) -> Symbol:
    return SymbolFactory(symbol="BTC/USDT")
