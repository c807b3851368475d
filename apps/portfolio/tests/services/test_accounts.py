"""Trading accounts: paper ones with virtual money, live ones only from a verified connection."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.accounts.tests.factories import UserFactory
from apps.audit.models import AuditEvent
from apps.core.errors import ValidationError
from apps.exchanges.enums import ConnectionStatus
from apps.exchanges.models import Exchange
from apps.exchanges.selectors import builtin_exchange
from apps.orders.tests.factories import ApiConnectionFactory
from apps.portfolio.models import Balance, TradingAccount
from apps.portfolio.services import account_set_trading_state, live_account_create, paper_account_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def trader():
    return UserFactory()


@pytest.fixture
def sim() -> Exchange:
    return builtin_exchange("SIM")


def test_a_paper_account_starts_with_the_balances_asked_for(trader, sim) -> None:
    account = paper_account_create(actor=trader, exchange=sim, initial_balances={"usdt": "10000", "BTC": 0.5})

    assert (account.mode, account.name, account.is_paper) == ("paper", "Paper Simulated exchange", True)
    assert {b.asset: (b.free, b.locked) for b in Balance.objects.filter(account=account)} == {
        "USDT": (Decimal("10000"), Decimal(0)),
        "BTC": (Decimal("0.5"), Decimal(0)),
    }
    assert AuditEvent.objects.get(action="account.created").changes == {"balances": [None, {"USDT": "10000", "BTC": "0.5"}], "fee_tier": [None, "Standard"]}


def test_a_second_paper_account_on_the_same_exchange_is_refused_naming_the_exchange(trader, sim) -> None:
    paper_account_create(actor=trader, exchange=sim, initial_balances={"USDT": "10000"})

    with pytest.raises(ValidationError) as refused:
        paper_account_create(actor=trader, exchange=sim, initial_balances={"USDT": "5"})

    assert refused.value.code == "account_exists" and list(refused.value.extra["fields"]) == ["exchange"]
    assert TradingAccount.objects.filter(owner=trader).count() == 1


@pytest.mark.parametrize(
    ("balances", "message"),
    [
        ({}, "needs a starting balance"),
        ({"USDT": "0"}, "needs a starting balance"),
        ({"USDT": "-10"}, "between 0 and 1,000,000,000"),
        ({"USDT": "1e12"}, "between 0 and 1,000,000,000"),
        ({"USDT": "lots"}, "is not a number"),
        ({"US DT": "10"}, "is not an asset code"),
    ],
)
def test_bad_starting_balances_are_refused_naming_the_field_and_nothing_is_created(trader, sim, balances, message) -> None:
    with pytest.raises(ValidationError) as refused:
        paper_account_create(actor=trader, exchange=sim, initial_balances=balances)

    assert message in refused.value.message and list(refused.value.extra["fields"]) == ["balances"]
    assert not TradingAccount.objects.exists() and not Balance.objects.exists()


def test_a_live_account_comes_from_a_verified_connection(trader) -> None:
    connection = ApiConnectionFactory(owner=trader)

    account = live_account_create(actor=trader, connection=connection)

    assert (account.mode, account.exchange.code, account.api_connection_id) == ("live", "BINANCE", connection.pk)


@pytest.mark.parametrize(
    ("owner_is_trader", "status", "message"), [(True, ConnectionStatus.UNVERIFIED, "Verify the connection"), (False, ConnectionStatus.VERIFIED, "No such")]
)
def test_a_live_account_needs_my_own_verified_connection(trader, owner_is_trader, status, message) -> None:
    connection = ApiConnectionFactory(owner=trader if owner_is_trader else UserFactory(), status=status)

    with pytest.raises(ValidationError) as refused:
        live_account_create(actor=trader, connection=connection)

    assert message in refused.value.message and list(refused.value.extra["fields"]) == ["api_connection"]
    assert not TradingAccount.objects.exists()


def test_changing_the_trading_state_is_audited_and_unknown_states_are_refused(trader, sim) -> None:
    account = paper_account_create(actor=trader, exchange=sim, initial_balances={"USDT": "10"})

    changed = account_set_trading_state(actor=trader, account=account, state="halted", reason="manual")

    assert (changed.trading_state, changed.trading_state_reason) == ("halted", "manual")
    assert AuditEvent.objects.get(action="account.trading_state_changed").changes == {"trading_state": ["active", "halted"]}
    with pytest.raises(ValidationError, match="Unknown trading state"):
        account_set_trading_state(actor=trader, account=account, state="paused")


def test_a_paper_account_pays_its_venues_first_fee_tier_unless_another_is_chosen(trader, sim) -> None:
    binance = builtin_exchange("BINANCE")

    default = paper_account_create(actor=trader, exchange=binance, initial_balances={"USDT": "1000"})
    chosen = paper_account_create(actor=trader, exchange=sim, initial_balances={"USDT": "1000"}, fee_tier="market MAKER")

    assert default.fee_tier == "VIP 0"
    assert default.fee_rates(perpetual=False) == (Decimal("0.001"), Decimal("0.001"))
    assert default.fee_rates(perpetual=True) == (Decimal("0.0002"), Decimal("0.0005"))
    assert chosen.fee_tier == "Market maker"  # as the venue writes it
    assert chosen.fee_rates(perpetual=False) == (Decimal("-0.00005"), Decimal("0.0003"))  # a maker rebate


def test_a_fee_tier_the_venue_does_not_have_is_refused_naming_the_field_and_its_tiers(trader, sim) -> None:
    with pytest.raises(ValidationError) as refused:
        paper_account_create(actor=trader, exchange=sim, initial_balances={"USDT": "1000"}, fee_tier="VIP 9")

    assert refused.value.extra["fields"]["fee_tier"] == ["SIM has no fee tier 'VIP 9'; its tiers: Standard, Market maker."]
    assert not TradingAccount.objects.exists()
