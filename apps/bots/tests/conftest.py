from __future__ import annotations

from decimal import Decimal

import pytest

from apps.accounts.models import User
from apps.accounts.tests.factories import UserFactory
from apps.exchanges.models import Symbol
from apps.exchanges.selectors import builtin_exchange
from apps.orders.tests.factories import sim_markets
from apps.portfolio.models import TradingAccount
from apps.portfolio.services import paper_account_create


@pytest.fixture
def sim(db: None) -> dict[str, Symbol]:
    return sim_markets()


@pytest.fixture
def sol(sim: dict[str, Symbol]) -> Symbol:
    """SOL/USDT on SIM: tick 0.01, lot 0.001, min notional 5."""
    return sim["SOL/USDT"]


@pytest.fixture
def trader(db: None) -> User:
    return UserFactory()


def paper_account(user: User, usdt: str = "10000") -> TradingAccount:
    """A paper account on SIM with only USDT, no slippage on single-price fills (book fills never slip)."""
    account = paper_account_create(actor=user, exchange=builtin_exchange("SIM"), initial_balances={"USDT": usdt})
    account.slippage_bps = Decimal(0)
    account.save(update_fields=["slippage_bps"])
    return account


@pytest.fixture
def account(trader: User, sim: dict[str, Symbol]) -> TradingAccount:
    return paper_account(trader)
